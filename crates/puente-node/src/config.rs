//! The node's configuration: TOML, typed with serde, and validated completely before
//! anything binds a port. Relative paths are relative to the config file's directory, so a
//! country's directory made by `puente init` can be moved as a whole.
//!
//! [`NodeConfig::load`] reads and validates; it reports *every* problem at once, each with
//! its key path (`tls.cert: …`), and yields a [`LoadedNode`] holding the parsed material.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use puente_pki::files;
use puente_pki::inspect::{self, CertInfo};
use puente_pki::tls::{CountryAnchor, TlsIdentity};
use puente_pki::trust::TrustBundle;
use puente_pki::{CountryCode, PeerIdentity, Role, SigningKey};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::UnixTime;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{ConfigError, ConfigProblem};

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
}

impl Default for RecordsSection {
    fn default() -> Self {
        Self {
            data_key: PathBuf::from("pki/data.key"),
            reference_ttl_minutes: 60,
            match_threshold: puente_records::matcher::DEFAULT_THRESHOLD,
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
    /// Most TLS handshakes in progress at once.
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
    pub fn sync_time(&self) -> Result<Option<time::Time>, String> {
        if self.sync_at.trim().is_empty() {
            return Ok(None);
        }
        let bad = || {
            format!(
                "{:?} is not a time of day HH:MM (e.g. \"02:00\")",
                self.sync_at
            )
        };
        let (h, m) = self.sync_at.trim().split_once(':').ok_or_else(bad)?;
        let h: u8 = h.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        time::Time::from_hms(h, m, 0).map(Some).map_err(|_| bad())
    }

    /// The node's UTC offset.
    pub fn offset(&self) -> Result<time::UtcOffset, String> {
        let bad = || {
            format!(
                "{:?} is not a UTC offset +HH:MM or -HH:MM (e.g. \"-06:00\")",
                self.utc_offset
            )
        };
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

/// A validated configuration with its material loaded.
#[derive(Clone, Debug)]
pub struct LoadedNode {
    /// Where the config was read from.
    pub path: PathBuf,
    /// The configuration with every path made absolute.
    pub config: NodeConfig,
    /// This node's identity, as its certificate states.
    pub identity: PeerIdentity,
    /// Listen address.
    pub listen: SocketAddr,
    /// Address others dial.
    pub advertise: String,
    /// Where metrics are served, if they are.
    pub metrics_listen: Option<SocketAddr>,
    /// Its TLS chain and key.
    pub tls: TlsIdentity,
    /// What its certificate says.
    pub cert_info: CertInfo,
    /// This country's CA and CRL.
    pub own_anchor: CountryAnchor,
    /// Trusted peers.
    pub trust: TrustBundle,
    /// Signing key (shared, it is not `Clone`).
    pub signing: std::sync::Arc<SigningKey>,
    /// The data key (shared).
    pub data_key: std::sync::Arc<puente_records::DataKey>,
}

impl LoadedNode {
    /// The node's country.
    pub fn country(&self) -> CountryCode {
        self.identity.country
    }

    /// Trust anchors of every country allowed to connect: own country and peers.
    pub fn anchors(&self) -> Vec<CountryAnchor> {
        let mut anchors = vec![self.own_anchor.clone()];
        anchors.extend(self.trust.peers.iter().map(|p| CountryAnchor {
            country: p.country,
            ca: p.ca_der.clone(),
            crls: p.crls.clone(),
        }));
        anchors
    }

    /// The reloadable part, as loaded.
    pub fn material(&self) -> TlsMaterial {
        TlsMaterial {
            identity: self.identity.clone(),
            tls: self.tls.clone(),
            cert_info: self.cert_info.clone(),
            own_anchor: self.own_anchor.clone(),
            trust: self.trust.clone(),
        }
    }

    /// Shutdown grace period.
    pub fn drain_grace(&self) -> Duration {
        Duration::from_secs(self.config.server.drain_grace_secs)
    }
}

/// What a node reloads without a restart: its certificate and key, its CA and CRL, and
/// the trust bundle (peers' CAs, CRLs, keys, addresses). [`NodeConfig::load_material`]
/// reads and checks it the same way at start, on every reload and in `puente node check`.
#[derive(Clone, Debug)]
pub struct TlsMaterial {
    /// The identity the node certificate carries.
    pub identity: PeerIdentity,
    /// The node's chain and key.
    pub tls: TlsIdentity,
    /// What the node certificate says.
    pub cert_info: CertInfo,
    /// This country's CA and CRL.
    pub own_anchor: CountryAnchor,
    /// Trusted peers.
    pub trust: TrustBundle,
}

impl TlsMaterial {
    /// What serving needs beyond [`NodeConfig::load_material`]: the node certificate is
    /// valid at `now` and verifies as a peer checks it (chain to `tls.ca`, usage, not
    /// revoked by `tls.crl`). Other commands (`trust export`, signing) work without it,
    /// so a country can still publish the CRL that revokes its own node.
    pub fn check_serving(&self, config: &NodeConfig, now: OffsetDateTime) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };
        let cert_path = config.tls.cert.display();
        let info = &self.cert_info;
        if info.not_after < now {
            problem(
                "tls.cert",
                format!("{cert_path} expired on {}", info.not_after.date()),
            );
            return problems;
        }
        if now < info.not_before {
            problem(
                "tls.cert",
                format!("{cert_path} is not valid before {}", info.not_before),
            );
            return problems;
        }
        match puente_pki::tls::PeerServerVerifier::new(&self.own_anchor) {
            Err(e) => problem("tls.crl", e),
            Ok(v) => {
                if let Err(e) = v.verify_server_cert(
                    &self.tls.chain[0],
                    &self.tls.chain[1..],
                    &puente_pki::tls::peer_server_name(self.identity.country),
                    &[],
                    UnixTime::since_unix_epoch(Duration::from_secs(
                        u64::try_from(now.unix_timestamp()).unwrap_or(0),
                    )),
                ) {
                    problem(
                        "tls.cert",
                        format!(
                            "{cert_path} does not verify against tls.ca and tls.crl: {}",
                            puente_pki::tls::describe_error(&e)
                        ),
                    );
                }
            }
        }
        problems
    }
}

impl NodeConfig {
    /// Parses TOML text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads, validates and loads the configuration at `path`.
    pub fn load(path: &Path) -> Result<LoadedNode, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Self::parse(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base).validate(path)
    }

    /// Makes every relative path absolute against `base`.
    pub fn resolve(mut self, base: &Path) -> Self {
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        abs(&mut self.node.data_dir);
        abs(&mut self.tls.ca);
        abs(&mut self.tls.cert);
        abs(&mut self.tls.key);
        if let Some(p) = self.tls.crl.as_mut() {
            abs(p);
        }
        abs(&mut self.signing.key);
        abs(&mut self.trust.file);
        abs(&mut self.agreements.dir);
        abs(&mut self.records.data_key);
        for p in [
            &mut self.client.operator_cert,
            &mut self.client.operator_key,
            &mut self.client.auditor_cert,
            &mut self.client.auditor_key,
        ]
        .into_iter()
        .flatten()
        {
            abs(p);
        }
        self
    }

    /// Reads `tls.*` and `trust.file` and checks that they fit together: the certificate
    /// names this node and was issued by `tls.ca`; the key fits it; every peer entry and
    /// CRL parses. Reports every problem with its key path; nothing is half-loaded.
    /// Serving needs [`TlsMaterial::check_serving`] too.
    pub fn load_material(&self) -> Result<TlsMaterial, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };
        let country = CountryCode::parse(&self.node.country).ok();
        let ca = files::load_certs(&self.tls.ca)
            .and_then(|mut c| {
                if c.len() == 1 {
                    Ok(c.remove(0))
                } else {
                    Err(puente_pki::PkiError::bad(
                        &self.tls.ca,
                        "expected exactly one CA certificate",
                    ))
                }
            })
            .map_err(|e| problem("tls.ca", e.to_string()))
            .ok();
        let crls = match &self.tls.crl {
            Some(p) => files::load_crls(p)
                .map_err(|e| problem("tls.crl", e.to_string()))
                .ok(),
            None => Some(Vec::new()),
        };
        let chain = files::load_certs(&self.tls.cert)
            .map_err(|e| problem("tls.cert", e.to_string()))
            .ok();
        let key = files::load_private_key(&self.tls.key)
            .map_err(|e| problem("tls.key", e.to_string()))
            .ok();
        let cert_path = self.tls.cert.display();
        let mut identity = None;
        let mut cert_info = None;
        if let Some(chain) = &chain {
            match inspect::inspect(&chain[0], &self.tls.cert) {
                Ok(info) => {
                    match &info.identity {
                        Some(id)
                            if Some(id.country) == country
                                && id.role == Role::Node
                                && id.name == self.node.name =>
                        {
                            identity = Some(id.clone())
                        }
                        Some(id) => problem(
                            "tls.cert",
                            format!(
                                "{cert_path} is the certificate of {}, not of node {} of {}",
                                id.urn(),
                                self.node.name,
                                self.node.country
                            ),
                        ),
                        None => problem(
                            "tls.cert",
                            format!("{cert_path} carries no urn:puente identity"),
                        ),
                    }
                    if let Some(ca) = &ca {
                        if let Ok(ca_info) = inspect::inspect(ca, &self.tls.ca) {
                            if ca_info.subject != info.issuer {
                                problem(
                                    "tls.cert",
                                    format!(
                                        "was issued by {:?}, not by the CA in tls.ca ({:?})",
                                        info.issuer, ca_info.subject
                                    ),
                                );
                            }
                        }
                    }
                    cert_info = Some(info);
                }
                Err(e) => problem("tls.cert", e.to_string()),
            }
        }
        let trust = TrustBundle::load(&self.trust.file)
            .map_err(|e| problem("trust.file", e.to_string()))
            .ok();
        if let (Some(trust), Some(country)) = (&trust, country) {
            if trust.peer(country).is_some() {
                problem(
                    "trust.file",
                    format!("lists this node's own country {country} as a peer"),
                );
            }
        }
        let (
            Some(identity),
            Some(chain),
            Some(key),
            Some(cert_info),
            Some(ca),
            Some(crls),
            Some(trust),
        ) = (identity, chain, key, cert_info, ca, crls, trust)
        else {
            return Err(problems);
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let own_anchor = CountryAnchor {
            country: identity.country,
            ca,
            crls,
        };
        let tls = TlsIdentity { chain, key };
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };
        // Build the configurations the node will serve and dial with, so material that
        // passes here cannot fail later.
        let crl_ok = puente_pki::tls::PeerServerVerifier::new(&own_anchor)
            .and_then(|_| {
                puente_pki::tls::CountryClientVerifier::new(std::slice::from_ref(&own_anchor))
            })
            .map_err(|e| problem("tls.crl", e))
            .is_ok();
        if crl_ok {
            if let Err(e) = puente_pki::tls::server_config(&tls, std::slice::from_ref(&own_anchor))
            {
                problem("tls.key", format!("{}: {e}", self.tls.key.display()));
            }
        }
        for peer in &trust.peers {
            let anchor = CountryAnchor {
                country: peer.country,
                ca: peer.ca_der.clone(),
                crls: peer.crls.clone(),
            };
            if let Err(e) = puente_pki::tls::client_config(&tls, &anchor)
                .and_then(|_| puente_pki::tls::CountryClientVerifier::new(&[anchor]))
            {
                problem(
                    "trust.file",
                    format!("{}: peer {}: {e}", self.trust.file.display(), peer.country),
                );
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(TlsMaterial {
            identity,
            tls,
            cert_info,
            own_anchor,
            trust,
        })
    }

    /// Checks everything and loads the material; `path` names the file in errors.
    pub fn validate(self, path: &Path) -> Result<LoadedNode, ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };

