//! Cross-witnessing: peers cosign each other's audit checkpoints, so no country can
//! rewrite its history unseen. As a witness ([`cosign`]), a node accepts a peer's new
//! checkpoint only with a consistency proof from the one it cosigned before, checks and
//! advances what it remembers as one step per peer ([`state`]), and keeps an
//! inconsistent checkpoint as evidence, loudly. As a log (here), a node sends its latest
//! checkpoint to every peer after exchanges and periodically, and stores the
//! cosignatures it gets back.

pub mod cosign;
pub mod state;

pub use state::Witnessing;

use prost::Message;
use puente_audit::checkpoint::{self, Checkpoint};
use puente_audit::merkle::Hash;
use puente_pki::CountryCode;
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use tonic::Code;
use tracing::warn;

use crate::ask::call::PeerCall;
use crate::error::{ExchangeError, WitnessError};
use crate::limits::timed;
use crate::outcome::sha256;
use crate::state::NodeState;

/// Metadata naming the size this witness last cosigned, sent with FAILED_PRECONDITION.
pub const WITNESSED_SIZE: &str = "puente-witnessed-size";

/// The hashes of a consistency proof as sent on the wire; each must be 32 bytes.
pub fn hashes(v: &[Vec<u8>]) -> Result<Vec<Hash>, ExchangeError> {
    v.iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ExchangeError::invalid_argument("consistency_proof: every hash must be 32 bytes")
        })
}

impl NodeState {
    /// Asks `peer` to cosign this node's latest checkpoint; stores the cosignature.
    pub async fn request_witness(&self, peer: CountryCode) -> Result<u64, WitnessError> {
        let link = self.peer_link(peer).ok_or(WitnessError::NotAPeer(peer))?;
        let key = self.peer_key(peer).ok_or(WitnessError::Untrusted(peer))?;
        let note = self
            .audit
            .trees()
            .latest()?
            .ok_or(WitnessError::NothingYet)?;
        let body = checkpoint::split_note(&note)?.0.to_string();
        let cp = Checkpoint::parse_body(&body)?;
        let meta_key = format!("cosigned/{peer}");
        let mut previous = self
            .audit
            .trees()
            .meta
            .get(&meta_key)
            .ok()
            .flatten()
            .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])))
            .unwrap_or(0);
        let mut client = PeerCall::client(&link);
        let me = &self.node.identity;
        for _attempt in 0..2 {
            let proof = if previous == 0 || previous > cp.size {
                Vec::new()
            } else {
                self.audit.consistency(previous, cp.size)?
            };
            let req = pb::WitnessCheckpointRequest {
                checkpoint: Some(pb::SignedCheckpoint { note: note.clone() }),
                previous_size: previous,
                consistency_proof: proof.iter().map(|h| h.to_vec()).collect(),
            };
            let mut call = self.peer_call(
                peer,
                me,
                Service::AuditWitness,
                Purpose::Unspecified,
                "",
                &req,
                Vec::new(),
            );
            let sent = call
                .send(
                    "WitnessCheckpoint",
                    client.witness_checkpoint(timed(req, call.timeout())),
                )
                .await;
            match sent {
                Ok(mut r) => {
                    let receipt = r.receipt.take();
                    // Only a cosignature by this peer's key over exactly the body sent
                    // counts; an answer about another size is not an answer to it.
                    let signed_at =
                        checkpoint::verify_cosignature(&body, &r.cosignature_line, &key).map_err(
                            |source| WitnessError::BadCosignature {
                                peer,
                                size: cp.size,
                                source,
                            },
                        )?;
                    // A cosignature dated ahead of time would pass for fresh for ever (a
                    // day of clock skew allowed).
                    let latest = (self.clock)().unix_timestamp().saturating_add(86_400);
                    let said_at = r.witnessed_at.as_ref().map(|t| t.seconds).unwrap_or(0);
                    if i64::try_from(signed_at).unwrap_or(i64::MAX) > latest || said_at > latest {
                        return Err(WitnessError::Implausible {
                            peer,
                            size: cp.size,
                            why: "dated more than a day ahead of this node's clock".into(),
                        });
                    }
                    if r.witnessed_size != cp.size {
                        return Err(WitnessError::WrongSize {
                            peer,
                            said: r.witnessed_size,
                            asked: cp.size,
                        });
                    }
                    // A repeat is answered as before, without a new entry or receipt.
                    if receipt.is_some() {
                        call.outcome.response_sha256 = sha256(&r.encode_to_vec());
                        call.verify(receipt.as_ref())?;
                    }
                    self.audit.trees().add_cosignature(
                        cp.size,
                        peer.as_str(),
                        &r.cosignature_line,
                    )?;
                    let _ = self
                        .audit
                        .trees()
                        .meta
                        .insert(&meta_key, &cp.size.to_be_bytes());
                    self.metrics.peer_contact(peer);
                    return Ok(cp.size);
                }
                Err(s)
                    if s.code() == Code::FailedPrecondition
                        && s.metadata().get(WITNESSED_SIZE).is_some() =>
                {
                    previous = s
                        .metadata()
                        .get(WITNESSED_SIZE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                }
                Err(s) => return Err(WitnessError::Peer(crate::client::status_text(&s))),
            }
        }
        Err(WitnessError::KeptRefusing(peer))
    }

    /// Has every peer cosign the latest checkpoint; returns (peer, outcome) per peer.
    pub async fn witness_all(&self) -> Vec<(CountryCode, Result<u64, WitnessError>)> {
        let mut out = Vec::new();
        for country in self.peer_countries() {
            let r = self.request_witness(country).await;
            if let Err(e) = &r {
                warn!(peer = %country, "witnessing failed: {e}");
            }
            out.push((country, r));
        }
        out
    }
}
