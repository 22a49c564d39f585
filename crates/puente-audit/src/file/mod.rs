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

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use tracing::warn;

use crate::checkpoint::{self, Checkpoint};
use crate::error::AuditError;
use crate::merkle::{self, Hash};

/// The first bytes of the log file.
pub const MAGIC: &[u8; 16] = b"puente-audit/v1\n";
/// Largest body a batch may declare.
pub const MAX_BATCH_BYTES: u32 = 1 << 30;
const HEADER: u64 = 8;
const TRAILER: u64 = 32;

/// One committed batch, as read back from the log.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Index of its first entry.
    pub first: u64,
    /// The entries' encodings.
    pub entries: Vec<Vec<u8>>,
    /// Byte offset of each entry's length prefix in the log file.
    pub offsets: Vec<u64>,
    /// The signed checkpoint committing it.
    pub note: String,
    /// Byte offset of the note's length prefix.
    pub note_offset: u64,
    /// Byte offset of the batch in the log file.
    pub offset: u64,
    /// Whether the batch matches its checksum.
    pub checksum_ok: bool,
}

/// Encodes a batch; returns its bytes and, relative to its start, the offset of each
/// entry's length prefix and of the note's.
pub fn encode_batch(entries: &[Vec<u8>], note: &str) -> (Vec<u8>, Vec<u64>, u64) {
    let body_len: usize = entries.iter().map(|e| 4 + e.len()).sum::<usize>() + 4 + note.len();
    let mut out = Vec::with_capacity(HEADER as usize + body_len + TRAILER as usize);
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    let mut offsets = Vec::with_capacity(entries.len());
    for e in entries {
        offsets.push(out.len() as u64);
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
    let note_offset = out.len() as u64;
    out.extend_from_slice(&(note.len() as u32).to_be_bytes());
    out.extend_from_slice(note.as_bytes());
    let sum = ring::digest::digest(&ring::digest::SHA256, &out);
    out.extend_from_slice(sum.as_ref());
    (out, offsets, note_offset)
}

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
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> AuditError {
    AuditError::Store(format!("{what} {}: {e}", path.display()))
}

/// Opens (creating if needed) one of the log's files, mode 0600 whatever the umask.
fn open_rw(path: &Path) -> Result<File, AuditError> {
    puente_pki::files::open_private_rw(path).map_err(|e| io_err(path, "opening", e))
}

fn level_path(dir: &Path, level: usize) -> PathBuf {
    dir.join(format!("hashes.{level:02}"))
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// A derived file checked record by record, in order, and repaired where it differs.
struct Derived<'a> {
    file: &'a File,
    path: PathBuf,
    reader: BufReader<File>,
    len: u64,
    pos: u64,
    pending: Vec<u8>,
    pending_at: u64,
    repaired: u64,
}

impl<'a> Derived<'a> {
    fn new(file: &'a File, path: PathBuf) -> Result<Self, AuditError> {
        let len = file
            .metadata()
            .map_err(|e| io_err(&path, "reading", e))?
            .len();
        let reader = BufReader::with_capacity(
            1 << 16,
            file.try_clone().map_err(|e| io_err(&path, "opening", e))?,
        );
        Ok(Self {
            file,
            path,
            reader,
            len,
            pos: 0,
            pending: Vec::new(),
            pending_at: 0,
            repaired: 0,
        })
    }

    fn record(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        let n = bytes.len() as u64;
        if self.pos + n <= self.len {
            let mut have = [0u8; 32];
            let have = &mut have[..bytes.len()];
            self.reader
                .read_exact(have)
                .map_err(|e| io_err(&self.path, "reading", e))?;
            if have != bytes {
                self.file
                    .write_all_at(bytes, self.pos)
                    .map_err(|e| io_err(&self.path, "repairing", e))?;
                self.repaired += 1;
            }
        } else {
            if self.pending.is_empty() {
                self.pending_at = self.pos;
            }
            self.pending.extend_from_slice(bytes);
            if self.pending.len() >= 1 << 20 {
                self.write_pending()?;
            }
        }
        self.pos += n;
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), AuditError> {
        if !self.pending.is_empty() {
            self.file
                .write_all_at(&self.pending, self.pending_at)
                .map_err(|e| io_err(&self.path, "writing", e))?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes what is pending, cuts the file to what was recorded; returns the number of
    /// records repaired (that existed but differed).
    fn finish(mut self) -> Result<u64, AuditError> {
        self.write_pending()?;
        if self.len != self.pos {
            self.file
                .set_len(self.pos)
                .map_err(|e| io_err(&self.path, "truncating", e))?;
        }
        Ok(self.repaired)
    }
}

/// The right edge of a Merkle tree being built leaf by leaf: the hashes of its maximal
/// complete subtrees, largest first.
#[derive(Default)]
pub(crate) struct Frontier {
    stack: Vec<Hash>,
    size: u64,
}

impl Frontier {
    /// Adds a leaf; calls `emit(level, index, hash)` for the leaf and every subtree it
    /// completes.
    pub(crate) fn push(
        &mut self,
        leaf: Hash,
        emit: &mut dyn FnMut(usize, u64, &Hash) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        let (mut level, mut idx, mut h) = (0usize, self.size, leaf);
        emit(0, idx, &h)?;
        while idx & 1 == 1 {
            let left = self.stack.pop().unwrap_or_default();
            h = merkle::node_hash(&left, &h);
            level += 1;
            idx >>= 1;
            emit(level, idx, &h)?;
        }
        self.stack.push(h);
        self.size += 1;
        Ok(())
    }

    pub(crate) fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        match it.next() {
            None => merkle::empty_root(),
            Some(last) => it.fold(*last, |r, l| merkle::node_hash(l, &r)),
        }
    }
}

/// Reads batches from the log file in order.
pub struct BatchReader {
    reader: BufReader<File>,
    path: PathBuf,
    pos: u64,
    end: u64,
    next_index: u64,
}

/// How a read of the next batch ended.
enum Next {
    Batch(Batch),
    /// Clean end of the file (or of the committed part).
    End,
    /// A batch cut short by the end of the file.
    Torn(String),
}

impl BatchReader {
    fn open(path: &Path, end: u64) -> Result<Self, AuditError> {
        let mut file = File::open(path).map_err(|e| io_err(path, "opening", e))?;
        let mut magic = [0u8; 16];
        let got = read_up_to(&mut file, &mut magic).map_err(|e| io_err(path, "reading", e))?;
        if got != 16 || &magic != MAGIC {
            return Err(AuditError::Tampered(format!(
                "{} is not a Puente audit log (it does not start with the format's header)",
                path.display()
            )));
        }
        Ok(Self {
            reader: BufReader::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            pos: MAGIC.len() as u64,
            end,
            next_index: 0,
        })
    }

    fn next_batch(&mut self) -> Result<Next, AuditError> {
        if self.pos >= self.end {
            return Ok(Next::End);
        }
        let at = self.pos;
        let mut header = [0u8; HEADER as usize];
        let got = read_up_to(&mut self.reader, &mut header)
            .map_err(|e| io_err(&self.path, "reading", e))?;
        if got == 0 {
            return Ok(Next::Torn(format!(
                "it ends at byte {at}, where the log should go on: entries from {} are missing",
                self.next_index
            )));
        }
        if got < header.len() {
            return Ok(Next::Torn(format!(
                "{got} bytes at byte {at}, less than a batch header"
            )));
        }
        if header == [0u8; 8] {
            return Ok(Next::Torn(format!("zeros from byte {at}")));
        }
        let body_len = be32(&header[..4]);
        let count = be32(&header[4..]);
        if body_len > MAX_BATCH_BYTES {
            return Err(AuditError::Tampered(format!(
                "{} is corrupt: the batch at byte {at} declares {body_len} bytes",
                self.path.display()
            )));
        }
        if at + HEADER + u64::from(body_len) + TRAILER > self.end {
            return Ok(Next::Torn(format!(
                "the batch at byte {at} declares {body_len} bytes but the file ends first"
            )));
        }
        let mut rest = vec![0u8; body_len as usize + TRAILER as usize];
        self.reader
            .read_exact(&mut rest)
            .map_err(|e| io_err(&self.path, "reading", e))?;
        let (body, sum) = rest.split_at(body_len as usize);
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&header);
        ctx.update(body);
        let checksum_ok = ctx.finish().as_ref() == sum;
        let first = self.next_index;
        let corrupt = |what: String| {
            AuditError::Tampered(format!(
                "{} is corrupt: the batch at byte {at} (entries from {first}): {what}",
                self.path.display()
            ))
        };
        let mut entries = Vec::with_capacity(count.min(1 << 16) as usize);
        let mut offsets = Vec::with_capacity(entries.capacity());
        let mut p = 0usize;
        let take = |p: &mut usize| -> Option<(u64, Vec<u8>)> {
            let len = body.get(*p..*p + 4).map(be32)? as usize;
            let start = *p + 4;
            let bytes = body.get(start..start.checked_add(len)?)?.to_vec();
            let off = *p as u64;
            *p = start + len;
            Some((off, bytes))
        };
        for i in 0..count {
            let (off, bytes) = take(&mut p).ok_or_else(|| {
                corrupt(format!(
                    "entry {} runs past the batch (its checksum {})",
                    first + u64::from(i),
                    if checksum_ok { "matches" } else { "fails" }
                ))
            })?;
            offsets.push(at + HEADER + off);
            entries.push(bytes);
        }
        let (note_off, note) = take(&mut p).ok_or_else(|| {
            corrupt(format!(
                "its checkpoint runs past the batch (its checksum {})",
                if checksum_ok { "matches" } else { "fails" }
            ))
        })?;
        if p != body.len() {
            return Err(corrupt(format!(
                "{} bytes follow its checkpoint",
                body.len() - p
            )));
        }
        self.pos = at + HEADER + u64::from(body_len) + TRAILER;
        self.next_index += u64::from(count);
        Ok(Next::Batch(Batch {
            first,
            entries,
            offsets,
            note: String::from_utf8_lossy(&note).into_owned(),
            note_offset: at + HEADER + note_off,
            offset: at,
            checksum_ok,
        }))
    }
}

impl Iterator for BatchReader {
    type Item = Result<Batch, AuditError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch() {
            Ok(Next::Batch(b)) => Some(Ok(b)),
            Ok(Next::End) => None,
            Ok(Next::Torn(what)) => Some(Err(AuditError::Tampered(format!(
                "{} is cut short ({what})",
                self.path.display()
            )))),
            Err(e) => Some(Err(e)),
        }
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Whether bytes `from..to` of `file` are all zeros.
fn all_zeros(file: &File, from: u64, to: u64) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 1 << 16];
    let mut at = from;
    while at < to {
        let n = (to - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Whether `batch`, whose checksum fails, is a write cut short in zero-filled space: it
/// is the last thing in the file (only zeros follow it, from `end` to `len`), and its
/// trailer, or a whole 4 KiB page within it, is still zeros. A page written by nobody is
/// zeros; a SHA-256 of all zeros or a 4 KiB run of zeros inside a batch of entries does
/// not occur otherwise. (A tamperer can make a batch look like this only at the very end
/// of the log, where the head file, replaced every second, still catches lost entries it
/// signed.)
fn torn_into_zeros(file: &File, batch: &Batch, end: u64, len: u64) -> std::io::Result<bool> {
    if !all_zeros(file, end, len)? {
        return Ok(false);
    }
    if all_zeros(file, end - TRAILER, end)? {
        return Ok(true);
    }
    let mut page = batch.offset.div_ceil(4096) * 4096;
    while page + 4096 <= end {
        if all_zeros(file, page, page + 4096)? {
            return Ok(true);
        }
        page += 4096;
    }
    Ok(false)
}

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

    /// One entry's encoding.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, AuditError> {
        match self.entry_offset(index)? {
            Some(off) => self.read_record(off).map(Some),
            None => Ok(None),
        }
    }

    /// The hash of complete subtree `index` at `level`, once committed.
    pub fn hash(&self, level: u8, index: u64) -> Result<Option<Hash>, AuditError> {
        if level >= 64 || index >= self.size() >> level {
            return Ok(None);
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
        let zeros = vec![0u8; PREALLOC_CHUNK as usize];
        self.log
            .write_all_at(&zeros, zeroed_end)
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
