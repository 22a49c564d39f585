//! The log and its writer, over the stores of [`crate::trees`]: entries, checkpoints and
//! subtree hashes in append-only files, and in sled what is small and rarely written.
//!
//! Appends are group-committed by one writer thread: requests that arrive while a batch
//! is being made durable form the next batch, so one `fdatasync` and one signature cover
//! many entries. A receipt is returned only after its batch is durable and signed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use puente_pki::SigningKey;
use puente_proto::v1 as pb;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::checkpoint::Checkpoint;
use crate::entry::Entry;
use crate::error::AuditError;
use crate::merkle::{self, Hash, HashSource};
use crate::trees::range_from_subtrees;
/// The stores, re-exported where callers have always found them.
pub use crate::trees::{Stored, Trees};

/// Most entries in one batch.
pub const MAX_BATCH: usize = 4096;
/// Longest the head file may lag the log while appends go on.
pub const HEAD_EVERY: Duration = Duration::from_secs(1);

/// Something the writer makes durable alongside a batch, after
/// [`AuditLog::store_written`] (the node's quota counters).
pub type SyncHook = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

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
    sync_hook: Arc<Mutex<Option<SyncHook>>>,
    origin: String,
    tx: Arc<Mutex<Option<std_mpsc::Sender<Request>>>>,
    writer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    head: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    /// Consistency proofs recently made, by (from, to) size: concurrent requests answered
    /// from one batch ask for the same ones (see [`AuditLog::consistency_bytes`]).
    proofs: Arc<Mutex<ProofsKept>>,
}

/// Consistency proofs as receipts carry them, by (from, to) size.
type ProofsKept = HashMap<(u64, u64), Vec<prost::bytes::Bytes>>;

