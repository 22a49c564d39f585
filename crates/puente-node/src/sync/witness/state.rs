//! What a witness keeps per peer: the checkpoint it last cosigned (size, root, the note
//! and the answer it gave), a lock that makes check-and-advance one step per peer, a
//! token bucket for `WitnessCheckpoint` apart from the other exchange calls, and a
//! bounded store of evidence of inconsistent checkpoints.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use prost::Message;
use puente_audit::log::Trees;
use puente_audit::merkle::Hash;
use puente_pki::CountryCode;
use puente_proto::v1 as pb;
use tracing::error;

use crate::config::ServerSection;
use crate::error::ExchangeError;
use crate::limits::{Limited, PeerLimiter};

/// What this node last cosigned for a peer, as kept in the `witnessed` tree:
/// size (8 bytes, big-endian) ‖ root (32) ‖ note length (4) ‖ note ‖ the answer given
/// (an encoded `WitnessCheckpointResponse` without its receipt). Values written before
/// the note was kept hold only size ‖ root.
#[derive(Clone, Debug, PartialEq)]
pub struct Witnessed {
    /// Tree size of the cosigned checkpoint.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The signed note as the peer presented it (empty for values of earlier versions).
    pub note: String,
    /// The answer this node gave for it (cosignature line, size, time).
    pub answer: Option<pb::WitnessCheckpointResponse>,
}

impl Witnessed {
    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let note = self.note.as_bytes();
        let mut v = Vec::with_capacity(44 + note.len() + 128);
        v.extend_from_slice(&self.size.to_be_bytes());
        v.extend_from_slice(&self.root);
        v.extend_from_slice(&u32::try_from(note.len()).unwrap_or(0).to_be_bytes());
        if u32::try_from(note.len()).is_ok() {
            v.extend_from_slice(note);
        }
        if let Some(a) = &self.answer {
            v.extend_from_slice(&a.encode_to_vec());
        }
        v
    }

    /// Reads a stored value; `None` when it is too short or garbled (then the witness
    /// refuses rather than guess what it cosigned).
    pub fn decode(v: &[u8]) -> Option<Self> {
        let size = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
        let root: Hash = v.get(8..40)?.try_into().ok()?;
        if v.len() == 40 {
            return Some(Self {
                size,
                root,
                note: String::new(),
                answer: None,
            });
        }
        let len = u32::from_be_bytes(v.get(40..44)?.try_into().ok()?) as usize;
        let end = 44usize.checked_add(len)?;
        let note = String::from_utf8(v.get(44..end)?.to_vec()).ok()?;
        let rest = v.get(end..)?;
        let answer = if rest.is_empty() {
            None
        } else {
            Some(pb::WitnessCheckpointResponse::decode(rest).ok()?)
        };
        Some(Self {
            size,
            root,
            note,
            answer,
        })
    }
}

/// A conflict a peer presented, kept in the `evidence` tree as JSON so an auditor or
/// another country can read it without Puente.
#[derive(Debug, serde::Serialize)]
pub struct Evidence<'a> {
    /// The peer country whose key signed both notes.
    pub peer: &'a str,
    /// When this node saw the conflict (Unix seconds).
    pub seen_at: i64,
    /// Why the presented checkpoint conflicts with the cosigned one.
    pub reason: &'a str,
    /// The note this node cosigned before (empty if kept by an earlier version).
    pub cosigned: &'a str,
    /// The note that conflicts with it.
    pub presented: &'a str,
    /// The consistency proof sent with it, hex.
    pub proof: Vec<String>,
}

/// The witness side's shared state.
#[derive(Debug)]
pub struct Witnessing {
    locks: Mutex<HashMap<CountryCode, Arc<tokio::sync::Mutex<()>>>>,
    limiter: PeerLimiter,
    per_minute: u32,
    burst: u32,
    evidence_per_peer: usize,
    dropped: Mutex<BTreeMap<CountryCode, u64>>,
}

