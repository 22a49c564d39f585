//! The node's embedded store (sled, one process per data directory). The node opens it
//! once and hands trees to the parts that need them; it also holds the daily quota
//! counters ([`crate::quota`], files beside the store), which must survive a restart.

use std::path::{Path, PathBuf};

use puente_policy::{Service, Term};
use time::Date;

use crate::error::DiskError;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be opened (locked by another process, corrupt, unreadable).
    #[error("cannot open the store in {}: {reason}", path.display())]
    Open {
        /// The store directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another process (a running node) holds the store: sled admits one.
    #[error("cannot open the store in {}: {reason}", path.display())]
    Held {
        /// The store directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A read or write failed.
    #[error("store {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// sled's error.
        source: sled::Error,
    },
    /// The quota counters could not be counted again from the audit log.
    #[error("recounting today's quota units from the audit log: {0}")]
    Quota(String),
}

/// Bytes of sled's page cache. sled's default is 1 GiB per database, which a busy node
/// fills: resident memory then grows to over a gigabyte (found by `puente bench soak`).
/// 128 MiB keeps a node's memory bounded; the hot pages (indexes, recent audit entries)
/// fit in it.
pub const CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// The node's store.
#[derive(Clone, Debug)]
pub struct Store {
    db: sled::Db,
    quota: std::sync::Arc<crate::quota::QuotaCounters>,
    data_dir: PathBuf,
}

