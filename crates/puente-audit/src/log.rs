//! The log in sled: entries, the hashes of every complete subtree (so proofs and roots
//! cost O(log n) lookups), signed checkpoints, cosignatures from witnesses, and what this
//! node last cosigned for each peer.
//!
//! Appends are group-committed by one writer thread: requests that arrive while a batch
//! is being made durable form the next batch, so one `flush` and one signature cover many
//! entries. A receipt is returned only after its batch is durable and signed.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use puente_pki::SigningKey;
use puente_proto::v1 as pb;
use tokio::sync::oneshot;
use tracing::{error, info};

use crate::checkpoint::Checkpoint;
use crate::entry::Entry;
use crate::error::AuditError;
use crate::merkle::{self, Hash, HashSource};

/// Most entries in one batch.
pub const MAX_BATCH: usize = 4096;
/// How often an idle writer wakes up to sign a checkpoint over entries not yet covered
/// (an unchanged log keeps its signed, possibly cosigned, checkpoint).
pub const IDLE_RESIGN: Duration = Duration::from_secs(300);

/// The trees of the log.
#[derive(Clone, Debug)]
pub struct Trees {
    /// index → encoded entry.
    pub entries: sled::Tree,
    /// (level, index) → hash of a complete subtree.
    pub hashes: sled::Tree,
    /// size → signed checkpoint note.
    pub checkpoints: sled::Tree,
    /// checkpoint size → cosignature lines (one per witness, `\n`-separated, `COUNTRY|line`).
    pub cosignatures: sled::Tree,
    /// peer country → what this node last cosigned for it (size ‖ root).
    pub witnessed: sled::Tree,
    /// time ‖ peer → an inconsistent checkpoint a peer presented (evidence).
    pub evidence: sled::Tree,
    /// `size`, `latest` (note).
    pub meta: sled::Tree,
    db: sled::Db,
}

impl Trees {
    /// Opens the trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, AuditError> {
        Ok(Self {
            entries: db.open_tree("audit_entries")?,
            hashes: db.open_tree("audit_hashes")?,
            checkpoints: db.open_tree("audit_checkpoints")?,
            cosignatures: db.open_tree("audit_cosignatures")?,
            witnessed: db.open_tree("audit_witnessed")?,
            evidence: db.open_tree("audit_evidence")?,
            meta: db.open_tree("audit_meta")?,
            db: db.clone(),
        })
    }

    /// Committed number of entries.
    pub fn size(&self) -> Result<u64, AuditError> {
        Ok(self.meta.get("size")?.map(|v| be64(&v)).unwrap_or(0))
    }

    /// The latest signed checkpoint note.
    pub fn latest(&self) -> Result<Option<String>, AuditError> {
        Ok(self
            .meta
            .get("latest")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// One encoded entry.
    pub fn entry_bytes(&self, index: u64) -> Result<Option<Vec<u8>>, AuditError> {
        Ok(self.entries.get(index.to_be_bytes())?.map(|v| v.to_vec()))
    }

    /// A stored complete-subtree hash.
    pub fn stored_hash(&self, level: u8, index: u64) -> Result<Option<Hash>, AuditError> {
        Ok(self
            .hashes
            .get(hash_key(level, index))?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok()))
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

    /// Flushes to disk.
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
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let level = n.trailing_zeros() as u8;
            return self.0.stored_hash(level, start >> level)?.ok_or_else(|| {
                AuditError::Tampered(format!("the hash of leaves {start}..{end} is missing"))
            });
        }
        let k = merkle::split(n);
        Ok(merkle::node_hash(
            &self.range_hash(start, start + k)?,
            &self.range_hash(start + k, end)?,
        ))
    }
}

fn hash_key(level: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    if b.len() == 8 {
        a.copy_from_slice(b);
    }
    u64::from_be_bytes(a)
}

/// What an append returns: the responder's receipt for the entry.
pub type Receipt = pb::Receipt;

struct Request {
    entry: Entry,
    reply: oneshot::Sender<Result<Receipt, AuditError>>,
}

