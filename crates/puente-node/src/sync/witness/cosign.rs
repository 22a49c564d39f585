//! `Exchange.WitnessCheckpoint`, as the witness. A peer's checkpoint is cosigned only if it
//! extends (by a consistency proof) the one cosigned before for that peer, or is that
//! same tree again; checking and advancing is one step per peer, so no two roots are
//! ever cosigned for one size. A conflicting checkpoint is refused and kept as evidence
//! with the one it conflicts with. Calls are rate-limited per peer apart from other
//! exchanges, and an identical repeat gets the answer already given, without a new audit
//! entry.

use puente_audit::checkpoint;
use puente_audit::merkle::{self, Hash};
use puente_pki::PeerIdentity;
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use tracing::{debug, error, info, warn};

use super::state::{Evidence, Witnessed};
use super::{hashes, WITNESSED_SIZE};
use crate::answer::audit::digest_of;
use crate::error::ExchangeError;
use crate::limits::Limited;
use crate::refusals::{Refusal, RefusalStage};
use crate::state::{timestamp, NodeState};

/// The rule that refuses `WitnessCheckpoint` calls beyond `server.witness_per_minute`.
pub const WITNESS_RATE_RULE: &str = "rate.witness_limit";

/// What the witness decided for a checkpoint it accepts.
enum Cosigned {
    /// A new cosignature: it gets an audit entry and a receipt.
    New(pb::WitnessCheckpointResponse),
    /// The note cosigned last time for this peer, presented again: the answer given then,
    /// unchanged. No new statement is signed, so there is nothing new to audit, and a
    /// repeating peer costs no durable write (its receipt came with the first answer).
    Repeat(pb::WitnessCheckpointResponse),
}

impl NodeState {
    /// `Exchange.WitnessCheckpoint`, as the witness.
    pub async fn witness(
        &self,
        caller: &PeerIdentity,
        req: &pb::WitnessCheckpointRequest,
    ) -> Result<pb::WitnessCheckpointResponse, ExchangeError> {
        if let Err(limited) = self.witnessing.admit(caller.country, (self.clock)()) {
            return Err(self.witness_limited(caller, limited));
        }
        let mut audited = self.audited(
            caller,
            Service::AuditWitness,
            Purpose::Unspecified,
            req,
            None,
        );
        let cosigned = match self.witness_inner(caller, req).await {
            Ok(Cosigned::Repeat(r)) => {
                self.metrics.peer_contact(caller.country);
                debug!(peer = %caller.country, size = r.witnessed_size, "a peer's checkpoint cosigned before, presented again: the same answer, no new entry");
                return Ok(r);
            }
            Ok(Cosigned::New(r)) => {
                audited.outcome.rule = "witness.consistent".into();
                Ok(r)
            }
            Err(e) => Err(e),
        };
        let (mut r, receipt) = audited.close(cosigned, digest_of).await?;
        r.receipt = Some(receipt);
        Ok(r)
    }

    fn witness_limited(&self, caller: &PeerIdentity, limited: Limited) -> ExchangeError {
        let detail = format!(
            "{} exceeds {}; retry in {} ms",
            caller.country,
            self.witnessing.describe(),
            limited.retry_after.as_millis().max(1)
        );
        if limited.first {
            warn!(caller = %caller.urn(), rule = WITNESS_RATE_RULE, "call refused (further refusals of this burst are logged at DEBUG): {detail}");
        } else {
            debug!(caller = %caller.urn(), rule = WITNESS_RATE_RULE, "call refused: {detail}");
        }
        self.refusals.record(Refusal {
            stage: RefusalStage::RateLimit,
            peer: None,
            reason: format!("{WITNESS_RATE_RULE}: {detail}"),
        });
        ExchangeError::resource_exhausted(format!("{WITNESS_RATE_RULE}: {detail}"))
    }

