//! The stores of one audit log, opened together: the append-only files ([`crate::file`])
//! and the sled trees of what is small and rarely written (witnesses' cosignatures, what
//! this node last cosigned for each peer, evidence of inconsistent peers). The writer
//! ([`crate::log`]), the head check ([`crate::head`]), the verifier and the auditors'
//! view all read the log through [`Trees`].

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::AuditError;
use crate::file::{BatchReader, LogFiles};
use crate::merkle::{self, Hash, HashSource};

/// The stores of the log.
#[derive(Clone, Debug)]
pub struct Trees {
    files: Arc<LogFiles>,
    /// checkpoint size → cosignature lines (one per witness, `\n`-separated, `COUNTRY|line`).
    pub cosignatures: sled::Tree,
    /// peer country → what this node last cosigned for it (size ‖ root).
    pub witnessed: sled::Tree,
    /// time ‖ peer → an inconsistent checkpoint a peer presented (evidence).
    pub evidence: sled::Tree,
    /// Small state of witnessing rounds.
    pub meta: sled::Tree,
    pub(crate) db: sled::Db,
    /// Set when what `sync_hook` keeps must be durable with the next batch.
    pub(crate) store_dirty: Arc<AtomicBool>,
}

/// What [`Trees::for_each_entry`] calls with each entry's index and encoding.
pub type EntryVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), AuditError> + 'a;

impl Trees {
    /// Opens the log files in `dir` (reading and checking all of them, see
    /// [`LogFiles::open`]) and the sled trees in `db`. A log kept in sled trees by an
    /// earlier version is moved into the files first.
    pub fn open(db: &sled::Db, dir: &Path) -> Result<Self, AuditError> {
        Self::with_files(db, LogFiles::open(dir)?)
    }

    /// [`Trees::open`], taking the prefix covered by a verified mark signed by `key` as
    /// checked when the files still hash to it ([`LogFiles::open_checked`]).
    pub fn open_checked(
        db: &sled::Db,
        dir: &Path,
        key: &puente_pki::VerifyingKey,
    ) -> Result<Self, AuditError> {
        Self::with_files(db, LogFiles::open_checked(dir, key)?)
    }

    fn with_files(db: &sled::Db, files: LogFiles) -> Result<Self, AuditError> {
        let trees = Self {
            files: Arc::new(files),
            cosignatures: db.open_tree("audit_cosignatures")?,
            witnessed: db.open_tree("audit_witnessed")?,
            evidence: db.open_tree("audit_evidence")?,
            meta: db.open_tree("audit_meta")?,
            db: db.clone(),
            store_dirty: Arc::new(AtomicBool::new(false)),
        };
        crate::migrate::from_sled(&trees.files, db)?;
        Ok(trees)
    }

    /// Entries the log took as checked from its verified mark when it opened (0: it
    /// parsed them all).
    pub fn opened_from_mark(&self) -> u64 {
        self.files.opened_from_mark()
    }

    pub(crate) fn files(&self) -> &LogFiles {
        &self.files
    }

    /// The committed log as one cut: (length of the log file's committed batches,
    /// entries, latest checkpoint); see [`LogFiles::committed`].
    pub fn committed(&self) -> (u64, u64, Option<String>) {
        self.files.committed()
    }

    /// The directory of the log files.
    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    /// Committed number of entries.
    pub fn size(&self) -> Result<u64, AuditError> {
        Ok(self.files.size())
    }

    /// The latest signed checkpoint note.
    pub fn latest(&self) -> Result<Option<String>, AuditError> {
        Ok(self.files.latest())
    }

    /// Committed checkpoints (one per batch).
    pub fn checkpoint_count(&self) -> u64 {
        self.files.checkpoint_count()
    }

    /// The checkpoint signed at `size`, if a batch ended there.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>, AuditError> {
        self.files.checkpoint_at(size)
    }

    /// One encoded entry.
    pub fn entry_bytes(&self, index: u64) -> Result<Option<Vec<u8>>, AuditError> {
        self.files.entry(index)
    }

    /// Calls `f` with each committed entry from `from` up to `to` (exclusive) and its
    /// index, in order, reading the log in large pieces rather than entry by entry (a
    /// node's quota recount reads a day of entries at every start).
    pub fn for_each_entry(
        &self,
        from: u64,
        to: u64,
        f: &mut crate::trees::EntryVisitor<'_>,
    ) -> Result<(), AuditError> {
        self.files.for_each_entry(from, to, f)
    }

    /// Where entry `index` starts in the log file (a 4-byte length, then the entry), for
    /// tools and tests that inspect the file.
    pub fn entry_offset(&self, index: u64) -> Result<Option<u64>, AuditError> {
        self.files.entry_offset(index)
    }

    /// Every committed batch, read from the log file.
    pub fn batches(&self) -> Result<BatchReader, AuditError> {
        self.files.batches()
    }

    /// A stored complete-subtree hash (a recent one from memory).
    pub fn stored_hash(&self, level: u8, index: u64) -> Result<Option<Hash>, AuditError> {
        self.files.hash(level, index)
    }

    /// A stored complete-subtree hash as its file holds it, never from memory: what the
    /// verifier checks.
    pub fn stored_hash_on_disk(&self, level: u8, index: u64) -> Result<Option<Hash>, AuditError> {
        self.files.hash_on_disk(level, index)
    }

    /// Cosignature lines on the checkpoint of `size`, as (witness country, line).
    pub fn cosignatures_at(&self, size: u64) -> Result<Vec<(String, String)>, AuditError> {
        Ok(self
            .cosignatures
            .get(size.to_be_bytes())?
            .map(|v| {
                String::from_utf8_lossy(&v)
                    .lines()
                    .filter_map(|l| {
                        l.split_once('|')
                            .map(|(c, s)| (c.to_string(), s.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Records a witness's cosignature on the checkpoint of `size`.
    pub fn add_cosignature(&self, size: u64, country: &str, line: &str) -> Result<(), AuditError> {
        let mut all = self.cosignatures_at(size)?;
        all.retain(|(c, _)| c != country);
        all.push((country.to_string(), line.to_string()));
        let text: String = all.iter().map(|(c, l)| format!("{c}|{l}\n")).collect();
        self.cosignatures
            .insert(size.to_be_bytes(), text.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Flushes the sled trees to disk (the log files are synced per batch).
    pub fn flush(&self) -> Result<(), AuditError> {
        self.db.flush()?;
        Ok(())
    }
}

/// Hash lookups over the stored complete subtrees.
pub struct Stored<'a>(pub &'a Trees);

impl HashSource for Stored<'_> {
    type Error = AuditError;
    fn range_hash(&self, start: u64, end: u64) -> Result<Hash, AuditError> {
        range_from_subtrees(start, end, &|level, index| self.0.stored_hash(level, index))
    }
}

/// The hash of leaves `start..end` from the hashes of complete subtrees that `get` looks
/// up by (level, index): what both the files and the writer's in-memory tail serve.
pub(crate) fn range_from_subtrees(
    start: u64,
    end: u64,
    get: &dyn Fn(u8, u64) -> Result<Option<Hash>, AuditError>,
) -> Result<Hash, AuditError> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros() as u8;
        return get(level, start >> level)?.ok_or_else(|| {
            AuditError::Tampered(format!("the hash of leaves {start}..{end} is missing"))
        });
    }
    let k = merkle::split(n);
    Ok(merkle::node_hash(
        &range_from_subtrees(start, start + k, get)?,
        &range_from_subtrees(start + k, end, get)?,
    ))
}