impl Witnessing {
    /// State for the `[server]` settings `witness_per_minute`, `witness_burst` and
    /// `witness_evidence_per_peer`.
    pub fn new(server: &ServerSection) -> Self {
        Self {
            locks: Mutex::new(HashMap::new()),
            limiter: PeerLimiter::per_minute(server.witness_per_minute, server.witness_burst),
            per_minute: server.witness_per_minute,
            burst: server.witness_burst,
            evidence_per_peer: usize::try_from(server.witness_evidence_per_peer)
                .unwrap_or(usize::MAX),
            dropped: Mutex::new(BTreeMap::new()),
        }
    }

    /// The lock that `peer`'s check-and-advance holds from reading what was cosigned to
    /// writing what is cosigned now, so two concurrent calls cannot both pass the check
    /// against the same remembered checkpoint.
    pub fn lock_of(&self, peer: CountryCode) -> Result<Arc<tokio::sync::Mutex<()>>, ExchangeError> {
        let mut locks = self
            .locks
            .lock()
            .map_err(|_| ExchangeError::internal("witness: the per-peer lock table is poisoned"))?;
        Ok(locks.entry(peer).or_default().clone())
    }

    /// Takes a `WitnessCheckpoint` token for `peer` at `now`.
    pub fn admit(&self, peer: CountryCode, now: time::OffsetDateTime) -> Result<(), Limited> {
        self.limiter.take(peer, now)
    }

    /// The limit, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} WitnessCheckpoint calls a minute with bursts of {} (server.witness_per_minute, server.witness_burst)",
            self.per_minute, self.burst
        )
    }

    /// Inconsistent checkpoints not kept because `peer`'s evidence was full, per peer.
    pub fn evidence_dropped(&self) -> BTreeMap<CountryCode, u64> {
        self.dropped.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Keeps `evidence` of `peer` unless `evidence_per_peer` records are kept already;
    /// the caller holds `peer`'s lock, so the count and the insert are one step. Returns
    /// whether it was kept.
    pub fn keep_evidence(
        &self,
        trees: &Trees,
        peer: CountryCode,
        evidence: &Evidence<'_>,
    ) -> Result<bool, ExchangeError> {
        let prefix = format!("{peer}|");
        let kept = trees.evidence.scan_prefix(prefix.as_bytes()).count();
        if kept >= self.evidence_per_peer {
            let dropped = self
                .dropped
                .lock()
                .map(|mut m| {
                    let n = m.entry(peer).or_insert(0);
                    *n += 1;
                    *n
                })
                .unwrap_or(0);
            if dropped.is_power_of_two() {
                error!(peer = %peer, kept, dropped, "INCONSISTENT CHECKPOINT not kept: this peer's evidence is full (server.witness_evidence_per_peer); the first conflicts are kept, they are the proof");
            }
            return Ok(false);
        }
        let value = serde_json::to_vec(evidence)
            .map_err(|e| ExchangeError::internal(format!("witness: encoding evidence: {e}")))?;
        trees
            .evidence
            .insert(format!("{peer}|{kept:06}").as_bytes(), value)
            .map_err(|e| ExchangeError::unavailable(format!("the audit store (evidence): {e}")))?;
        trees
            .flush()
            .map_err(|e| ExchangeError::unavailable(format!("the audit store (evidence): {e}")))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_witnessed_value_round_trips_and_reads_the_old_form() {
        let w = Witnessed {
            size: 7,
            root: [3; 32],
            note: "puente/MEX/audit\n7\nroot\n\n— MEX sig\n".into(),
            answer: Some(pb::WitnessCheckpointResponse {
                cosignature_line: "— GTM abc".into(),
                witnessed_size: 7,
                witnessed_at: None,
                receipt: None,
            }),
        };
        assert_eq!(Witnessed::decode(&w.encode()), Some(w.clone()));
        let old = Witnessed::decode(&w.encode()[..40]).unwrap();
        assert_eq!((old.size, old.root, old.note.as_str()), (7, [3; 32], ""));
        assert_eq!(old.answer, None);
        // Truncated or garbled values are not guessed at.
        assert_eq!(Witnessed::decode(&w.encode()[..39]), None);
        assert_eq!(Witnessed::decode(&w.encode()[..50]), None);
    }
}
