//! `Local.FetchDocument` on the asking side: a passport copy fetched from a peer, its
//! stream read to the end and checked against its announced size and SHA-256 and the
//! peer's receipt before anything is relayed. Nothing is written to disk.

use std::time::Duration;

use puente_pki::{CountryCode, PeerIdentity};
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_client::ExchangeClient;
use tonic::{Code, Status};
use tracing::{info, warn};

use super::call::{peer_status, PeerCall};
use crate::client::status_text;
use crate::error::ExchangeError;
use crate::limits::{timed, within};
use crate::outcome::sha256;
use crate::state::NodeState;

/// Largest passport copy relayed.
pub const MAX_DOCUMENT: u64 = 16 * 1024 * 1024;

impl NodeState {
    /// `Local.FetchDocument`: fetch a passport copy from a peer, checking its size and
    /// SHA-256 before relaying it. Nothing is written to disk.
    pub async fn forward_fetch(
        &self,
        operator: &PeerIdentity,
        req: &pb::FetchDocumentRequest,
    ) -> Result<(pb::DocumentHeader, Vec<u8>, pb::FetchDocumentTrailer), ExchangeError> {
        let (peer, link) = self.link(&req.peer_country)?;
        let (context, stated) =
            self.outgoing_context(peer, operator, req.context.as_ref(), true)?;
        if req.reference.is_empty() {
            return Err(ExchangeError::invalid_argument(
                "reference: required (from a match)",
            ));
        }
        let purpose = Purpose::try_from(context.purpose).unwrap_or(Purpose::Unspecified);
        let case_reference = context.case_reference.clone();
        let request = pb::GetDocumentRequest {
            context: Some(context),
            reference: req.reference.clone(),
        };
        let mut call = self.peer_call(
            peer,
            operator,
            Service::PassportCopy,
            purpose,
            &case_reference,
            &request,
            stated,
        );
        let deadline = Duration::from_secs(self.node.config.server.document_timeout_secs);
        let mut client = PeerCall::client(&link);
        let received = tokio::time::timeout(
            deadline,
            receive_document(peer, &mut client, request, call.timeout(), deadline),
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
                call.refused(&audited).await?;
                warn!(operator = %operator.name, peer = %peer, "passport copy not relayed: {}", shown.message);
                return Err(shown);
            }
        };
        call.outcome.response_sha256 = digest;
        call.outcome.agreement_id = header.agreement_id.clone();
        let receipt = call.check_receipt(trailer.receipt).await?;
        let held = self
            .own_permit(peer, &header.agreement_id, Service::PassportCopy, purpose)
            .map(|permit| super::held::copy_header_problem(&header, &permit));
        if let Some(problem) = held.unwrap_or_else(Some) {
            return Err(super::query::not_granted(&mut call, &receipt, problem).await);
        }
        let audit_index = call.record(Some(&receipt)).await?;
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
    shown: ExchangeError,
}

impl Failure {
    /// A transfer that started but did not complete as announced.
    fn incomplete(code: Code, why: String) -> Self {
        let message = format!("document.incomplete: {why}");
        Self {
            audited: Status::new(code, message.clone()),
            shown: ExchangeError::new(code, message),
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
                // The contract's chunks hold 1 to 65,536 bytes: empty ones would let a
                // peer hold the operator's fetch open without sending anything.
                if c.is_empty() || c.len() > 65_536 {
                    return Err(Failure::incomplete(
                        Code::DataLoss,
                        format!(
                            "{peer} sent a chunk of {} bytes (the contract's are 1 to 65,536)",
                            c.len()
                        ),
                    ));
                }
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
    let digest = sha256(&bytes);
    if digest.as_slice() != header.sha256.as_slice() || bytes.len() as u64 != header.size_bytes {
        return Err(Failure::incomplete(
            Code::DataLoss,
            format!("the copy received from {peer} does not match its announced size and SHA-256"),
        ));
    }
    Ok((header, bytes, trailer, digest))
}
