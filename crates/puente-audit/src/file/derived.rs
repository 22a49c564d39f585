//! What is derived from the log file and checked against it at open: the index files,
//! record by record ([`Derived`]), and the Merkle tree's right edge that yields the hash
//! of every complete subtree ([`Frontier`]).

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::error::AuditError;
use crate::merkle::{self, Hash};

use super::io_err;

/// A derived file checked record by record, in order, and repaired where it differs.
pub(super) struct Derived<'a> {
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
    pub(super) fn new(file: &'a File, path: PathBuf) -> Result<Self, AuditError> {
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

    /// Takes the file's first `pos` bytes as already checked (a verified prefix).
    pub(super) fn skip_to(&mut self, pos: u64) -> Result<(), AuditError> {
        use std::io::Seek;
        self.reader
            .seek(std::io::SeekFrom::Start(pos))
            .map_err(|e| io_err(&self.path, "reading", e))?;
        self.pos = pos;
        Ok(())
    }

    pub(super) fn record(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
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
    pub(super) fn finish(mut self) -> Result<u64, AuditError> {
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

    /// The right edge of a tree of `size` leaves, from the hashes of its complete
    /// subtrees (`hash(level, index)`); `None` if one is missing.
    pub(crate) fn of_size(size: u64, hash: &dyn Fn(usize, u64) -> Option<Hash>) -> Option<Self> {
        let mut stack = Vec::new();
        for level in (0..64usize).rev() {
            if size >> level & 1 == 1 {
                stack.push(hash(level, (size >> level) - 1)?);
            }
        }
        Some(Self { stack, size })
    }

    pub(crate) fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        match it.next() {
            None => merkle::empty_root(),
            Some(last) => it.fold(*last, |r, l| merkle::node_hash(l, &r)),
        }
    }
}