/// The audit log of one node.
#[derive(Clone)]
pub struct AuditLog {
    trees: Trees,
    origin: String,
    tx: Arc<Mutex<Option<std_mpsc::Sender<Request>>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log and starts its writer. Refuses to open a log whose stored state does
    /// not match the last checkpoint it signed (it will never sign an inconsistent one).
    pub fn open(db: &sled::Db, origin: String, key: Arc<SigningKey>) -> Result<Self, AuditError> {
        Self::open_with_head(db, origin, key, None)
    }

    /// [`AuditLog::open`], also checking the store against the [`crate::head`] file at
    /// `head` (refusing a store that lost or changed entries this node signed for), reading
    /// every entry against its leaf hash ([`crate::head::scan`]), and replacing that file
    /// after every durable batch.
    pub fn open_with_head(
        db: &sled::Db,
        origin: String,
        key: Arc<SigningKey>,
        head: Option<std::path::PathBuf>,
    ) -> Result<Self, AuditError> {
        let trees = Trees::open(db)?;
        if let Some(path) = &head {
            crate::head::check(path, &trees, &key.verifying_key())?;
            crate::head::scan(&trees)?;
        }
        let size = trees.size()?;
        // Entries written past the committed size by a batch cut short never got a receipt.
        let mut stray = Vec::new();
        for item in trees.entries.range(size.to_be_bytes()..) {
            stray.push(item?.0);
        }
        for k in stray {
            trees.entries.remove(k)?;
        }
        if let Some(note) = trees.latest()? {
            let cp = crate::checkpoint::open(&note, &key.verifying_key())
                .map_err(|e| AuditError::Tampered(format!("the latest signed checkpoint: {e}")))?;
            if cp.size != size {
                return Err(AuditError::Tampered(format!(
                    "the latest checkpoint is for size {} but the log holds {size} entries",
                    cp.size
                )));
            }
            let root = merkle::root(&Stored(&trees), size)?;
            if root != cp.root {
                return Err(AuditError::Tampered(format!("the entries do not hash to the root of the latest signed checkpoint (size {size})")));
            }
        }
        // The writer keeps every complete-subtree hash in memory as well, so receipts,
        // roots and consistency checks cost no store reads on the hot path.
        let mut levels: Vec<Vec<Hash>> = Vec::new();
        for item in trees.hashes.iter() {
            let (k, v) = item?;
            if k.len() != 9 || v.len() != 32 {
                return Err(AuditError::Tampered(
                    "a stored hash has the wrong shape".into(),
                ));
            }
            let level = usize::from(k[0]);
            let index = be64(&k[1..]);
            while levels.len() <= level {
                levels.push(Vec::new());
            }
            if levels[level].len() as u64 != index {
                return Err(AuditError::Tampered(format!(
                    "the stored hash at level {level} index {} is missing",
                    levels[level].len()
                )));
            }
            let mut h = [0u8; 32];
            h.copy_from_slice(&v);
            levels[level].push(h);
        }
        let mut mem = MemTree(levels);
        mem.truncate(size);
        let (tx, rx) = std_mpsc::channel::<Request>();
        let writer = Writer {
            trees: trees.clone(),
            origin: origin.clone(),
            key,
            size,
            mem,
            head,
        };
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| AuditError::Store(format!("starting the audit writer: {e}")))?;
        Ok(Self {
            trees,
            origin,
            tx: Arc::new(Mutex::new(Some(tx))),
        })
    }

    /// The trees, for reading.
    pub fn trees(&self) -> &Trees {
        &self.trees
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Appends an entry; returns once it is durable and covered by a signed checkpoint.
    pub async fn append(&self, entry: Entry) -> Result<Receipt, AuditError> {
        let (reply, rx) = oneshot::channel();
        let sent = self
            .tx
            .lock()
            .map_err(|_| AuditError::Store("the audit writer lock is poisoned".into()))?
            .as_ref()
            .map(|tx| tx.send(Request { entry, reply }).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(AuditError::Store("the audit writer has stopped".into()));
        }
        rx.await
            .map_err(|_| AuditError::Store("the audit writer stopped before answering".into()))?
    }

    /// Stops the writer after the requests already queued (it signs a final checkpoint).
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }

    /// An inclusion proof for `index` in the tree of `size`.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        merkle::inclusion_proof(&Stored(&self.trees), index, size).map_err(|e| match e {
            merkle::ProofError::Range(s) => AuditError::Range(s),
            merkle::ProofError::Source(e) => e,
        })
    }

    /// A consistency proof from `old` to `new`.
    pub fn consistency(&self, old: u64, new: u64) -> Result<Vec<Hash>, AuditError> {
        merkle::consistency_proof(&Stored(&self.trees), old, new).map_err(|e| match e {
            merkle::ProofError::Range(s) => AuditError::Range(s),
            merkle::ProofError::Source(e) => e,
        })
    }

    /// The root at `size`.
    pub fn root(&self, size: u64) -> Result<Hash, AuditError> {
        merkle::root(&Stored(&self.trees), size)
    }
}

