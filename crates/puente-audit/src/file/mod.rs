//! The log on disk, outside sled: one append-only file of batches, made durable with one
//! `fdatasync` per batch, plus index files derived from it.
//!
//! `<dir>/log` starts with a format header, then holds batches. A batch is what the
//! writer commits at once: its entries and the checkpoint it signed over them, followed by
//! a SHA-256 of the whole batch:
//!
//! ```text
//! body length u32 ‖ entry count u32 ‖ (length u32 ‖ entry)* ‖ length u32 ‖ note ‖ SHA-256
//! ```
//!
//! Only this file is evidence, and only it is synced. The derived files — `log.index`
//! (where each entry starts), `checkpoints.index` (size and place of each checkpoint) and
//! `hashes.NN` (the hash of every complete subtree at level NN) — are checked against the
//! log every time it is opened and repaired where they lag or differ (after a crash they
//! may hold anything the page cache had not written).
//!
//! Opening reads every batch: a batch cut short at the end of the file (a crash during
//! the write, so none of its entries was acknowledged) is discarded; any other damage — a
//! batch whose checksum fails, a checkpoint whose size or root does not match the entries
//! before it — is reported with the byte offset and the entries concerned, and the log
//! does not open.
//!
//! # Layout
//! - `batch`: the log file's format, and reading its batches back.
//! - `derived`: the index files and the Merkle frontier derived from the log.
//! - `open`: reading and checking it all when the log opens.
//! - here: [`LogFiles`], the files of one log: lookups, appends, preallocation.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::error::AuditError;
use crate::merkle::Hash;

use batch::be64;

mod batch;
mod derived;
pub mod mark;
mod open;

pub use batch::{encode_batch, Batch, BatchReader, MAGIC, MAX_BATCH_BYTES};
pub(crate) use derived::Frontier;

/// What the committed log holds.
#[derive(Clone, Debug, Default)]
struct State {
    size: u64,
    checkpoints: u64,
    latest: Option<String>,
    log_len: u64,
    /// End of the zeros written (and made durable) past `log_len`, see
    /// [`LogFiles::preallocate`]; never below `log_len`.
    zeroed_end: u64,
}

/// Zeros written past the end of the log at a time.
pub const PREALLOC_CHUNK: u64 = 128 * 1024;
/// Zero-filled space the writer keeps ahead of the log when it has nothing else to do.
pub const PREALLOC_AHEAD: u64 = 1024 * 1024;
/// Below this much zero-filled space, the writer fills more even while busy.
pub const PREALLOC_LOW: u64 = 32 * 1024;

/// The files of one log.
#[derive(Debug)]
pub struct LogFiles {
    dir: PathBuf,
    log: File,
    index: File,
    cps: File,
    levels: RwLock<Vec<File>>,
    state: RwLock<State>,
    /// The last [`mark::Mark`] made or verified at open: the next is extended from it.
    mark: std::sync::Mutex<Option<mark::Mark>>,
    /// Entries taken as checked from a verified mark at open (0: the whole log parsed).
    from_mark: u64,
    /// The most recent subtree hashes of each level, in memory: the proofs a receipt
    /// carries (inclusion, and consistency from sizes the asker saw lately) read them
    /// here, not with a `pread` each (about 60 per answered query, found with
    /// `perf trace` under `puente bench query`).
    recent: RwLock<Vec<Recent>>,
}

/// Hashes of one level from index `first` on.
#[derive(Debug, Default)]
struct Recent {
    first: u64,
    hashes: Vec<Hash>,
}

/// Recent hashes kept per level before the older half is dropped.
const RECENT_KEEP: usize = 1 << 14;

fn io_err(path: &Path, what: &'static str, e: std::io::Error) -> AuditError {
    AuditError::io(what, path, e)
}

/// Opens (creating if needed) one of the log's files, mode 0600 whatever the umask.
fn open_rw(path: &Path) -> Result<File, AuditError> {
    puente_pki::files::open_private_rw(path).map_err(|e| io_err(path, "opening", e))
}

fn level_path(dir: &Path, level: usize) -> PathBuf {
    dir.join(format!("hashes.{level:02}"))
}

impl LogFiles {
    fn ensure_levels(&self, n: usize) -> Result<(), AuditError> {
        let have = self.levels.read().map_err(|_| poisoned())?.len();
        if have >= n {
            return Ok(());
        }
        let mut levels = self.levels.write().map_err(|_| poisoned())?;
        while levels.len() < n {
            let p = level_path(&self.dir, levels.len());
            levels.push(open_rw(&p)?);
        }
        Ok(())
    }

