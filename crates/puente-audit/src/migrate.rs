//! Moving a log kept in sled trees (before the log had its own files) into the files,
//! batch by batch as it was signed, so its checkpoints (and the cosignatures peers made
//! of them) stay valid.

use tracing::info;

use crate::checkpoint::{self, Checkpoint};
use crate::error::AuditError;
use crate::file::{Frontier, LogFiles};

/// Moves the sled log of `db` into `files`, if there is one and the files are empty; then
/// removes it from sled.
pub(crate) fn from_sled(files: &LogFiles, db: &sled::Db) -> Result<(), AuditError> {
    let names = db.tree_names();
    if !names.iter().any(|n| n.as_ref() == b"audit_entries") {
        return Ok(());
    }
    let entries = db.open_tree("audit_entries")?;
    let checkpoints = db.open_tree("audit_checkpoints")?;
    if entries.is_empty() {
        return Ok(());
    }
    if files.size() > 0 {
        return Err(AuditError::Tampered(format!(
            "the store holds an audit log in sled trees (an earlier format) and {} holds another one: move one of them aside",
            files.dir().display()
        )));
    }
    let mut frontier = Frontier::default();
    let mut moved = 0u64;
    for item in checkpoints.iter() {
        let (_, note) = item?;
        let note = String::from_utf8_lossy(&note).into_owned();
        let cp = Checkpoint::parse_body(checkpoint::split_note(&note)?.0)?;
        if cp.size <= moved {
            continue;
        }
        let mut batch = Vec::new();
        let mut hashes = Vec::new();
        for index in moved..cp.size {
            let bytes = entries
                .get(index.to_be_bytes())?
                .ok_or_else(|| {
                    AuditError::Tampered(format!(
                        "moving the log out of sled: entry {index} is missing"
                    ))
                })?
                .to_vec();
            frontier.push(crate::entry::leaf_of(&bytes), &mut |level, idx, h| {
                hashes.push((level as u8, idx, *h));
                Ok(())
            })?;
            batch.push(bytes);
        }
        if frontier.root() != cp.root {
            return Err(AuditError::Tampered(format!(
                "moving the log out of sled: the checkpoint at size {} does not match the entries",
                cp.size
            )));
        }
        files.append(&batch, &note, &hashes)?;
        moved = cp.size;
    }
    entries.clear()?;
    db.open_tree("audit_hashes")?.clear()?;
    checkpoints.clear()?;
    db.flush()?;
    info!(
        entries = moved,
        dir = %files.dir().display(),
        "moved the audit log from sled trees into its own files"
    );
    Ok(())
}
