//! The asking side: an operator's query or fetch, forwarded by this node to the named peer
//! under the node's own identity, with the operator's id (from the operator's verified
//! certificate), purpose and case reference. Before a query leaves, the node refuses to
//! ask a country about a person it holds as protected against that country.

use puente_pki::{CountryCode, PeerIdentity};
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_client::ExchangeClient;
use tonic::{Code, Status};
use tracing::{info, warn};

use prost::Message;

use crate::auditing::{receipt_of, sha256, Outcome};
use crate::client::status_text;
use crate::convert;
use crate::identity::protection_verdict;
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
        let link = self.peer_link(peer).ok_or_else(|| {
            Status::failed_precondition(format!(
                "peer_country: {peer} is not a trusted peer of this node"
            ))
        })?;
        Ok((peer, link))
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
        let own = self.find(&terms, 20).await?;
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
        let mut client = ExchangeClient::new(link.channel.channel.clone());
        match client.query_identity(request).await {
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
        use pb::get_document_response::Part;
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
        let mut client = ExchangeClient::new(link.channel.channel.clone());
        let mut stream = match client.get_document(request).await {
            Ok(s) => s.into_inner(),
            Err(status) => {
                let receipt = receipt_of(&status).filter(|r| self.verify_receipt(peer, r).is_ok());
                let o = o.refused(&status);
                self.record_outgoing(peer.as_str(), operator, request_sha, &o, receipt.as_ref())
                    .await?;
                return Err(peer_status(peer, &status));
            }
        };
        let mut header: Option<pb::DocumentHeader> = None;
        let mut bytes = Vec::new();
        let mut trailer: Option<pb::DocumentTrailer> = None;
        while let Some(msg) = stream.message().await.map_err(|s| peer_status(peer, &s))? {
            match msg.part {
                Some(Part::Header(h)) if header.is_none() => {
                    if h.size_bytes > MAX_DOCUMENT {
                        return Err(Status::data_loss(format!(
                            "{peer} announced a copy of {} bytes, above the 16 MiB limit",
                            h.size_bytes
                        )));
                    }
                    bytes.reserve(usize::try_from(h.size_bytes).unwrap_or(0));
                    header = Some(h);
                }
                Some(Part::Chunk(c)) if header.is_some() && trailer.is_none() => {
                    if bytes.len() as u64 + c.len() as u64 > MAX_DOCUMENT {
                        return Err(Status::data_loss(format!("{peer} sent more than 16 MiB")));
                    }
                    bytes.extend_from_slice(&c);
                }
                Some(Part::Trailer(t)) if header.is_some() && trailer.is_none() => {
                    trailer = Some(t)
                }
                _ => {
                    return Err(Status::data_loss(format!(
                        "{peer} sent the document stream out of order"
                    )))
                }
            }
        }
        let header =
            header.ok_or_else(|| Status::data_loss(format!("{peer} sent no document header")))?;
        let trailer = trailer.ok_or_else(|| {
            Status::data_loss(format!(
                "{peer}'s document stream ended before its trailer (connection cut?)"
            ))
        })?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let sha_ok =
            digest.as_ref() == header.sha256.as_slice() && bytes.len() as u64 == header.size_bytes;
        if !sha_ok {
            return Err(Status::data_loss(format!(
                "the copy received from {peer} does not match its announced size and SHA-256"
            )));
        }
        o.response_sha256 = digest.as_ref().try_into().unwrap_or([0; 32]);
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
