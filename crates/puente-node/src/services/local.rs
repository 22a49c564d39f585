//! `puente.v1.Local`: an operator of this country talking to its own node. `ListPeers`
//! reports each trusted peer and, on request, probes it over the real mTLS link.

use std::sync::Arc;

use puente_policy::{Grant, Service};
use puente_proto::v1::local_server::Local;
use puente_proto::v1::{
    fetch_document_response, AgreementState, AgreementSummary, DirectionGrant,
    FetchDocumentRequest, FetchDocumentResponse, GetSyncStatusRequest, GetSyncStatusResponse,
    ImportCellsRequest, ImportCellsResponse, IssueAlertRequest, IssueAlertResponse,
    ListAgreementsRequest, ListAgreementsResponse, ListAlertDraftsRequest, ListAlertDraftsResponse,
    ListAlertsRequest, ListAlertsResponse, ListCellsRequest, ListCellsResponse, ListPeersRequest,
    ListPeersResponse, PeerStatus, QueryRequest, QueryResponse, SyncNowRequest, SyncNowResponse,
};
use puente_proto::v1::{
    import_records_request, DeleteRecordsRequest, DeleteRecordsResponse, ImportRecordsRequest,
    ImportRecordsResponse, RecordsFormat, SearchRecordsRequest, SearchRecordsResponse,
};
use puente_records::import::RowFormat;
use tokio::task::JoinSet;
use tonic::{Request, Response, Status};
use tracing::info;

use super::{timestamp, NodeState};
use crate::gate::caller;

/// Largest message of a records import (the contract: 4 MiB; the CLI sends 1 MiB).
const IMPORT_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The `Local` service.
#[derive(Clone, Debug)]
pub struct LocalService {
    state: Arc<NodeState>,
}

impl LocalService {
    /// A service over the node's shared state.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

impl LocalService {
    fn direction(&self, g: &Grant, agreement: &str, today: time::Date) -> DirectionGrant {
        let own = self.state.node.country();
        // Either way the counter is keyed by the receiving country: as provider this node
        // counts what the peer took; as receiver, what it was answered itself (the
        // peer's own count is the one enforced).
        let used = |svc: Service| {
            if g.provider == own || g.receiver == own {
                let n = self
                    .state
                    .store
                    .used(agreement, g.receiver.as_str(), svc, today)
                    .unwrap_or(0);
                u32::try_from(n).unwrap_or(u32::MAX)
            } else {
                0
            }
        };
        DirectionGrant {
            provider_country: g.provider.to_string(),
            receiver_country: g.receiver.to_string(),
            services: g.services.iter().map(|s| *s as i32).collect(),
            purposes: g.purposes.iter().map(|s| *s as i32).collect(),
            fields: g.fields.iter().map(|s| *s as i32).collect(),
            identity_mode: g.mode(Service::IdentityQuery) as i32,
            retention_days: g.retention_days,
            queries_per_day: g.queries_per_day,
            copies_per_day: g.copies_per_day,
            max_matches: g.max_matches,
            small_cell_threshold: g.small_cell_threshold,
            secondary_suppression: g.secondary_suppression,
            legal_basis: g.legal_basis.clone(),
            queries_used_today: used(Service::IdentityQuery),
            copies_used_today: used(Service::PassportCopy),
        }
    }
}

/// Cells per `ListCells` message.
const CELLS_PER_MESSAGE: usize = 1000;

/// The cells `req` asks for, in messages of [`CELLS_PER_MESSAGE`]: `Local.ListCells`
/// for operators, `Audit.ListCells` for auditors (each behind its service's gate).
pub(crate) async fn cell_stream(
    state: Arc<NodeState>,
    req: ListCellsRequest,
) -> Result<Response<CellStream>, Status> {
    let cells = tokio::task::spawn_blocking(move || state.list_cells(&req))
        .await
        .map_err(|e| Status::internal(format!("listing cells: {e}")))??;
    let pages: Vec<Result<ListCellsResponse, Status>> = cells
        .chunks(CELLS_PER_MESSAGE)
        .map(|c| Ok(ListCellsResponse { cells: c.to_vec() }))
        .collect();
    Ok(Response::new(Box::pin(tokio_stream::iter(pages))))
}

/// The stream type of `ListCells`.
pub type CellStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<ListCellsResponse, Status>> + Send + 'static>,
>;

/// The stream type of `FetchDocument`.
pub type FetchStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<FetchDocumentResponse, Status>> + Send + 'static>,
>;

#[tonic::async_trait]
impl Local for LocalService {
    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let operator = caller(&request)?.clone();
        Ok(Response::new(
            self.state
                .forward_query(&operator, request.get_ref())
                .await?,
        ))
    }

