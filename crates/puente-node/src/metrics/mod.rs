//! Operational metrics in the Prometheus text exposition format (0.0.4), served on a
//! separate plain-HTTP listener ([`http`]) that is bound to loopback by default.
//!
//! Counters move at the two choke points every exchange passes: where its audit entry is
//! recorded ([`crate::outcome`]: direction, service, peer country, decision, gRPC status)
//! and in the request layer around every gRPC call ([`layer`]: a span and a latency
//! histogram per service and method). Gauges (audit log size, checkpoint age, certificate
//! and agreement expiry, peers) are read from the node's state at scrape time, so they
//! cannot drift from it.
//!
//! Labels come only from closed sets: the contract's service and method names, ISO 3166-1
//! country codes, decisions, gRPC status codes, and the ids of this node's own verified
//! agreements. No request field ever becomes a label: no name, document number, case
//! reference or operator. The typed setters make that hard to get wrong.

mod crl;
pub mod http;
pub mod layer;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use puente_audit::checkpoint::{self, Checkpoint};
use puente_pki::CountryCode;
use puente_policy::{Service, Term};
use puente_proto::v1 as pb;

use crate::services::NodeState;

/// Upper bounds (seconds) of the latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which way an exchange went, from this node's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// A peer asked this node.
    Incoming,
    /// This node asked a peer (for one of its operators).
    Outgoing,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ExchangeKey {
    direction: Direction,
    service: Service,
    peer: CountryCode,
    decision: pb::Decision,
    code: i32,
}

#[derive(Clone, Debug, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (n, le) in self.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if secs <= le {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// The node's counters, histograms and externally fed gauges. Shared through
/// [`NodeState::metrics`]; every method is cheap and never fails.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    active_window: Duration,
    exchanges: Mutex<BTreeMap<ExchangeKey, u64>>,
    latency: Mutex<BTreeMap<(&'static str, &'static str), Histogram>>,
    sync_lag: Mutex<BTreeMap<CountryCode, f64>>,
    contacts: Mutex<BTreeMap<CountryCode, Instant>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(Duration::from_secs(900))
    }
}

impl Metrics {
    /// How long the node has been up.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Metrics counting a peer as active while it was heard from within `active_window`.
    pub fn new(active_window: Duration) -> Self {
        Self {
            started: Instant::now(),
            active_window,
            exchanges: Mutex::default(),
            latency: Mutex::default(),
            sync_lag: Mutex::default(),
            contacts: Mutex::default(),
        }
    }

    /// Counts one exchange as its audit entry records it.
    pub fn exchange(
        &self,
        direction: Direction,
        service: Service,
        peer: CountryCode,
        decision: pb::Decision,
        code: tonic::Code,
    ) {
        let key = ExchangeKey {
            direction,
            service,
            peer,
            decision,
            code: code as i32,
        };
        if let Ok(mut m) = self.exchanges.lock() {
            *m.entry(key).or_default() += 1;
        }
    }

