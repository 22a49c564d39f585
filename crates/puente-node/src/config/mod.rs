//! The node's configuration: TOML, typed with serde, and validated completely before
//! anything binds a port. Relative paths are relative to the config file's directory, so a
//! country's directory made by `puente init` can be moved as a whole.
//!
//! [`NodeConfig::load`] reads and validates; it reports *every* problem at once, each with
//! its key path (`tls.cert: …`), and yields a [`LoadedNode`] holding the parsed material.

use std::path::PathBuf;

use crate::error::ScheduleError;
use serde::{Deserialize, Serialize};

/// A node configuration as written in `puente.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Who this node is and where it listens.
    pub node: NodeSection,
    /// Its TLS material.
    pub tls: TlsSection,
    /// Its Ed25519 signing key.
    pub signing: SigningSection,
    /// The peers it trusts.
    pub trust: TrustSection,
    /// Where signed agreements live.
    #[serde(default)]
    pub agreements: AgreementsSection,
    /// The country's own records.
    #[serde(default)]
    pub records: RecordsSection,
    /// Credentials the CLI uses to talk to this node.
    #[serde(default)]
    pub client: ClientSection,
    /// Server limits and timeouts.
    #[serde(default)]
    pub server: ServerSection,
    /// The nightly statistics sync.
    #[serde(default)]
    pub stats: StatsSection,
    /// Early-warning alerts: delivery retries and surge detection.
    #[serde(default)]
    pub alerts: AlertsSection,
    /// The Prometheus metrics listener.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// Carriers' manifests: how long they are kept.
    #[serde(default)]
    pub manifests: ManifestsSection,
}

/// `[manifests]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManifestsSection {
    /// Days a carrier's manifest is kept after it is received; then it is erased (the
    /// erasure is an audit entry). Advance passenger information serves the arrival:
    /// keep it short.
    pub retention_days: u32,
}

impl Default for ManifestsSection {
    fn default() -> Self {
        Self { retention_days: 30 }
    }
}

/// `[node]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// ISO 3166-1 alpha-3 code of this node's country.
    pub country: String,
    /// The node's name; its certificate must say `urn:puente:<country>:node:<name>`.
    pub name: String,
    /// Socket address to listen on, e.g. `0.0.0.0:7400`.
    pub listen: String,
    /// Address peers and the CLI dial (`host:port`); defaults to `listen`.
    #[serde(default)]
    pub advertise: Option<String>,
    /// Directory of the node's store.
    pub data_dir: PathBuf,
}

/// `[tls]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// This country's root CA certificate.
    pub ca: PathBuf,
    /// The node's certificate (PEM, leaf first).
    pub cert: PathBuf,
    /// The node's private key.
    pub key: PathBuf,
    /// This country's CRL.
    #[serde(default)]
    pub crl: Option<PathBuf>,
}

/// `[signing]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSection {
    /// The country's Ed25519 signing key.
    pub key: PathBuf,
}

/// `[trust]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSection {
    /// The trust file (`puente trust add` writes it).
    pub file: PathBuf,
}

/// `[agreements]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementsSection {
    /// Directory of signed agreement files (`*.toml`), reloaded when it changes.
    pub dir: PathBuf,
}

impl Default for AgreementsSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("agreements"),
        }
    }
}

/// `[records]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordsSection {
    /// The node data key that seals records and passport copies at rest.
    pub data_key: PathBuf,
    /// Minutes a reference handed out with a match stays valid for `GetDocument`.
    pub reference_ttl_minutes: u64,
    /// Score (0-1) at or above which a name candidate is a match.
    pub match_threshold: f64,
    /// A directory the node watches for holdings files (`.csv`, `.jsonl`) from the
    /// authority's case system: each is imported whole or not at all, then moved to
    /// `done/` or `failed/` beside a `<file>.report.txt`. None: no inbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox: Option<PathBuf>,
    /// Milliseconds between two looks at the inbox; a file is taken once its size and
    /// time of change are the same at two looks.
    pub inbox_poll_ms: u64,
}