    /// How many entries opening took as checked from the verified mark (0 when it
    /// parsed the whole log).
    pub fn opened_from_mark(&self) -> u64 {
        self.from_mark
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Committed entries.
    pub fn size(&self) -> u64 {
        self.state.read().map(|s| s.size).unwrap_or(0)
    }

    /// Committed checkpoints (one per batch).
    pub fn checkpoint_count(&self) -> u64 {
        self.state.read().map(|s| s.checkpoints).unwrap_or(0)
    }

    /// The latest signed checkpoint.
    pub fn latest(&self) -> Option<String> {
        self.state.read().ok().and_then(|s| s.latest.clone())
    }

    /// The committed log as one cut: the length of the log file's committed batches,
    /// the entries they hold and their latest signed checkpoint, read together. The log
    /// file is append-only, so its first `length` bytes stay exactly that log while the
    /// writer goes on (what a backup of a running node copies).
    pub fn committed(&self) -> (u64, u64, Option<String>) {
        self.state
            .read()
            .map(|s| (s.log_len, s.size, s.latest.clone()))
            .unwrap_or((0, 0, None))
    }

    /// Where entry `index` starts in the log file (its length prefix).
    pub fn entry_offset(&self, index: u64) -> Result<Option<u64>, AuditError> {
        if index >= self.size() {
            return Ok(None);
        }
        let mut b = [0u8; 8];
        self.index
            .read_exact_at(&mut b, index * 8)
            .map_err(|e| io_err(&self.dir.join("log.index"), "reading", e))?;
        Ok(Some(u64::from_be_bytes(b)))
    }

    fn read_record(&self, offset: u64) -> Result<Vec<u8>, AuditError> {
        let path = self.dir.join("log");
        let mut len = [0u8; 4];
        self.log
            .read_exact_at(&mut len, offset)
            .map_err(|e| io_err(&path, "reading", e))?;
        let len = u32::from_be_bytes(len);
        if len > MAX_BATCH_BYTES {
            return Err(AuditError::Tampered(format!(
                "{} holds a record of {len} bytes at byte {offset}",
                path.display()
            )));
        }
        let mut out = vec![0u8; len as usize];
        self.log
            .read_exact_at(&mut out, offset + 4)
            .map_err(|e| io_err(&path, "reading", e))?;
        Ok(out)
    }

    /// See [`crate::Trees::for_each_entry`].
    pub fn for_each_entry(
        &self,
        from: u64,
        to: u64,
        f: &mut crate::trees::EntryVisitor<'_>,
    ) -> Result<(), AuditError> {
        /// Entries read at once.
        const STEP: u64 = 4096;
        let (size, log_len) = {
            let s = self.state.read().map_err(|_| poisoned())?;
            (s.size, s.log_len)
        };
        let to = to.min(size);
        let log_path = self.dir.join("log");
        let index_path = self.dir.join("log.index");
        let mut offsets = vec![0u8; STEP as usize * 8];
        let mut buf = Vec::new();
        let mut i = from;
        while i < to {
            let j = (i + STEP).min(to);
            let offsets = &mut offsets[..((j - i) * 8) as usize];
            self.index
                .read_exact_at(offsets, i * 8)
                .map_err(|e| io_err(&index_path, "reading", e))?;
            let first = be64(offsets);
            let end = match self.entry_offset(j)? {
                Some(o) => o,
                None => log_len,
            };
            if end < first || end - first > u64::from(MAX_BATCH_BYTES) {
                return Err(AuditError::Tampered(format!(
                    "{} places entries {i}..{j} at bytes {first}..{end}",
                    index_path.display()
                )));
            }
            buf.resize((end - first) as usize, 0);
            self.log
                .read_exact_at(&mut buf, first)
                .map_err(|e| io_err(&log_path, "reading", e))?;
            for k in i..j {
                let at = be64(&offsets[((k - i) * 8) as usize..]);
                let entry = at
                    .checked_sub(first)
                    .map(|o| o as usize)
                    .and_then(|o| {
                        let len = buf.get(o..o + 4).map(batch::be32)? as usize;
                        buf.get(o + 4..(o + 4).checked_add(len)?)
                    })
                    .ok_or_else(|| {
                        AuditError::Tampered(format!(
                            "entry {k} at byte {at} of {} runs outside the entries around it",
                            log_path.display()
                        ))
                    })?;
                f(k, entry)?;
            }
            i = j;
        }
        Ok(())
    }

    /// One entry's encoding.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, AuditError> {
        match self.entry_offset(index)? {
            Some(off) => self.read_record(off).map(Some),
            None => Ok(None),
        }
    }