    /// How many exchanges were counted with these labels (tests and the demo read it).
    pub fn exchanges(
        &self,
        direction: Direction,
        service: Service,
        peer: CountryCode,
        decision: pb::Decision,
    ) -> u64 {
        self.exchanges
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        k.direction == direction
                            && k.service == service
                            && k.peer == peer
                            && k.decision == decision
                    })
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Records the latency of one gRPC call (names from [`layer::grpc_names`]).
    pub fn observe_latency(&self, service: &'static str, method: &'static str, took: Duration) {
        if let Ok(mut m) = self.latency.lock() {
            m.entry((service, method))
                .or_default()
                .observe(took.as_secs_f64());
        }
    }

    /// Sets how far behind this node's copy of `peer`'s flow statistics is, in seconds
    /// (the statistics sync calls it after every pull, successful or not).
    pub fn set_sync_lag(&self, peer: CountryCode, secs: f64) {
        if let Ok(mut m) = self.sync_lag.lock() {
            m.insert(peer, if secs.is_finite() { secs.max(0.0) } else { 0.0 });
        }
    }

    /// Forgets the sync lag of `peer` (it is no longer synchronised).
    pub fn clear_sync_lag(&self, peer: CountryCode) {
        if let Ok(mut m) = self.sync_lag.lock() {
            m.remove(&peer);
        }
    }

    /// Notes that `peer`'s node was heard from: it called us, or answered us with a receipt.
    pub fn peer_contact(&self, peer: CountryCode) {
        if let Ok(mut m) = self.contacts.lock() {
            m.insert(peer, Instant::now());
        }
    }

    /// The text exposition of everything counted so far plus the gauges read from `state`.
    pub fn render(&self, state: &NodeState) -> String {
        let mut out = String::with_capacity(4096);
        let now = (state.clock)();
        let own = state.node.country();

        family(
            &mut out,
            "puente_build_info",
            "gauge",
            "The running version and this node's country.",
        );
        line(
            &mut out,
            "puente_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("country", own.as_str()),
            ],
            1.0,
        );
        crl::render(&mut out, now, &state.material().loaded);
        family(
            &mut out,
            "puente_uptime_seconds",
            "gauge",
            "Seconds since the node started.",
        );
        line(
            &mut out,
            "puente_uptime_seconds",
            &[],
            self.started.elapsed().as_secs_f64(),
        );

        family(
            &mut out,
            "puente_exchanges_total",
            "counter",
            "Exchanges with peers as recorded in the audit log, by direction, service, peer country, decision and the gRPC status of the answer (outgoing: the peer's answer).",
        );
        if let Ok(m) = self.exchanges.lock() {
            for (k, n) in m.iter() {
                let service = k.service.name();
                let decision = decision_name(k.decision);
                line(
                    &mut out,
                    "puente_exchanges_total",
                    &[
                        ("direction", k.direction.label()),
                        ("service", &service),
                        ("peer", k.peer.as_str()),
                        ("decision", decision),
                        ("code", code_name(tonic::Code::from_i32(k.code))),
                    ],
                    *n as f64,
                );
            }
        }

        family(
            &mut out,
            "puente_grpc_request_duration_seconds",
            "histogram",
            "Time from a gRPC request's arrival to its response headers, by service and method.",
        );
        if let Ok(m) = self.latency.lock() {
            for ((service, method), h) in m.iter() {
                let labels = [("service", *service), ("method", *method)];
                for (n, le) in h.buckets.iter().zip(LATENCY_BUCKETS) {
                    let le = le.to_string();
                    line(
                        &mut out,
                        "puente_grpc_request_duration_seconds_bucket",
                        &[labels[0], labels[1], ("le", &le)],
                        *n as f64,
                    );
                }
                line(
                    &mut out,
                    "puente_grpc_request_duration_seconds_bucket",
                    &[labels[0], labels[1], ("le", "+Inf")],
                    h.count as f64,
                );
                line(
                    &mut out,
                    "puente_grpc_request_duration_seconds_sum",
                    &labels,
                    h.sum,
                );
                line(
                    &mut out,
                    "puente_grpc_request_duration_seconds_count",
                    &labels,
                    h.count as f64,
                );
            }
        }

        let (handshakes, gates) = state.refusals.totals();
        family(
            &mut out,
            "puente_refusals_total",
            "counter",
            "Callers turned away before any handler: failed TLS handshakes, role-gate refusals and per-peer rate limits.",
        );
        line(
            &mut out,
            "puente_refusals_total",
            &[("stage", "handshake")],
            handshakes as f64,
        );
        line(
            &mut out,
            "puente_refusals_total",
            &[("stage", "role_gate")],
            gates as f64,
        );
        line(
            &mut out,
            "puente_refusals_total",
            &[("stage", "rate_limit")],
            state.refusals.rate_limited() as f64,
        );

        family(
            &mut out,
            "puente_witness_evidence_dropped_total",
            "counter",
            "Inconsistent checkpoints a peer presented beyond server.witness_evidence_per_peer, refused and not kept.",
        );
        for (peer, n) in state.witnessing.evidence_dropped() {
            let labels = [("peer", peer.as_str())];
            line(
                &mut out,
                "puente_witness_evidence_dropped_total",
                &labels,
                n as f64,
            );
        }

        let trees = state.audit.trees();
        family(
            &mut out,
            "puente_audit_log_entries",
            "gauge",
            "Entries committed to the audit log.",
        );
        if let Ok(size) = trees.size() {
            line(&mut out, "puente_audit_log_entries", &[], size as f64);
        }
        family(
            &mut out,
            "puente_audit_checkpoint_age_seconds",
            "gauge",
            "Seconds since the latest signed audit checkpoint (absent before the first).",
        );
        if let Some(cp) = trees.latest().ok().flatten().and_then(|n| parse_note(&n)) {
            let age = (now.unix_timestamp() - cp.time).max(0);
            line(
                &mut out,
                "puente_audit_checkpoint_age_seconds",
                &[],
                age as f64,
            );
        }

        family(
            &mut out,
            "puente_certificate_expiry_days",
            "gauge",
            "Days until the node's TLS certificate expires (negative: expired).",
        );
        line(
            &mut out,
            "puente_certificate_expiry_days",
            &[("certificate", "node")],
            days(state.material().loaded.cert_info.not_after - now),
        );

        family(
            &mut out,
            "puente_agreement_expiry_days",
            "gauge",
            "Days until each verified agreement stops applying (negative: expired).",
        );
        let agreements = state.agreements.current();
        for a in agreements.enforced(now) {
            line(
                &mut out,
                "puente_agreement_expiry_days",
                &[("agreement", &a.id)],
                days(a.valid_until - now),
            );
        }

        family(
            &mut out,
            "puente_agreement_files_broken",
            "gauge",
            "Agreement files not enforced because they are broken (malformed, a signature missing or not verifying); the node keeps the last good version of each id.",
        );
        line(
            &mut out,
            "puente_agreement_files_broken",
            &[],
            agreements.broken() as f64,
        );

        let configured: Vec<CountryCode> = state.peer_countries();
        let contacts = self.contacts.lock().map(|m| m.clone()).unwrap_or_default();
        family(
            &mut out,
            "puente_peers_configured",
            "gauge",
            "Peer countries in the trust bundle.",
        );
        line(
            &mut out,
            "puente_peers_configured",
            &[],
            configured.len() as f64,
        );
        family(
            &mut out,
            "puente_peers_active",
            "gauge",
            "Peers heard from within the active window (they called, or answered with a receipt, or cosigned).",
        );
        let active = configured
            .iter()
            .filter(|p| {
                contacts
                    .get(p)
                    .is_some_and(|t| t.elapsed() <= self.active_window)
            })
            .count();
        line(&mut out, "puente_peers_active", &[], active as f64);
        family(
            &mut out,
            "puente_peer_last_contact_seconds",
            "gauge",
            "Seconds since each peer was last heard from.",
        );
        for (peer, at) in &contacts {
            line(
                &mut out,
                "puente_peer_last_contact_seconds",
                &[("peer", peer.as_str())],
                at.elapsed().as_secs_f64(),
            );
        }

        family(
            &mut out,
            "puente_sync_lag_seconds",
            "gauge",
            "How far behind this node's copy of each peer's flow statistics is.",
        );
        // Seconds since the last completed sync with each peer, from the sync state;
        // a value set through `set_sync_lag` takes precedence.
        let mut lags: BTreeMap<CountryCode, f64> = BTreeMap::new();
        for country in &configured {
            if let Ok(st) = state.stats.store.sync_state(*country) {
                if st.last_success > 0 {
                    lags.insert(
                        *country,
                        (now.unix_timestamp() - st.last_success).max(0) as f64,
                    );
                }
            }
        }
        if let Ok(m) = self.sync_lag.lock() {
            lags.extend(m.iter().map(|(k, v)| (*k, *v)));
        }
        for (peer, secs) in &lags {
            line(
                &mut out,
                "puente_sync_lag_seconds",
                &[("peer", peer.as_str())],
                *secs,
            );
        }

        family(
            &mut out,
            "puente_alerts_active",
            "gauge",
            "Early-warning alerts not yet expired, issued here or received, by issuing country.",
        );
        let mut active: BTreeMap<String, u64> = BTreeMap::new();
        let issued = state.alerts.store.all_issued().unwrap_or_default();
        let received = state.alerts.store.all_received().unwrap_or_default();
        for r in issued.iter().chain(&received) {
            if let Some(a) = &r.alert {
                let live = a
                    .expires_at
                    .as_ref()
                    .is_some_and(|t| t.seconds > now.unix_timestamp());
                if live && puente_pki::country::is_iso_alpha3(&a.issuing_country) {
                    *active.entry(a.issuing_country.clone()).or_default() += 1;
                }
            }
        }
        for (issuer, n) in &active {
            line(
                &mut out,
                "puente_alerts_active",
                &[("issuer", issuer)],
                *n as f64,
            );
        }
        out
    }
}