    async fn witness_inner(
        &self,
        caller: &PeerIdentity,
        req: &pb::WitnessCheckpointRequest,
    ) -> Result<Cosigned, ExchangeError> {
        let note = &req
            .checkpoint
            .as_ref()
            .ok_or_else(|| ExchangeError::invalid_argument("checkpoint: required"))?
            .note;
        // Before anything is parsed or kept as evidence: a checkpoint note is a few
        // hundred bytes, and the contract's proofs hold at most 64 hashes.
        if note.len() > MAX_NOTE {
            return Err(ExchangeError::invalid_argument(format!(
                "checkpoint.note: {} bytes, more than a checkpoint's {MAX_NOTE}",
                note.len()
            )));
        }
        if req.consistency_proof.len() > 64 {
            return Err(ExchangeError::invalid_argument(format!(
                "consistency_proof: {} hashes, at most 64",
                req.consistency_proof.len()
            )));
        }
        let key = self.peer_key(caller.country).ok_or_else(|| {
            ExchangeError::permission_denied(format!(
                "witness.unknown_log: {} is not in the trust bundle",
                caller.country
            ))
        })?;
        let cp = checkpoint::open(note, &key)
            .map_err(|e| ExchangeError::invalid_argument(format!("witness.bad_signature: {e}")))?;
        let origin = format!("puente/{}/audit", caller.country);
        if cp.origin != origin {
            return Err(ExchangeError::invalid_argument(format!(
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
            .map_err(|e| ExchangeError::unavailable(format!("the audit store: {e}")))?;
        let previous = match &stored {
            None => None,
            Some(v) => Some(Witnessed::decode(v).ok_or_else(|| {
                ExchangeError::internal(format!(
                    "witness.unreadable_state: what this node cosigned for {} is unreadable ({} bytes); refusing rather than guessing",
                    caller.country,
                    v.len()
                ))
            })?),
        };
        if let Some(prev) = &previous {
            if prev.note == *note {
                if let Some(answer) = &prev.answer {
                    return Ok(Cosigned::Repeat(answer.clone()));
                }
            }
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
                    return Err(ExchangeError::failed_precondition(format!(
                        "witness.stale_previous_size: this witness last cosigned size {size}, not {}",
                        req.previous_size
                    ))
                    .with_metadata(WITNESSED_SIZE, size.to_string()));
                }
                if cp.size < prev.size {
                    return Err(self.conflict(caller, prev, note, &proof, "a smaller tree"));
                }
                if !merkle::verify_consistency(prev.size, cp.size, &prev.root, &cp.root, &proof) {
                    return Err(self.conflict(caller, prev, note, &proof, PROOF_FAILS));
                }
            }
        }

        // What this node's own exchanges were shown of this log must agree with it too:
        // a root another receipt showed at this size is a split view.
        if let Err(e) = self.receipts.witnessed(&origin, cp.size, cp.root) {
            return Err(self.conflict(
                caller,
                previous.as_ref().unwrap_or(&Witnessed {
                    size: cp.size,
                    root: cp.root,
                    note: String::new(),
                    answer: None,
                }),
                note,
                &proof,
                &format!("another root than receipts of this log showed ({e})"),
            ));
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
            .map_err(|e| ExchangeError::unavailable(format!("the audit store: {e}")))?
            .map_err(|_| {
                ExchangeError::aborted(format!(
                    "witness.concurrent_update: what this node cosigned for {} changed while this checkpoint was checked; ask again",
                    caller.country
                ))
            })?;
        trees
            .flush()
            .map_err(|e| ExchangeError::unavailable(format!("the audit store: {e}")))?;
        info!(peer = %caller.country, size = cp.size, "cosigned a peer's checkpoint");
        Ok(Cosigned::New(answer))
    }

    /// Keeps `presented` with the note it conflicts with as evidence (within the bound)
    /// and says so loudly; the refusal to answer.
    fn conflict(
        &self,
        caller: &PeerIdentity,
        cosigned: &Witnessed,
        presented: &str,
        proof: &[Hash],
        why: &str,
    ) -> ExchangeError {
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
        let kept = match self.witnessing.keep_evidence(
            self.audit.trees(),
            caller.country,
            &evidence,
        ) {
            Ok(kept) => kept,
            Err(e) => {
                error!(peer = %caller.country, "evidence of an inconsistent checkpoint could not be stored: {}", e.message);
                false
            }
        };
        error!(peer = %caller.country, size, cosigned = cosigned.size, kept, "INCONSISTENT CHECKPOINT: the peer's log does not extend what this node cosigned ({why})");
        let then = if kept {
            "it is kept as evidence with the one cosigned"
        } else {
            "this node already keeps its first conflicts as evidence"
        };
        let message = format!(
            "witness.inconsistent: the checkpoint of size {size} is not consistent with the one of size {} cosigned before ({why}); {then}",
            cosigned.size
        );
        // The contract: a proof that does not verify is INVALID_ARGUMENT; a checkpoint
        // that cannot extend what was cosigned (smaller, or another root at its size) is
        // FAILED_PRECONDITION.
        if why == PROOF_FAILS {
            ExchangeError::invalid_argument(message)
        } else {
            ExchangeError::failed_precondition(message)
        }
    }
}

/// Why a checkpoint is refused when the proof from the size cosigned before fails.
const PROOF_FAILS: &str = "the consistency proof does not verify";
/// Longest checkpoint note a witness reads (a note with a few signature lines is well
/// under 1 KiB).
const MAX_NOTE: usize = 8 * 1024;