    /// [`LogFiles::hash`] as the file holds it, never from memory.
    pub fn hash_on_disk(&self, level: u8, index: u64) -> Result<Option<Hash>, AuditError> {
        self.read_hash(level, index, false)
    }

    /// The hash of complete subtree `index` at `level`, once committed.
    pub fn hash(&self, level: u8, index: u64) -> Result<Option<Hash>, AuditError> {
        self.read_hash(level, index, true)
    }

    fn read_hash(&self, level: u8, index: u64, memory: bool) -> Result<Option<Hash>, AuditError> {
        if level >= 64 || index >= self.size() >> level {
            return Ok(None);
        }
        if memory {
            let recent = self.recent.read().map_err(|_| poisoned())?;
            if let Some(h) = recent.get(usize::from(level)).and_then(|r| {
                index
                    .checked_sub(r.first)
                    .and_then(|at| r.hashes.get(at as usize))
            }) {
                return Ok(Some(*h));
            }
        }
        let levels = self.levels.read().map_err(|_| poisoned())?;
        let Some(f) = levels.get(usize::from(level)) else {
            return Ok(None);
        };
        let mut h = [0u8; 32];
        f.read_exact_at(&mut h, index * 32)
            .map_err(|e| io_err(&level_path(&self.dir, level.into()), "reading", e))?;
        Ok(Some(h))
    }

    /// The checkpoint signed when the log reached `size`, if a batch ended there.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>, AuditError> {
        let n = self.checkpoint_count();
        let path = self.dir.join("checkpoints.index");
        let read = |i: u64| -> Result<(u64, u64), AuditError> {
            let mut rec = [0u8; 16];
            self.cps
                .read_exact_at(&mut rec, i * 16)
                .map_err(|e| io_err(&path, "reading", e))?;
            Ok((be64(&rec[..8]), be64(&rec[8..])))
        };
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (s, off) = read(mid)?;
            if s == size {
                let note = self.read_record(off)?;
                return Ok(Some(String::from_utf8_lossy(&note).into_owned()));
            }
            if s < size {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(None)
    }

    /// Every committed batch, in order, read from the log file itself (each checked
    /// against its checksum by the caller through [`Batch::checksum_ok`]).
    pub fn batches(&self) -> Result<BatchReader, AuditError> {
        let end = self.state.read().map_err(|_| poisoned())?.log_len;
        BatchReader::open(&self.dir.join("log"), end)
    }

    /// Writes the derived files' dirty pages to disk now (`fdatasync` of each). They are
    /// rebuilt from the log at open and need no durability; this is about pacing: left to
    /// the kernel they go out in one burst every 30 s or so, and the log's next
    /// `fdatasync` waits behind that burst (a stall of a tenth of a second or more under
    /// load, found by `puente bench soak`). Called every second, off the writer.
    pub fn sync_derived(&self) -> Result<(), AuditError> {
        let sync = |f: &File, name: &str| {
            f.sync_data()
                .map_err(|e| io_err(&self.dir.join(name), "syncing", e))
        };
        sync(&self.index, "log.index")?;
        sync(&self.cps, "checkpoints.index")?;
        let levels = self.levels.read().map_err(|_| poisoned())?;
        for (l, f) in levels.iter().enumerate() {
            f.sync_data()
                .map_err(|e| io_err(&level_path(&self.dir, l), "syncing", e))?;
        }
        Ok(())
    }

