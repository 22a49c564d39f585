//! The asking side: an operator's query or fetch, forwarded by this node to the named peer
//! under the node's own identity, with the operator's id (from the operator's verified
//! certificate), purpose and case reference. Before a query leaves, the node refuses to
//! ask a country about a person it holds as protected against that country.

use puente_pki::{CountryCode, PeerIdentity};
use puente_proto::v1 as pb;
use std::time::Duration;

use puente_proto::v1::exchange_client::ExchangeClient;
use tonic::{Code, Status};
use tracing::{info, warn};

use prost::Message;

use crate::auditing::{receipt_of, sha256, Outcome};
use crate::client::{exchange_client, status_text};
use crate::convert;
use crate::identity::protection_verdict;
use crate::limits::{timed, within};
use crate::peers::PeerLink;
use crate::services::NodeState;

/// Largest passport copy relayed.
pub const MAX_DOCUMENT: u64 = 16 * 1024 * 1024;

/// A peer's error as this node's operator should see it.
pub fn peer_status(peer: CountryCode, s: &Status) -> Status {
    match s.code() {
        Code::PermissionDenied => {
            Status::permission_denied(format!("{peer} refused: {}", s.message()))
        }
        Code::InvalidArgument => {
            Status::invalid_argument(format!("{peer} found the request invalid: {}", s.message()))
        }
        Code::NotFound => Status::not_found(format!("{peer}: {}", s.message())),
        Code::Unimplemented => {
            Status::unimplemented(format!("{peer} does not serve this yet: {}", s.message()))
        }
        Code::Unavailable | Code::Unknown | Code::DeadlineExceeded | Code::Cancelled => {
            Status::unavailable(format!("peer {peer} is unreachable: {}", status_text(s)))
        }
        _ => Status::new(s.code(), format!("{peer}: {}", status_text(s))),
    }
}

impl NodeState {
    fn link(&self, peer_country: &str) -> Result<(CountryCode, PeerLink), Status> {
        let peer = CountryCode::parse(peer_country.trim())
            .map_err(|e| Status::invalid_argument(format!("peer_country: {e}")))?;
        if peer == self.node.country() {
            return Err(Status::invalid_argument(format!("peer_country: {peer} is this node's own country; search own records with `puente records search`")));
        }
        // Nothing is asked that this node could not record.
        self.disk.check().map_err(Status::unavailable)?;
        let link = self.peer_link(peer).ok_or_else(|| {
            Status::failed_precondition(format!(
                "peer_country: {peer} is not a trusted peer of this node"
            ))
        })?;
        Ok((peer, link))
    }

    /// How long one call to a peer may take (`server.peer_timeout_secs`).
    pub fn peer_timeout(&self) -> Duration {
        Duration::from_secs(self.node.config.server.peer_timeout_secs)
    }

    fn outgoing_context(
        operator: &PeerIdentity,
        ctx: Option<&pb::RequestContext>,
    ) -> Result<pb::RequestContext, Status> {
        let checked = crate::policy::context(ctx)?;
        Ok(pb::RequestContext {
            purpose: checked.purpose as i32,
            case_reference: checked.case_reference,
            // Who asks is the operator's certificate, not what the request claims.
            operator_id: operator.name.clone(),
            request_id: ctx.map(|c| c.request_id.clone()).unwrap_or_default(),
        })
    }

