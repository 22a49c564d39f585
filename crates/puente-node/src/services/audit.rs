//! `puente.v1.Audit`: read-only, this country's auditor certificates only. Auditors list
//! and filter entries, fetch the latest checkpoint with its witnesses' cosignatures, and
//! get inclusion and consistency proofs to check against signed checkpoints.

use std::sync::Arc;

use puente_audit::checkpoint;
use puente_audit::view::{self, Filter};
use puente_proto::v1 as pb;
use puente_proto::v1::audit_server::Audit;
use tonic::{Request, Response, Status};
use tracing::info;

use super::NodeState;
use crate::gate::caller;

/// Default page size of `ListEntries`.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page size of `ListEntries`.
pub const MAX_PAGE: u32 = 1000;

/// The `Audit` service.
#[derive(Clone, Debug)]
pub struct AuditService {
    state: Arc<NodeState>,
}

impl AuditService {
    /// A service over the node's shared state.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

fn store_error(e: puente_audit::AuditError) -> Status {
    match e {
        puente_audit::AuditError::Range(s) => Status::out_of_range(s),
        other => Status::unavailable(format!("the audit store: {other}")),
    }
}

/// A filter's time in milliseconds; a timestamp outside 0001-01-01..9999-12-31 or with
/// nanos outside 0..1e9 is INVALID_ARGUMENT (the contract's Timestamp range).
fn ms(t: &Option<prost_types::Timestamp>, field: &str) -> Result<Option<i64>, Status> {
    const MIN_SECONDS: i64 = -62_135_596_800;
    const MAX_SECONDS: i64 = 253_402_300_799;
    let Some(t) = t else { return Ok(None) };
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&t.seconds) || !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Status::invalid_argument(format!(
            "{field}: {}s {}ns is not a time between 0001-01-01 and 9999-12-31",
            t.seconds, t.nanos
        )));
    }
    Ok(Some(t.seconds * 1000 + i64::from(t.nanos) / 1_000_000))
}

/// An enum filter of type `E`: 0 is "any"; a value the contract does not define is
/// INVALID_ARGUMENT.
fn enum_filter<E: TryFrom<i32>>(n: i32, field: &str) -> Result<Option<i32>, Status> {
    match n {
        0 => Ok(None),
        _ if E::try_from(n).is_ok() => Ok(Some(n)),
        _ => Err(Status::invalid_argument(format!(
            "{field}: {n} is not a value of the contract's enum"
        ))),
    }
}

/// Most entries one `ListEntries` call examines (~50 ms of reading and decoding here): a
/// selective filter over a million entries is listed over several calls instead of
/// holding a blocking thread for seconds.
pub const SCAN_PER_CALL: u64 = 20_000;

/// What a page token binds a listing to: every field of the first request but the
/// token and the page size, and the listing's tree size (SHA-256 of their encoding,
/// first 8 bytes, in hex).
fn listing_digest(r: &pb::ListEntriesRequest, size: u64) -> String {
    use prost::Message;
    let mut bound = r.clone();
    bound.page_token.clear();
    bound.page_size = 0;
    let mut data = bound.encode_to_vec();
    data.extend_from_slice(&size.to_be_bytes());
    let d = ring::digest::digest(&ring::digest::SHA256, &data);
    hex::encode(&d.as_ref()[..8])
}

/// The token of the page starting at `next` of a listing of `size` entries:
/// `<index>.<size>.<listing digest>`.
fn page_token(next: u64, size: u64, r: &pb::ListEntriesRequest) -> String {
    format!("{next}.{size}.{}", listing_digest(r, size))
}

/// Where a listing continues and the tree size it reads: the index and size of a token
/// issued for these very filters, or the request's start and the log's size now.
fn page_start(r: &pb::ListEntriesRequest, size_now: u64) -> Result<(u64, u64), Status> {
    if r.page_token.is_empty() {
        return Ok((r.start_index, size_now));
    }
    let refused = || {
        Status::invalid_argument(
            "page_token: not a token of this listing (issued by this node for the same filters and start_index)",
        )
    };
    let mut parts = r.page_token.split('.');
    let (Some(index), Some(size), Some(digest), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused());
    };
    // Digits only: u64's parser would also take "+2".
    let number = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (Some(index), Some(size)) = (number(index), number(size)) else {
        return Err(refused());
    };
    if digest != listing_digest(r, size) || size > size_now || index > size {
        return Err(refused());
    }
    Ok((index, size))
}

