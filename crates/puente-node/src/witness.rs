//! Cross-witnessing: peers cosign each other's audit checkpoints, so no country can
//! rewrite its history unseen. As a witness, a node accepts a peer's new checkpoint only
//! with a consistency proof from the one it cosigned before, advances what it remembers
//! atomically, and keeps an inconsistent checkpoint as evidence, loudly. As a log, a node
//! sends its latest checkpoint to every peer after exchanges and periodically, and stores
//! the cosignatures it gets back.

use prost::Message;
use puente_audit::checkpoint::{self, Checkpoint};
use puente_audit::merkle::{self, Hash};
use puente_pki::{CountryCode, PeerIdentity};
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tracing::{error, info, warn};

use crate::auditing::{sha256, Outcome};
use crate::services::{timestamp, NodeState};

/// Metadata naming the size this witness last cosigned, sent with FAILED_PRECONDITION.
pub const WITNESSED_SIZE: &str = "puente-witnessed-size";

/// The hashes of a consistency proof as sent on the wire; each must be 32 bytes.
pub fn hashes(v: &[Vec<u8>]) -> Result<Vec<Hash>, Status> {
    v.iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|_| Status::invalid_argument("consistency_proof: every hash must be 32 bytes"))
}

impl NodeState {
    /// What this node last cosigned for `peer`: (size, root).
    fn witnessed(&self, peer: CountryCode) -> Result<Option<(u64, Hash)>, Status> {
        let v = self
            .audit
            .trees()
            .witnessed
            .get(peer.as_str())
            .map_err(|e| Status::unavailable(format!("the audit store: {e}")))?;
        Ok(v.and_then(|v| {
            (v.len() == 40).then(|| {
                let mut size = [0u8; 8];
                size.copy_from_slice(&v[..8]);
                let mut root = [0u8; 32];
                root.copy_from_slice(&v[8..]);
                (u64::from_be_bytes(size), root)
            })
        }))
    }

    /// `Exchange.WitnessCheckpoint`, as the witness.
    pub async fn witness(
        &self,
        caller: &PeerIdentity,
        req: &pb::WitnessCheckpointRequest,
    ) -> Result<pb::WitnessCheckpointResponse, Status> {
        let request_sha = sha256(&req.encode_to_vec());
        let o = Outcome::new(Service::AuditWitness, Purpose::Unspecified, "");
        match self.witness_inner(caller, req).await {
            Ok(mut r) => {
                let mut o = o;
                o.rule = "witness.consistent".into();
                o.response_sha256 = sha256(&r.encode_to_vec());
                r.receipt = Some(self.record_incoming(caller, request_sha, &o).await?);
                Ok(r)
            }
            Err(status) => Err(self.refuse_incoming(caller, request_sha, o, status).await),
        }
    }

    async fn witness_inner(
        &self,
        caller: &PeerIdentity,
        req: &pb::WitnessCheckpointRequest,
    ) -> Result<pb::WitnessCheckpointResponse, Status> {
        let note = &req
            .checkpoint
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("checkpoint: required"))?
            .note;
        let key = self.peer_key(caller.country).ok_or_else(|| {
            Status::permission_denied(format!(
                "witness.unknown_log: {} is not in the trust bundle",
                caller.country
            ))
        })?;
        let cp = checkpoint::open(note, &key)
            .map_err(|e| Status::invalid_argument(format!("witness.bad_signature: {e}")))?;
        let origin = format!("puente/{}/audit", caller.country);
        if cp.origin != origin {
            return Err(Status::invalid_argument(format!(
                "witness.wrong_origin: expected {origin}, got {}",
                cp.origin
            )));
        }
        let proof = hashes(&req.consistency_proof)?;
        let previous = self.witnessed(caller.country)?;
        if let Some((size, root)) = previous {
            if req.previous_size != size {
                let mut s = Status::failed_precondition(format!(
                    "witness.stale_previous_size: this witness last cosigned size {size}, not {}",
                    req.previous_size
                ));
                if let Ok(v) = MetadataValue::try_from(size.to_string()) {
                    s.metadata_mut().insert(WITNESSED_SIZE, v);
                }
                return Err(s);
            }
            if cp.size < size || !merkle::verify_consistency(size, cp.size, &root, &cp.root, &proof)
            {
                let key = format!(
                    "{}|{}|{}",
                    (self.clock)().unix_timestamp(),
                    caller.country,
                    cp.size
                );
                let _ = self
                    .audit
                    .trees()
                    .evidence
                    .insert(key.as_bytes(), note.as_bytes());
                let _ = self.audit.trees().flush();
                error!(peer = %caller.country, size = cp.size, cosigned = size, "INCONSISTENT CHECKPOINT: the peer's log does not extend what this node cosigned; kept as evidence");
                return Err(Status::failed_precondition(format!(
                    "witness.inconsistent: the checkpoint of size {} is not consistent with the one of size {size} cosigned before; it is kept as evidence",
                    cp.size
                )));
            }
        }
        let mut value = cp.size.to_be_bytes().to_vec();
        value.extend_from_slice(&cp.root);
        self.audit
            .trees()
            .witnessed
            .insert(caller.country.as_str(), value)
            .map_err(|e| Status::unavailable(format!("the audit store: {e}")))?;
        self.audit
            .trees()
            .flush()
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let now = (self.clock)();
        let line = checkpoint::cosign(
            &cp.body(),
            &self.node.signing,
            u64::try_from(now.unix_timestamp()).unwrap_or(0),
        );
        info!(peer = %caller.country, size = cp.size, "cosigned a peer's checkpoint");
        Ok(pb::WitnessCheckpointResponse {
            cosignature_line: line,
            witnessed_size: cp.size,
            witnessed_at: Some(timestamp(now)),
            receipt: None,
        })
    }

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
            let call = client.witness_checkpoint(crate::limits::timed(req, timeout));
            match crate::limits::within(timeout, "WitnessCheckpoint", call).await {
                Ok(r) => {
                    let r = r.into_inner();
                    checkpoint::verify_cosignature(&body, &r.cosignature_line, &key)
                        .map_err(|e| e.to_string())?;
                    if let Some(receipt) = &r.receipt {
                        self.verify_receipt(peer, receipt)?;
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
