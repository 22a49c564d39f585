//! The gRPC services a node serves. Each handler receives requests that already passed
//! the service's [`crate::gate::Gate`]; methods that later issues implement answer
//! `UNIMPLEMENTED` through the generated default stubs.

pub mod audit;
pub mod exchange;
pub mod local;

use std::sync::Arc;

use time::OffsetDateTime;

use crate::agreements::Agreements;
use crate::config::LoadedNode;
use crate::refusals::RefusalLog;
use crate::store::Store;

/// The node's notion of now; tests pass a controllable one.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}

/// What every service shares.
pub struct NodeState {
    /// The configuration as loaded at start. Its certificate, CRL and trust bundle are
    /// those of the start: the ones in use (reloaded without a restart) are in
    /// [`NodeState::material`].
    pub node: LoadedNode,
    /// The reloadable material in use: certificate, CRLs, trust bundle, peer links.
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// Recent refusals.
    pub refusals: Arc<RefusalLog>,
    /// The embedded store.
    pub store: Store,
    /// The agreements in force.
    pub agreements: Arc<Agreements>,
    /// The clock.
    pub clock: Clock,
    /// The country's own records.
    pub records: puente_records::RecordStore,
    /// References handed out with matches.
    pub refs: crate::refs::RefStore,
    /// The audit log.
    pub audit: puente_audit::AuditLog,
    /// Checks peers' receipts (remembers verified checkpoints).
    pub receipts: puente_audit::receipt::ReceiptVerifier,
    /// Flow statistics: own and received cells, sync state.
    pub stats: crate::stats::Stats,
    /// Early-warning alerts: issued, received, drafted.
    pub alerts: crate::alerts::Alerts,
    /// Counters and gauges served on the metrics listener (`set_sync_lag` and the like).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The free-space reserve of the data directory.
    pub disk: Arc<crate::store::DiskGuard>,
    /// The witness side of cross-witnessing: per-peer locks, rate limit, evidence bound.
    pub witnessing: crate::witness::Witnessing,
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState")
            .field("node", &self.node.identity)
            .finish_non_exhaustive()
    }
}

pub(crate) fn timestamp(t: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    }
}
