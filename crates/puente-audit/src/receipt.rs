//! Checking a counterpart's receipt: its checkpoint is signed by the counterpart's key, the
//! entry's leaf is the commitment of the request and response digests it shows (so the
//! entry is about this exchange) and is included in the checkpoint, and the checkpoint
//! extends every one of that log seen before ([`crate::seen`]). A checkpoint's signature
//! is verified once and remembered, so on the hot path a receipt costs hashes, not
//! signatures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use puente_pki::VerifyingKey;
use puente_proto::v1 as pb;
use ring::digest;

use crate::checkpoint::{self, Checkpoint};
use crate::error::AuditError;
use crate::merkle::{self, Hash};
use crate::seen::LogView;

/// How many verified checkpoints are remembered.
const CACHE: usize = 4096;
/// How many verified consistency links are remembered.
const LINKS: usize = 4096;

/// A consistency link verified: from (size, root) to (size, root).
type Link = (u64, Hash, u64, Hash);

/// Verifies receipts, remembering checkpoints whose signature it has checked and the
/// consistency links its proofs have shown. Concurrent answers from one batch of the
/// peer's log share a checkpoint and the sizes their requests named, so most receipts
/// under load repeat a link already verified (issue 20: the proofs' hashing was 4 % of
/// a query's CPU at 128 in flight).
#[derive(Debug, Default)]
pub struct ReceiptVerifier {
    verified: Mutex<HashMap<(String, [u8; 32]), Checkpoint>>,
    linked: Mutex<HashMap<Link, Arc<[Hash]>>>,
    logs: Mutex<HashMap<String, LogView>>,
}

/// What the asker expects a receipt to show of its exchange.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// SHA-256 of the request sent.
    pub request_sha256: &'a Hash,
    /// SHA-256 of the answer received (receipt cleared), when the answer is known.
    pub response_sha256: Option<&'a Hash>,
    /// The sizes (and roots) of the log the request named ([`ReceiptVerifier::known`]).
    pub stated: &'a [(u64, Hash)],
}

fn digest(b: &[u8], what: &str) -> Result<Hash, AuditError> {
    <[u8; 32]>::try_from(b).map_err(|_| AuditError::Receipt(format!("{what} is not 32 bytes")))
}

impl ReceiptVerifier {
    fn logs(&self) -> MutexGuard<'_, HashMap<String, LogView>> {
        // A poisoned lock only means a panic elsewhere between whole-value updates.
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sizes of log `origin` the next request names (empty before any receipt); see
    /// [`LogView::known`].
    pub fn known(&self, origin: &str) -> crate::seen::Stated {
        self.logs()
            .get_mut(origin)
            .map(LogView::known)
            .unwrap_or_default()
    }

    /// Takes a checkpoint of log `origin` this node cosigned as a witness.
    pub fn witnessed(&self, origin: &str, size: u64, root: Hash) -> Result<(), AuditError> {
        self.logs()
            .entry(origin.to_string())
            .or_default()
            .witnessed(size, root)
            .map_err(|e| AuditError::Receipt(e.to_string()))
    }