        let country = CountryCode::parse(&self.node.country)
            .map_err(|e| problem("node.country", e.to_string()))
            .ok();
        if let Err(e) = puente_pki::identity::validate_name(&self.node.name) {
            problem("node.name", e.to_string());
        }
        let listen = self
            .node
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| {
                problem(
                    "node.listen",
                    format!("{:?} is not ip:port: {e}", self.node.listen),
                )
            })
            .ok();
        let advertise = self
            .node
            .advertise
            .clone()
            .unwrap_or_else(|| self.node.listen.clone());
        if let Err(e) = puente_pki::trust::validate_address(&advertise) {
            problem("node.advertise", e);
        }
        let metrics_listen = if self.metrics.enabled {
            match self.metrics.listen.parse::<SocketAddr>() {
                Ok(addr) if Some(addr) == listen && addr.port() != 0 => {
                    problem(
                        "metrics.listen",
                        format!("{addr} is node.listen too; give metrics a port of their own"),
                    );
                    None
                }
                Ok(addr) => Some(addr),
                Err(e) => {
                    problem(
                        "metrics.listen",
                        format!(
                            "{:?} is not ip:port (e.g. {DEFAULT_METRICS_LISTEN}): {e}",
                            self.metrics.listen
                        ),
                    );
                    None
                }
            }
        } else {
            None
        };
        if self.server.handshake_timeout_secs == 0 {
            problem("server.handshake_timeout_secs", "must be at least 1".into());
        }
        if self.server.max_pending_handshakes == 0 {
            problem("server.max_pending_handshakes", "must be at least 1".into());
        }
        if self.server.witness_interval_secs == 0 {
            problem("server.witness_interval_secs", "must be at least 1".into());
        }
        if self.server.reload_interval_secs == 0 {
            problem("server.reload_interval_secs", "must be at least 1".into());
        }
        if let Err(e) = self.stats.sync_time() {
            problem("stats.sync_at", e);
        }
        if let Err(e) = self.stats.offset() {
            problem("stats.utc_offset", e);
        }
        if !(1..=10_000).contains(&self.stats.page_size) {
            problem("stats.page_size", "must be between 1 and 10000".into());
        }
        if self.stats.jitter_minutes > 720 {
            problem(
                "stats.jitter_minutes",
                "must be at most 720 (12 hours)".into(),
            );
        }
        if self.stats.retry_initial_secs == 0 {
            problem("stats.retry_initial_secs", "must be at least 1".into());
        }
        if self.stats.retry_max_secs < self.stats.retry_initial_secs {
            problem(
                "stats.retry_max_secs",
                "must be at least stats.retry_initial_secs".into(),
            );
        }
        if self.alerts.retry_secs == 0 {
            problem("alerts.retry_secs", "must be at least 1".into());
        }
        if !(1..=8760).contains(&self.alerts.default_expiry_hours) {
            problem(
                "alerts.default_expiry_hours",
                "must be between 1 and 8760".into(),
            );
        }
        if !(1..=52).contains(&self.alerts.baseline_weeks) {
            problem("alerts.baseline_weeks", "must be between 1 and 52".into());
        }
        if !(self.alerts.surge_ratio > 1.0 && self.alerts.surge_ratio.is_finite()) {
            problem("alerts.surge_ratio", "must be a number above 1".into());
        }
        if !(self.alerts.z_score >= 0.0 && self.alerts.z_score.is_finite()) {
            problem("alerts.z_score", "must be 0 or more".into());
        }
        if self.stats.tick_ms == 0 || self.stats.tick_ms > 60_000 {
            problem("stats.tick_ms", "must be between 1 and 60000".into());
        }
        if !self.agreements.dir.is_dir() {
            problem(
                "agreements.dir",
                format!("{} is not a directory", self.agreements.dir.display()),
            );
        }
        if self.records.reference_ttl_minutes == 0 {
            problem("records.reference_ttl_minutes", "must be at least 1".into());
        }
        if !(0.5..=1.0).contains(&self.records.match_threshold) {
            problem(
                "records.match_threshold",
                format!("{} is outside 0.5-1.0", self.records.match_threshold),
            );
        }
        let data_key = puente_records::DataKey::load(&self.records.data_key)
            .map_err(|e| {
                problem(
                    "records.data_key",
                    format!(
                        "{e}; `puente init` creates one, or `puente records keygen --out FILE`"
                    ),
                )
            })
            .ok();
        if self.server.peer_timeout_secs == 0 {
            problem("server.peer_timeout_secs", "must be at least 1".into());
        }
        if self.server.document_timeout_secs < self.server.peer_timeout_secs {
            problem(
                "server.document_timeout_secs",
                format!(
                    "{} is below server.peer_timeout_secs ({}); a transfer needs at least one call's time",
                    self.server.document_timeout_secs, self.server.peer_timeout_secs
                ),
            );
        }
        if !(1..=100_000).contains(&self.server.peer_rate_per_sec) {
            problem(
                "server.peer_rate_per_sec",
                format!("{} is outside 1-100000", self.server.peer_rate_per_sec),
            );
        }
        if !(1..=1_000_000).contains(&self.server.peer_burst) {
            problem(
                "server.peer_burst",
                format!("{} is outside 1-1000000", self.server.peer_burst),
            );
        }
        for (key, value, max) in [
            (
                "server.witness_per_minute",
                self.server.witness_per_minute,
                1_000_000,
            ),
            ("server.witness_burst", self.server.witness_burst, 1_000_000),
            (
                "server.witness_evidence_per_peer",
                self.server.witness_evidence_per_peer,
                10_000,
            ),
        ] {
            if !(1..=max).contains(&value) {
                problem(key, format!("{value} is outside 1-{max}"));
            }
        }
        if !(1..=10_000).contains(&self.server.max_concurrent_streams) {
            problem(
                "server.max_concurrent_streams",
                format!("{} is outside 1-10000", self.server.max_concurrent_streams),
            );
        }

        let material = match self.load_material() {
            Ok(m) => Some(m),
            Err(found) => {
                for p in found {
                    problem(&p.key, p.message);
                }
                None
            }
        };
        let signing = SigningKey::load(&self.signing.key)
            .map_err(|e| problem("signing.key", e.to_string()))
            .ok();
        for (key, p) in [
            ("client.operator_cert", &self.client.operator_cert),
            ("client.operator_key", &self.client.operator_key),
            ("client.auditor_cert", &self.client.auditor_cert),
            ("client.auditor_key", &self.client.auditor_key),
        ] {
            if let Some(p) = p {
                if !p.exists() {
                    problem(key, format!("{} does not exist", p.display()));
                }
            }
        }

        match (listen, material, signing, country, data_key) {
            (Some(listen), Some(material), Some(signing), Some(_), Some(data_key))
                if problems.is_empty() =>
            {
                Ok(LoadedNode {
                    path: path.to_path_buf(),
                    identity: material.identity,
                    listen,
                    advertise,
                    metrics_listen,
                    tls: material.tls,
                    cert_info: material.cert_info,
                    own_anchor: material.own_anchor,
                    trust: material.trust,
                    signing: std::sync::Arc::new(signing),
                    data_key: std::sync::Arc::new(data_key),
                    config: self,
                })
            }
            _ => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            }),
        }
    }
}
