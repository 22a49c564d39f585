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

use puente_audit::checkpoint::{self, Checkpoint};
use puente_audit::merkle::Hash;
use puente_pki::CountryCode;
use puente_proto::v1 as pb;
use tonic::Code;
use tracing::warn;

use crate::error::ExchangeError;
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
    pub async fn request_witness(&self, peer: CountryCode) -> Result<u64, String> {
        let link = self
            .peer_link(peer)
            .ok_or_else(|| format!("{peer} is not a peer"))?;
        let key = self
            .peer_key(peer)
            .ok_or_else(|| format!("{peer} is not trusted"))?;
        let note = self
            .audit
            .trees()
            .latest()
            .map_err(|e| e.to_string())?
            .ok_or("nothing to witness yet")?;
        let body = checkpoint::split_note(&note)
            .map_err(|e| e.to_string())?
            .0
            .to_string();
        let cp = Checkpoint::parse_body(&body).map_err(|e| e.to_string())?;
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
        let mut client = crate::client::exchange_client(link.channel.channel.clone());
        let timeout = std::time::Duration::from_secs(self.node.config.server.peer_timeout_secs);
        for _attempt in 0..2 {
            let proof = if previous == 0 || previous > cp.size {
                Vec::new()
            } else {
                self.audit
                    .consistency(previous, cp.size)
                    .map_err(|e| e.to_string())?
            };
            let req = pb::WitnessCheckpointRequest {
                checkpoint: Some(pb::SignedCheckpoint { note: note.clone() }),
                previous_size: previous,
                consistency_proof: proof.iter().map(|h| h.to_vec()).collect(),
            };
            let request_sha = crate::outcome::sha256(&prost::Message::encode_to_vec(&req));
            let call = client.witness_checkpoint(crate::limits::timed(req, timeout));
            match crate::limits::within(timeout, "WitnessCheckpoint", call).await {
                Ok(r) => {
                    let mut r = r.into_inner();
                    let receipt = r.receipt.take();
                    // Only a cosignature by this peer's key over exactly the body sent
                    // counts; an answer about another size is not an answer to it.
                    checkpoint::verify_cosignature(&body, &r.cosignature_line, &key).map_err(
                        |e| {
                            format!(
                                "witness.bad_cosignature: {peer}'s answer for size {}: {e}",
                                cp.size
                            )
                        },
                    )?;
                    if r.witnessed_size != cp.size {
                        return Err(format!(
                            "witness.wrong_size: {peer} says it witnessed size {}, but was asked to cosign size {}",
                            r.witnessed_size, cp.size
                        ));
                    }
                    // A repeat is answered as before, without a new entry or receipt.
                    if let Some(receipt) = &receipt {
                        let said = crate::outcome::sha256(&prost::Message::encode_to_vec(&r));
                        self.accept_receipt(peer, receipt, &request_sha, Some(&said), &[])
                            .map_err(|e| e.to_string())?;
                    }
                    self.audit
                        .trees()
                        .add_cosignature(cp.size, peer.as_str(), &r.cosignature_line)
                        .map_err(|e| e.to_string())?;
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
                Err(s) => return Err(crate::client::status_text(&s)),
            }
        }
        Err(format!("{peer} kept refusing the previous size"))
    }

    /// Has every peer cosign the latest checkpoint; returns (peer, outcome) per peer.
    pub async fn witness_all(&self) -> Vec<(CountryCode, Result<u64, String>)> {
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
