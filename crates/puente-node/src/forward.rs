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

    /// The context of a request to `peer` on behalf of `operator`, and the checkpoints of
    /// `peer`'s log it names (its receipt must extend each).
    fn outgoing_context(
        &self,
        peer: CountryCode,
        operator: &PeerIdentity,
        ctx: Option<&pb::RequestContext>,
    ) -> Result<(pb::RequestContext, puente_audit::seen::Stated), Status> {
        use ring::rand::SecureRandom;
        let checked = crate::policy::context(ctx)?;
        let mut nonce = vec![0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Status::unavailable("the system's random source failed"))?;
        let stated = self.receipts.known(&format!("puente/{peer}/audit"));
        Ok((
            pb::RequestContext {
                purpose: checked.purpose as i32,
                case_reference: checked.case_reference,
                // Who asks is the operator's certificate, not what the request claims.
                operator_id: operator.name.clone(),
                request_id: ctx.map(|c| c.request_id.clone()).unwrap_or_default(),
                nonce,
                known_log_sizes: stated.iter().map(|s| s.0).collect(),
            },
            stated,
        ))
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
        let (context, stated) = self.outgoing_context(peer, operator, req.context.as_ref())?;
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
                let exchange = Exchange {
                    peer,
                    operator,
                    request_sha,
                    stated: &stated,
                };
                let receipt = self.check_receipt(&exchange, &mut o, receipt).await?;
                self.check_disclosure(&exchange, &mut o, &answer, &receipt)
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
                let receipt = receipt_of(&status).filter(|r| {
                    let said = sha256(status.message().as_bytes());
                    self.accept_receipt(peer, r, &request_sha, Some(&said), &stated)
                        .is_ok()
                });
                let o = o.refused(&status);
                self.record_outgoing(peer.as_str(), operator, request_sha, &o, receipt.as_ref())
                    .await?;
                Err(peer_status(peer, &status))
            }
        }
    }

    /// Requires a receipt from `peer` for this very exchange and answer, consistent with
    /// every checkpoint of its log seen before; records the failure otherwise.
    async fn check_receipt(
        &self,
        x: &Exchange<'_>,
        o: &mut Outcome,
        receipt: Option<pb::Receipt>,
    ) -> Result<pb::Receipt, Status> {
        let problem = match &receipt {
            None => "sent no receipt".to_string(),
            Some(r) => match self.accept_receipt(
                x.peer,
                r,
                &x.request_sha,
                Some(&o.response_sha256),
                x.stated,
            ) {
                Ok(()) => return Ok(r.clone()),
                Err(e) => e,
            },
        };
        // The rule the receipt broke, when it names one (split view, replay, ...).
        let rule = problem
            .split(|c: char| c.is_whitespace() || c == ':')
            .find(|w| w.starts_with("receipt.") && w.len() > 8)
            .unwrap_or("receipt.invalid")
            .to_string();
        if rule == "receipt.split_view" {
            tracing::error!(peer = %x.peer, "SPLIT VIEW: {}'s log as shown in this receipt does not extend what it showed before; the receipt is kept in this node's audit entry as evidence: {problem}", x.peer);
        }
        o.decision = pb::Decision::Refused as i32;
        o.rule = rule;
        o.code = Code::DataLoss as i32;
        o.reason = format!("{} {problem}", x.peer);
        // A receipt that fails is kept with the refusal: it is the evidence.
        self.record_outgoing(
            x.peer.as_str(),
            x.operator,
            x.request_sha,
            o,
            receipt.as_ref(),
        )
        .await?;
        warn!(peer = %x.peer, "answer discarded: the receipt does not hold: {problem}");
        Err(Status::data_loss(format!(
            "{}'s receipt does not hold ({problem}); its answer is not used",
            x.peer
        )))
    }

    /// Requires an answer to carry exactly the fields it says it disclosed, and a
    /// hit/no-hit answer nothing but references; records the failure otherwise.
    async fn check_disclosure(
        &self,
        x: &Exchange<'_>,
        o: &mut Outcome,
        answer: &pb::QueryIdentityResponse,
        receipt: &pb::Receipt,
    ) -> Result<(), Status> {
        let said: std::collections::BTreeSet<i32> =
            answer.disclosed_fields.iter().copied().collect();
        let carried: std::collections::BTreeSet<i32> = answer
            .matches
            .iter()
            .filter_map(|m| m.person.as_ref())
            .flat_map(convert::present_fields)
            .map(|f| f as i32)
            .collect();
        let problem = if answer.mode == pb::Mode::HitNoHit as i32
            && answer
                .matches
                .iter()
                .any(|m| m.person.is_some() || m.score_permille != 0)
        {
            "a hit/no-hit answer carries persons or scores".to_string()
        } else if said != carried {
            format!("the answer says it disclosed fields {said:?} but carries {carried:?}")
        } else {
            return Ok(());
        };
        o.decision = pb::Decision::Refused as i32;
        o.rule = "answer.fields_mismatch".into();
        o.code = Code::DataLoss as i32;
        o.reason = format!("{} {problem}", x.peer);
        self.record_outgoing(x.peer.as_str(), x.operator, x.request_sha, o, Some(receipt))
            .await?;
        warn!(peer = %x.peer, "answer discarded: {problem}");
        Err(Status::data_loss(format!(
            "answer.fields_mismatch: {}'s answer is not used: {problem}",
            x.peer
        )))
    }

    /// `Local.FetchDocument`: fetch a passport copy from a peer, checking its size and
    /// SHA-256 before relaying it. Nothing is written to disk.
    pub async fn forward_fetch(
        &self,
        operator: &PeerIdentity,
        req: &pb::FetchDocumentRequest,
    ) -> Result<(pb::DocumentHeader, Vec<u8>, pb::FetchDocumentTrailer), Status> {
        let (peer, link) = self.link(&req.peer_country)?;
        let (context, stated) = self.outgoing_context(peer, operator, req.context.as_ref())?;
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
                let said = sha256(audited.message().as_bytes());
                let receipt = receipt_of(&audited).filter(|r| {
                    self.accept_receipt(peer, r, &request_sha, Some(&said), &stated)
                        .is_ok()
                });
                let o = o.refused(&audited);
                self.record_outgoing(peer.as_str(), operator, request_sha, &o, receipt.as_ref())
                    .await?;
                warn!(operator = %operator.name, peer = %peer, "passport copy not relayed: {}", shown.message());
                return Err(shown);
            }
        };
        o.response_sha256 = digest;
        o.agreement_id = header.agreement_id.clone();
        let exchange = Exchange {
            peer,
            operator,
            request_sha,
            stated: &stated,
        };
        let receipt = self
            .check_receipt(&exchange, &mut o, trailer.receipt)
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

/// One exchange with a peer, as its receipt must show it.
struct Exchange<'a> {
    peer: CountryCode,
    operator: &'a PeerIdentity,
    request_sha: [u8; 32],
    stated: &'a [(u64, [u8; 32])],
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
