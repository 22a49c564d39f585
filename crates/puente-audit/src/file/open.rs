//! Opening the log: reading every batch, checking each checksum and checkpoint, dropping
//! a batch cut short at the end, and bringing the derived files in line with the log.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::RwLock;

use tracing::warn;

use crate::checkpoint::{self, Checkpoint};
use crate::error::AuditError;

use super::batch::{all_zeros, torn_into_zeros, BatchReader, Next, MAGIC};
use super::derived::{Derived, Frontier};
use super::{io_err, level_path, open_rw, poisoned, read_hash, LogFiles, State};

impl LogFiles {
    /// Opens (creating if needed) the log in `dir`, reads it all, checks every batch and
    /// checkpoint, discards a batch cut short at the end, and brings the derived files in
    /// line with it.
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        puente_pki::files::create_private_dir(dir).map_err(|e| io_err(dir, "creating", e))?;
        let log_path = dir.join("log");
        let log = open_rw(&log_path)?;
        let mut len = log
            .metadata()
            .map_err(|e| io_err(&log_path, "reading", e))?
            .len();
        if len == 0 {
            log.write_all_at(MAGIC, 0)
                .and_then(|_| log.sync_all())
                .map_err(|e| io_err(&log_path, "writing", e))?;
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            len = MAGIC.len() as u64;
        }
        let index_path = dir.join("log.index");
        let cps_path = dir.join("checkpoints.index");
        let index = open_rw(&index_path)?;
        let cps = open_rw(&cps_path)?;
        let mut levels = Vec::new();
        for level in 0..64 {
            let p = level_path(dir, level);
            if !p.exists() {
                break;
            }
            levels.push(open_rw(&p)?);
        }
        let files = Self {
            dir: dir.to_path_buf(),
            log,
            index,
            cps,
            levels: RwLock::new(levels),
            state: RwLock::new(State::default()),
        };
        let state = files.scan(&log_path, len)?;
        *files.state.write().map_err(|_| poisoned())? = state;
        Ok(files)
    }

    fn scan(&self, log_path: &Path, len: u64) -> Result<State, AuditError> {
        let mut reader = BatchReader::open(log_path, len)?;
        // Enough level files for the largest tree this log could hold.
        let max_levels = 64 - len.leading_zeros() as usize + 1;
        self.ensure_levels(max_levels)?;
        let levels = self.levels.read().map_err(|_| poisoned())?;
        let mut index = Derived::new(&self.index, self.dir.join("log.index"))?;
        let mut cps = Derived::new(&self.cps, self.dir.join("checkpoints.index"))?;
        let mut hashes = levels
            .iter()
            .enumerate()
            .map(|(l, f)| Derived::new(f, level_path(&self.dir, l)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut frontier = Frontier::default();
        let mut state = State {
            log_len: MAGIC.len() as u64,
            ..State::default()
        };
        loop {
            let batch = match reader.next_batch()? {
                Next::Batch(b) => b,
                Next::End => break,
                Next::Torn(what) => {
                    if all_zeros(&self.log, state.log_len, len)
                        .map_err(|e| io_err(log_path, "reading", e))?
                    {
                        // Space zero-filled ahead of the log by a writer that did not
                        // close cleanly: nothing was ever written there.
                        tracing::debug!(
                            file = %log_path.display(),
                            bytes = len - state.log_len,
                            "dropping the zero-filled space after the log"
                        );
                    } else {
                        warn!(
                            file = %log_path.display(),
                            discarded_bytes = len - state.log_len,
                            "the audit log ends inside a batch ({what}): a write cut short by a crash, whose entries were never acknowledged; discarding it"
                        );
                    }
                    self.cut_log(state.log_len)?;
                    break;
                }
            };
            let last = batch.first + batch.entries.len() as u64;
            if !batch.checksum_ok
                && torn_into_zeros(&self.log, &batch, reader.pos, len)
                    .map_err(|e| io_err(log_path, "reading", e))?
            {
                // The last batch, written into zero-filled space, with some of its
                // pages still zeros (its trailer among them, or a whole page): a write
                // cut short by a power loss before its `fdatasync` returned, so none of
                // its entries was acknowledged.
                warn!(
                    file = %log_path.display(),
                    at = batch.offset,
                    discarded_bytes = len - batch.offset,
                    "the audit log's last batch was never completely written (a crash before it was made durable); discarding it"
                );
                self.cut_log(state.log_len)?;
                break;
            }
            if !batch.checksum_ok {
                // Name the entry when the recorded leaf hashes can.
                for (i, bytes) in batch.entries.iter().enumerate() {
                    let index = batch.first + i as u64;
                    if let Some(stored) = read_hash(levels.first(), index) {
                        if stored != crate::entry::leaf_of(bytes) {
                            return Err(AuditError::Tampered(format!(
                                "entry {index}: its content does not match its stored leaf hash ({} is corrupt at byte {})",
                                log_path.display(),
                                batch.offsets[i]
                            )));
                        }
                    }
                }
                return Err(AuditError::Tampered(format!(
                    "{} is corrupt: the batch at byte {} (entries {}..{last}) does not match its checksum",
                    log_path.display(),
                    batch.offset,
                    batch.first
                )));
            }
            for (bytes, off) in batch.entries.iter().zip(&batch.offsets) {
                index.record(&off.to_be_bytes())?;
                frontier.push(crate::entry::leaf_of(bytes), &mut |level, _, h| {
                    hashes
                        .get_mut(level)
                        .ok_or_else(|| AuditError::Store("too many levels".into()))?
                        .record(h)
                })?;
            }
            let cp =
                Checkpoint::parse_body(checkpoint::split_note(&batch.note)?.0).map_err(|e| {
                    AuditError::Tampered(format!(
                        "the checkpoint at byte {} of {}: {e}",
                        batch.note_offset,
                        log_path.display()
                    ))
                })?;
            if cp.size != last {
                return Err(AuditError::Tampered(format!(
                    "checkpoint at size {} follows {last} entries (byte {} of {})",
                    cp.size,
                    batch.note_offset,
                    log_path.display()
                )));
            }
            if cp.root != frontier.root() {
                return Err(AuditError::Tampered(format!(
                    "checkpoint at size {last}: its root does not match the entries (one of entries {}..{last} was changed; byte {} of {})",
                    batch.first,
                    batch.offset,
                    log_path.display()
                )));
            }
            let mut rec = [0u8; 16];
            rec[..8].copy_from_slice(&last.to_be_bytes());
            rec[8..].copy_from_slice(&batch.note_offset.to_be_bytes());
            cps.record(&rec)?;
            state.size = last;
            state.checkpoints += 1;
            state.latest = Some(batch.note);
            state.log_len = reader.pos;
        }
        state.zeroed_end = state.log_len;
        let mut repaired = index.finish()? + cps.finish()?;
        for h in hashes {
            repaired += h.finish()?;
        }
        if repaired > 0 {
            warn!(
                dir = %self.dir.display(),
                repaired,
                "derived audit index records differed from the log and were rewritten from it"
            );
        }
        Ok(state)
    }
}
