//! The node's shared state and clock: what every part of the node reads, behind methods.
//! One [`NodeState`] is built by [`crate::server::Node`] and shared by the services and
//! the background tasks; the answering ([`crate::answer`]), asking ([`crate::ask`]) and
//! synchronising ([`crate::sync`]) rooms each add their own `impl NodeState` block over
//! the parts they own. Outside the crate it is read through accessors only.

use std::sync::Arc;

use puente_pki::CountryCode;
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
    pub(crate) node: LoadedNode,
    /// The reloadable material in use: certificate, CRLs, trust bundle, peer links.
    pub(crate) lifecycle: crate::lifecycle::Lifecycle,
    /// Recent refusals.
    pub(crate) refusals: Arc<RefusalLog>,
    /// The embedded store.
    pub(crate) store: Store,
    /// The agreements in force.
    pub(crate) agreements: Arc<Agreements>,
    /// The clock.
    pub(crate) clock: Clock,
    /// The country's own records.
    pub(crate) records: puente_records::RecordStore,
    /// One change of the records at a time (import, deletion, inbox file), with the
    /// statistics aggregated after it.
    pub(crate) records_change: Arc<tokio::sync::Mutex<()>>,
    /// References handed out with matches.
    pub(crate) refs: crate::refs::RefStore,
    /// The audit log.
    pub(crate) audit: puente_audit::AuditLog,
    /// Checks peers' receipts (remembers verified checkpoints).
    pub(crate) receipts: puente_audit::receipt::ReceiptVerifier,
    /// Flow statistics: own and received cells, sync state.
    pub(crate) stats: crate::sync::stats::Stats,
    /// Early-warning alerts: issued, received, drafted.
    pub(crate) alerts: crate::sync::alerts::Alerts,
    /// Counters and gauges served on the metrics listener.
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// The free-space reserve of the data directory.
    pub(crate) disk: Arc<crate::store::DiskGuard>,
    /// Carriers' manifests, sealed at rest.
    pub(crate) manifests: crate::manifests::ManifestStore,
    /// The witness side of cross-witnessing: per-peer locks, rate limit, evidence bound.
    pub(crate) witnessing: crate::sync::witness::Witnessing,
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState")
            .field("node", &self.node.identity)
            .finish_non_exhaustive()
    }
}

impl NodeState {
    /// The configuration as loaded at start (see [`NodeState::material`] for the
    /// certificate and trust in use now).
    pub fn loaded(&self) -> &LoadedNode {
        &self.node
    }

    /// This node's country.
    pub fn country(&self) -> CountryCode {
        self.node.country()
    }

    /// Now, by the node's clock.
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// The reloadable material and whether the last reload was refused.
    pub fn lifecycle(&self) -> &crate::lifecycle::Lifecycle {
        &self.lifecycle
    }

    /// The audit log (tests and the demo read its trees).
    pub fn audit(&self) -> &puente_audit::AuditLog {
        &self.audit
    }

    /// The embedded store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The agreements in force.
    pub fn agreements(&self) -> &Arc<Agreements> {
        &self.agreements
    }

    /// Recent refusals.
    pub fn refusals(&self) -> &Arc<RefusalLog> {
        &self.refusals
    }

    /// The country's own records (tests count what an import left).
    pub fn records(&self) -> &puente_records::RecordStore {
        &self.records
    }

    /// The metrics served on the metrics listener.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }
}

/// A protobuf timestamp of `t`.
pub(crate) fn timestamp(t: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    }
}
