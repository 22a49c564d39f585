//! The calls an officer and an auditor make to their own node, over one pooled mTLS
//! channel: `Local` (peers, agreements, query, fetch, statistics, alerts) as an operator,
//! `Audit` (entries, checkpoint, proofs) as an auditor. Each returns the node's answer or
//! a [`CallError`] that reads as one line, with a hint when the certificate's role is the
//! wrong one for the call.

use std::time::Duration;

use puente_pki::tls::{CountryAnchor, TlsIdentity};
use puente_pki::{CountryCode, Role};
use puente_proto::v1 as pb;
use puente_proto::v1::audit_client::AuditClient;
use puente_proto::v1::local_client::LocalClient;
use puente_proto::v1::manifest_client::ManifestClient;
use puente_proto::v1::node_status_client::NodeStatusClient;
use tonic::transport::Channel;

use crate::channel::{node_channel, NodeChannel};
use crate::error::{CallError, ConnectError};
use crate::profile::Profile;
use crate::status::status_text;

/// Seconds to set up the connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to the own node, as one person (operator or auditor).
#[derive(Clone, Debug)]
pub struct NodeClient {
    channel: NodeChannel,
    address: String,
    country: CountryCode,
    node_name: Option<String>,
    role: Role,
}

/// A passport copy as the node streamed it.
#[derive(Clone, Debug)]
pub struct Document {
    /// What the copy is, under which agreement.
    pub header: pb::DocumentHeader,
    /// The image bytes.
    pub bytes: Vec<u8>,
    /// The digest check.
    pub trailer: pb::FetchDocumentTrailer,
}

impl NodeClient {
    /// A lazy channel to the node of `anchor.country` at `address` presenting `identity`
    /// (whose role is `role`); `node_name`, when known, names the node in messages.
    pub fn connect(
        address: &str,
        identity: &TlsIdentity,
        anchor: &CountryAnchor,
        role: Role,
        node_name: Option<&str>,
    ) -> Result<Self, ConnectError> {
        let channel = node_channel(
            address,
            identity,
            anchor,
            CONNECT_TIMEOUT,
            Some(CALL_TIMEOUT),
        )
        .map_err(|reason| ConnectError {
            node: describe(anchor.country, node_name, address),
            reason,
        })?;
        Ok(Self {
            channel,
            address: address.to_string(),
            country: anchor.country,
            node_name: node_name.map(str::to_string),
            role,
        })
    }

    /// The node a profile names, as the profile's person.
    pub fn from_profile(profile: &Profile) -> Result<Self, ConnectError> {
        Self::connect(
            &profile.node,
            &profile.tls,
            &profile.anchor,
            profile.identity.role,
            None,
        )
    }

    /// "node mex-1 at 127.0.0.1:7400", or "the node of MEX at …" when its name is not known.
    pub fn describe(&self) -> String {
        describe(self.country, self.node_name.as_deref(), &self.address)
    }

    /// The node's country.
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// The node's name: as configured, or as its certificate said at the last handshake.
    pub fn node_name(&self) -> Option<String> {
        self.node_name.clone().or_else(|| {
            self.channel
                .seen
                .lock()
                .ok()
                .and_then(|s| s.as_ref().map(|s| s.identity.name.clone()))
        })
    }

    /// A raw `Local` client on the channel.
    pub fn local(&self) -> LocalClient<Channel> {
        LocalClient::new(self.channel.channel.clone())
    }

    /// A raw `Manifest` client on the channel.
    pub fn manifest(&self) -> ManifestClient<Channel> {
        ManifestClient::new(self.channel.channel.clone())
    }

    /// A raw `Audit` client on the channel.
    pub fn audit(&self) -> AuditClient<Channel> {
        AuditClient::new(self.channel.channel.clone())
    }

    /// The one-line error of a failed call to a service meant for `needs`.
    pub fn refused(&self, status: &tonic::Status, needs: Role) -> CallError {
        let hint = if status.code() == tonic::Code::PermissionDenied && self.role != needs {
            let commands = match needs {
                Role::Auditor => "`puente audit … --online` needs",
                _ => "officer commands need",
            };
            format!(
                " (this certificate is an {}'s; {commands} an {}'s: ask for a profile made with `puente client init --role {needs}`)",
                self.role, needs
            )
        } else {
            String::new()
        };
        let text = status_text(status);
        let hint = if hint.is_empty() {
            transport_hint(status, &text).unwrap_or_default()
        } else {
            hint
        };
        CallError {
            code: status.code(),
            text,
            hint,
        }
    }

    fn op(&self, s: tonic::Status) -> CallError {
        self.refused(&s, Role::Operator)
    }

    fn au(&self, s: tonic::Status) -> CallError {
        self.refused(&s, Role::Auditor)
    }