impl Default for RecordsSection {
    fn default() -> Self {
        Self {
            data_key: PathBuf::from("pki/data.key"),
            reference_ttl_minutes: 60,
            match_threshold: puente_records::matcher::DEFAULT_THRESHOLD,
            inbox: None,
            inbox_poll_ms: 1000,
        }
    }
}

/// `[client]`: what the CLI presents to its own node.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    /// Operator certificate for `puente peers`, `query`, `fetch`.
    #[serde(default)]
    pub operator_cert: Option<PathBuf>,
    /// Its key.
    #[serde(default)]
    pub operator_key: Option<PathBuf>,
    /// Auditor certificate for `puente audit` over gRPC.
    #[serde(default)]
    pub auditor_cert: Option<PathBuf>,
    /// Its key.
    #[serde(default)]
    pub auditor_key: Option<PathBuf>,
}

/// `[server]`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Seconds allowed for a TLS handshake.
    pub handshake_timeout_secs: u64,
    /// Seconds in-flight calls get to finish on shutdown.
    pub drain_grace_secs: u64,
    /// Most TLS handshakes in progress at once; one source address gets at most a quarter.
    pub max_pending_handshakes: usize,
    /// Seconds a peer call may take before it is abandoned.
    pub peer_timeout_secs: u64,
    /// Seconds between checks of the agreements directory, the TLS material (`tls.*`) and
    /// the trust file for changes.
    pub reload_interval_secs: u64,
    /// Days ahead of the node certificate's or an agreement's expiry from which the node
    /// logs a warning (at start and daily); 0 turns the warnings off.
    pub expiry_warning_days: u32,
    /// Seconds between rounds of having peers cosign this node's audit checkpoint.
    pub witness_interval_secs: u64,
    /// Seconds a whole passport-copy transfer from a peer may take (header to trailer).
    pub document_timeout_secs: u64,
    /// `Exchange` calls admitted per second from each peer country (token bucket refill),
    /// before any agreement quota is looked at.
    pub peer_rate_per_sec: u32,
    /// Calls a peer country may make at once above its rate (token bucket size).
    pub peer_burst: u32,
    /// `WitnessCheckpoint` calls admitted per minute from each peer country, apart from
    /// `peer_rate_per_sec`: each one costs a durable audit entry (and an evidence record
    /// when inconsistent), and an honest peer asks once per `witness_interval_secs`.
    pub witness_per_minute: u32,
    /// `WitnessCheckpoint` calls a peer country may make at once above that rate.
    pub witness_burst: u32,
    /// Inconsistent checkpoints kept as evidence per peer country; the first ones are
    /// kept (the first conflict is the proof), later ones are only counted and logged.
    pub witness_evidence_per_peer: u32,
    /// Most concurrent calls (HTTP/2 streams) on one connection.
    pub max_concurrent_streams: u32,
    /// Mebibytes that must stay free in the data directory's filesystem; below this the
    /// node refuses exchanges (their audit entries might not be writable) until space
    /// returns.
    pub min_free_mb: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            handshake_timeout_secs: 10,
            drain_grace_secs: 10,
            max_pending_handshakes: 256,
            peer_timeout_secs: 10,
            reload_interval_secs: 5,
            expiry_warning_days: 30,
            witness_interval_secs: 300,
            document_timeout_secs: 120,
            peer_rate_per_sec: 50,
            peer_burst: 200,
            witness_per_minute: 6,
            witness_burst: 10,
            witness_evidence_per_peer: 16,
            max_concurrent_streams: 128,
            min_free_mb: 64,
        }
    }
}

