//! Opening the log: reading every batch, checking each checksum and checkpoint, dropping
//! a batch cut short at the end, and bringing the derived files in line with the log.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::RwLock;

use tracing::warn;

use puente_pki::VerifyingKey;

use crate::checkpoint::{self, Checkpoint};
use crate::error::AuditError;

use super::batch::{all_zeros, torn_into_zeros, BatchReader, Next, MAGIC};
use super::derived::{Derived, Frontier};
use super::mark::{FileDigest, Mark, MARK_FILE};
use super::{io_err, level_path, open_rw, poisoned, read_hash, LogFiles, State};

impl LogFiles {
    /// Opens (creating if needed) the log in `dir`, reads it all, checks every batch and
    /// checkpoint, discards a batch cut short at the end, and brings the derived files in
    /// line with it.
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        Self::open_with(dir, None)
    }

    /// [`LogFiles::open`], taking the prefix a [`Mark`] signed by `key` covers as checked
    /// when every file's bytes up to there still hash to the mark's digests (then only
    /// the batches after it are parsed); any other mark, or none, and the whole log is
    /// parsed as [`LogFiles::open`] does.
    pub fn open_checked(dir: &Path, key: &VerifyingKey) -> Result<Self, AuditError> {
        Self::open_with(dir, Some(key))
    }

    fn open_with(dir: &Path, key: Option<&VerifyingKey>) -> Result<Self, AuditError> {
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
            mark: std::sync::Mutex::new(None),
            from_mark: 0,
            recent: RwLock::new(Vec::new()),
        };
        // Enough level files for the largest tree this log could hold.
        files.ensure_levels(64 - len.leading_zeros() as usize + 1)?;
        let mut files = files;
        let from = match key {
            Some(key) => files.verified_prefix(key, len)?,
            None => None,
        };
        files.from_mark = from.as_ref().map_or(0, |(s, _)| s.size);
        let state = files.scan(&log_path, len, from)?;
        *files.state.write().map_err(|_| poisoned())? = state;
        Ok(files)
    }

    /// The prefix the mark in the directory covers, if there is a mark signed by `key`
    /// and every file still holds exactly the bytes it describes.
    fn verified_prefix(
        &self,
        key: &VerifyingKey,
        len: u64,
    ) -> Result<Option<(State, Frontier)>, AuditError> {
        let path = self.dir.join(MARK_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                warn!(file = %path.display(), "the verified mark cannot be read ({e}); parsing the whole audit log");
                return Ok(None);
            }
        };
        let checked = Mark::decode(&bytes, key).and_then(|mark| {
            let from = self.check_mark(&mark, len)?;
            Ok((mark, from))
        });
        match checked {
            Ok((mark, from)) => {
                *self.mark.lock().map_err(|_| poisoned())? = Some(mark);
                Ok(Some(from))
            }
            Err(why) => {
                warn!(file = %path.display(), "the verified mark does not describe this log ({why}); parsing the whole audit log");
                Ok(None)
            }
        }
    }

    /// Whether the files still hold what `mark` describes; the state and Merkle frontier
    /// at its end if so.
    fn check_mark(&self, mark: &Mark, len: u64) -> Result<(State, Frontier), String> {
        let n = mark.size;
        let level_count = 64 - n.leading_zeros() as usize;
        if mark.files.len() != 3 + level_count {
            return Err(format!(
                "it describes {} files, a log of {n} entries has {}",
                mark.files.len(),
                3 + level_count
            ));
        }
        if mark.log_len > len {
            return Err(format!(
                "it covers {} bytes of the log, which holds {len}",
                mark.log_len
            ));
        }
        let levels = self
            .levels
            .read()
            .map_err(|_| "a lock is poisoned".to_string())?;
        let files = self
            .covered(&levels, mark.log_len, n, mark.checkpoints)
            .ok_or_else(|| "a hashes file is missing".to_string())?;
        let digest = |f: &std::fs::File, want: &FileDigest, len: u64, path: &Path| {
            if want.len != len {
                return Err(format!(
                    "it covers {} bytes of {}, not {len}",
                    want.len,
                    path.display()
                ));
            }
            let have = FileDigest::default()
                .extend(f, len)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            if have != *want {
                return Err(format!("{} changed since it was verified", path.display()));
            }
            Ok(())
        };
        // The log (most of the bytes) on a second thread, the derived files here.
        let (log, derived) = files.split_first().ok_or("no files")?;
        std::thread::scope(|s| {
            let log = s.spawn(|| digest(log.0, &mark.files[0], log.1, &log.2));
            for ((f, len, path), want) in derived.iter().zip(&mark.files[1..]) {
                digest(f, want, *len, path)?;
            }
            log.join()
                .map_err(|_| "the digest thread panicked".to_string())?
        })?;
        let frontier = Frontier::of_size(n, &|level, index| read_hash(levels.get(level), index))
            .ok_or_else(|| "a subtree hash is missing".to_string())?;
        let cp = checkpoint::split_note(&mark.note)
            .and_then(|(body, _)| Checkpoint::parse_body(body))
            .map_err(|e| format!("its checkpoint: {e}"))?;
        if cp.size != n || cp.root != frontier.root() {
            return Err("its checkpoint does not match the log's tree".into());
        }
        Ok((
            State {
                size: n,
                checkpoints: mark.checkpoints,
                latest: Some(mark.note.clone()),
                log_len: mark.log_len,
                zeroed_end: 0,
            },
            frontier,
        ))
    }

    fn scan(
        &self,
        log_path: &Path,
        len: u64,
        from: Option<(State, Frontier)>,
    ) -> Result<State, AuditError> {
        let mut reader = BatchReader::open(log_path, len)?;
        let levels = self.levels.read().map_err(|_| poisoned())?;
        let mut index = Derived::new(&self.index, self.dir.join("log.index"))?;
        let mut cps = Derived::new(&self.cps, self.dir.join("checkpoints.index"))?;
        let mut hashes = levels
            .iter()
            .enumerate()
            .map(|(l, f)| Derived::new(f, level_path(&self.dir, l)))
            .collect::<Result<Vec<_>, _>>()?;
        let (mut state, mut frontier) = match from {
            Some((state, frontier)) => {
                // The verified prefix: parse only what follows it.
                reader.resume(state.log_len, state.size)?;
                index.skip_to(state.size * 8)?;
                cps.skip_to(state.checkpoints * 16)?;
                for (l, h) in hashes.iter_mut().enumerate() {
                    h.skip_to((state.size >> l) * 32)?;
                }
                (state, frontier)
            }
            None => (
                State {
                    log_len: MAGIC.len() as u64,
                    ..State::default()
                },
                Frontier::default(),
            ),
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
