//! What a witness keeps per peer: the checkpoint it last cosigned (size, root, the note
//! and the answer it gave), a lock that makes check-and-advance one step per peer, and
//! the evidence of inconsistent checkpoints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prost::Message;
use puente_audit::log::Trees;
use puente_audit::merkle::Hash;
use puente_pki::CountryCode;
use puente_proto::v1 as pb;
use tonic::Status;

/// What this node last cosigned for a peer, as kept in the `witnessed` tree:
/// size (8 bytes, big-endian) ‖ root (32) ‖ note length (4) ‖ note ‖ the answer given
/// (an encoded `WitnessCheckpointResponse` without its receipt). Values written before
/// the note was kept hold only size ‖ root.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Debug, Default)]
pub struct Witnessing {
    locks: Mutex<HashMap<CountryCode, Arc<tokio::sync::Mutex<()>>>>,
}

impl Witnessing {
    /// The lock that `peer`'s check-and-advance holds from reading what was cosigned to
    /// writing what is cosigned now, so two concurrent calls cannot both pass the check
    /// against the same remembered checkpoint.
    pub fn lock_of(&self, peer: CountryCode) -> Result<Arc<tokio::sync::Mutex<()>>, Status> {
        let mut locks = self
            .locks
            .lock()
            .map_err(|_| Status::internal("witness: the per-peer lock table is poisoned"))?;
        Ok(locks.entry(peer).or_default().clone())
    }

    /// Keeps `evidence` of `peer`, numbered per peer; the caller holds `peer`'s lock, so
    /// the count and the insert are one step.
    pub fn keep_evidence(
        &self,
        trees: &Trees,
        peer: CountryCode,
        evidence: &Evidence<'_>,
    ) -> Result<(), Status> {
        let prefix = format!("{peer}|");
        let kept = trees.evidence.scan_prefix(prefix.as_bytes()).count();
        let value = serde_json::to_vec(evidence)
            .map_err(|e| Status::internal(format!("witness: encoding evidence: {e}")))?;
        trees
            .evidence
            .insert(format!("{peer}|{kept:06}").as_bytes(), value)
            .map_err(|e| Status::unavailable(format!("the audit store (evidence): {e}")))?;
        trees
            .flush()
            .map_err(|e| Status::unavailable(format!("the audit store (evidence): {e}")))?;
        Ok(())
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
