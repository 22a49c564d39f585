//! The verified mark: how far the log and its derived files were checked, with a digest
//! of each file's bytes up to there, signed by the node. Opening a log re-reads and
//! hashes that prefix (sequential reads, SHA-256 at the disk's or memory's speed) instead
//! of parsing every batch, every entry and every checkpoint again, and parses only the
//! batches written after it. Any byte of the prefix changed since — in the log or in a
//! derived file — changes a digest, and the log is then opened the slow way, which names
//! the damage exactly as before. So the guarantee is the same: a log whose bytes differ
//! from what was verified is never opened unexamined.
//!
//! The digests are chained over 1 MiB chunks (`chain = SHA-256(chain ‖ chunk)` per whole
//! chunk, then `SHA-256(chain ‖ rest)`), so the head thread that writes the mark every
//! second extends them from the last whole chunk, never re-reading the whole file.
//!
//! `<dir>/verified.mark`:
//! ```text
//! "puente-audit-mark/v1\n" ‖ log_len u64 ‖ size u64 ‖ checkpoints u64 ‖ files u32 ‖
//!   (len u64 ‖ chain_len u64 ‖ chain [32] ‖ digest [32])* ‖ note_len u32 ‖ note ‖ Ed25519 signature [64]
//! ```
//! Files in order: `log`, `log.index`, `checkpoints.index`, `hashes.00`, `hashes.01`, …

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use puente_pki::{SigningKey, VerifyingKey};

use crate::merkle::Hash;

/// The mark's file name in the log's directory.
pub const MARK_FILE: &str = "verified.mark";
const MAGIC: &[u8] = b"puente-audit-mark/v1\n";
const CHUNK: u64 = 1 << 20;
const MAX_FILES: usize = 70;
const MAX_NOTE: usize = 64 * 1024;

fn sha(parts: &[&[u8]]) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A digest of a file's first `len` bytes, chained over whole chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileDigest {
    /// Bytes covered.
    pub len: u64,
    chain_len: u64,
    chain: Hash,
    digest: Hash,
}

impl Default for FileDigest {
    fn default() -> Self {
        Self {
            len: 0,
            chain_len: 0,
            chain: [0u8; 32],
            digest: sha(&[&[0u8; 32]]),
        }
    }
}

impl FileDigest {
    /// The digest of `file`'s first `len` bytes, resumed from this one's last whole chunk
    /// (the file's bytes before that are taken to be the ones this digest covered).
    pub fn extend(&self, file: &File, len: u64) -> std::io::Result<Self> {
        let mut chain = self.chain;
        let mut at = self.chain_len;
        if len < at {
            return Self::default().extend(file, len);
        }
        let mut buf = vec![0u8; CHUNK as usize];
        while at + CHUNK <= len {
            file.read_exact_at(&mut buf, at)?;
            chain = sha(&[&chain, &buf]);
            at += CHUNK;
        }
        let rest = &mut buf[..(len - at) as usize];
        file.read_exact_at(rest, at)?;
        Ok(Self {
            len,
            chain_len: at,
            chain,
            digest: sha(&[&chain, rest]),
        })
    }
}

/// What a mark says was verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    /// Bytes of the log file verified (whole batches).
    pub log_len: u64,
    /// Entries in them.
    pub size: u64,
    /// Checkpoints (batches) in them.
    pub checkpoints: u64,
    /// Each file's digest: log, log.index, checkpoints.index, hashes.00, …
    pub files: Vec<FileDigest>,
    /// The signed checkpoint of the last batch verified.
    pub note: String,
}

