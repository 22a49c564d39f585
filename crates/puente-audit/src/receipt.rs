//! Checking a counterpart's receipt: its checkpoint is signed by the counterpart's key and
//! the entry's leaf is included in it. A checkpoint's signature is verified once and
//! remembered, so on the hot path a receipt costs hashes, not signatures.

use std::collections::HashMap;
use std::sync::Mutex;

use puente_pki::VerifyingKey;
use puente_proto::v1 as pb;
use ring::digest;

use crate::checkpoint::{self, Checkpoint};
use crate::error::AuditError;
use crate::merkle::{self, Hash};

/// How many verified checkpoints are remembered.
const CACHE: usize = 4096;

/// Verifies receipts, remembering checkpoints whose signature it has checked.
#[derive(Debug, Default)]
pub struct ReceiptVerifier {
    verified: Mutex<HashMap<(String, [u8; 32]), Checkpoint>>,
}

impl ReceiptVerifier {
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
        let leaf: Hash = r
            .leaf_hash
            .as_slice()
            .try_into()
            .map_err(|_| AuditError::Receipt("the leaf hash is not 32 bytes".into()))?;
        let proof: Vec<Hash> = r
            .inclusion_proof
            .iter()
            .map(|h| <[u8; 32]>::try_from(h.as_slice()))
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
