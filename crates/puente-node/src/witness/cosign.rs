//! `Exchange.WitnessCheckpoint`, as the witness. A peer's checkpoint is cosigned only if it
//! extends (by a consistency proof) the one cosigned before for that peer, or is that
//! same tree again; checking and advancing is one step per peer, so no two roots are
//! ever cosigned for one size. A conflicting checkpoint is refused and kept as evidence
//! with the one it conflicts with.

use prost::Message;
use puente_audit::checkpoint;
use puente_audit::merkle::{self, Hash};
use puente_pki::PeerIdentity;
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use tonic::metadata::MetadataValue;
use tonic::Status;
use tracing::{error, info};

use super::state::{Evidence, Witnessed};
use super::{hashes, WITNESSED_SIZE};
use crate::auditing::{sha256, Outcome};
use crate::services::{timestamp, NodeState};

impl NodeState {
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

        // Check and advance as one step for this peer: held from reading what was
        // cosigned to writing what is cosigned now.
        let lock = self.witnessing.lock_of(caller.country)?;
        let _held = lock.lock().await;
        let trees = self.audit.trees();
        let stored = trees
            .witnessed
            .get(caller.country.as_str())
            .map_err(|e| Status::unavailable(format!("the audit store: {e}")))?;
        let previous = match &stored {
            None => None,
            Some(v) => Some(Witnessed::decode(v).ok_or_else(|| {
                Status::internal(format!(
                    "witness.unreadable_state: what this node cosigned for {} is unreadable ({} bytes); refusing rather than guessing",
                    caller.country,
                    v.len()
                ))
            })?),
        };
        if let Some(prev) = &previous {
            if cp.size == prev.size {
                if cp.root != prev.root {
                    return Err(self.conflict(
                        caller,
                        prev,
                        note,
                        &proof,
                        "another root for a size already cosigned",
                    ));
                }
                // The same tree in another note (a later time): cosigned again.
            } else {
                if req.previous_size != prev.size {
                    let size = prev.size;
                    let mut s = Status::failed_precondition(format!(
                        "witness.stale_previous_size: this witness last cosigned size {size}, not {}",
                        req.previous_size
                    ));
                    if let Ok(v) = MetadataValue::try_from(size.to_string()) {
                        s.metadata_mut().insert(WITNESSED_SIZE, v);
                    }
                    return Err(s);
                }
                if cp.size < prev.size {
                    return Err(self.conflict(caller, prev, note, &proof, "a smaller tree"));
                }
                if !merkle::verify_consistency(prev.size, cp.size, &prev.root, &cp.root, &proof) {
                    return Err(self.conflict(
                        caller,
                        prev,
                        note,
                        &proof,
                        "the consistency proof does not verify",
                    ));
                }
            }
        }

        let now = (self.clock)();
        let answer = pb::WitnessCheckpointResponse {
            cosignature_line: checkpoint::cosign(
                &cp.body(),
                &self.node.signing,
                u64::try_from(now.unix_timestamp()).unwrap_or(0),
            ),
            witnessed_size: cp.size,
            witnessed_at: Some(timestamp(now)),
            receipt: None,
        };
        let value = Witnessed {
            size: cp.size,
            root: cp.root,
            note: note.clone(),
            answer: Some(answer.clone()),
        }
        .encode();
        // Under the lock nothing else writes this key; the swap on the exact value read
        // also refuses a writer outside this process rather than overwrite it.
        trees
            .witnessed
            .compare_and_swap(caller.country.as_str(), stored, Some(value))
            .map_err(|e| Status::unavailable(format!("the audit store: {e}")))?
            .map_err(|_| {
                Status::aborted(format!(
                    "witness.concurrent_update: what this node cosigned for {} changed while this checkpoint was checked; ask again",
                    caller.country
                ))
            })?;
        trees
            .flush()
            .map_err(|e| Status::unavailable(format!("the audit store: {e}")))?;
        info!(peer = %caller.country, size = cp.size, "cosigned a peer's checkpoint");
        Ok(answer)
    }

    /// Keeps `presented` with the note it conflicts with as evidence and says so loudly;
    /// the refusal to answer.
    fn conflict(
        &self,
        caller: &PeerIdentity,
        cosigned: &Witnessed,
        presented: &str,
        proof: &[Hash],
        why: &str,
    ) -> Status {
        let size = checkpoint::split_note(presented)
            .ok()
            .and_then(|(body, _)| checkpoint::Checkpoint::parse_body(body).ok())
            .map(|cp| cp.size)
            .unwrap_or(0);
        let evidence = Evidence {
            peer: caller.country.as_str(),
            seen_at: (self.clock)().unix_timestamp(),
            reason: why,
            cosigned: &cosigned.note,
            presented,
            proof: proof.iter().map(hex::encode).collect(),
        };
        if let Err(e) = self
            .witnessing
            .keep_evidence(self.audit.trees(), caller.country, &evidence)
        {
            error!(peer = %caller.country, "evidence of an inconsistent checkpoint could not be stored: {}", e.message());
        }
        error!(peer = %caller.country, size, cosigned = cosigned.size, "INCONSISTENT CHECKPOINT: the peer's log does not extend what this node cosigned ({why}); kept as evidence");
        Status::failed_precondition(format!(
            "witness.inconsistent: the checkpoint of size {size} is not consistent with the one of size {} cosigned before ({why}); it is kept as evidence with the one cosigned",
            cosigned.size
        ))
    }
}