    async fn fetch_document(
        &self,
        request: Request<FetchDocumentRequest>,
    ) -> Result<Response<FetchStream>, Status> {
        use fetch_document_response::Part;
        let operator = caller(&request)?.clone();
        let (header, bytes, trailer) = self
            .state
            .forward_fetch(&operator, request.get_ref())
            .await?;
        let mut parts = vec![Ok(FetchDocumentResponse {
            part: Some(Part::Header(header)),
        })];
        for c in bytes.chunks(crate::services::exchange::CHUNK) {
            parts.push(Ok(FetchDocumentResponse {
                part: Some(Part::Chunk(c.to_vec())),
            }));
        }
        parts.push(Ok(FetchDocumentResponse {
            part: Some(Part::Trailer(trailer)),
        }));
        Ok(Response::new(Box::pin(tokio_stream::iter(parts))))
    }

    async fn list_agreements(
        &self,
        request: Request<ListAgreementsRequest>,
    ) -> Result<Response<ListAgreementsResponse>, Status> {
        caller(&request)?;
        let now = (self.state.clock)();
        let set = self.state.agreements.current();
        let enforced = set.enforced(now);
        let mut agreements = Vec::with_capacity(set.files.len());
        for f in &set.files {
            let file = f.file.display().to_string();
            let Some(a) = &f.agreement else {
                agreements.push(AgreementSummary {
                    state: AgreementState::Invalid as i32,
                    state_reason: f.refused.clone().unwrap_or_default(),
                    file,
                    broken: f.broken,
                    ..AgreementSummary::default()
                });
                continue;
            };
            let applies = enforced.iter().find(|e| e.id == a.id);
            let (state, reason) = match (&f.refused, applies) {
                (Some(r), _) => (AgreementState::Invalid, r.clone()),
                (None, Some(e)) if *e != a && e.version >= a.version => (
                    AgreementState::Superseded,
                    format!("version {} of {} applies instead", e.version, a.id),
                ),
                (None, _) if now < a.valid_from => (
                    AgreementState::NotYetValid,
                    format!("takes effect on {}", a.valid_from.date()),
                ),
                (None, _) if now >= a.valid_until => (
                    AgreementState::Expired,
                    format!(
                        "expired at the end of {}",
                        (a.valid_until - time::Duration::days(1)).date()
                    ),
                ),
                (None, _) if f.kept => (
                    AgreementState::InForce,
                    "the last good copy the node kept: the file that held it is broken or gone"
                        .to_string(),
                ),
                (None, _) => (AgreementState::InForce, String::new()),
            };
            agreements.push(AgreementSummary {
                agreement_id: a.id.clone(),
                parties: a.parties.iter().map(|p| p.to_string()).collect(),
                valid_from: Some(timestamp(a.valid_from)),
                valid_until: Some(timestamp(a.valid_until)),
                state: state as i32,
                state_reason: reason,
                grants: a
                    .grants
                    .iter()
                    .map(|g| self.direction(g, &a.id, now.date()))
                    .collect(),
                file,
                version: a.version,
                broken: f.broken,
                kept: f.kept,
            });
        }
        Ok(Response::new(ListAgreementsResponse { agreements }))
    }

    async fn backup(
        &self,
        request: Request<puente_proto::v1::BackupRequest>,
    ) -> Result<Response<crate::backup::BackupStream>, Status> {
        let operator = caller(&request)?.clone();
        self.state.admit_backup(&operator)?;
        info!(operator = %operator.name, "backup requested");
        Ok(Response::new(crate::backup::stream(self.state.clone())))
    }

    async fn sync_now(
        &self,
        request: Request<SyncNowRequest>,
    ) -> Result<Response<SyncNowResponse>, Status> {
        let operator = caller(&request)?.clone();
        info!(operator = %operator.name, "statistics sync requested");
        Ok(Response::new(self.state.sync_now(request.get_ref()).await?))
    }

