//! The log file's format: a header, then batches, each with its entries, the checkpoint
//! signed over them and a SHA-256 of the whole (see [`crate::file`]); reading batches back
//! in order, and telling a batch cut short by a crash from damage.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::AuditError;

use super::io_err;

/// The first bytes of the log file.
pub const MAGIC: &[u8; 16] = b"puente-audit/v1\n";
/// Largest body a batch may declare.
pub const MAX_BATCH_BYTES: u32 = 1 << 30;
pub(super) const HEADER: u64 = 8;
pub(super) const TRAILER: u64 = 32;

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

pub(crate) fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

pub(super) fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Reads batches from the log file in order.
pub struct BatchReader {
    reader: BufReader<File>,
    path: PathBuf,
    pub(super) pos: u64,
    end: u64,
    next_index: u64,
}

/// How a read of the next batch ended.
pub(super) enum Next {
    Batch(Batch),
    /// Clean end of the file (or of the committed part).
    End,
    /// A batch cut short by the end of the file.
    Torn(String),
}

impl BatchReader {
    pub(super) fn open(path: &Path, end: u64) -> Result<Self, AuditError> {
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

    /// Goes on from byte `pos` of the file, where entry `next_index` starts a batch (the
    /// end of a verified prefix, see [`super::mark`]).
    pub(super) fn resume(&mut self, pos: u64, next_index: u64) -> Result<(), AuditError> {
        use std::io::Seek;
        self.reader
            .seek(std::io::SeekFrom::Start(pos))
            .map_err(|e| io_err(&self.path, "reading", e))?;
        self.pos = pos;
        self.next_index = next_index;
        Ok(())
    }

    pub(super) fn next_batch(&mut self) -> Result<Next, AuditError> {
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
pub(super) fn all_zeros(file: &File, from: u64, to: u64) -> std::io::Result<bool> {
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
pub(super) fn torn_into_zeros(
    file: &File,
    batch: &Batch,
    end: u64,
    len: u64,
) -> std::io::Result<bool> {
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