    /// `NodeStatus.GetStatus` (operators and auditors alike).
    pub async fn node_status(&self) -> Result<pb::GetStatusResponse, CallError> {
        Ok(NodeStatusClient::new(self.channel.channel.clone())
            .get_status(pb::GetStatusRequest {})
            .await
            .map_err(|s| self.refused(&s, self.role))?
            .into_inner())
    }

    /// The role of the certificate this client presents.
    pub fn role(&self) -> Role {
        self.role
    }

    /// `Local.ListPeers`.
    pub async fn list_peers(&self, check: bool) -> Result<pb::ListPeersResponse, CallError> {
        let r = pb::ListPeersRequest {
            check_reachability: check,
        };
        Ok(self
            .local()
            .list_peers(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.ListAgreements`.
    pub async fn list_agreements(&self) -> Result<pb::ListAgreementsResponse, CallError> {
        let r = pb::ListAgreementsRequest {};
        Ok(self
            .local()
            .list_agreements(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.Query`: the node asks the peer under its own identity.
    pub async fn query(&self, r: pb::QueryRequest) -> Result<pb::QueryResponse, CallError> {
        Ok(self
            .local()
            .query(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.FetchDocument`, the stream gathered.
    pub async fn fetch_document(&self, r: pb::FetchDocumentRequest) -> Result<Document, CallError> {
        use pb::fetch_document_response::Part;
        let mut stream = self
            .local()
            .fetch_document(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner();
        let (mut header, mut bytes, mut trailer) = (None, Vec::new(), None);
        while let Some(msg) = stream.message().await.map_err(|s| self.op(s))? {
            match msg.part {
                Some(Part::Header(h)) => header = Some(h),
                Some(Part::Chunk(c)) => bytes.extend_from_slice(&c),
                Some(Part::Trailer(t)) => trailer = Some(t),
                None => {}
            }
        }
        match (header, trailer) {
            (Some(header), Some(trailer)) => Ok(Document {
                header,
                bytes,
                trailer,
            }),
            _ => Err(CallError {
                code: tonic::Code::DataLoss,
                text: "the node's document stream was incomplete".into(),
                hint: String::new(),
            }),
        }
    }

    /// `Local.ImportCells`, one message per chunk.
    pub async fn import_cells(
        &self,
        chunks: Vec<pb::ImportCellsRequest>,
    ) -> Result<pb::ImportCellsResponse, CallError> {
        let r = tokio_stream::iter(chunks);
        Ok(self
            .local()
            .import_cells(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.ImportRecords`, the header first, then the file and copies in chunks.
    pub async fn import_records(
        &self,
        messages: Vec<pb::ImportRecordsRequest>,
    ) -> Result<pb::ImportRecordsResponse, CallError> {
        Ok(self
            .local()
            .import_records(tokio_stream::iter(messages))
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.DeleteRecords`.
    pub async fn delete_records(
        &self,
        record_ids: Vec<String>,
    ) -> Result<pb::DeleteRecordsResponse, CallError> {
        Ok(self
            .local()
            .delete_records(pb::DeleteRecordsRequest { record_ids })
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.SearchRecords`.
    pub async fn search_records(
        &self,
        r: pb::SearchRecordsRequest,
    ) -> Result<pb::SearchRecordsResponse, CallError> {
        Ok(self
            .local()
            .search_records(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.SyncNow`.
    pub async fn sync_now(&self, peers: &[String]) -> Result<pb::SyncNowResponse, CallError> {
        let r = pb::SyncNowRequest {
            peer_countries: peers.to_vec(),
        };
        Ok(self
            .local()
            .sync_now(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.GetSyncStatus`.
    pub async fn sync_status(&self) -> Result<pb::GetSyncStatusResponse, CallError> {
        let r = pb::GetSyncStatusRequest {};
        Ok(self
            .local()
            .get_sync_status(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// The flow-count cells, every page gathered: `Local.ListCells` for an operator,
    /// `Audit.ListCells` for an auditor (each service's gate admits its own role).
    pub async fn list_cells(
        &self,
        r: pb::ListCellsRequest,
    ) -> Result<Vec<pb::FlowCell>, CallError> {
        let called = match self.role() {
            Role::Auditor => self.audit().list_cells(r).await,
            _ => self.local().list_cells(r).await,
        };
        let mut stream = called.map_err(|s| self.op(s))?.into_inner();
        let mut cells = Vec::new();
        while let Some(page) = stream.message().await.map_err(|s| self.op(s))? {
            cells.extend(page.cells);
        }
        Ok(cells)
    }

    /// `Local.IssueAlert`.
    pub async fn issue_alert(
        &self,
        r: pb::IssueAlertRequest,
    ) -> Result<pb::IssueAlertResponse, CallError> {
        Ok(self
            .local()
            .issue_alert(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.ListAlertDrafts`.
    pub async fn list_alert_drafts(
        &self,
        detect: bool,
    ) -> Result<pb::ListAlertDraftsResponse, CallError> {
        let r = pb::ListAlertDraftsRequest { detect };
        Ok(self
            .local()
            .list_alert_drafts(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Local.ListAlerts`.
    pub async fn list_alerts(
        &self,
        r: pb::ListAlertsRequest,
    ) -> Result<pb::ListAlertsResponse, CallError> {
        Ok(self
            .local()
            .list_alerts(r)
            .await
            .map_err(|s| self.op(s))?
            .into_inner())
    }

    /// `Audit.ListEntries`.
    pub async fn list_entries(
        &self,
        r: pb::ListEntriesRequest,
    ) -> Result<pb::ListEntriesResponse, CallError> {
        Ok(self
            .audit()
            .list_entries(r)
            .await
            .map_err(|s| self.au(s))?
            .into_inner())
    }

    /// `Audit.GetCheckpoint`.
    pub async fn get_checkpoint(&self) -> Result<pb::GetCheckpointResponse, CallError> {
        let r = pb::GetCheckpointRequest {};
        Ok(self
            .audit()
            .get_checkpoint(r)
            .await
            .map_err(|s| self.au(s))?
            .into_inner())
    }

    /// `Audit.TriageAnomaly`.
    pub async fn triage_anomaly(
        &self,
        r: pb::TriageAnomalyRequest,
    ) -> Result<pb::TriageAnomalyResponse, CallError> {
        Ok(self
            .audit()
            .triage_anomaly(r)
            .await
            .map_err(|s| self.au(s))?
            .into_inner())
    }

    /// `Audit.ListTriage`.
    pub async fn list_triage(&self) -> Result<pb::ListTriageResponse, CallError> {
        Ok(self
            .audit()
            .list_triage(pb::ListTriageRequest {})
            .await
            .map_err(|s| self.au(s))?
            .into_inner())
    }

    /// `Audit.GetInclusionProof` of entry `index` at the latest size.
    pub async fn get_inclusion_proof(
        &self,
        index: u64,
    ) -> Result<pb::GetInclusionProofResponse, CallError> {
        let r = pb::GetInclusionProofRequest {
            index,
            tree_size: 0,
        };
        Ok(self
            .audit()
            .get_inclusion_proof(r)
            .await
            .map_err(|s| self.au(s))?
            .into_inner())
    }
}

fn describe(country: CountryCode, name: Option<&str>, address: &str) -> String {
    match name {
        Some(n) => format!("node {n} at {address}"),
        None => format!("the node of {country} at {address}"),
    }
}

/// What a failure between this client and its own node means, when `status` is one: a
/// status the node sent (say, about a peer it could not reach) carries no source and gets
/// no hint, whatever its words.
fn transport_hint(status: &tonic::Status, text: &str) -> Option<String> {
    std::error::Error::source(status)?;
    // TLS 1.3 ends the client's handshake before the node has judged its certificate: a
    // refused one shows up as an alert, or a connection closed, at the first call.
    let hint = if text.contains("fatal alert: CertificateRevoked") {
        "the node refused this certificate: it is revoked; ask for a new profile"
    } else if text.contains("fatal alert: CertificateExpired") {
        "the node refused this certificate: expired or not yet valid; `puente pki show FILE` gives its validity"
    } else if text.contains("fatal alert: ") {
        "the node refused this connection's certificate; the node's log says why"
    } else if text.contains("Connection refused") {
        "nothing listens at that address: is the node running? On its host, `puente node run --config DIR/puente.toml` starts it"
    } else if matches!(
        status.code(),
        tonic::Code::Cancelled | tonic::Code::Unavailable | tonic::Code::Unknown
    ) && [
        "connection closed",
        "broken pipe",
        "connection reset",
        "stream closed",
    ]
    .iter()
    .any(|w| text.contains(w))
    {
        "the node closed the connection at once: if it does so again, it is probably refusing this certificate — revoked, expired or not issued by this country's CA; `puente pki show FILE` gives its validity, and the node's log says why it refused"
    } else {
        return None;
    };
    Some(format!(" ({hint})"))
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    #[test]
    fn only_a_local_transport_failure_gets_a_hint() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let local = tonic::Status::from_error(Box::new(io));
        assert!(transport_hint(&local, &status_text(&local))
            .is_some_and(|h| h.contains("is the node running?")));
        // The node's own words about a peer it could not reach: no hint about this
        // client's node or certificate.
        for said in [
            "peer GTM is unreachable: Connection refused (os error 111)",
            "peer GTM refused: received fatal alert: CertificateRevoked",
            "peer GTM: connection reset",
        ] {
            let remote = tonic::Status::unavailable(said);
            assert_eq!(
                transport_hint(&remote, &status_text(&remote)),
                None,
                "{said}"
            );
        }
    }
}
