//! The asking side: an operator's query or fetch, forwarded by this node to the named peer
//! under the node's own identity, with the operator's id (from the operator's verified
//! certificate), purpose and case reference. Before a query leaves, the node refuses to
//! ask a country about a person it holds as protected against that country.

use puente_pki::{CountryCode, PeerIdentity};
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_client::ExchangeClient;
use tonic::{Code, Status};
use tracing::{info, warn};

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
    fn link(&self, peer_country: &str) -> Result<(CountryCode, &PeerLink), Status> {
        let peer = CountryCode::parse(peer_country.trim())
            .map_err(|e| Status::invalid_argument(format!("peer_country: {e}")))?;
        if peer == self.node.country() {
            return Err(Status::invalid_argument(format!("peer_country: {peer} is this node's own country; search own records with `puente records search`")));
        }
        let link = self.peers.get(peer).ok_or_else(|| {
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

    /// `Local.Query`: forward an operator's identity query to a peer.
    pub async fn forward_query(
        &self,
        operator: &PeerIdentity,
        req: &pb::QueryRequest,
    ) -> Result<pb::QueryResponse, Status> {
        let (peer, link) = self.link(&req.peer_country)?;
        let context = Self::outgoing_context(operator, req.context.as_ref())?;
        let terms = convert::terms(req.query.as_ref())?;
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
            return Err(Status::permission_denied(format!(
                "protection.outgoing: this country holds a person matching these terms who is protected against {peer}; the query is not sent"
            )));
        }
        let mut client = ExchangeClient::new(link.channel.channel.clone());
        let answer = client
            .query_identity(pb::QueryIdentityRequest {
                context: Some(context),
                query: req.query.clone(),
                max_matches: req.max_matches,
            })
            .await
            .map_err(|s| peer_status(peer, &s))?
            .into_inner();
        info!(operator = %operator.name, peer = %peer, matches = answer.matches.len(), "query answered");
        Ok(pb::QueryResponse {
            peer_country: peer.to_string(),
            outcome: answer.outcome,
            mode: answer.mode,
            matches: answer.matches,
            disclosed_fields: answer.disclosed_fields,
            agreement_id: answer.agreement_id,
            retention_days: answer.retention_days,
            receipt_verified: false,
            audit_index: 0,
            peer_receipt: answer.receipt,
        })
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
        let mut client = ExchangeClient::new(link.channel.channel.clone());
        let mut stream = client
            .get_document(pb::GetDocumentRequest {
                context: Some(context),
                reference: req.reference.clone(),
            })
            .await
            .map_err(|s| peer_status(peer, &s))?
            .into_inner();
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
        info!(operator = %operator.name, peer = %peer, size = bytes.len(), "passport copy relayed");
        Ok((
            header,
            bytes,
            pb::FetchDocumentTrailer {
                receipt_verified: false,
                audit_index: 0,
                sha256_verified: true,
                peer_receipt: trailer.receipt,
            },
        ))
    }
}
