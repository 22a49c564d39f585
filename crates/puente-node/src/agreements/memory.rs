//! The last good copies: every agreement version that verified, kept in memory and in the
//! store's `agreements_last_good` tree, so that a broken installed file (edited after
//! signing, a signature missing, unreadable) leaves the node enforcing what it had, even
//! across a restart.
//!
//! A kept copy stays a candidate while the agreements directory still speaks of its id (a
//! file holding that id, verified or not) or still holds the file it came from; when
//! every file of an id is gone, the parties' withdrawal is taken as meant and the copies
//! are forgotten.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tracing::error;

/// `(id, version)` → (the file it came from, its full signed text).
pub type Kept = BTreeMap<(String, u32), (PathBuf, String)>;

/// The kept copies and where they are persisted.
#[derive(Debug, Default)]
pub struct Memory {
    tree: Option<sled::Tree>,
    kept: Kept,
}

const TREE: &str = "agreements_last_good";

fn key(id: &str, version: u32) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

impl Memory {
    /// Memory only (tools that look at a directory without a store, and tests).
    pub fn volatile() -> Self {
        Self::default()
    }

    /// Reads the copies kept in `db`; a damaged entry is logged and skipped (it is only
    /// a fallback: the files stay the source).
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        let tree = db.open_tree(TREE)?;
        let mut kept = Kept::new();
        for item in tree.iter() {
            let (k, v) = item?;
            let parsed = (|| {
                let zero = k.iter().position(|b| *b == 0)?;
                let id = std::str::from_utf8(&k[..zero]).ok()?.to_string();
                let version = u32::from_be_bytes(k[zero + 1..].try_into().ok()?);
                let v = std::str::from_utf8(&v).ok()?;
                let (path, text) = v.split_once('\n')?;
                Some(((id, version), (PathBuf::from(path), text.to_string())))
            })();
            match parsed {
                Some((k, v)) => {
                    kept.insert(k, v);
                }
                None => error!("store tree {TREE}: an unreadable entry is ignored"),
            }
        }
        Ok(Self {
            tree: Some(tree),
            kept,
        })
    }

    /// Whether the copies are kept in a store (a running node), not only for this load.
    pub fn persistent(&self) -> bool {
        self.tree.is_some()
    }

    /// The kept copies.
    pub fn kept(&self) -> &Kept {
        &self.kept
    }

    /// Replaces the kept copies with `next`, writing the difference to the store.
    pub fn replace(&mut self, next: Kept) {
        if next == self.kept {
            return;
        }
        if let Some(tree) = &self.tree {
            let mut batch = sled::Batch::default();
            for (id, version) in self.kept.keys().filter(|k| !next.contains_key(*k)) {
                batch.remove(key(id, *version));
            }
            for ((id, version), (path, text)) in &next {
                if self.kept.get(&(id.clone(), *version)) != Some(&(path.clone(), text.clone())) {
                    let mut v = path.display().to_string().replace('\n', " ").into_bytes();
                    v.push(b'\n');
                    v.extend_from_slice(text.as_bytes());
                    batch.insert(key(id, *version), v);
                }
            }
            if let Err(e) = tree
                .apply_batch(batch)
                .and_then(|()| tree.flush().map(|_| ()))
            {
                error!("store tree {TREE}: the last good agreements could not be saved: {e}");
            }
        }
        self.kept = next;
    }
}