fn parse_note(note: &str) -> Option<Checkpoint> {
    let (body, _) = checkpoint::split_note(note).ok()?;
    Checkpoint::parse_body(body).ok()
}

fn days(d: time::Duration) -> f64 {
    (d.as_seconds_f64() / 86_400.0 * 100.0).round() / 100.0
}

fn decision_name(d: pb::Decision) -> &'static str {
    match d {
        pb::Decision::Allowed => "allowed",
        pb::Decision::Refused => "refused",
        pb::Decision::Withheld => "withheld",
        pb::Decision::Unspecified => "unspecified",
    }
}

/// The canonical gRPC name of a status code (`PERMISSION_DENIED`).
pub fn code_name(c: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match c {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn line(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        line(&mut out, "m", &[("a", "x\"y\\z\nw")], 1.5);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\"} 1.5\n");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(20.0);
        assert_eq!(h.buckets[0], 0);
        assert_eq!(h.buckets[3], 1); // le 0.005
        assert_eq!(h.buckets[LATENCY_BUCKETS.len() - 1], 1);
        assert_eq!(h.count, 2);
    }

    #[test]
    fn sync_lag_is_never_negative_or_nan() {
        let m = Metrics::default();
        let gtm = CountryCode::parse("GTM").unwrap_or_else(|e| panic!("{e}"));
        m.set_sync_lag(gtm, f64::NAN);
        m.set_sync_lag(gtm, -3.0);
        assert_eq!(m.sync_lag.lock().map(|m| m[&gtm]).unwrap_or(1.0), 0.0);
    }
}