/// The keyed hash an entry about `subject` carries: of the document (document or MRZ
/// terms) or of the normalized name. The terms are validated as an officer's query's.
fn subject_hash(
    state: &NodeState,
    subject: Option<&pb::IdentityQuery>,
) -> Result<Option<[u8; 32]>, Status> {
    let Some(q) = subject else {
        return Ok(None);
    };
    let terms = crate::convert::terms(Some(q)).map_err(|e| {
        Status::invalid_argument(format!(
            "subject: {}",
            e.message.trim_start_matches("query")
        ))
    })?;
    Ok(terms
        .audit_terms()
        .first()
        .map(|(label, v)| state.node.data_key.audit_hash(label, v)))
}

/// The sled tree of auditors' triage notes.
const TRIAGE_TREE: &str = "anomaly_triage";
/// Longest triage comment.
pub const MAX_TRIAGE_COMMENT: usize = 500;

/// Checks an anomaly key `PEER:YYYY-MM-DD:volume|refusal-rate`.
fn anomaly_key(k: &str) -> Result<(), Status> {
    let bad = || {
        Status::invalid_argument(format!(
            "anomaly: {k:?} is not PEER:YYYY-MM-DD:volume or PEER:YYYY-MM-DD:refusal-rate"
        ))
    };
    let mut parts = k.split(':');
    let (Some(peer), Some(day), Some(kind), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let peer_ok = peer.len() == 3 && peer.bytes().all(|b| b.is_ascii_uppercase());
    if !peer_ok
        || time::Date::parse(day, &fmt).is_err()
        || !matches!(kind, "volume" | "refusal-rate")
    {
        return Err(bad());
    }
    Ok(())
}

#[tonic::async_trait]
impl Audit for AuditService {
    async fn list_cells(
        &self,
        request: Request<pb::ListCellsRequest>,
    ) -> Result<Response<super::local::CellStream>, Status> {
        caller(&request)?;
        super::local::cell_stream(self.state.clone(), request.into_inner()).await
    }

    async fn triage_anomaly(
        &self,
        request: Request<pb::TriageAnomalyRequest>,
    ) -> Result<Response<pb::TriageAnomalyResponse>, Status> {
        let auditor = caller(&request)?.name.clone();
        let r = request.into_inner();
        anomaly_key(&r.anomaly)?;
        if pb::Triage::try_from(r.triage).unwrap_or(pb::Triage::Unspecified)
            == pb::Triage::Unspecified
        {
            return Err(Status::invalid_argument(
                "triage: give TRIAGE_NORMAL, TRIAGE_INCIDENT or TRIAGE_SEEN",
            ));
        }
        if r.comment.chars().count() > MAX_TRIAGE_COMMENT || r.comment.chars().any(char::is_control)
        {
            return Err(Status::invalid_argument(format!(
                "comment: at most {MAX_TRIAGE_COMMENT} characters, no control characters"
            )));
        }
        let now = (self.state.clock)();
        let kept = pb::AnomalyTriage {
            anomaly: r.anomaly,
            triage: r.triage,
            comment: r.comment,
            auditor: auditor.clone(),
            at: Some(prost_types::Timestamp {
                seconds: now.unix_timestamp(),
                nanos: 0,
            }),
        };
        let tree = self
            .state
            .store
            .db()
            .open_tree(TRIAGE_TREE)
            .map_err(|e| Status::unavailable(format!("the triage store: {e}")))?;
        tree.insert(
            kept.anomaly.as_bytes(),
            prost::Message::encode_to_vec(&kept),
        )
        .and_then(|_| tree.flush())
        .map_err(|e| Status::unavailable(format!("the triage store: {e}")))?;
        info!(auditor = %auditor, anomaly = %kept.anomaly, triage = kept.triage, "anomaly triaged");
        Ok(Response::new(pb::TriageAnomalyResponse {
            triage: Some(kept),
        }))
    }

    async fn list_triage(
        &self,
        request: Request<pb::ListTriageRequest>,
    ) -> Result<Response<pb::ListTriageResponse>, Status> {
        caller(&request)?;
        let tree = self
            .state
            .store
            .db()
            .open_tree(TRIAGE_TREE)
            .map_err(|e| Status::unavailable(format!("the triage store: {e}")))?;
        let mut triage = Vec::new();
        for item in tree.iter() {
            let (_, v) = item.map_err(|e| Status::unavailable(format!("the triage store: {e}")))?;
            let t: pb::AnomalyTriage = prost::Message::decode(v.as_ref())
                .map_err(|e| Status::data_loss(format!("a triage note does not decode: {e}")))?;
            triage.push(t);
        }
        Ok(Response::new(pb::ListTriageResponse { triage }))
    }

    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<pb::ListEntriesResponse>, Status> {
        let auditor = caller(&request)?.name.clone();
        let r = request.into_inner();
        let size_now = self.state.audit.trees().size().map_err(store_error)?;
        let (start, size) = page_start(&r, size_now)?;
        let page = match r.page_size {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        } as usize;
        let peer_country = match r.peer_country.trim() {
            "" => None,
            c => Some(
                puente_pki::CountryCode::parse(&c.to_ascii_uppercase())
                    .map_err(|e| Status::invalid_argument(format!("peer_country: {e}")))?
                    .to_string(),
            ),
        };
        let filter = Filter {
            since_ms: ms(&r.since, "since")?,
            until_ms: ms(&r.until, "until")?,
            peer_country,
            service: enum_filter::<pb::Service>(r.service, "service")?,
            decision: enum_filter::<pb::Decision>(r.decision, "decision")?,
            direction: enum_filter::<pb::Direction>(r.direction, "direction")?,
            actor: (!r.actor.is_empty()).then_some(r.actor.clone()),
            term_hash: subject_hash(&self.state, r.subject.as_ref())?,
        };
        let trees = self.state.audit.trees().clone();
        let (listed, next) = tokio::task::spawn_blocking(move || {
            view::list_within(&trees, &filter, start..size, page, SCAN_PER_CALL)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(store_error)?;
        info!(auditor = %auditor, count = listed.len(), "audit entries listed");
        Ok(Response::new(pb::ListEntriesResponse {
            entries: listed.iter().map(view::to_proto).collect(),
            next_page_token: next.map(|n| page_token(n, size, &r)).unwrap_or_default(),
            tree_size: size,
            next_index: next.unwrap_or(0),
        }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        caller(&request)?;
        let trees = self.state.audit.trees();
        let note = trees
            .latest()
            .map_err(store_error)?
            .ok_or_else(|| Status::not_found("the log is empty: no checkpoint yet"))?;
        let size = trees.size().map_err(store_error)?;
        let lines = trees
            .cosignatures_at(size)
            .map_err(store_error)?
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let witnessed = self
            .state
            .latest_cosignatures()?
            .into_iter()
            .map(|w| pb::WitnessedCheckpoint {
                witness_country: w.country,
                checkpoint: Some(pb::SignedCheckpoint { note: w.note }),
                cosignature_line: w.line,
                witnessed_at: w.at,
            })
            .collect();
        Ok(Response::new(pb::GetCheckpointResponse {
            checkpoint: Some(pb::SignedCheckpoint { note }),
            cosignature_lines: lines,
            witnessed,
        }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        caller(&request)?;
        let r = request.into_inner();
        let trees = self.state.audit.trees();
        let size = trees.size().map_err(store_error)?;
        let tree_size = if r.tree_size == 0 { size } else { r.tree_size };
        if tree_size > size {
            return Err(Status::out_of_range(format!(
                "tree_size {tree_size} is beyond the log's {size} entries"
            )));
        }
        if r.index >= tree_size {
            return Err(Status::out_of_range(format!(
                "index {} is not below tree size {tree_size}",
                r.index
            )));
        }
        let proof = self
            .state
            .audit
            .inclusion(r.index, tree_size)
            .map_err(store_error)?;
        let leaf = trees
            .stored_hash(0, r.index)
            .map_err(store_error)?
            .unwrap_or_default();
        let note = trees.checkpoint_at(tree_size).ok().flatten();
        Ok(Response::new(pb::GetInclusionProofResponse {
            index: r.index,
            tree_size,
            leaf_hash: leaf.to_vec(),
            proof: proof.iter().map(|h| h.to_vec()).collect(),
            checkpoint: note.map(|note| pb::SignedCheckpoint { note }),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        caller(&request)?;
        let r = request.into_inner();
        let trees = self.state.audit.trees();
        let size = trees.size().map_err(store_error)?;
        let new = if r.new_size == 0 { size } else { r.new_size };
        if r.old_size == 0 {
            return Err(Status::invalid_argument(
                "old_size: at least 1 (every tree is consistent with the empty one)",
            ));
        }
        if new > size || r.old_size > new {
            return Err(Status::out_of_range(format!(
                "sizes {} → {new} are not within the log's {size} entries",
                r.old_size
            )));
        }
        let proof = self
            .state
            .audit
            .consistency(r.old_size, new)
            .map_err(store_error)?;
        let note = trees.checkpoint_at(new).ok().flatten();
        Ok(Response::new(pb::GetConsistencyProofResponse {
            old_size: r.old_size,
            new_size: new,
            proof: proof.iter().map(|h| h.to_vec()).collect(),
            checkpoint: note.map(|note| pb::SignedCheckpoint { note }),
        }))
    }
}

/// A peer's most recent cosignature of this node's log.
#[derive(Debug)]
pub(crate) struct LatestCosignature {
    /// The witness, alpha-3.
    pub country: String,
    /// The size of the checkpoint it cosigned.
    pub size: u64,
    /// That checkpoint's signed note.
    pub note: String,
    /// The cosignature line.
    pub line: String,
    /// The time in the cosignature, when it verifies with the peer's key.
    pub at: Option<prost_types::Timestamp>,
}

impl NodeState {
    /// Each witness's most recent cosignature of this node's log (at most one per peer).
    pub(crate) fn latest_cosignatures(&self) -> Result<Vec<LatestCosignature>, Status> {
        let trees = self.audit.trees();
        let mut out: Vec<LatestCosignature> = Vec::new();
        // Newest first; stop once every current peer is found (a former peer's
        // cosignatures are reported when met on the way).
        let peers: Vec<String> = self
            .peer_countries()
            .iter()
            .map(|c| c.to_string())
            .collect();
        for item in trees.cosignatures.iter().rev() {
            if !peers.is_empty() && peers.iter().all(|p| out.iter().any(|w| &w.country == p)) {
                break;
            }
            let (k, _) = item.map_err(|e| Status::unavailable(e.to_string()))?;
            let at = u64::from_be_bytes(k.as_ref().try_into().unwrap_or([0; 8]));
            for (country, line) in trees.cosignatures_at(at).map_err(store_error)? {
                if out.iter().any(|w| w.country == country) {
                    continue;
                }
                let note = trees.checkpoint_at(at).ok().flatten().unwrap_or_default();
                let time = puente_pki::CountryCode::parse(&country)
                    .ok()
                    .and_then(|c| self.peer_key(c))
                    .and_then(|key| {
                        checkpoint::split_note(&note).ok().and_then(|(body, _)| {
                            checkpoint::verify_cosignature(body, &line, &key).ok()
                        })
                    });
                out.push(LatestCosignature {
                    country,
                    size: at,
                    note,
                    line,
                    at: time.map(|t| prost_types::Timestamp {
                        seconds: i64::try_from(t).unwrap_or(0),
                        nanos: 0,
                    }),
                });
            }
        }
        Ok(out)
    }
}