    /// The files a [`mark::Mark`] covers, in its order (`log`, `log.index`,
    /// `checkpoints.index`, `hashes.00`, …), each with its length at `log_len` bytes of
    /// log, `size` entries and `checkpoints` batches; `None` if a level file is not open.
    fn covered<'a>(
        &'a self,
        levels: &'a [File],
        log_len: u64,
        size: u64,
        checkpoints: u64,
    ) -> Option<Vec<(&'a File, u64, PathBuf)>> {
        let mut files = vec![
            (&self.log, log_len, self.dir.join("log")),
            (&self.index, size * 8, self.dir.join("log.index")),
            (
                &self.cps,
                checkpoints * 16,
                self.dir.join("checkpoints.index"),
            ),
        ];
        for l in 0..64 - size.leading_zeros() as usize {
            files.push((levels.get(l)?, (size >> l) * 32, level_path(&self.dir, l)));
        }
        Some(files)
    }

    /// A [`mark::Mark`] of what is committed now, or `None` when nothing was committed
    /// since the last one: takes the committed cut, makes the derived files durable up to
    /// it ([`LogFiles::sync_derived`], always), and extends the digests of the last mark.
    /// For the head thread, every second; the mark is to be signed and written by it.
    pub fn next_mark(&self) -> Result<Option<mark::Mark>, AuditError> {
        let cut = self.state.read().map_err(|_| poisoned())?.clone();
        self.sync_derived()?;
        let Some(note) = cut.latest else {
            return Ok(None);
        };
        let prev = self.mark.lock().map_err(|_| poisoned())?.clone();
        if prev.as_ref().is_some_and(|m| m.size == cut.size) {
            return Ok(None);
        }
        let n = cut.size;
        let before = |i: usize| {
            prev.as_ref()
                .and_then(|m| m.files.get(i).copied())
                .unwrap_or_default()
        };
        let levels = self.levels.read().map_err(|_| poisoned())?;
        let files = self
            .covered(&levels, cut.log_len, n, cut.checkpoints)
            .ok_or_else(|| AuditError::Store("a hashes file of the log is not open".into()))?
            .iter()
            .enumerate()
            .map(|(i, (f, len, path))| {
                before(i)
                    .extend(f, *len)
                    .map_err(|e| io_err(path, "reading", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let made = mark::Mark {
            log_len: cut.log_len,
            size: n,
            checkpoints: cut.checkpoints,
            files,
            note,
        };
        *self.mark.lock().map_err(|_| poisoned())? = Some(made.clone());
        Ok(Some(made))
    }

    /// Appends a batch and makes it durable (`fdatasync`), then records the derived
    /// data: `hashes` are the (level, index, hash) of every complete subtree the batch
    /// closes, in the order they were made. Nothing is visible to readers until all of it
    /// is written. On failure the log is cut back to where it was.
    pub fn append(
        &self,
        entries: &[Vec<u8>],
        note: &str,
        hashes: &[(u8, u64, Hash)],
    ) -> Result<(), AuditError> {
        let log_path = self.dir.join("log");
        let state = self.state.read().map_err(|_| poisoned())?.clone();
        let (bytes, offsets, note_offset) = encode_batch(entries, note);
        let at = state.log_len;
        let written = self
            .log
            .write_all_at(&bytes, at)
            .and_then(|_| self.log.sync_data());
        if let Err(e) = written {
            // Cutting back also drops the zero-filled space after the log; it is refilled.
            let cut = self.log.set_len(at).and_then(|_| self.log.sync_data());
            if let Ok(mut s) = self.state.write() {
                s.zeroed_end = at;
            }
            return Err(match cut {
                Ok(()) => io_err(&log_path, "writing", e),
                Err(c) => AuditError::Store(format!(
                    "writing {}: {e}; and cutting back the partial batch failed too ({c}): restart the node, which discards it",
                    log_path.display()
                )),
            });
        }
        // Derived data (not synced: rebuilt from the log at open).
        let mut idx = Vec::with_capacity(offsets.len() * 8);
        for off in &offsets {
            idx.extend_from_slice(&(at + off).to_be_bytes());
        }
        self.index
            .write_all_at(&idx, state.size * 8)
            .map_err(|e| io_err(&self.dir.join("log.index"), "writing", e))?;
        let top = hashes.iter().map(|(l, _, _)| usize::from(*l) + 1).max();
        self.ensure_levels(top.unwrap_or(0))?;
        {
            let levels = self.levels.read().map_err(|_| poisoned())?;
            let mut by_level: Vec<(u64, Vec<u8>)> = Vec::new();
            for (level, index, h) in hashes {
                let l = usize::from(*level);
                while by_level.len() <= l {
                    by_level.push((u64::MAX, Vec::new()));
                }
                let slot = &mut by_level[l];
                if slot.0 == u64::MAX {
                    slot.0 = *index;
                }
                slot.1.extend_from_slice(h);
            }
            for (l, (first, buf)) in by_level.iter().enumerate() {
                if buf.is_empty() {
                    continue;
                }
                levels[l]
                    .write_all_at(buf, first * 32)
                    .map_err(|e| io_err(&level_path(&self.dir, l), "writing", e))?;
            }
            let mut recent = self.recent.write().map_err(|_| poisoned())?;
            for (level, index, h) in hashes {
                let l = usize::from(*level);
                while recent.len() <= l {
                    let level = recent.len();
                    recent.push(Recent {
                        first: state.size >> level,
                        hashes: Vec::new(),
                    });
                }
                let r = &mut recent[l];
                if r.first + r.hashes.len() as u64 != *index {
                    // Not the next of this level (a log opened mid-way): start again here.
                    r.first = *index;
                    r.hashes.clear();
                }
                r.hashes.push(*h);
                if r.hashes.len() >= 2 * RECENT_KEEP {
                    r.hashes.drain(..RECENT_KEEP);
                    r.first += RECENT_KEEP as u64;
                }
            }
        }
        let size = state.size + entries.len() as u64;
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&size.to_be_bytes());
        rec[8..].copy_from_slice(&(at + note_offset).to_be_bytes());
        self.cps
            .write_all_at(&rec, state.checkpoints * 16)
            .map_err(|e| io_err(&self.dir.join("checkpoints.index"), "writing", e))?;
        let mut s = self.state.write().map_err(|_| poisoned())?;
        s.size = size;
        s.checkpoints += 1;
        s.latest = Some(note.to_string());
        s.log_len = at + bytes.len() as u64;
        s.zeroed_end = s.zeroed_end.max(s.log_len);
        Ok(())
    }

    /// Keeps zero-filled, durable space after the end of the log, so that appending a
    /// batch overwrites blocks the file already has: its `fdatasync` then writes the
    /// batch's pages and nothing else, where a growing file also has its size and block
    /// map written on every sync (measured here: 0.15 ms against 0.32 ms per sync). Fills
    /// one [`PREALLOC_CHUNK`] when less than `ahead` bytes are zero-filled; returns
    /// whether it wrote. Only the writer thread calls it (and `append`), so the two never
    /// race; the zeros are cut off again when the writer closes the log and are recognised
    /// (and dropped) at open after a crash.
    pub fn preallocate(&self, ahead: u64) -> Result<bool, AuditError> {
        let (log_len, zeroed_end) = {
            let s = self.state.read().map_err(|_| poisoned())?;
            (s.log_len, s.zeroed_end)
        };
        if zeroed_end.saturating_sub(log_len) >= ahead {
            return Ok(false);
        }
        let path = self.dir.join("log");
        // Zeros from the binary's zero page, not a fresh 128 KiB allocation each time.
        static ZEROS: [u8; PREALLOC_CHUNK as usize] = [0u8; PREALLOC_CHUNK as usize];
        self.log
            .write_all_at(&ZEROS, zeroed_end)
            .and_then(|_| self.log.sync_data())
            .map_err(|e| io_err(&path, "zero-filling space after", e))?;
        let mut s = self.state.write().map_err(|_| poisoned())?;
        s.zeroed_end = s.zeroed_end.max(zeroed_end + PREALLOC_CHUNK);
        Ok(true)
    }

    /// Cuts the zero-filled space off the end of the log (when the writer closes it), so
    /// that a closed log file holds its batches and nothing after them.
    pub fn trim(&self) -> Result<(), AuditError> {
        let mut s = self.state.write().map_err(|_| poisoned())?;
        if s.zeroed_end > s.log_len {
            self.cut_log(s.log_len)?;
            s.zeroed_end = s.log_len;
        }
        Ok(())
    }

    /// Cuts the log file to `len` bytes, durably.
    fn cut_log(&self, len: u64) -> Result<(), AuditError> {
        self.log
            .set_len(len)
            .and_then(|_| self.log.sync_all())
            .map_err(|e| io_err(&self.dir.join("log"), "truncating", e))
    }
}

fn read_hash(file: Option<&File>, index: u64) -> Option<Hash> {
    let mut h = [0u8; 32];
    file?.read_exact_at(&mut h, index * 32).ok()?;
    Some(h)
}

fn poisoned() -> AuditError {
    AuditError::Store("an audit log lock is poisoned".into())
}
