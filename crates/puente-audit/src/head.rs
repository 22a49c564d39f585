//! The head file: the latest checkpoint the node signed, kept beside the store (outside
//! sled) and replaced after every durable batch. sled recovers from an unreadable log
//! segment by discarding everything after it, as it would a torn write, so a corrupt
//! store can reopen as an older, self-consistent one; the head file is how the node and
//! `puente audit verify` notice that entries it once signed for are gone, or differ.

use std::path::Path;

use puente_pki::VerifyingKey;

use crate::error::AuditError;
use crate::log::Stored;
use crate::log::Trees;
use crate::merkle;

/// Replaces the head file with `note` (write to a temporary file, then rename). Not
/// fsynced: like sled's flush, it survives a process crash; after a power loss it may be
/// older than the store, which is still checked correctly.
pub fn write(path: &Path, note: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, note.as_bytes())?;
    std::fs::rename(&tmp, path)
}

/// Reads every stored entry and checks it against its stored leaf hash, so a page sled
/// cannot read (a checksum failure) or an entry changed in place is found before the node
/// serves, not when an auditor asks. One SHA-256 per entry (about a second per million).
pub fn scan(trees: &Trees) -> Result<(), AuditError> {
    let size = trees.size()?;
    for item in trees.entries.range(..size.to_be_bytes()) {
        let (k, bytes) = item
            .map_err(|e| AuditError::Tampered(format!("the stored entries cannot be read: {e}")))?;
        let index = u64::from_be_bytes(
            k.as_ref()
                .try_into()
                .map_err(|_| AuditError::Tampered("an entry key is not 8 bytes".into()))?,
        );
        let stored = trees.stored_hash(0, index)?;
        if stored != Some(merkle::leaf_hash(&bytes)) {
            return Err(AuditError::Tampered(format!(
                "entry {index}: its content does not match its stored leaf hash"
            )));
        }
    }
    Ok(())
}

/// Checks that the stored log extends the checkpoint in the head file, if there is one:
/// it holds at least that many entries, and its first entries hash to that root.
pub fn check(path: &Path, trees: &Trees, key: &VerifyingKey) -> Result<(), AuditError> {
    let note = match std::fs::read_to_string(path) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(AuditError::Tampered(format!(
                "{} cannot be read: {e}",
                path.display()
            )))
        }
    };
    let cp = crate::checkpoint::open(&note, key).map_err(|e| {
        AuditError::Tampered(format!(
            "{} does not hold a checkpoint signed by this node: {e}",
            path.display()
        ))
    })?;
    let size = trees.size()?;
    if size < cp.size {
        return Err(AuditError::Tampered(format!(
            "the store holds {size} entries, but this node signed a checkpoint for {} (recorded in {}): entries {size} to {} were lost, so the store is corrupt or was rolled back; restore the data directory from a backup",
            cp.size,
            path.display(),
            cp.size - 1
        )));
    }
    let root = merkle::root(&Stored(trees), cp.size)?;
    if root != cp.root {
        return Err(AuditError::Tampered(format!(
            "the first {} stored entries do not hash to the checkpoint this node signed for that size (recorded in {}): the store is corrupt or was rewritten",
            cp.size,
            path.display()
        )));
    }
    Ok(())
}
