//! The offline verifier: rebuilds the tree from the stored entries and checks every
//! stored hash, every signed checkpoint (signature and root), every witness cosignature
//! and every counterpart receipt. It reports the first problem with the index (or size)
//! where it is, so an auditor knows exactly what was altered.

use prost::Message;
use puente_pki::VerifyingKey;
use puente_proto::v1 as pb;

use crate::checkpoint::{self, Checkpoint};
use crate::entry::Entry;
use crate::error::AuditError;
use crate::log::Trees;
use crate::merkle::{self, Hash};
use crate::receipt::ReceiptVerifier;

/// What a successful verification covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Entries checked.
    pub entries: u64,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    /// Cosignatures checked.
    pub cosignatures: u64,
    /// Counterpart receipts checked.
    pub receipts: u64,
    /// Cosignatures by witnesses whose key is not known (not counted as failures).
    pub unknown_witnesses: u64,
}

/// Keys the verifier needs.
pub trait Keys {
    /// The log's own key.
    fn own(&self) -> &VerifyingKey;
    /// A peer country's key.
    fn peer(&self, country: &str) -> Option<VerifyingKey>;
}

fn tampered(s: String) -> AuditError {
    AuditError::Tampered(s)
}

/// Verifies the whole log. `progress(done, total)` is called every 100,000 entries.
pub fn verify(
    trees: &Trees,
    keys: &dyn Keys,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, AuditError> {
    let size = trees.size()?;
    let mut report = Report::default();
    // levels[l][i]: recomputed hash of the complete subtree at level l, index i.
    let mut levels: Vec<Vec<Hash>> = vec![Vec::with_capacity(size as usize)];
    let receipts = ReceiptVerifier::default();
    let mut expected = 0u64;
    for item in trees.entries.iter() {
        let (k, bytes) = item?;
        let index = u64::from_be_bytes(
            k.as_ref()
                .try_into()
                .map_err(|_| tampered("an entry key is not 8 bytes".into()))?,
        );
        if index >= size {
            break;
        }
        if index != expected {
            return Err(tampered(format!(
                "entry {expected} is missing (the next stored entry is {index})"
            )));
        }
        let entry = Entry::decode(&bytes).map_err(|e| tampered(format!("entry {index}: {e}")))?;
        if entry.index != index {
            return Err(tampered(format!(
                "entry {index} claims to be entry {} (entries moved or reordered)",
                entry.index
            )));
        }
        let leaf = merkle::leaf_hash(&bytes);
        if trees.stored_hash(0, index)? != Some(leaf) {
            return Err(tampered(format!(
                "entry {index}: its content does not match its stored leaf hash"
            )));
        }
        // Combine complete subtrees as they close, checking each stored parent.
        levels[0].push(leaf);
        let (mut level, mut idx) = (0usize, index);
        while idx & 1 == 1 {
            let l = levels[level][(idx - 1) as usize];
            let r = levels[level][idx as usize];
            let parent = merkle::node_hash(&l, &r);
            level += 1;
            idx >>= 1;
            if levels.len() <= level {
                levels.push(Vec::new());
            }
            levels[level].push(parent);
            if trees.stored_hash(level as u8, idx)? != Some(parent) {
                let span = 1u64 << level;
                return Err(tampered(format!(
                    "the stored hash of entries {}..{} does not match them (first entry {})",
                    idx * span,
                    (idx + 1) * span - 1,
                    idx * span
                )));
            }
        }
        if let Some(raw) = &entry.counterpart_receipt {
            let r = pb::Receipt::decode(raw.as_slice()).map_err(|e| {
                tampered(format!("entry {index}: its receipt does not decode: {e}"))
            })?;
            let key = keys.peer(&entry.peer_country).ok_or_else(|| {
                tampered(format!(
                    "entry {index}: no key for {} to check its receipt",
                    entry.peer_country
                ))
            })?;
            receipts
                .verify(&r, &key)
                .map_err(|e| tampered(format!("entry {index}: {e}")))?;
            report.receipts += 1;
        }
        expected += 1;
        report.entries += 1;
        if expected.is_multiple_of(100_000) {
            progress(expected, size);
        }
    }
    if expected != size {
        return Err(tampered(format!(
            "entry {expected} is missing (the log should hold {size})"
        )));
    }
    let root_at = |n: u64| -> Hash { root_from_levels(&levels, 0, n) };
    for item in trees.checkpoints.iter() {
        let (k, note) = item?;
        let at = u64::from_be_bytes(
            k.as_ref()
                .try_into()
                .map_err(|_| tampered("a checkpoint key is not 8 bytes".into()))?,
        );
        let note = String::from_utf8_lossy(&note).into_owned();
        let cp = checkpoint::open(&note, keys.own())
            .map_err(|e| tampered(format!("checkpoint at size {at}: {e}")))?;
        if cp.size != at {
            return Err(tampered(format!(
                "checkpoint stored at size {at} says size {}",
                cp.size
            )));
        }
        if cp.size > size {
            return Err(tampered(format!(
                "checkpoint at size {} is beyond the log's {size} entries",
                cp.size
            )));
        }
        if cp.root != root_at(cp.size) {
            return Err(tampered(format!(
                "checkpoint at size {}: its root does not match the entries",
                cp.size
            )));
        }
        report.checkpoints += 1;
        let body = checkpoint::split_note(&note)?.0.to_string();
        for (country, line) in trees.cosignatures_at(at)? {
            match keys.peer(&country) {
                Some(key) => {
                    checkpoint::verify_cosignature(&body, &line, &key)
                        .map_err(|e| tampered(format!("checkpoint at size {at}: {e}")))?;
                    report.cosignatures += 1;
                }
                None => report.unknown_witnesses += 1,
            }
        }
    }
    if let Some(latest) = trees.latest()? {
        let cp = checkpoint::open(&latest, keys.own())
            .map_err(|e| tampered(format!("latest checkpoint: {e}")))?;
        if cp.size != size || cp.root != root_at(size) {
            return Err(tampered(format!(
                "the latest checkpoint (size {}) does not match the log",
                cp.size
            )));
        }
    }
    progress(size, size);
    Ok(report)
}

fn root_from_levels(levels: &[Vec<Hash>], start: u64, end: u64) -> Hash {
    let n = end - start;
    if n == 0 {
        return merkle::empty_root();
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros() as usize;
        return levels[level][(start >> level) as usize];
    }
    let k = merkle::split(n);
    merkle::node_hash(
        &root_from_levels(levels, start, start + k),
        &root_from_levels(levels, start + k, end),
    )
}

/// The checkpoint a note carries, verified with `key`.
pub fn checkpoint_of(note: &str, key: &VerifyingKey) -> Result<Checkpoint, AuditError> {
    checkpoint::open(note, key)
}
