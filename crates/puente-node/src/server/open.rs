//! Opening a node: the TLS material, the store, the records and their match keys, the
//! audit log with the quota units recounted from it, and the rest of the node's state,
//! on two threads where the parts share nothing, each part timed for the start's log
//! line.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::Node;
use crate::agreements::Agreements;
use crate::config::LoadedNode;
use crate::error::NodeError;
use crate::lifecycle::{Lifecycle, Material};
use crate::metrics::Metrics;
use crate::refusals::RefusalLog;
use crate::services::{system_clock, Clock, NodeState};
use crate::store::Store;

/// How long each part of opening a node took (logged once, at start).
#[derive(Debug)]
struct Phases {
    since: std::time::Instant,
    started: std::time::Instant,
    laps: Vec<(&'static str, u128)>,
    /// Laps of work done on another thread at the same time as some of `laps`.
    beside: Vec<(&'static str, u128)>,
}

impl Default for Phases {
    fn default() -> Self {
        let now = std::time::Instant::now();
        Self {
            since: now,
            started: now,
            laps: Vec::new(),
            beside: Vec::new(),
        }
    }
}

impl Phases {
    fn lap(&mut self, what: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((what, (now - self.since).as_millis()));
        self.since = now;
    }

    /// Records the laps of `other`, timed on another thread meanwhile.
    fn beside(&mut self, other: Phases) {
        self.beside.extend(other.laps);
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ms (", self.started.elapsed().as_millis())?;
        for (i, (what, ms)) in self.laps.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{what} {ms} ms")?;
        }
        for (i, (what, ms)) in self.beside.iter().enumerate() {
            let sep = if i == 0 { "; meanwhile " } else { ", " };
            write!(f, "{sep}{what} {ms} ms")?;
        }
        write!(f, ")")
    }
}

/// A part of the node's data directory that would not open.
fn open_error(node: &LoadedNode, what: &str, e: String) -> NodeError {
    NodeError::Store(crate::store::StoreError::Open {
        path: node.config.node.data_dir.clone(),
        reason: format!("{what}: {e}"),
    })
}

impl Node {
    /// Builds the TLS configuration, peer links, store and agreements of a loaded
    /// configuration, on the system clock.
    pub fn new(node: LoadedNode) -> Result<Self, NodeError> {
        Self::with_clock(node, system_clock())
    }

    /// [`Node::new`] with a given clock (tests drive time with it).
    pub fn with_clock(node: LoadedNode, clock: Clock) -> Result<Self, NodeError> {
        let loaded = node.material();
        let problems = loaded.check_serving(&node.config, time::OffsetDateTime::now_utc());
        if !problems.is_empty() {
            return Err(NodeError::Config(crate::error::ConfigError::Invalid {
                path: node.path.clone(),
                problems,
            }));
        }
        let material = Material::build(&node.config, loaded, None)?;
        let mut phases = Phases::default();
        // The match-key snapshot needs no store to be read, opened and decoded: that
        // runs while sled recovers; it is used only if the store, once open, names it.
        let snapshot = node
            .config
            .node
            .data_dir
            .join(puente_records::store::SNAPSHOT_FILE);
        let early = {
            let (key, path) = (node.data_key.clone(), snapshot.clone());
            std::thread::Builder::new()
                .name("snapshot-read".into())
                .spawn(move || puente_records::store::SnapshotRead::read(&key, &path))
                .map_err(|e| {
                    NodeError::Store(crate::store::StoreError::Open {
                        path: snapshot.clone(),
                        reason: format!("starting a thread to read the snapshot: {e}"),
                    })
                })?
        };
        let store = Store::open(&node.config.node.data_dir)?;
        phases.lap("store");
        let records = puente_records::RecordStore::open(store.db(), node.data_key.clone())
            .map_err(|e| {
                NodeError::Store(crate::store::StoreError::Open {
                    path: node.config.node.data_dir.clone(),
                    reason: e.to_string(),
                })
            })?;
        phases.lap("records");
        let refs = crate::refs::RefStore::new(node.data_key.clone());
        let open_err = |what: &str, e: String| open_error(&node, what, e);
        // Two halves of a start that share nothing but the store, on two threads: the
        // audit log (its verified prefix re-hashed, later batches parsed) and the quota
        // units recounted from it; beside them the flow counts (aggregated again only
        // when the records changed with no node to do it) and the match keys.
        let (opened_log, loaded) = std::thread::scope(|scope| {
            let log = scope.spawn(|| {
                let mut laps = Phases::default();
                let audit = puente_audit::AuditLog::open_with_head(
                    store.db(),
                    &store.audit_dir(),
                    format!("puente/{}/audit", node.country()),
                    node.signing.clone(),
                    Some(crate::store::audit_head_path(&node.config.node.data_dir)),
                )
                .map_err(|e| open_err("the audit log", e.to_string()))?;
                laps.lap("audit_log");
                // The quota units taken since yesterday, from the log: the entries are
                // what makes them durable (no second fsync per batch for counters of
                // their own).
                let today = clock().date();
                let units = crate::answer::manifest_check::units_of(&node.data_key);
                let recounted = store
                    .recount_quota(
                        audit.trees(),
                        today.previous_day().unwrap_or(today),
                        node.country().as_str(),
                        &units,
                    )
                    .map_err(NodeError::Store)?;
                laps.lap("quota_recount");
                Ok::<_, NodeError>((audit, recounted, laps))
            });
            let loaded = Self::records_ready(&node, &store, &records, early, &mut phases);
            let log = log
                .join()
                .unwrap_or_else(|_| Err(open_err("the audit log", "its opening failed".into())));
            (log, loaded)
        });
        let (audit, recounted, log_laps) = opened_log?;
        let (stats_store, loaded) = loaded?;
        phases.beside(log_laps);
        if let Some(e) = &loaded.save_failed {
            warn!("the match-key snapshot was not written (the next start rebuilds again): {e}");
        }
        if let Ok(Some(label)) = records.interrupted_import() {
            warn!(import = %label, "a records import or deletion was interrupted part way; make it again (it converges: writes are keyed by record_id); an inbox file is taken again by itself");
        }
        let alerts = crate::sync::alerts::Alerts::new(
            puente_alerts::AlertStore::open(store.db())
                .map_err(|e| open_err("the alert store", e.to_string()))?,
        );
        let stats = crate::sync::stats::Stats::new(
            stats_store,
            &node.data_key.audit_hash("stats-watermark-key", "v1"),
        );
        // A peer counts as active while heard from within two witnessing rounds.
        let active_window = Duration::from_secs(
            node.config
                .server
                .witness_interval_secs
                .saturating_mul(2)
                .max(900),
        );
        let agreements = Arc::new(Agreements::new(
            node.config.agreements.dir.clone(),
            node.country(),
            node.signing.verifying_key(),
            node.trust.clone(),
            crate::agreements::memory::Memory::open(store.db())
                .map_err(|e| open_err("the agreements kept in the store", e.to_string()))?,
            clock.clone(),
        ));
        let disk = Arc::new(crate::store::DiskGuard::new(
            &node.config.node.data_dir,
            node.config.server.min_free_mb,
        ));
        let witnessing = crate::sync::witness::Witnessing::new(&node.config.server);
        let manifests = crate::manifests::ManifestStore::open(store.db(), node.data_key.clone())
            .map_err(|e| open_err("the manifests store", e))?;
        phases.lap("rest");
        info!(
            persons = loaded.persons,
            audit_entries = audit.trees().size().unwrap_or(0),
            recounted_entries = recounted,
            audit_entries_from_mark = audit.trees().opened_from_mark(),
            match_keys_from_snapshot = loaded.rebuilt.is_none(),
            "node opened in {}",
            phases
        );
        let opened = Self {
            state: Arc::new(NodeState {
                node,
                lifecycle: Lifecycle::new(material),
                refusals: Arc::new(RefusalLog::default()),
                store,
                agreements,
                clock,
                records,
                records_change: Arc::new(tokio::sync::Mutex::new(())),
                refs,
                audit,
                receipts: puente_audit::receipt::ReceiptVerifier::default(),
                stats,
                alerts,
                metrics: Arc::new(Metrics::new(active_window)),
                disk,
                witnessing,
                manifests,
            }),
            metrics_listener: None,
        };
        // What was seen of the peers' logs before this start: a peer cannot show
        // another history to a node that restarted.
        let restored = opened.state.restore_peer_views();
        info!(
            checkpoints = restored,
            "peers' logs as seen before this start"
        );
        Ok(opened)
    }

    /// The flow counts and the match keys ready for serving: the counts aggregated
    /// again only when the records changed with no node to do it, the keys read from
    /// the checked snapshot when it reflects the store, else rebuilt from the sealed
    /// keys (and a new snapshot written).
    fn records_ready(
        node: &LoadedNode,
        store: &Store,
        records: &puente_records::RecordStore,
        early: std::thread::JoinHandle<puente_records::store::SnapshotRead>,
        phases: &mut Phases,
    ) -> Result<(puente_stats::StatsStore, puente_records::store::Loaded), NodeError> {
        let open_err = |what: &str, e: String| open_error(node, what, e);
        let stats_store = puente_stats::StatsStore::open(store.db())
            .map_err(|e| open_err("the statistics store", e.to_string()))?;
        crate::sync::stats::aggregate_records(records, &stats_store)
            .map_err(|e| open_err("aggregating flow counts from the records", e.to_string()))?;
        phases.lap("flow_counts");
        // Name queries score their candidates from memory, not from disk.
        let started = std::time::Instant::now();
        let path = node
            .config
            .node
            .data_dir
            .join(puente_records::store::SNAPSHOT_FILE);
        let read = early
            .join()
            .map_err(|_| open_err("reading the match-key snapshot", "its thread failed".into()))?;
        let loaded = records
            .load_match_keys_read(&path, read)
            .map_err(|e| open_err("loading the records' match keys", e.to_string()))?;
        let ms = started.elapsed().as_millis() as u64;
        match &loaded.rebuilt {
            None => info!(
                persons = loaded.persons,
                ms, "match keys read from their snapshot"
            ),
            Some(why) => info!(
                persons = loaded.persons,
                ms, "match keys rebuilt from the sealed records: {why}"
            ),
        }
        phases.lap("match_keys");
        Ok((stats_store, loaded))
    }
}