struct Writer {
    trees: Trees,
    origin: String,
    key: Arc<SigningKey>,
    size: u64,
    mem: MemTree,
    head: Option<std::path::PathBuf>,
}

/// Complete-subtree hashes in memory, level by level.
struct MemTree(Vec<Vec<Hash>>);

impl MemTree {
    fn get(&self, level: u8, index: u64) -> Option<Hash> {
        self.0
            .get(usize::from(level))
            .and_then(|l| l.get(index as usize))
            .copied()
    }
    fn set(&mut self, level: u8, index: u64, h: Hash) {
        let level = usize::from(level);
        while self.0.len() <= level {
            self.0.push(Vec::new());
        }
        let l = &mut self.0[level];
        if l.len() as u64 == index {
            l.push(h);
        } else if let Some(slot) = l.get_mut(index as usize) {
            *slot = h;
        }
    }
    fn truncate(&mut self, size: u64) {
        for (level, v) in self.0.iter_mut().enumerate() {
            v.truncate((size >> level) as usize);
        }
    }
}

impl HashSource for MemTree {
    type Error = AuditError;
    fn range_hash(&self, start: u64, end: u64) -> Result<Hash, AuditError> {
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let level = n.trailing_zeros() as u8;
            return self.get(level, start >> level).ok_or_else(|| {
                AuditError::Tampered(format!("the hash of leaves {start}..{end} is missing"))
            });
        }
        let k = merkle::split(n);
        Ok(merkle::node_hash(
            &self.range_hash(start, start + k)?,
            &self.range_hash(start + k, end)?,
        ))
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Writer {
    fn run(mut self, rx: std_mpsc::Receiver<Request>) {
        let mut last_signed = Instant::now();
        loop {
            let first = match rx.recv_timeout(IDLE_RESIGN) {
                Ok(r) => r,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    if last_signed.elapsed() >= IDLE_RESIGN {
                        if let Err(e) = self.sign_checkpoint() {
                            error!("re-signing the idle audit checkpoint failed: {e}");
                        }
                        last_signed = Instant::now();
                    }
                    continue;
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let outcome = self.commit(&mut batch);
            last_signed = Instant::now();
            match outcome {
                Ok((note, leaves)) => {
                    for (req, (index, leaf)) in batch.into_iter().zip(leaves) {
                        let proof = merkle::inclusion_proof(&self.mem, index, self.size).map_err(
                            |e| match e {
                                merkle::ProofError::Range(s) => AuditError::Range(s),
                                merkle::ProofError::Source(e) => e,
                            },
                        );
                        let reply = proof.map(|p| pb::Receipt {
                            origin: self.origin.clone(),
                            entry_index: index,
                            leaf_hash: leaf.to_vec(),
                            checkpoint: Some(pb::SignedCheckpoint { note: note.clone() }),
                            inclusion_proof: p.iter().map(|h| h.to_vec()).collect(),
                        });
                        let _ = req.reply.send(reply);
                    }
                }
                Err(e) => {
                    error!("audit append failed; refusing the exchanges of this batch: {e}");
                    for req in batch {
                        let _ = req.reply.send(Err(e.clone()));
                    }
                }
            }
        }
        // Shutdown: a final checkpoint over everything written.
        if let Err(e) = self.sign_checkpoint() {
            error!("final audit checkpoint failed: {e}");
        }
        info!(size = self.size, "audit log closed");
    }

    /// Writes a batch, makes it durable, signs a checkpoint. Returns the note and each
    /// entry's (index, leaf hash).
    fn commit(&mut self, batch: &mut [Request]) -> Result<(String, Vec<(u64, Hash)>), AuditError> {
        let start = self.size;
        let mut out = Vec::with_capacity(batch.len());
        // Plain inserts, not `apply_batch`: sled's batch takes a global write lock that
        // concurrent readers (identity queries) can starve indefinitely. Durability comes
        // from the one flush per batch in `sign_checkpoint`.
        let mut entries: Vec<(u64, Vec<u8>)> = Vec::with_capacity(batch.len());
        let mut hashes: Vec<([u8; 9], Hash)> = Vec::with_capacity(batch.len() * 2);
        // Pending hashes of this batch, for parents computed before they are stored.
        let mut pending: std::collections::BTreeMap<(u8, u64), Hash> =
            std::collections::BTreeMap::new();
        for (i, req) in batch.iter_mut().enumerate() {
            let index = start + i as u64;
            req.entry.index = index;
            let bytes = req.entry.encode();
            let leaf = merkle::leaf_hash(&bytes);
            entries.push((index, bytes));
            let (mut level, mut idx, mut h) = (0u8, index, leaf);
            loop {
                hashes.push((hash_key(level, idx), h));
                pending.insert((level, idx), h);
                if idx & 1 == 0 {
                    break;
                }
                let left = match pending.get(&(level, idx - 1)) {
                    Some(l) => *l,
                    None => self.mem.get(level, idx - 1).ok_or_else(|| {
                        AuditError::Tampered(format!(
                            "the hash at level {level} index {} is missing",
                            idx - 1
                        ))
                    })?,
                };
                h = merkle::node_hash(&left, &h);
                level += 1;
                idx >>= 1;
            }
            out.push((index, leaf));
        }
        for (index, bytes) in entries {
            self.trees.entries.insert(index.to_be_bytes(), bytes)?;
        }
        for (key, h) in hashes {
            self.trees.hashes.insert(key, &h)?;
        }
        for ((level, idx), h) in &pending {
            self.mem.set(*level, *idx, *h);
        }
        let new_size = start + batch.len() as u64;
        let old_size = self.size;
        self.size = new_size;
        let note = match self.sign_checkpoint() {
            Ok(n) => n,
            Err(e) => {
                self.size = old_size;
                self.mem.truncate(old_size);
                return Err(e);
            }
        };
        Ok((note, out))
    }

    /// Signs a checkpoint for the current size (after checking it extends the last one),
    /// stores it and flushes everything.
    fn sign_checkpoint(&mut self) -> Result<String, AuditError> {
        let src = &self.mem;
        let root = merkle::root(src, self.size)?;
        if let Some(prev_note) = self.trees.latest()? {
            let prev = Checkpoint::parse_body(crate::checkpoint::split_note(&prev_note)?.0)?;
            if prev.size == self.size && prev.root == root {
                // Nothing new: keep the note already signed at this size. Re-signing it
                // with a fresh time would orphan the cosignatures peers made of it
                // (found by a demo left running, then stopped: its final checkpoint
                // replaced a witnessed one).
                return Ok(prev_note);
            }
            let proof = merkle::consistency_proof(src, prev.size, self.size)
                .map_err(|e| AuditError::Store(format!("{e:?}")))?;
            let prev_root = merkle::root(src, prev.size)?;
            if prev_root != prev.root
                || !merkle::verify_consistency(prev.size, self.size, &prev.root, &root, &proof)
            {
                return Err(AuditError::Tampered(format!(
                    "refusing to sign: the log at size {} is not consistent with the checkpoint signed at size {}",
                    self.size, prev.size
                )));
            }
        }
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: self.size,
            root,
            time: now_unix(),
        };
        let note = cp.sign(&self.key);
        self.trees
            .checkpoints
            .insert(self.size.to_be_bytes(), note.as_bytes())?;
        self.trees.meta.insert("latest", note.as_bytes())?;
        self.trees.meta.insert("size", &self.size.to_be_bytes())?;
        self.trees.db.flush()?;
        if let Some(path) = &self.head {
            // The batch is durable whatever happens here; a head file that lags only
            // weakens the check at the next start, so a failure is logged, not returned.
            if let Err(e) = crate::head::write(path, &note) {
                error!("updating {}: {e}", path.display());
            }
        }
        Ok(note)
    }
}
