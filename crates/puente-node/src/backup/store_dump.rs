//! The `store` section: every sled tree, key by key.
//!
//! ```text
//! 'T' ‖ name length u32 ‖ name          a tree begins
//! 'E' ‖ key length u32 ‖ key ‖ value length u32 ‖ value
//! ```

use std::io::Write;

use crate::error::BackupError;

use super::ArchiveWriter;

/// The tree whose keys are checkpoint sizes (big-endian u64) past which a snapshot cut
/// at `size` keeps nothing.
const COSIGNATURES: &[u8] = b"audit_cosignatures";
/// Entries applied to sled at a time when restoring.
const BATCH: usize = 10_000;

fn store_err(e: sled::Error) -> BackupError {
    BackupError::Store(format!("reading the store: {e}"))
}

/// Writes every tree of `db` into the open section of `w`.
pub fn dump<W: Write>(
    db: &sled::Db,
    size: u64,
    w: &mut ArchiveWriter<W>,
) -> Result<(), BackupError> {
    let sink = |source: std::io::Error| BackupError::Io {
        what: "writing the backup to".into(),
        path: "its destination".into(),
        source,
    };
    let len = |n: usize| (n as u32).to_be_bytes();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).map_err(store_err)?;
        let mut head = vec![b'T'];
        head.extend_from_slice(&len(name.len()));
        head.extend_from_slice(&name);
        w.data(&head).map_err(sink)?;
        for item in tree.iter() {
            let (k, v) = item.map_err(store_err)?;
            if name.as_ref() == COSIGNATURES
                && <[u8; 8]>::try_from(k.as_ref()).is_ok_and(|b| u64::from_be_bytes(b) > size)
            {
                continue;
            }
            let mut rec = Vec::with_capacity(9 + k.len() + v.len());
            rec.push(b'E');
            rec.extend_from_slice(&len(k.len()));
            rec.extend_from_slice(&k);
            rec.extend_from_slice(&len(v.len()));
            rec.extend_from_slice(&v);
            w.data(&rec).map_err(sink)?;
        }
    }
    Ok(())
}

/// Loads a `store` section, fed in chunks, into a sled database.
pub struct Loader {
    db: sled::Db,
    buf: Vec<u8>,
    tree: Option<sled::Tree>,
    batch: sled::Batch,
    pending: usize,
    /// Entries loaded.
    pub entries: u64,
}

impl Loader {
    /// Loads into `db`.
    pub fn new(db: sled::Db) -> Self {
        Self {
            db,
            buf: Vec::new(),
            tree: None,
            batch: sled::Batch::default(),
            pending: 0,
            entries: 0,
        }
    }

    fn write_err(e: sled::Error) -> BackupError {
        BackupError::Store(format!("writing the restored store: {e}"))
    }

    fn apply(&mut self) -> Result<(), BackupError> {
        if let Some(tree) = &self.tree {
            tree.apply_batch(std::mem::take(&mut self.batch))
                .map_err(Self::write_err)?;
        }
        self.pending = 0;
        Ok(())
    }

    /// Takes the next chunk of the section.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), BackupError> {
        self.buf.extend_from_slice(chunk);
        let mut at = 0;
        let u32_at = |b: &[u8], p: usize| -> Option<usize> {
            Some(u32::from_be_bytes(b.get(p..p + 4)?.try_into().ok()?) as usize)
        };
        loop {
            let rest = &self.buf[at..];
            let Some(&tag) = rest.first() else { break };
            match tag {
                b'T' => {
                    let Some(n) = u32_at(rest, 1) else { break };
                    let Some(name) = rest.get(5..5 + n) else {
                        break;
                    };
                    let name = name.to_vec();
                    self.apply()?;
                    self.tree = Some(self.db.open_tree(name).map_err(Self::write_err)?);
                    at += 5 + n;
                }
                b'E' => {
                    let Some(kl) = u32_at(rest, 1) else { break };
                    let Some(vl) = u32_at(rest, 5 + kl) else {
                        break;
                    };
                    let Some(v) = rest.get(9 + kl..9 + kl + vl) else {
                        break;
                    };
                    let k = &rest[5..5 + kl];
                    if self.tree.is_none() {
                        return Err(BackupError::Store(
                            "the store section holds an entry before any tree".into(),
                        ));
                    }
                    self.batch.insert(k, v);
                    self.pending += 1;
                    self.entries += 1;
                    at += 9 + kl + vl;
                    if self.pending >= BATCH {
                        self.apply()?;
                    }
                }
                other => {
                    return Err(BackupError::Store(format!(
                        "the store section holds {other:#04x} where a tree or an entry should start"
                    )))
                }
            }
        }
        self.buf.drain(..at);
        Ok(())
    }

    /// Applies what is pending and makes it durable.
    pub fn finish(mut self) -> Result<u64, BackupError> {
        if !self.buf.is_empty() {
            return Err(BackupError::Store(
                "the store section ends inside an entry".into(),
            ));
        }
        self.apply()?;
        self.db.flush().map_err(Self::write_err)?;
        Ok(self.entries)
    }
}