    async fn get_sync_status(
        &self,
        request: Request<GetSyncStatusRequest>,
    ) -> Result<Response<GetSyncStatusResponse>, Status> {
        caller(&request)?;
        Ok(Response::new(self.state.sync_status()?))
    }

    async fn list_cells(
        &self,
        request: Request<ListCellsRequest>,
    ) -> Result<Response<CellStream>, Status> {
        caller(&request)?;
        cell_stream(self.state.clone(), request.into_inner()).await
    }

    async fn import_cells(
        &self,
        request: Request<tonic::Streaming<ImportCellsRequest>>,
    ) -> Result<Response<ImportCellsResponse>, Status> {
        let operator = caller(&request)?.clone();
        let mut stream = request.into_inner();
        let mut cells = Vec::new();
        while let Some(chunk) = stream.message().await? {
            if chunk.cells.len() > CELLS_PER_MESSAGE * 10 {
                return Err(Status::invalid_argument(format!(
                    "a chunk holds at most {} cells",
                    CELLS_PER_MESSAGE * 10
                )));
            }
            cells.extend(chunk.cells);
            if cells.len() > crate::sync::stats::MAX_IMPORT_CELLS {
                return Err(Status::resource_exhausted(format!(
                    "an import holds at most {} cells; split it",
                    crate::sync::stats::MAX_IMPORT_CELLS
                )));
            }
        }
        info!(operator = %operator.name, cells = cells.len(), "flow counts import");
        Ok(Response::new(self.state.import_cells(cells).await?))
    }

    async fn issue_alert(
        &self,
        request: Request<IssueAlertRequest>,
    ) -> Result<Response<IssueAlertResponse>, Status> {
        let operator = caller(&request)?.clone();
        Ok(Response::new(
            self.state.issue_alert(&operator, request.get_ref()).await?,
        ))
    }

    async fn list_alerts(
        &self,
        request: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        caller(&request)?;
        Ok(Response::new(self.state.list_alerts(request.get_ref())?))
    }

    async fn list_alert_drafts(
        &self,
        request: Request<ListAlertDraftsRequest>,
    ) -> Result<Response<ListAlertDraftsResponse>, Status> {
        caller(&request)?;
        let state = self.state.clone();
        let detect = request.get_ref().detect;
        let r = tokio::task::spawn_blocking(move || state.alert_drafts(detect))
            .await
            .map_err(|e| Status::internal(format!("drafts: {e}")))??;
        Ok(Response::new(r))
    }