    /// Verifies `r` as issued by the holder of `key` for the exchange `expected`
    /// describes, against everything seen of that log before; remembers its checkpoint
    /// and claims its entry for this exchange.
    pub fn accept(
        &self,
        r: &pb::Receipt,
        key: &VerifyingKey,
        expected: Expected<'_>,
    ) -> Result<Checkpoint, AuditError> {
        let cp = self.verify(r, key)?;
        if digest(&r.request_sha256, "request_sha256")? != *expected.request_sha256 {
            return Err(AuditError::Receipt(format!(
                "receipt.other_request: entry {} is about another request, not the one sent",
                r.entry_index
            )));
        }
        if let Some(resp) = expected.response_sha256 {
            if digest(&r.response_sha256, "response_sha256")? != *resp {
                return Err(AuditError::Receipt(format!(
                    "receipt.other_response: entry {} records another answer than the one received",
                    r.entry_index
                )));
            }
        }
        // The proofs are hashed outside any lock (every receipt of every peer takes
        // them), and only those not seen verified before.
        let cached: Vec<(u64, Hash, Arc<[Hash]>)> = {
            let known = self.linked.lock().unwrap_or_else(|e| e.into_inner());
            expected
                .stated
                .iter()
                .filter_map(|(size, root)| {
                    let proof = known.get(&(*size, *root, cp.size, cp.root))?;
                    Some((*size, *root, proof.clone()))
                })
                .collect()
        };
        let mut learned = Vec::new();
        let linked = crate::seen::links_known(
            &cp,
            expected.stated,
            &r.consistency_proofs,
            |size, root, hashes| {
                cached.iter().any(|(s, r, p)| {
                    *s == size
                        && r == root
                        && p.len() == hashes.len()
                        && p.iter().zip(hashes).all(|(a, b)| a[..] == b[..])
                })
            },
            &mut learned,
        );
        if !learned.is_empty() {
            let mut known = self.linked.lock().unwrap_or_else(|e| e.into_inner());
            if known.len() + learned.len() > LINKS {
                known.clear();
            }
            for (size, root, hashes) in learned {
                known.insert((size, root, cp.size, cp.root), hashes.into());
            }
        }
        let mut logs = self.logs();
        let view = logs.entry(cp.origin.clone()).or_default();
        view.apply(&cp, linked)
            .and_then(|()| view.claim(r.entry_index))
            .map_err(|e| AuditError::Receipt(e.to_string()))?;
        Ok(cp)
    }

    /// Verifies `r` as issued by the holder of `key`; returns the checkpoint it rests on.
    pub fn verify(&self, r: &pb::Receipt, key: &VerifyingKey) -> Result<Checkpoint, AuditError> {
        let note = &r
            .checkpoint
            .as_ref()
            .ok_or_else(|| AuditError::Receipt("no checkpoint".into()))?
            .note;
        let note_hash: [u8; 32] = digest::digest(&digest::SHA256, note.as_bytes())
            .as_ref()
            .try_into()
            .map_err(|_| AuditError::Receipt("hash".into()))?;
        let cache_key = (key.name().to_string(), note_hash);
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(&cache_key).cloned());
        let cp = match cached {
            Some(cp) => cp,
            None => {
                let cp =
                    checkpoint::open(note, key).map_err(|e| AuditError::Receipt(e.to_string()))?;
                if let Ok(mut m) = self.verified.lock() {
                    if m.len() >= CACHE {
                        m.clear();
                    }
                    m.insert(cache_key, cp.clone());
                }
                cp
            }
        };
        if cp.origin != r.origin {
            return Err(AuditError::Receipt(format!(
                "origin {:?} differs from the checkpoint's {:?}",
                r.origin, cp.origin
            )));
        }
        // The leaf is recomputed from the digests shown, so it commits to them. A receipt
        // from before entries had digests (kept in an old log) shows none: its leaf is
        // taken as given, and `accept`, which needs the digests, refuses such a receipt
        // for a new exchange.
        let leaf = if r.request_sha256.is_empty()
            && r.response_sha256.is_empty()
            && r.entry_body_sha256.is_empty()
        {
            digest(&r.leaf_hash, "the leaf hash")?
        } else {
            let leaf = crate::entry::commitment(
                &digest(&r.request_sha256, "request_sha256")?,
                &digest(&r.response_sha256, "response_sha256")?,
                &digest(&r.entry_body_sha256, "entry_body_sha256")?,
            );
            if r.leaf_hash.as_slice() != leaf.as_slice() {
                return Err(AuditError::Receipt(
                    "the leaf hash is not the commitment of the digests the receipt shows".into(),
                ));
            }
            leaf
        };
        let proof: Vec<Hash> = r
            .inclusion_proof
            .iter()
            .map(|h| <[u8; 32]>::try_from(&h[..]))
            .collect::<Result<_, _>>()
            .map_err(|_| AuditError::Receipt("a proof hash is not 32 bytes".into()))?;
        if !merkle::verify_inclusion(r.entry_index, cp.size, &leaf, &proof, &cp.root) {
            return Err(AuditError::Receipt(format!(
                "entry {} is not included in the checkpoint of size {}",
                r.entry_index, cp.size
            )));
        }
        Ok(cp)
    }
}