    /// `Local.Query`: forward an operator's identity query to a peer. The answer reaches
    /// the operator only after the peer's receipt verified and this node's own outgoing
    /// entry (holding that receipt) is durable.
    pub async fn forward_query(
        &self,
        operator: &PeerIdentity,
        req: &pb::QueryRequest,
    ) -> Result<pb::QueryResponse, Status> {
        let (peer, link) = self.link(&req.peer_country)?;
        let context = Self::outgoing_context(operator, req.context.as_ref())?;
        let terms = convert::terms(req.query.as_ref())?;
        let purpose = puente_policy::Purpose::try_from(context.purpose)
            .unwrap_or(puente_policy::Purpose::Unspecified);
        let mut o = Outcome::new(
            puente_policy::Service::IdentityQuery,
            purpose,
            &context.case_reference,
        );
        o.terms = terms.audit_terms();
        let request = pb::QueryIdentityRequest {
            context: Some(context),
            query: req.query.clone(),
            max_matches: req.max_matches,
        };
        let request_sha = sha256(&request.encode_to_vec());
        // Non-refoulement on the asking side: never ask a country about a person this
        // country protects against it.
        let own = self.find(&terms, 20, None).await?;
        let peer_id = PeerIdentity {
            country: peer,
            role: puente_pki::Role::Node,
            name: String::new(),
        };
        if own
            .candidates
            .iter()
            .any(|(s, _)| protection_verdict(&s.record, &peer_id).is_err())
        {
            warn!(operator = %operator.name, peer = %peer, "query not sent: a matching person is protected against the peer");
            let status = Status::permission_denied(format!(
                "protection.outgoing: this country holds a person matching these terms who is protected against {peer}; the query is not sent"
            ));
            let mut o = o.refused(&status);
            o.decision = pb::Decision::Withheld as i32;
            self.record_outgoing(peer.as_str(), operator, request_sha, &o, None)
                .await?;
            return Err(status);
        }
        let timeout = self.peer_timeout();
        let mut client = exchange_client(link.channel.channel.clone());
        let call = client.query_identity(timed(request, timeout));
        match within(timeout, "QueryIdentity", call).await {
            Ok(resp) => {
                let mut answer = resp.into_inner();
                let receipt = answer.receipt.take();
                o.response_sha256 = sha256(&answer.encode_to_vec());
                o.agreement_id = answer.agreement_id.clone();
                o.disclosed_fields = answer.disclosed_fields.clone();
                let receipt = self
                    .check_receipt(peer, operator, request_sha, &mut o, receipt)
                    .await?;
                let audit_index = self
                    .record_outgoing(peer.as_str(), operator, request_sha, &o, Some(&receipt))
                    .await?;
                info!(operator = %operator.name, peer = %peer, matches = answer.matches.len(), "query answered");
                Ok(pb::QueryResponse {
                    peer_country: peer.to_string(),
                    outcome: answer.outcome,
                    mode: answer.mode,
                    matches: answer.matches,
                    disclosed_fields: answer.disclosed_fields,
                    agreement_id: answer.agreement_id,
                    retention_days: answer.retention_days,
                    receipt_verified: true,
                    audit_index,
                    peer_receipt: Some(receipt),
                })
            }
            Err(status) => {
                let receipt = receipt_of(&status).filter(|r| self.verify_receipt(peer, r).is_ok());
                let o = o.refused(&status);
                self.record_outgoing(peer.as_str(), operator, request_sha, &o, receipt.as_ref())
                    .await?;
                Err(peer_status(peer, &status))
            }
        }
    }

    /// Requires a verifying receipt from `peer`; records the failure otherwise.
    async fn check_receipt(
        &self,
        peer: CountryCode,
        operator: &PeerIdentity,
        request_sha: [u8; 32],
        o: &mut Outcome,
        receipt: Option<pb::Receipt>,
    ) -> Result<pb::Receipt, Status> {
        let problem = match &receipt {
            None => Some("sent no receipt".to_string()),
            Some(r) => self.verify_receipt(peer, r).err(),
        };
        match (problem, receipt) {
            (None, Some(r)) => Ok(r),
            (problem, _) => {
                let why = problem.unwrap_or_default();
                o.decision = pb::Decision::Refused as i32;
                o.rule = "receipt.invalid".into();
                o.code = Code::DataLoss as i32;
                o.reason = format!("{peer} {why}");
                self.record_outgoing(peer.as_str(), operator, request_sha, o, None)
                    .await?;
                warn!(peer = %peer, "answer discarded: the receipt does not verify: {why}");
                Err(Status::data_loss(format!(
                    "{peer}'s receipt does not verify ({why}); its answer is not used"
                )))
            }
        }
    }

    /// `Local.FetchDocument`: fetch a passport copy from a peer, checking its size and
    /// SHA-256 before relaying it. Nothing is written to disk.
    pub async fn forward_fetch(
        &self,
        operator: &PeerIdentity,
        req: &pb::FetchDocumentRequest,
    ) -> Result<(pb::DocumentHeader, Vec<u8>, pb::FetchDocumentTrailer), Status> {
        let (peer, link) = self.link(&req.peer_country)?;
        let context = Self::outgoing_context(operator, req.context.as_ref())?;
        if req.reference.is_empty() {
            return Err(Status::invalid_argument(
                "reference: required (from a match)",
            ));
        }
        let purpose = puente_policy::Purpose::try_from(context.purpose)
            .unwrap_or(puente_policy::Purpose::Unspecified);
        let mut o = Outcome::new(
            puente_policy::Service::PassportCopy,
            purpose,
            &context.case_reference,
        );
        let request = pb::GetDocumentRequest {
            context: Some(context),
            reference: req.reference.clone(),
        };
        let request_sha = sha256(&request.encode_to_vec());
        let timeout = self.peer_timeout();
        let deadline = Duration::from_secs(self.node.config.server.document_timeout_secs);
        let mut client = exchange_client(link.channel.channel.clone());
        let received = tokio::time::timeout(
            deadline,
            receive_document(peer, &mut client, request, timeout, deadline),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Failure::incomplete(
                Code::DeadlineExceeded,
                format!("{peer}'s passport copy did not arrive within {deadline:?} (server.document_timeout_secs)"),
            ))
        });
        let (header, bytes, trailer, digest) = match received {
            Ok(r) => r,
            Err(Failure { audited, shown }) => {
                // Whatever went wrong once the request left, the asker's log says so, and
                // the operator gets nothing of a partial copy.
                let receipt = receipt_of(&audited).filter(|r| self.verify_receipt(peer, r).is_ok());
                let o = o.refused(&audited);
                self.record_outgoing(peer.as_str(), operator, request_sha, &o, receipt.as_ref())
                    .await?;
                warn!(operator = %operator.name, peer = %peer, "passport copy not relayed: {}", shown.message());
                return Err(shown);
            }
        };
        o.response_sha256 = digest;
        o.agreement_id = header.agreement_id.clone();
        let receipt = self
            .check_receipt(peer, operator, request_sha, &mut o, trailer.receipt)
            .await?;
        let audit_index = self
            .record_outgoing(peer.as_str(), operator, request_sha, &o, Some(&receipt))
            .await?;
        info!(operator = %operator.name, peer = %peer, size = bytes.len(), "passport copy relayed");
        Ok((
            header,
            bytes,
            pb::FetchDocumentTrailer {
                receipt_verified: true,
                audit_index,
                sha256_verified: true,
                peer_receipt: Some(receipt),
            },
        ))
    }
}