    async fn import_records(
        &self,
        request: Request<tonic::Streaming<ImportRecordsRequest>>,
    ) -> Result<Response<ImportRecordsResponse>, Status> {
        use import_records_request::Part;
        let operator = caller(&request)?.clone();
        let mut stream = request.into_inner();
        let mut upload = crate::records::Upload::default();
        let mut total = 0usize;
        let mut first = true;
        let mut current: Option<String> = None;
        while let Some(message) = stream.message().await? {
            let size = prost::Message::encoded_len(&message);
            if size > IMPORT_MESSAGE_BYTES {
                return Err(Status::invalid_argument(format!(
                    "a message of an import holds at most {} MiB ({size} bytes sent); send the file in smaller chunks",
                    IMPORT_MESSAGE_BYTES / (1024 * 1024)
                )));
            }
            let part = message
                .part
                .ok_or_else(|| Status::invalid_argument("part: header, rows or copy"))?;
            match (first, part) {
                (true, Part::Header(h)) => {
                    if h.file_name.chars().count() > 256
                        || h.file_name.chars().any(char::is_control)
                    {
                        return Err(Status::invalid_argument(
                            "header.file_name: at most 256 printable characters",
                        ));
                    }
                    upload.name = if h.file_name.is_empty() {
                        "the import".into()
                    } else {
                        h.file_name
                    };
                    upload.format = match RecordsFormat::try_from(h.format) {
                        Ok(RecordsFormat::Csv) => Some(RowFormat::Csv),
                        Ok(RecordsFormat::JsonLines) => Some(RowFormat::JsonLines),
                        _ => None,
                    };
                }
                (true, _) => {
                    return Err(Status::invalid_argument(
                        "the first message of an import is its header",
                    ))
                }
                (false, Part::Header(_)) => {
                    return Err(Status::invalid_argument("an import has one header"))
                }
                (false, Part::Rows(b)) => {
                    total += b.len();
                    upload.bytes.extend_from_slice(&b);
                }
                (false, Part::Copy(c)) => {
                    if c.name.is_empty() || c.name.chars().count() > 1024 {
                        return Err(Status::invalid_argument("copy.name: 1-1024 characters"));
                    }
                    if current.as_deref() != Some(c.name.as_str())
                        && upload.copies.contains_key(&c.name)
                    {
                        return Err(Status::invalid_argument(
                            "copy.name: each passport copy is sent once, its chunks together",
                        ));
                    }
                    total += c.chunk.len();
                    upload
                        .copies
                        .entry(c.name.clone())
                        .or_default()
                        .extend_from_slice(&c.chunk);
                    current = Some(c.name);
                }
            }
            first = false;
            if total > crate::records::MAX_IMPORT_BYTES {
                return Err(Status::resource_exhausted(format!(
                    "an import holds at most {} MiB with its passport copies; split it",
                    crate::records::MAX_IMPORT_BYTES / (1024 * 1024)
                )));
            }
        }
        if first {
            return Err(Status::invalid_argument("an import starts with its header"));
        }
        // Once the whole upload is here the change is the node's to finish (applied,
        // logged, the counts aggregated again), even if the operator gives up waiting.
        let state = self.state.clone();
        let r = tokio::spawn(async move {
            let r = state.import_records(&operator, upload).await?;
            if r.bad_rows.is_empty() {
                tokio::spawn(async move { state.records_changed().await });
            }
            Ok::<_, Status>(r)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(r))
    }

    async fn delete_records(
        &self,
        request: Request<DeleteRecordsRequest>,
    ) -> Result<Response<DeleteRecordsResponse>, Status> {
        let operator = caller(&request)?.clone();
        let state = self.state.clone();
        let r = tokio::spawn(async move {
            let r = state
                .delete_records(&operator, request.into_inner())
                .await?;
            if r.deleted > 0 {
                tokio::spawn(async move { state.records_changed().await });
            }
            Ok::<_, Status>(r)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(r))
    }

    async fn search_records(
        &self,
        request: Request<SearchRecordsRequest>,
    ) -> Result<Response<SearchRecordsResponse>, Status> {
        let operator = caller(&request)?.clone();
        Ok(Response::new(
            self.state
                .search_records(&operator, request.into_inner())
                .await?,
        ))
    }

    async fn list_peers(
        &self,
        request: Request<ListPeersRequest>,
    ) -> Result<Response<ListPeersResponse>, Status> {
        let operator = caller(&request)?.name.clone();
        let check = request.get_ref().check_reachability;
        info!(operator = %operator, check, "list peers");
        let mut statuses: Vec<PeerStatus> = Vec::new();
        let mut probes = JoinSet::new();
        let material = self.state.material();
        for (i, link) in material.peers.links().enumerate() {
            statuses.push(PeerStatus {
                country: link.country.to_string(),
                address: link.address.clone(),
                ca_fingerprint: link.ca_fingerprint.clone(),
                signing_key_fingerprint: link.signing_key_fingerprint.clone(),
                ..PeerStatus::default()
            });
            if check {
                let material = material.clone();
                let link = link.clone();
                probes.spawn(async move { (i, material.peers.probe(&link).await) });
            }
        }
        while let Some(done) = probes.join_next().await {
            let Ok((i, probe)) = done else { continue };
            let Some(status) = statuses.get_mut(i) else {
                continue;
            };
            status.reachable = probe.reachable;
            status.error = probe.error;
            status.round_trip = prost_types::Duration::try_from(probe.round_trip).ok();
            status.checked_at = Some(timestamp(probe.checked_at));
            if let Some(seen) = probe.seen {
                status.peer_node = seen.identity.name;
                status.certificate_not_after = Some(timestamp(seen.not_after));
            }
        }
        Ok(Response::new(ListPeersResponse {
            local_country: self.state.node.country().to_string(),
            local_node: self.state.node.identity.name.clone(),
            peers: statuses,
        }))
    }
}