impl Mark {
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.files.len() * 80 + self.note.len());
        out.extend_from_slice(MAGIC);
        for v in [self.log_len, self.size, self.checkpoints] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&(self.files.len() as u32).to_be_bytes());
        for f in &self.files {
            out.extend_from_slice(&f.len.to_be_bytes());
            out.extend_from_slice(&f.chain_len.to_be_bytes());
            out.extend_from_slice(&f.chain);
            out.extend_from_slice(&f.digest);
        }
        out.extend_from_slice(&(self.note.len() as u32).to_be_bytes());
        out.extend_from_slice(self.note.as_bytes());
        out
    }

    /// The mark signed with the node's key, as written to the file.
    pub fn encode(&self, key: &SigningKey) -> Vec<u8> {
        let mut out = self.body();
        let sig = key.sign(&out);
        out.extend_from_slice(&sig);
        out
    }

    /// Reads a mark back; says why it cannot be used.
    pub fn decode(bytes: &[u8], key: &VerifyingKey) -> Result<Self, String> {
        if bytes.len() < MAGIC.len() + 64 || !bytes.starts_with(MAGIC) {
            return Err("not a verified mark of this format".into());
        }
        let (body, sig) = bytes.split_at(bytes.len() - 64);
        if !key.verify(body, sig) {
            return Err("its signature is not this node's".into());
        }
        let mut r = Reader {
            b: body,
            at: MAGIC.len(),
        };
        let (log_len, size, checkpoints) = (r.u64()?, r.u64()?, r.u64()?);
        let n = r.u32()? as usize;
        if n > MAX_FILES {
            return Err(format!("it names {n} files"));
        }
        let mut files = Vec::with_capacity(n);
        for _ in 0..n {
            files.push(FileDigest {
                len: r.u64()?,
                chain_len: r.u64()?,
                chain: r.hash()?,
                digest: r.hash()?,
            });
        }
        let note_len = r.u32()? as usize;
        if note_len > MAX_NOTE {
            return Err("its checkpoint is too long".into());
        }
        let note = String::from_utf8(r.take(note_len)?.to_vec())
            .map_err(|_| "its checkpoint is not text".to_string())?;
        if r.at != body.len() {
            return Err("it has bytes after its checkpoint".into());
        }
        Ok(Self {
            log_len,
            size,
            checkpoints,
            files,
            note,
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| "it is cut short".to_string())?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }
    fn hash(&mut self) -> Result<Hash, String> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
}

/// Replaces the mark file (a temporary file of mode 0600, then rename). Not synced: a
/// mark lost or older after a power loss only means more of the log is parsed at open.
pub fn write(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = dir.join(MARK_FILE);
    let tmp = path.with_extension("tmp");
    puente_pki::files::write_private_file(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_digest_equals_one_made_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(3 * CHUNK + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let f = File::open(&path).unwrap();
        let whole = FileDigest::default().extend(&f, data.len() as u64).unwrap();
        let mut step = FileDigest::default();
        for len in [
            10,
            CHUNK - 1,
            CHUNK,
            CHUNK + 5,
            2 * CHUNK + 1,
            data.len() as u64,
        ] {
            step = step.extend(&f, len).unwrap();
        }
        assert_eq!(step, whole);
        // A byte changed anywhere covered changes the digest.
        for at in [0usize, CHUNK as usize + 3, data.len() - 1] {
            let mut d = data.clone();
            d[at] ^= 1;
            std::fs::write(&path, &d).unwrap();
            let f = File::open(&path).unwrap();
            let other = FileDigest::default().extend(&f, d.len() as u64).unwrap();
            assert_ne!(other.digest, whole.digest, "byte {at}");
        }
    }

    #[test]
    fn a_mark_reads_back_only_with_its_signature_intact() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate("mark-test", &dir.path().join("k")).unwrap();
        let mark = Mark {
            log_len: 1000,
            size: 12,
            checkpoints: 3,
            files: vec![FileDigest::default(); 4],
            note: "puente/TST/audit\n12\nroot\n".into(),
        };
        let bytes = mark.encode(&key);
        assert_eq!(Mark::decode(&bytes, &key.verifying_key()).unwrap(), mark);
        for at in [MAGIC.len() + 3, bytes.len() - 70, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[at] ^= 1;
            assert!(Mark::decode(&b, &key.verifying_key()).is_err(), "byte {at}");
        }
        assert!(Mark::decode(&bytes[..bytes.len() - 1], &key.verifying_key()).is_err());
        let other = SigningKey::generate("other", &dir.path().join("o")).unwrap();
        assert!(Mark::decode(&bytes, &other.verifying_key()).is_err());
        assert!(Mark::decode(b"", &key.verifying_key()).is_err());
    }
}