/// `[alerts]`: delivery of issued alerts and detection of surges in the flow counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSection {
    /// Seconds between retries of alerts peers have not acknowledged.
    pub retry_secs: u64,
    /// Hours an alert stays relevant unless the operator says otherwise.
    pub default_expiry_hours: u32,
    /// Whether surges in the flow counts are drafted as alerts for review.
    pub detect: bool,
    /// Weeks of history a week is compared against.
    pub baseline_weeks: u32,
    /// A week is a surge at this many times the baseline or more …
    pub surge_ratio: f64,
    /// … with at least this many events …
    pub min_weekly_count: u64,
    /// … and this many standard deviations above the baseline.
    pub z_score: f64,
}

impl Default for AlertsSection {
    fn default() -> Self {
        Self {
            retry_secs: 30,
            default_expiry_hours: 336,
            detect: true,
            baseline_weeks: 8,
            surge_ratio: 2.0,
            min_weekly_count: 30,
            z_score: 3.0,
        }
    }
}

/// `[stats]`: when and how the node pulls flow counts from its peers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsSection {
    /// Local time of the nightly sync, `HH:MM` in the node's `utc_offset`; empty
    /// disables the schedule (`puente stats sync` still works).
    pub sync_at: String,
    /// The node's time zone as a UTC offset, `+HH:MM` or `-HH:MM`.
    pub utc_offset: String,
    /// The sync starts at a random moment up to this many minutes after `sync_at`, so
    /// that a region's nodes do not all call each other at once.
    pub jitter_minutes: u32,
    /// Cells asked for per page.
    pub page_size: u32,
    /// Most pages one sync pulls from a peer: a peer that always says "more" is
    /// stopped there (each page is an audit entry), and the next sync goes on.
    pub max_pages: u32,
    /// First wait before retrying a failed scheduled sync; doubles each time.
    pub retry_initial_secs: u64,
    /// Longest wait between retries.
    pub retry_max_secs: u64,
    /// Attempts of a scheduled sync before it waits for the next night.
    pub retry_attempts: u32,
    /// Milliseconds between the scheduler's looks at the clock.
    pub tick_ms: u64,
}

impl Default for StatsSection {
    fn default() -> Self {
        Self {
            sync_at: "02:00".into(),
            utc_offset: "+00:00".into(),
            jitter_minutes: 15,
            page_size: 1000,
            max_pages: 2000,
            retry_initial_secs: 30,
            retry_max_secs: 3600,
            retry_attempts: 8,
            tick_ms: 1000,
        }
    }
}

/// Where `[metrics]` listens unless told otherwise: loopback only.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// `[metrics]`: `GET /metrics` in the Prometheus text format, on plain HTTP.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Whether the node serves metrics at all.
    pub enabled: bool,
    /// Socket address of the metrics listener; loopback by default, since it has no TLS
    /// (metrics carry no personal data, but they do describe the node's traffic).
    pub listen: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: DEFAULT_METRICS_LISTEN.to_string(),
        }
    }
}

impl StatsSection {
    /// The sync time of day, if a schedule is set.
    pub fn sync_time(&self) -> Result<Option<time::Time>, ScheduleError> {
        if self.sync_at.trim().is_empty() {
            return Ok(None);
        }
        let bad = || ScheduleError::SyncAt(self.sync_at.clone());
        let (h, m) = self.sync_at.trim().split_once(':').ok_or_else(bad)?;
        let h: u8 = h.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        time::Time::from_hms(h, m, 0).map(Some).map_err(|_| bad())
    }

    /// The node's UTC offset.
    pub fn offset(&self) -> Result<time::UtcOffset, ScheduleError> {
        let bad = || ScheduleError::UtcOffset(self.utc_offset.clone());
        let s = self.utc_offset.trim();
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') => (1i8, &s[1..]),
            Some(b'-') => (-1i8, &s[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(bad)?;
        let h: i8 = h.parse().map_err(|_| bad())?;
        let m: i8 = m.parse().map_err(|_| bad())?;
        if !(0..=14).contains(&h) || !(0..=59).contains(&m) {
            return Err(bad());
        }
        time::UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())
    }
}

mod loaded;
mod validate;

pub use loaded::{LoadedNode, TlsMaterial};
