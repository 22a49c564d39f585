//! The offline verifier: rebuilds the tree from the stored entries and checks every
//! stored hash, every signed checkpoint (signature and root), every witness cosignature
//! and every counterpart receipt (but those kept as evidence of a peer's failed receipt,
//! which are counted apart). It reports the first problem with the index (or size)
//! where it is, so an auditor knows exactly what was altered, and the split views the
//! kept receipts show (a peer's two roots for one size), which are the peer's fault.

use prost::Message;
use puente_pki::VerifyingKey;
use puente_proto::v1 as pb;

use crate::checkpoint::{self, Checkpoint};
use crate::entry::Entry;
use crate::error::AuditError;
use crate::file::Frontier;
use crate::receipt::ReceiptVerifier;
use crate::trees::Trees;

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
    /// Receipts kept as evidence on entries that refused an answer because its receipt
    /// failed (rule `receipt.*`): the peer's failure, recorded as received, not this
    /// log's. Not checked as receipts, not counted in `receipts`.
    pub evidence: u64,
    /// Split views found across the kept receipts: two of a peer's checkpoints of the
    /// same size with different roots (the peer showed two histories). Each names the
    /// entries; the log itself is not at fault, so verification still succeeds.
    pub split_views: Vec<String>,
}

/// Whether `e` refused an answer because the peer's receipt failed: its receipt is the
/// evidence, kept exactly as the peer sent it, not a receipt this node accepted.
pub fn keeps_evidence(e: &Entry) -> bool {
    e.direction == pb::Direction::Outgoing as i32
        && e.decision == pb::Decision::Refused as i32
        && e.rule.starts_with("receipt.")
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

/// Verifies the whole log, reading the log file itself. `progress(done, total)` is
/// called every 100,000 entries. Memory stays small: the tree is rebuilt along its right
/// edge, and each checkpoint is checked when the batch it commits is read.
pub fn verify(
    trees: &Trees,
    keys: &dyn Keys,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, AuditError> {
    let size = trees.size()?;
    let mut report = Report::default();
    let receipts = ReceiptVerifier::default();
    // Each peer checkpoint size seen in a receipt: its root and the first entry.
    let mut roots: std::collections::HashMap<(String, u64), ([u8; 32], u64)> =
        std::collections::HashMap::new();
    let mut frontier = Frontier::default();
    let mut expected = 0u64;
    let mut last_note: Option<String> = None;
    for batch in trees.batches()? {
        let batch = batch?;
        let end = batch.first + batch.entries.len() as u64;
        for (i, bytes) in batch.entries.iter().enumerate() {
            let index = batch.first + i as u64;
            if index >= size {
                break;
            }
            let entry =
                Entry::decode(bytes).map_err(|e| tampered(format!("entry {index}: {e}")))?;
            if entry.index != index {
                return Err(tampered(format!(
                    "entry {index} claims to be entry {} (entries moved or reordered)",
                    entry.index
                )));
            }
            let leaf = crate::entry::leaf_of(bytes);
            if trees.stored_hash_on_disk(0, index)? != Some(leaf) {
                return Err(tampered(format!(
                    "entry {index}: its content does not match its stored leaf hash"
                )));
            }
            // Check each stored parent as its subtree closes.
            frontier.push(leaf, &mut |level, idx, h| {
                if level > 0 && trees.stored_hash_on_disk(level as u8, idx)? != Some(*h) {
                    let span = 1u64 << level;
                    return Err(tampered(format!(
                        "the stored hash of entries {}..{} does not match them (first entry {})",
                        idx * span,
                        (idx + 1) * span - 1,
                        idx * span
                    )));
                }
                Ok(())
            })?;
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
                match receipts.verify(&r, &key) {
                    Err(_) if keeps_evidence(&entry) => report.evidence += 1,
                    Err(e) => return Err(tampered(format!("entry {index}: {e}"))),
                    Ok(cp) => {
                        // Evidence or not, a checkpoint the peer signed is its word: two
                        // roots for one size among them are a split view.
                        if keeps_evidence(&entry) {
                            report.evidence += 1;
                        } else {
                            report.receipts += 1;
                        }
                        let first = roots
                            .entry((cp.origin.clone(), cp.size))
                            .or_insert((cp.root, index));
                        if first.0 != cp.root {
                            report.split_views.push(format!(
                                "{}: entries {} and {index} hold receipts of its log ({}) at size {} with different roots",
                                entry.peer_country, first.1, cp.origin, cp.size
                            ));
                        }
                    }
                }
            }
            expected += 1;
            report.entries += 1;
            if expected.is_multiple_of(100_000) {
                progress(expected, size);
            }
        }
        if end > size {
            break;
        }
        let cp = checkpoint::open(&batch.note, keys.own())
            .map_err(|e| tampered(format!("checkpoint at size {end}: {e}")))?;
        if cp.size != end {
            return Err(tampered(format!(
                "checkpoint stored at size {end} says size {}",
                cp.size
            )));
        }
        if cp.root != frontier.root() {
            return Err(tampered(format!(
                "checkpoint at size {end}: its root does not match the entries"
            )));
        }
        if !batch.checksum_ok {
            return Err(tampered(format!(
                "the batch of entries {}..{end} (byte {} of the log file) does not match its checksum",
                batch.first, batch.offset
            )));
        }
        report.checkpoints += 1;
        let body = checkpoint::split_note(&batch.note)?.0.to_string();
        for (country, line) in trees.cosignatures_at(end)? {
            match keys.peer(&country) {
                Some(key) => {
                    checkpoint::verify_cosignature(&body, &line, &key)
                        .map_err(|e| tampered(format!("checkpoint at size {end}: {e}")))?;
                    report.cosignatures += 1;
                }
                None => report.unknown_witnesses += 1,
            }
        }
        last_note = Some(batch.note);
    }
    if expected != size {
        return Err(tampered(format!(
            "entry {expected} is missing (the log should hold {size})"
        )));
    }
    if let Some(latest) = trees.latest()? {
        if last_note.as_deref() != Some(latest.as_str()) {
            return Err(tampered(format!(
                "the latest checkpoint (size {size}) is not the last one in the log file"
            )));
        }
    }
    progress(size, size);
    Ok(report)
}

/// The checkpoint a note carries, verified with `key`.
pub fn checkpoint_of(note: &str, key: &VerifyingKey) -> Result<Checkpoint, AuditError> {
    checkpoint::open(note, key)
}
