//! The head file: the latest checkpoint the node signed, kept beside the log and replaced
//! as batches are committed (at most every second, and on close). Opening the log
//! discards a batch cut short at the end of its file, as a crash mid-write leaves it; a
//! file cut back by more than that (a lost tail, a restored old copy) would reopen as an
//! older, self-consistent log. The head file is how the node and `puente audit verify`
//! notice that entries it once signed for are gone, or differ.

use std::path::Path;

use puente_pki::VerifyingKey;

use crate::error::AuditError;
use crate::merkle;
use crate::trees::{Stored, Trees};

/// Replaces the head file with `note` (write to a temporary file of mode 0600, then
/// rename). Not fsynced: like sled's flush, it survives a process crash; after a power
/// loss it may be older than the store, which is still checked correctly.
pub fn write(path: &Path, note: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    puente_pki::files::write_private_file(&tmp, note.as_bytes())?;
    std::fs::rename(&tmp, path)
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