/// How many consistency proofs [`AuditLog::consistency_bytes`] keeps.
const PROOFS_KEPT: usize = 1024;

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log in `dir` and starts its writer. Refuses to open a log whose stored
    /// state does not match the last checkpoint it signed (it will never sign an
    /// inconsistent one).
    pub fn open(
        db: &sled::Db,
        dir: &Path,
        origin: String,
        key: Arc<SigningKey>,
    ) -> Result<Self, AuditError> {
        Self::open_with_head(db, dir, origin, key, None)
    }

    /// [`AuditLog::open`], also checking the log against the [`crate::head`] file at
    /// `head` (refusing a log that lost or changed entries this node signed for), and
    /// replacing that file as batches are committed (at most every [`HEAD_EVERY`], and on
    /// close).
    pub fn open_with_head(
        db: &sled::Db,
        dir: &Path,
        origin: String,
        key: Arc<SigningKey>,
        head: Option<std::path::PathBuf>,
    ) -> Result<Self, AuditError> {
        let trees = Trees::open_checked(db, dir, &key.verifying_key())?;
        if let Some(path) = &head {
            crate::head::check(path, &trees, &key.verifying_key())?;
        }
        let size = trees.size()?;
        if let Some(note) = trees.latest()? {
            // Opening the files checked every checkpoint's size and root against the
            // entries before it; the latest must also carry this node's signature.
            crate::checkpoint::open(&note, &key.verifying_key())
                .map_err(|e| AuditError::Tampered(format!("the latest signed checkpoint: {e}")))?;
        }
        let (tx, rx) = std_mpsc::channel::<Request>();
        let (head_alive, head_thread) = match head {
            Some(path) => {
                let (alive, watch) = std_mpsc::channel::<()>();
                let t = trees.clone();
                let k = key.clone();
                let thread = std::thread::Builder::new()
                    .name("audit-head".into())
                    .spawn(move || run_head(t, path, k, watch))
                    .map_err(|e| AuditError::Thread {
                        thread: "head writer",
                        source: Arc::new(e),
                    })?;
                (Some(alive), Some(thread))
            }
            None => (None, None),
        };
        let sync_hook: Arc<Mutex<Option<SyncHook>>> = Arc::new(Mutex::new(None));
        let writer = Writer {
            helper: Helper::default(),
            sync_hook: sync_hook.clone(),
            tail: Tail::new(trees.clone(), size),
            trees: trees.clone(),
            origin: origin.clone(),
            key,
            size,
            _head_alive: head_alive,
        };
        let handle = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| AuditError::Thread {
                thread: "audit writer",
                source: Arc::new(e),
            })?;
        Ok(Self {
            trees,
            sync_hook,
            origin,
            tx: Arc::new(Mutex::new(Some(tx))),
            writer: Arc::new(Mutex::new(Some(handle))),
            head: Arc::new(Mutex::new(head_thread)),
            proofs: Arc::default(),
        })
    }

    /// The stores, for reading.
    pub fn trees(&self) -> &Trees {
        &self.trees
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Appends an entry; returns once it is durable and covered by a signed checkpoint.
    pub async fn append(&self, entry: Entry) -> Result<Receipt, AuditError> {
        self.enqueue(entry)?
            .await
            .map_err(|_| AuditError::Store("the audit writer stopped before answering".into()))?
    }

    /// Queues an entry for the writer at once (not when first polled, as
    /// [`AuditLog::append`] does); the receiver gets its receipt.
    pub(crate) fn enqueue(
        &self,
        entry: Entry,
    ) -> Result<oneshot::Receiver<Result<Receipt, AuditError>>, AuditError> {
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
        Ok(rx)
    }

    /// Says that something was just changed that must be durable no later than the
    /// audit entry about to be appended (a quota unit taken): the writer runs the
    /// [`SyncHook`] (or, without one, flushes sled) alongside the next batch.
    pub fn store_written(&self) {
        self.trees.store_dirty.store(true, Ordering::Release);
    }

    /// Sets what [`AuditLog::store_written`] makes durable.
    pub fn set_sync_hook(&self, hook: SyncHook) {
        if let Ok(mut h) = self.sync_hook.lock() {
            *h = Some(hook);
        }
    }

    /// Stops the writer after the requests already queued, and waits until it has (its
    /// last batch committed, the zero-filled space after the log cut off and the head
    /// file written a last time), so the log can be opened again at once.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            if h.join().is_err() {
                error!("the audit writer panicked");
            }
        }
        // The writer's end (its `_head_alive` dropped) makes the head thread write the
        // last checkpoint and return.
        let head = self.head.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = head {
            if h.join().is_err() {
                error!("the audit head writer panicked");
            }
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

    /// [`AuditLog::consistency`] as a receipt carries it. A proof between two sizes of
    /// an append-only log never changes, so the last ones made are kept and shared.
    pub fn consistency_bytes(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<prost::bytes::Bytes>, AuditError> {
        let kept = self
            .proofs
            .lock()
            .ok()
            .and_then(|m| m.get(&(old, new)).cloned());
        if let Some(proof) = kept {
            return Ok(proof);
        }
        let proof = merkle::proof_bytes(&self.consistency(old, new)?);
        if let Ok(mut m) = self.proofs.lock() {
            if m.len() >= PROOFS_KEPT {
                m.clear();
            }
            m.insert((old, new), proof.clone());
        }
        Ok(proof)
    }

    /// The root at `size`.
    pub fn root(&self, size: u64) -> Result<Hash, AuditError> {
        merkle::root(&Stored(&self.trees), size)
    }
}

/// An entry as committed: its index, leaf hash and the digest of its body.
type Committed = (u64, Hash, Hash);

/// A thread that runs the [`SyncHook`] while the writer syncs the log: started once and
/// reused (a thread spawned per batch cost more than the sync it ran in parallel; found
/// by strace under `puente bench query`, thousands of threads a second).
#[derive(Default)]
struct Helper {
    jobs: Option<(std_mpsc::Sender<SyncHook>, std_mpsc::Receiver<SyncResult>)>,
}

/// What a [`SyncHook`] run on the helper thread reported.
type SyncResult = Result<(), String>;

impl Helper {
    fn start(&mut self, hook: SyncHook) -> Result<(), String> {
        if self.jobs.is_none() {
            let (job_tx, job_rx) = std_mpsc::channel::<SyncHook>();
            let (done_tx, done_rx) = std_mpsc::channel();
            std::thread::Builder::new()
                .name("audit-sync".into())
                .spawn(move || {
                    while let Ok(hook) = job_rx.recv() {
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook()))
                            .unwrap_or_else(|_| Err("the store sync panicked".into()));
                        if done_tx.send(r).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| format!("starting the store sync thread: {e}"))?;
            self.jobs = Some((job_tx, done_rx));
        }
        match &self.jobs {
            Some((tx, _)) if tx.send(hook).is_ok() => Ok(()),
            _ => {
                self.jobs = None;
                Err("the store sync thread has stopped".into())
            }
        }
    }

    /// Waits for the job started last. The outer `Err` says the thread is gone.
    fn finish(&mut self) -> Result<SyncResult, ()> {
        let r = match &self.jobs {
            Some((_, rx)) => rx.recv().map_err(|_| ()),
            None => Err(()),
        };
        if r.is_err() {
            self.jobs = None;
        }
        r
    }
}

struct Writer {
    helper: Helper,
    trees: Trees,
    sync_hook: Arc<Mutex<Option<SyncHook>>>,
    origin: String,
    key: Arc<SigningKey>,
    size: u64,
    tail: Tail,
    /// Held while the writer runs; its end tells the head thread to write a last time.
    _head_alive: Option<std_mpsc::Sender<()>>,
}

/// Every [`HEAD_EVERY`]: writes out the derived files' dirty pages
/// ([`crate::file::LogFiles::sync_derived`]) and replaces the head file with the latest checkpoint if
/// it changed; once more when the writer ends. On its own thread: a rename or a sync can
/// wait on the disk for a long while, and the writer (every exchange's receipt) must not.
fn run_head(
    trees: Trees,
    path: std::path::PathBuf,
    key: Arc<SigningKey>,
    alive: std_mpsc::Receiver<()>,
) {
    let mut written: Option<String> = None;
    loop {
        let ending = matches!(
            alive.recv_timeout(HEAD_EVERY),
            Err(std_mpsc::RecvTimeoutError::Disconnected)
        );
        // The derived files made durable, then the mark that lets the next open take
        // everything up to here as checked (see `crate::file::mark`). A mark not written
        // only means more of the log is parsed at the next open.
        match trees.files().next_mark() {
            Ok(Some(mark)) => {
                if let Err(e) = crate::file::mark::write(trees.files().dir(), &mark.encode(&key)) {
                    warn!("writing the audit log's verified mark: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => error!("{e}"),
        }
        if let Ok(Some(note)) = trees.latest() {
            if written.as_deref() != Some(note.as_str()) {
                // The batch is durable whatever happens here; a head file that lags only
                // weakens the check at the next start, so a failure is logged.
                match crate::head::write(&path, &note) {
                    Ok(()) => written = Some(note),
                    Err(e) => error!("updating {}: {e}", path.display()),
                }
            }
        }
        if ending {
            return;
        }
    }
}

/// The complete-subtree hashes of the batch being committed, in memory (its root and
/// its receipts need them before they are in the files); committed ones are read
/// through the log's files, which keep the recent ones in memory.
struct Tail {
    trees: Trees,
    /// Per level: index of the first hash of the batch, and the batch's hashes from there.
    levels: Vec<(u64, Vec<Hash>)>,
}

impl Tail {
    fn new(trees: Trees, size: u64) -> Self {
        Self {
            trees,
            levels: (0..64).map(|l| (size >> l, Vec::new())).collect(),
        }
    }

    fn get(&self, level: u8, index: u64) -> Result<Option<Hash>, AuditError> {
        if let Some((base, v)) = self.levels.get(usize::from(level)) {
            if index >= *base {
                return Ok(v.get((index - base) as usize).copied());
            }
        }
        self.trees.stored_hash(level, index)
    }

    fn set(&mut self, level: u8, index: u64, h: Hash) {
        let Some((base, v)) = self.levels.get_mut(usize::from(level)) else {
            return;
        };
        if index < *base {
            return;
        }
        let at = (index - *base) as usize;
        if at == v.len() {
            v.push(h);
        } else if let Some(slot) = v.get_mut(at) {
            *slot = h;
        }
    }

    /// Holds nothing beyond a committed log of `size` entries: a batch starts there, or
    /// one that failed is dropped.
    fn truncate(&mut self, size: u64) {
        for (level, (base, v)) in self.levels.iter_mut().enumerate() {
            *base = size >> level;
            v.clear();
        }
    }
}

impl HashSource for Tail {
    type Error = AuditError;
    fn range_hash(&self, start: u64, end: u64) -> Result<Hash, AuditError> {
        range_from_subtrees(start, end, &|level, index| self.get(level, index))
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
        let mut waiting: Option<Request> = None;
        let mut prealloc_failed = false;
        loop {
            let first = match waiting.take() {
                Some(r) => r,
                None => match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                },
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            match self.commit(&mut batch) {
                Ok((note, leaves)) => {
                    for (req, (index, leaf, body)) in batch.into_iter().zip(leaves) {
                        let proof =
                            merkle::inclusion_proof(&self.tail, index, self.size).map_err(|e| {
                                match e {
                                    merkle::ProofError::Range(s) => AuditError::Range(s),
                                    merkle::ProofError::Source(e) => e,
                                }
                            });
                        let reply = proof.map(|p| pb::Receipt {
                            origin: self.origin.clone(),
                            entry_index: index,
                            leaf_hash: leaf.to_vec(),
                            checkpoint: Some(pb::SignedCheckpoint { note: note.clone() }),
                            inclusion_proof: merkle::proof_bytes(&p),
                            request_sha256: req.entry.request_sha256.to_vec(),
                            response_sha256: req.entry.response_sha256.to_vec(),
                            entry_body_sha256: body.to_vec(),
                            consistency_proofs: Vec::new(),
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
            // Zero-filled space ahead of the log keeps each batch's `fdatasync` a write
            // of its own pages (see `LogFiles::preallocate`): filled while no request
            // waits, and while busy only when almost used up.
            let ahead = match rx.try_recv() {
                Ok(r) => {
                    waiting = Some(r);
                    crate::file::PREALLOC_LOW
                }
                Err(std_mpsc::TryRecvError::Empty) => crate::file::PREALLOC_AHEAD,
                Err(std_mpsc::TryRecvError::Disconnected) => break,
            };
            if !prealloc_failed {
                if let Err(e) = self.trees.files().preallocate(ahead) {
                    // Appends go on, growing the file; only their syncs are slower.
                    warn!("{e}; the log file grows with each batch from now on");
                    prealloc_failed = true;
                }
            }
        }
        if let Err(e) = self.trees.files().trim() {
            warn!("{e}");
        }
        info!(size = self.size, "audit log closed");
        // Dropping `self` (its `_head_alive`) lets the head thread write a last time.
    }

    /// Writes a batch with the checkpoint signed over it and makes it durable. Returns
    /// the note and each entry's (index, leaf hash, digest of its body).
    fn commit(&mut self, batch: &mut [Request]) -> Result<(String, Vec<Committed>), AuditError> {
        let start = self.size;
        self.tail.truncate(start);
        let mut out = Vec::with_capacity(batch.len());
        let mut entries: Vec<Vec<u8>> = Vec::with_capacity(batch.len());
        let mut hashes: Vec<(u8, u64, Hash)> = Vec::with_capacity(batch.len() * 2);
        let made = (|| -> Result<(), AuditError> {
            for (i, req) in batch.iter_mut().enumerate() {
                let index = start + i as u64;
                req.entry.index = index;
                let bytes = req.entry.encode();
                let (req_sha, resp_sha, body) = crate::entry::digests(&bytes).ok_or_else(|| {
                    AuditError::Store("an entry was encoded in an old version".into())
                })?;
                let leaf = crate::entry::commitment(&req_sha, &resp_sha, &body);
                entries.push(bytes);
                let (mut level, mut idx, mut h) = (0u8, index, leaf);
                loop {
                    hashes.push((level, idx, h));
                    self.tail.set(level, idx, h);
                    if idx & 1 == 0 {
                        break;
                    }
                    let left = self.tail.get(level, idx - 1)?.ok_or_else(|| {
                        AuditError::Tampered(format!(
                            "the hash at level {level} index {} is missing",
                            idx - 1
                        ))
                    })?;
                    h = merkle::node_hash(&left, &h);
                    level += 1;
                    idx >>= 1;
                }
                out.push((index, leaf, body));
            }
            Ok(())
        })();
        let new_size = start + batch.len() as u64;
        let signed = made.and_then(|()| {
            let cp = Checkpoint {
                origin: self.origin.clone(),
                size: new_size,
                root: merkle::root(&self.tail, new_size)?,
                time: now_unix(),
            };
            Ok(cp.sign(&self.key))
        });
        let note = match signed {
            Ok(n) => n,
            Err(e) => {
                self.tail.truncate(start);
                return Err(e);
            }
        };
        // sled writes that must be durable with these entries (a quota unit taken by an
        // exchange, announced by `store_written` before its entry was queued) are flushed
        // alongside, so no answer leaves without them.
        let files = self.trees.files();
        let (appended, flushed) = if self.trees.store_dirty.swap(false, Ordering::AcqRel) {
            let hook = self.sync_hook.lock().ok().and_then(|h| h.clone());
            let hook: SyncHook = match hook {
                Some(h) => h,
                None => {
                    let db = self.trees.db.clone();
                    Arc::new(move || db.flush().map(|_| ()).map_err(|e| e.to_string()))
                }
            };
            // On the helper thread, in parallel with the log's own write and sync.
            match self.helper.start(hook) {
                Ok(()) => {
                    let appended = files.append(&entries, &note, &hashes);
                    (appended, self.helper.finish())
                }
                Err(e) => (files.append(&entries, &note, &hashes), Ok(Err(e))),
            }
        } else {
            (files.append(&entries, &note, &hashes), Ok(Ok(())))
        };
        if let Err(e) = appended {
            self.tail.truncate(start);
            return Err(e);
        }
        // The batch is in the log from here on, whatever the store flush says.
        self.size = new_size;
        match flushed {
            Ok(Ok(_)) => Ok((note, out)),
            Ok(Err(e)) => Err(AuditError::Store(format!(
                "making the quota counters durable alongside audit entries {start}..{new_size}: {e}"
            ))),
            Err(()) => Err(AuditError::Store(
                "the quota sync thread stopped before answering".into(),
            )),
        }
    }
}