impl Store {
    /// Opens (or creates) the store under `data_dir/store`, waiting up to 3 s for a
    /// process that just closed it to release its lock.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, 30)
    }

    /// [`Store::open`] without waiting: [`StoreError::Held`] at once while another
    /// process (a running node) holds the store, so a command can turn to the node.
    pub fn open_once(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, 0)
    }

    fn open_with(data_dir: &Path, retries: u32) -> Result<Self, StoreError> {
        let path = data_dir.join("store");
        let open_err = |reason: String| StoreError::Open {
            path: path.clone(),
            reason,
        };
        // Only the node's user reads the data directory, whatever the umask: the store's
        // and the log's directories are created 0700, our own files 0600, and sled's
        // files narrowed after it opens ([`Store::restrict_files`]).
        puente_pki::files::create_private_dir(data_dir)
            .and_then(|()| puente_pki::files::create_private_dir(&path))
            .map_err(|e| open_err(format!("creating a private (0700) directory: {e}")))?;
        // A process that just closed the store may still be releasing its lock: wait a
        // little before calling the store held by someone else.
        let mut attempt = 0;
        let opened = loop {
            match sled::Config::new()
                .path(&path)
                .mode(sled::Mode::LowSpace)
                .cache_capacity(CACHE_BYTES)
                .open()
            {
                Err(e) if attempt < retries && is_lock_error(&e) => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => break other,
            }
        };
        let db = opened.map_err(|e| {
            if let sled::Error::Corruption { at, .. } = &e {
                let place = at.map(|a| format!(" at {a:?}")).unwrap_or_default();
                return open_err(format!(
                    "the store file {} is corrupt: sled found data whose checksum does not match{place}; the node will not serve from it. Restore the data directory from a backup (the audit log's peers hold cosigned checkpoints to check it against)",
                    path.join("db").display()
                ));
            }
            let text = e.to_string();
            if is_lock_error(&e) {
                StoreError::Held {
                    path: path.clone(),
                    reason: format!(
                        "{text}: another process (a running node?) holds this data directory"
                    ),
                }
            } else {
                open_err(text)
            }
        })?;
        let legacy = db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == b"quota_usage")
            .then(|| db.open_tree("quota_usage"))
            .transpose()
            .map_err(|source| StoreError::Io {
                what: "opening quota_usage",
                source,
            })?;
        let quota = crate::quota::QuotaCounters::open(data_dir, legacy.as_ref()).map_err(|e| {
            StoreError::Open {
                path: e.path.clone(),
                reason: e.to_string(),
            }
        })?;
        let quota = std::sync::Arc::new(quota);
        let store = Self {
            db,
            quota,
            data_dir: data_dir.to_path_buf(),
        };
        store.restrict_files()?;
        Ok(store)
    }

    /// Narrows every file under the data directory to 0600 and every directory to 0700.
    /// sled creates its files with the process umask's mode (0644 in 0755 folders under
    /// the usual 022), and `unsafe` (to set the umask) is forbidden here: so the store
    /// narrows them when it opens, and again after its owner's last write (the node at
    /// stop, `puente records import` when done). The directories are 0700 from the start,
    /// so a file sled adds in between is still out of other users' reach.
    pub fn restrict_files(&self) -> Result<(), StoreError> {
        puente_pki::files::restrict_tree(&self.data_dir).map_err(|e| StoreError::Open {
            path: self.data_dir.clone(),
            reason: format!(
                "making the data directory private (0600 files, 0700 directories): {e}"
            ),
        })
    }

    /// Where the audit log keeps its files (beside the sled store, in the data directory).
    pub fn audit_dir(&self) -> PathBuf {
        self.data_dir.join("audit")
    }

    /// The underlying database, for parts that keep their own trees.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Makes every write so far durable (against a process crash).
    ///
    /// A blocking `flush` on tokio's blocking pool, not sled's `flush_async`: the latter
    /// runs each flush on sled's own small I/O thread pool, the same pool that writes the
    /// log buffers the flushes wait for. With a few dozen exchanges flushing at once every
    /// pool thread waited and nothing wrote: the node hung (found by `puente bench query`
    /// at concurrency 32).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Io {
                what: "flushing",
                source: sled::Error::ReportableBug(format!("the flush task failed: {e}")),
            })?
            .map(|_| ())
            .map_err(|source| StoreError::Io {
                what: "flushing",
                source,
            })
    }

    fn quota_key(agreement: &str, receiver: &str, service: Service, day: Date) -> String {
        format!("{agreement}\x1f{receiver}\x1f{}\x1f{day}", service.name())
    }

    /// How much `receiver` used of `service` under `agreement` on `day`.
    pub fn used(
        &self,
        agreement: &str,
        receiver: &str,
        service: Service,
        day: Date,
    ) -> Result<u64, StoreError> {
        let key = Self::quota_key(agreement, receiver, service, day);
        Ok(self.quota.used(&key))
    }

    /// Atomically takes one unit of a daily quota of `limit`. Returns the count after
    /// taking, or `None` if the quota was already used up (nothing changes then).
    pub fn try_consume(
        &self,
        agreement: &str,
        receiver: &str,
        service: Service,
        day: Date,
        limit: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.try_consume_n(agreement, receiver, service, day, limit, 1)
    }

    /// Atomically takes `units` units of a daily quota of `limit`, all or none (a batch
    /// of travellers costs one unit each). `None` when fewer are left.
    pub fn try_consume_n(
        &self,
        agreement: &str,
        receiver: &str,
        service: Service,
        day: Date,
        limit: u64,
        units: u64,
    ) -> Result<Option<u64>, StoreError> {
        let key = Self::quota_key(agreement, receiver, service, day);
        Ok(self.quota.try_consume_n(&key, limit, units))
    }

    /// The quota counters as a file, for a backup ([`crate::quota::QuotaCounters::snapshot`]).
    pub fn quota_snapshot(&self) -> Vec<u8> {
        self.quota.snapshot()
    }

    /// Counts again, from the audit log, the quota units taken since the start of `from`
    /// (UTC): every incoming exchange an agreement permitted took one (its entry names
    /// the agreement; a refused one names none), and no answer leaves before its entry
    /// is durable, so the log holds every unit an answer was given for. Counters already
    /// held (the quota files an earlier version kept, or a backup's copy) are raised to
    /// these counts, never lowered. Reads the log from an hour before `from` to its end
    /// (entries are appended in the order of their times, within a second or so), in
    /// large pieces. Returns how many entries were read.
    ///
    /// `units` says how many units an entry's exchange took (one for most; a manifest
    /// check takes one per traveller, see [`crate::answer::manifest_check::units_of`]).
    pub fn recount_quota(
        &self,
        log: &puente_audit::Trees,
        from: Date,
        own: &str,
        units: &dyn Fn(&puente_audit::EntryRef) -> u64,
    ) -> Result<u64, StoreError> {
        let start_ms = from.midnight().assume_utc().unix_timestamp() * 1000;
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        let size = log.size().map_err(|e| StoreError::Quota(e.to_string()))?;
        let quota_err = |index: u64, e: puente_audit::AuditError| {
            StoreError::Quota(format!("audit entry {index}: {e}"))
        };
        let time_of = |index: u64| -> Result<i64, StoreError> {
            let bytes = log
                .entry_bytes(index)
                .map_err(|e| quota_err(index, e))?
                .ok_or_else(|| StoreError::Quota(format!("audit entry {index} is missing")))?;
            Ok(puente_audit::EntryRef::parse(&bytes)
                .map_err(|e| quota_err(index, e))?
                .time_ms)
        };
        // The first entry of the last hour before `from` on: the entries are in the order
        // of their times (within a second or so), so a binary search finds it.
        let (mut lo, mut hi) = (0u64, size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if time_of(mid)? < start_ms - 3_600_000 {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // Consecutive entries mostly count against the same quota: their units are summed
        // under the last key and added to the map when it changes (a key per entry cost
        // most of the recount at a million entries).
        type Run = (String, String, i32, i64);
        let mut run: Option<(Run, u64)> = None;
        let settle = |counts: &mut std::collections::BTreeMap<String, u64>,
                      ((agreement, peer, service, day), n): (Run, u64)| {
            let (Ok(service), Ok(at)) = (
                Service::try_from(service),
                time::OffsetDateTime::from_unix_timestamp(day * 86_400),
            ) else {
                return;
            };
            *counts
                .entry(Self::quota_key(&agreement, &peer, service, at.date()))
                .or_default() += n;
        };
        let mut count = |_index: u64, bytes: &[u8]| -> Result<(), puente_audit::AuditError> {
            use puente_proto::v1 as pb;
            let e = puente_audit::EntryRef::parse(bytes)?;
            if e.time_ms < start_ms || e.agreement_id.is_empty() {
                return Ok(());
            }
            // What peers took (incoming, permitted), and what this node was answered
            // itself (outgoing queries and copies allowed: its own count of the peer's
            // quota, which the status shows).
            let (peer, n) = if e.direction == pb::Direction::Incoming as i32 {
                (e.peer_country, units(&e))
            } else if e.direction == pb::Direction::Outgoing as i32
                && e.decision == pb::Decision::Allowed as i32
                && [Service::IdentityQuery as i32, Service::PassportCopy as i32]
                    .contains(&e.service)
            {
                (own, 1)
            } else {
                return Ok(());
            };
            let day = e.time_ms.div_euclid(86_400_000);
            match &mut run {
                Some(((agreement, run_peer, service, d), sum))
                    if *agreement == e.agreement_id
                        && *run_peer == peer
                        && *service == e.service
                        && *d == day =>
                {
                    *sum += n;
                }
                _ => {
                    let this = (
                        (e.agreement_id.to_owned(), peer.to_owned(), e.service, day),
                        n,
                    );
                    if let Some(done) = run.replace(this) {
                        settle(&mut counts, done);
                    }
                }
            }
            Ok(())
        };
        log.for_each_entry(lo, size, &mut count)
            .map_err(|e| StoreError::Quota(format!("recounting from audit entry {lo}: {e}")))?;
        if let Some(done) = run.take() {
            settle(&mut counts, done);
        }
        self.quota.raise_to(counts);
        Ok(size - lo)
    }
}

/// Where the node keeps the latest checkpoint it signed, outside the store
/// ([`puente_audit::head`]).
pub fn audit_head_path(data_dir: &Path) -> PathBuf {
    data_dir.join("audit-head")
}

/// Watches the free space of the data directory's filesystem. Below the reserve
/// (`server.min_free_mb`) the node refuses exchanges before doing any of their work, since
/// their audit entries might not be writable, and says so; it serves again as soon as
/// space returns. The reserve also keeps sled from ever meeting a full disk through the
/// node's own writes (an I/O error in sled is sticky until the store is reopened).
#[derive(Debug)]
pub struct DiskGuard {
    dir: PathBuf,
    min_free: u64,
    low: std::sync::atomic::AtomicBool,
    /// The last answer and when it was found (a `statfs` per exchange showed in profiles).
    last: std::sync::Mutex<Option<(std::time::Instant, Result<(), DiskError>)>>,
}

/// How long a free-space reading is reused.
pub const DISK_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl DiskGuard {
    /// A guard keeping `min_free_mb` MiB free under `dir`.
    pub fn new(dir: &Path, min_free_mb: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            min_free: min_free_mb.saturating_mul(1024 * 1024),
            low: std::sync::atomic::AtomicBool::new(false),
            last: std::sync::Mutex::new(None),
        }
    }

    /// Bytes free under the directory now (`None` if unreadable), and the reserve kept.
    pub fn space(&self) -> (Option<u64>, u64) {
        (fs2::available_space(&self.dir).ok(), self.min_free)
    }

    /// Ok while enough space is free; otherwise the reason, logged once per episode.
    pub fn check(&self) -> Result<(), DiskError> {
        if let Ok(last) = self.last.lock() {
            if let Some((at, answer)) = last.as_ref() {
                if at.elapsed() < DISK_CHECK_EVERY {
                    return answer.clone();
                }
            }
        }
        let answer = self.probe();
        if let Ok(mut last) = self.last.lock() {
            *last = Some((std::time::Instant::now(), answer.clone()));
        }
        answer
    }

    fn probe(&self) -> Result<(), DiskError> {
        use std::sync::atomic::Ordering;
        let problem = match fs2::available_space(&self.dir) {
            Ok(free) if free >= self.min_free => None,
            Ok(free) => Some(DiskError::Full {
                dir: self.dir.clone(),
                free_kib: free / 1024,
                reserve_kib: self.min_free / 1024,
            }),
            Err(e) => Some(DiskError::Unreadable {
                dir: self.dir.clone(),
                reason: e.to_string(),
            }),
        };
        match problem {
            None => {
                if self.low.swap(false, Ordering::Relaxed) {
                    tracing::info!(dir = %self.dir.display(), "free space is back above the reserve; exchanges are served again");
                }
                Ok(())
            }
            Some(p) => {
                if !self.low.swap(true, Ordering::Relaxed) {
                    tracing::error!("{p}");
                }
                Err(p)
            }
        }
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    let text = e.to_string();
    text.contains("lock") || text.contains("WouldBlock") || text.contains("temporarily unavailable")
}

#[cfg(test)]
mod recount_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use puente_proto::v1 as pb;

    fn entry(time_ms: i64, agreement: &str, peer: &str, service: Service) -> puente_audit::Entry {
        puente_audit::Entry {
            time_ms,
            direction: pb::Direction::Incoming as i32,
            peer_country: peer.into(),
            service: service as i32,
            agreement_id: agreement.into(),
            decision: pb::Decision::Allowed as i32,
            ..Default::default()
        }
    }

    /// Interleaved agreements, peers, services and days, entries before the window, a
    /// refused one and outgoing ones: each counter holds exactly its own entries.
    #[tokio::test]
    async fn the_recount_counts_each_quota_exactly_whatever_the_interleaving() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = std::sync::Arc::new(
            puente_pki::SigningKey::generate("recount", &dir.path().join("k")).unwrap(),
        );
        let log = puente_audit::AuditLog::open(
            store.db(),
            &store.audit_dir(),
            "puente/MEX/audit".into(),
            key,
        )
        .unwrap();
        let yesterday = Date::from_calendar_date(2026, time::Month::December, 2).unwrap();
        let y0 = yesterday.midnight().assume_utc().unix_timestamp() * 1000;
        let q = Service::IdentityQuery;
        let c = Service::PassportCopy;
        let mut entries = Vec::new();
        // Before the window (the day before yesterday): never counted.
        for i in 0..5 {
            entries.push(entry(y0 - 2 * 3_600_000 + i, "A", "GTM", q));
        }
        // Yesterday and today, interleaved.
        for i in 0..40i64 {
            let t = y0 + i * 3_600_000;
            entries.push(entry(t, "A", "GTM", q));
            if i % 3 == 0 {
                entries.push(entry(t + 1, "A", "GTM", c));
            }
            if i % 4 == 0 {
                entries.push(entry(t + 2, "B", "HND", q));
            }
        }
        let mut refused = entry(y0 + 5, "", "GTM", q);
        refused.decision = pb::Decision::Refused as i32;
        entries.push(refused);
        // MEX's own queries to GTM: the allowed one counts as MEX's use of the grant
        // (what its status shows as "our count"), the refused one does not.
        let mut outgoing = entry(y0 + 6, "A", "GTM", q);
        outgoing.direction = pb::Direction::Outgoing as i32;
        entries.push(outgoing.clone());
        outgoing.time_ms += 1;
        outgoing.decision = pb::Decision::Refused as i32;
        entries.push(outgoing);
        entries.sort_by_key(|e| e.time_ms);
        for e in entries {
            log.append(e).await.unwrap();
        }
        let read = store
            .recount_quota(log.trees(), yesterday, "MEX", &|_| 1)
            .unwrap();
        assert!(read >= 40, "{read}");
        let today = yesterday.next_day().unwrap();
        // Hours 0..23 yesterday, 24..39 today.
        let used = |a: &str, p: &str, s: Service, d: Date| store.used(a, p, s, d).unwrap();
        assert_eq!(used("A", "GTM", q, yesterday), 24);
        assert_eq!(used("A", "GTM", q, today), 16);
        assert_eq!(used("A", "GTM", c, yesterday), 8);
        assert_eq!(used("A", "GTM", c, today), 6);
        assert_eq!(used("B", "HND", q, yesterday), 6);
        assert_eq!(used("B", "HND", q, today), 4);
        assert_eq!(used("A", "HND", q, yesterday), 0);
        assert_eq!(used("A", "MEX", q, yesterday), 1);
        assert_eq!(used("A", "GTM", q, yesterday.previous_day().unwrap()), 0);
        log.close();
    }
}