/// Why a document transfer failed: the status its audit entry records (the peer's own
/// refusal, with its rule and receipt, when it refused) and the one the operator sees.
struct Failure {
    audited: Status,
    shown: Status,
}

impl Failure {
    /// A transfer that started but did not complete as announced.
    fn incomplete(code: Code, why: String) -> Self {
        let s = Status::new(code, format!("document.incomplete: {why}"));
        Self {
            audited: s.clone(),
            shown: s,
        }
    }
}

type Received = (pb::DocumentHeader, Vec<u8>, pb::DocumentTrailer, [u8; 32]);

/// Asks `peer` for a document and reads its stream to the end: one header, chunks adding
/// up to the announced size and SHA-256, one trailer. Anything else is a [`Failure`].
async fn receive_document(
    peer: CountryCode,
    client: &mut ExchangeClient<tonic::transport::Channel>,
    request: pb::GetDocumentRequest,
    timeout: Duration,
    deadline: Duration,
) -> Result<Received, Failure> {
    use pb::get_document_response::Part;
    let opened = within(
        timeout,
        "GetDocument",
        client.get_document(timed(request, deadline)),
    );
    let mut stream = match opened.await {
        Ok(s) => s.into_inner(),
        Err(status) => {
            return Err(Failure {
                shown: peer_status(peer, &status),
                audited: status,
            })
        }
    };
    let mut header: Option<pb::DocumentHeader> = None;
    let mut bytes = Vec::new();
    let mut trailer: Option<pb::DocumentTrailer> = None;
    loop {
        let msg = match stream.message().await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(s) => {
                return Err(Failure::incomplete(
                    Code::Unavailable,
                    format!(
                        "{peer}'s document stream broke after {} bytes: {}",
                        bytes.len(),
                        status_text(&s)
                    ),
                ))
            }
        };
        match msg.part {
            Some(Part::Header(h)) if header.is_none() => {
                if h.size_bytes > MAX_DOCUMENT {
                    return Err(Failure::incomplete(
                        Code::DataLoss,
                        format!(
                            "{peer} announced a copy of {} bytes, above the 16 MiB limit",
                            h.size_bytes
                        ),
                    ));
                }
                bytes.reserve(usize::try_from(h.size_bytes).unwrap_or(0));
                header = Some(h);
            }
            Some(Part::Chunk(c)) if header.is_some() && trailer.is_none() => {
                if bytes.len() as u64 + c.len() as u64 > MAX_DOCUMENT {
                    return Err(Failure::incomplete(
                        Code::DataLoss,
                        format!("{peer} sent more than 16 MiB"),
                    ));
                }
                bytes.extend_from_slice(&c);
            }
            Some(Part::Trailer(t)) if header.is_some() && trailer.is_none() => trailer = Some(t),
            _ => {
                return Err(Failure::incomplete(
                    Code::DataLoss,
                    format!("{peer} sent the document stream out of order"),
                ))
            }
        }
    }
    let Some(header) = header else {
        return Err(Failure::incomplete(
            Code::DataLoss,
            format!("{peer} sent no document header"),
        ));
    };
    let Some(trailer) = trailer else {
        return Err(Failure::incomplete(
            Code::DataLoss,
            format!(
                "{peer}'s document stream ended after {} of {} bytes, before its trailer (connection cut?)",
                bytes.len(),
                header.size_bytes
            ),
        ));
    };
    let digest = crate::auditing::sha256(&bytes);
    if digest.as_slice() != header.sha256.as_slice() || bytes.len() as u64 != header.size_bytes {
        return Err(Failure::incomplete(
            Code::DataLoss,
            format!("the copy received from {peer} does not match its announced size and SHA-256"),
        ));
    }
    Ok((header, bytes, trailer, digest))
}
