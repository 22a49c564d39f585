//! Support for Puente's end-to-end tests: countries set up exactly as `puente init` does
//! (real CAs, real certificate files, real configs in temp dirs), real nodes on
//! `127.0.0.1` with ephemeral ports, and mTLS clients presenting any certificate a test
//! needs, including none.
//!
//! ```text
//! let fed = Federation::new(&["MEX", "GTM"]).await;   // init + swap trust bundles
//! let mex = fed.start("MEX").await;                    // a TestNode
//! let ch = fed.channel("MEX", fed.cert("MEX", "operator-officer"), "MEX");
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use puente::cli::InitArgs;
use puente_node::agreements::Agreements;
use puente_node::client::{channel_with_config, node_channel};
use puente_node::refusals::{Refusal, RefusalLog};
use puente_node::services::Clock;
use puente_node::{LoadedNode, Node, NodeConfig, NodeError};
use puente_pki::files;
use puente_pki::tls::{self, CountryAnchor, PeerServerVerifier, TlsIdentity};
use puente_pki::{CountryCa, CountryCode};
use puente_proto::v1::local_client::LocalClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub mod fake_peer;
pub mod fault_proxy;
pub mod holdings;
pub mod officer;

pub use fault_proxy::{Budget, Fault, FaultProxy};

/// Installs a test log subscriber once (respects `RUST_LOG`; quiet by default).
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
    });
}

/// A country set up in a temp dir, with its listener already bound.
pub struct TestCountry {
    /// The country.
    pub code: CountryCode,
    /// Its directory (`puente init --dir`).
    pub dir: PathBuf,
    /// Its config file.
    pub config: PathBuf,
    /// Where its node will listen.
    pub addr: SocketAddr,
    listener: Option<TcpListener>,
}

impl TestCountry {
    /// The country's PKI directory.
    pub fn pki(&self) -> PathBuf {
        self.dir.join("pki")
    }

    /// Its CA.
    pub fn ca(&self) -> CountryCa {
        CountryCa::open(&self.pki()).unwrap_or_else(|e| panic!("opening CA of {}: {e}", self.code))
    }

    /// Its CA as a trust anchor (with its current CRL).
    pub fn anchor(&self) -> CountryAnchor {
        let pki = self.pki();
        CountryAnchor {
            country: self.code,
            ca: files::load_certs(&pki.join("ca.pem"))
                .expect("ca.pem")
                .remove(0),
            crls: files::load_crls(&pki.join("crl.pem")).expect("crl.pem"),
        }
    }

    /// The TLS identity in `pki/<stem>.pem` / `.key` (e.g. `operator-officer`).
    pub fn identity(&self, stem: &str) -> TlsIdentity {
        identity_at(&self.pki(), stem)
    }

    /// The loaded config.
    pub fn load(&self) -> LoadedNode {
        NodeConfig::load(&self.config).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The TLS identity in `<dir>/<stem>.pem` / `.key`.
pub fn identity_at(dir: &Path, stem: &str) -> TlsIdentity {
    TlsIdentity {
        chain: files::load_certs(&dir.join(format!("{stem}.pem")))
            .unwrap_or_else(|e| panic!("{e}")),
        key: files::load_private_key(&dir.join(format!("{stem}.key")))
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

/// Several countries that trust each other, in one temp dir.
pub struct Federation {
    /// Keeps the files alive.
    pub temp: tempfile::TempDir,
    /// The countries by code.
    pub countries: BTreeMap<String, TestCountry>,
}

impl Federation {
    /// Sets up each country with `puente init` and has every pair swap trust bundles.
    pub async fn new(codes: &[&str]) -> Self {
        init_logging();
        let temp = tempfile::tempdir().expect("temp dir");
        let mut countries = BTreeMap::new();
        for code in codes {
            let c = new_country(temp.path(), code).await;
            countries.insert(code.to_string(), c);
        }
        let fed = Self { temp, countries };
        for a in codes {
            for b in codes {
                if a != b {
                    fed.trust(a, b);
                }
            }
        }
        fed
    }

    /// Country `code`.
    pub fn country(&self, code: &str) -> &TestCountry {
        self.countries
            .get(code)
            .unwrap_or_else(|| panic!("no country {code} in this federation"))
    }

    /// Mutable access to country `code`.
    pub fn country_mut(&mut self, code: &str) -> &mut TestCountry {
        self.countries
            .get_mut(code)
            .unwrap_or_else(|| panic!("no country {code} in this federation"))
    }

    /// Makes `truster` trust `trusted` (export → add), as `puente trust` does, with the
    /// operator's consent to a changed CA, key or an older CRL (tests set those up on
    /// purpose; `renewal_and_trust.rs` tests the consent itself).
    pub fn trust(&self, truster: &str, trusted: &str) {
        let from = self.country(trusted);
        let bundle = puente::setup::export_bundle(&from.config).unwrap_or_else(|e| panic!("{e:#}"));
        let path = self
            .temp
            .path()
            .join(format!("{trusted}-for-{truster}.bundle"));
        files::write_public(&path, &bundle).expect("write bundle");
        puente::setup::add_peer(&self.country(truster).config, &path, None, true)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Starts country `code`'s node on its bound listener.
    pub async fn start(&mut self, code: &str) -> TestNode {
        self.start_with_clock(code, puente_node::services::system_clock())
            .await
    }

    /// Starts country `code`'s node with a given clock.
    pub async fn start_with_clock(&mut self, code: &str, clock: Clock) -> TestNode {
        let country = self.country_mut(code);
        let listener = match country.listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(country.addr).await {
                Ok(l) => l,
                // While the node was down another test's socket took its port: a new
                // one (what dials it through `country.addr` follows; peers whose trust
                // entry names the old one must reach it through a proxy, see
                // `FaultProxy::retarget`).
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                    country.addr = l.local_addr().expect("addr");
                    l
                }
                Err(e) => panic!("rebind node address {}: {e}", country.addr),
            },
        };
        TestNode::start(country.load(), listener, clock)
    }

    /// Starts `code`'s node on a new ephemeral port: for a node restarted after a while
    /// down, whose old port another test may have taken meanwhile. Peers reach it through
    /// a proxy that is retargeted ([`crate::fault_proxy::FaultProxy::retarget`]).
    pub async fn start_on_new_port(&mut self, code: &str) -> TestNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let country = self.country_mut(code);
        country.addr = listener.local_addr().expect("addr");
        country.listener = Some(listener);
        self.start(code).await
    }

    /// Has both parties sign `text` (an agreement between `a` and `b`) and drops it into
    /// both agreements directories as `file_name`. Returns the signed text.
    pub fn agree(&self, a: &str, b: &str, file_name: &str, text: &str) -> String {
        let draft = self.temp.path().join(format!("draft-{file_name}"));
        std::fs::write(&draft, text).expect("write draft");
        for party in [a, b] {
            puente::agreement::sign_file(&self.country(party).load(), &draft)
                .unwrap_or_else(|e| panic!("{party} signing: {e:#}"));
        }
        let signed = std::fs::read_to_string(&draft).expect("read signed");
        for party in [a, b] {
            self.put_agreement(party, file_name, &signed);
        }
        signed
    }

    /// A `Local` client of `code`'s node, as its operator `officer`.
    pub fn operator(&self, code: &str) -> LocalClient<Channel> {
        LocalClient::new(self.channel(code, &self.country(code).identity("operator-officer")))
    }

    /// Writes `text` as `file_name` into `code`'s agreements directory.
    pub fn put_agreement(&self, code: &str, file_name: &str, text: &str) {
        let dir = self.country(code).dir.join("agreements");
        std::fs::write(dir.join(file_name), text).expect("write agreement");
    }

    /// A client channel to `to`'s node, presenting `identity`, expecting a node of `to`.
    pub fn channel(&self, to: &str, identity: &TlsIdentity) -> Channel {
        let c = self.country(to);
        node_channel(
            &c.addr.to_string(),
            identity,
            &c.anchor(),
            Duration::from_secs(5),
            Some(Duration::from_secs(20)),
        )
        .expect("channel")
        .channel
    }

    /// A client channel to `to`'s node presenting no client certificate.
    pub fn channel_without_cert(&self, to: &str) -> Channel {
        let c = self.country(to);
        let verifier = PeerServerVerifier::new(&c.anchor()).expect("verifier");
        let mut cfg = rustls::ClientConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        channel_with_config(
            &c.addr.to_string(),
            Arc::new(cfg),
            tls::peer_server_name(c.code),
            Duration::from_secs(5),
            Some(Duration::from_secs(20)),
        )
        .expect("channel")
        .channel
    }
}

async fn new_country(base: &Path, code: &str) -> TestCountry {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let dir = base.join(code);
    let outcome = puente::setup::init(&InitArgs {
        country: code.to_string(),
        dir: dir.clone(),
        name: None,
        listen: addr.to_string(),
        advertise: None,
        operator: "officer".into(),
        auditor: "auditor".into(),
        metrics_listen: Some("127.0.0.1:0".into()),
    })
    .unwrap_or_else(|e| panic!("init {code}: {e:#}"));
    TestCountry {
        code: CountryCode::parse(code).expect("code"),
        dir,
        config: outcome.config,
        addr,
        listener: Some(listener),
    }
}

/// A running node.
pub struct TestNode {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its recent refusals.
    pub refusals: Arc<RefusalLog>,
    /// Its agreements (reload them as SIGHUP would).
    pub agreements: Arc<Agreements>,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where its metrics listener answers `GET /metrics` (always loopback here).
    pub metrics_addr: SocketAddr,
    /// Its metrics (tests feed the sync lag through it, as the statistics sync does).
    pub metrics: Arc<puente_node::metrics::Metrics>,
    /// Its shared state (`state.reload()` is what SIGHUP does).
    pub state: Arc<puente_node::services::NodeState>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), NodeError>>>,
}

impl TestNode {
    /// Starts a node for `loaded` on `listener`.
    pub fn start(loaded: LoadedNode, listener: TcpListener, clock: Clock) -> Self {
        let addr = listener.local_addr().expect("addr");
        let data_dir = loaded.config.node.data_dir.clone();
        let metrics_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind metrics");
        metrics_listener.set_nonblocking(true).expect("nonblocking");
        let metrics_listener = TcpListener::from_std(metrics_listener).expect("metrics listener");
        let metrics_addr = metrics_listener.local_addr().expect("metrics addr");
        let node = Node::with_clock(loaded, clock)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_metrics_listener(metrics_listener);
        let metrics = node.metrics();
        let refusals = node.refusals();
        let agreements = node.agreements();
        let state = node.state();
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(node.serve(listener, async {
            let _ = rx.await;
        }));
        Self {
            addr,
            refusals,
            agreements,
            data_dir,
            metrics_addr,
            metrics,
            state,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Refusals whose reason contains `needle`.
    pub fn refusals_matching(&self, needle: &str) -> Vec<Refusal> {
        self.refusals
            .snapshot()
            .into_iter()
            .filter(|r| r.reason.contains(needle))
            .collect()
    }

    /// Waits briefly (the handshake task records asynchronously) for a refusal whose
    /// reason contains `needle`; panics with every refusal seen if none comes.
    pub async fn expect_refusal(&self, needle: &str) -> Refusal {
        for _ in 0..100 {
            if let Some(r) = self.refusals_matching(needle).pop() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "no refusal mentioning {needle:?}; refusals: {:#?}",
            self.refusals.snapshot()
        );
    }

    /// Scrapes its `/metrics`; panics unless the answer is 200 in the text format.
    pub async fn scrape(&self) -> String {
        let (status, headers, body) = http_get(self.metrics_addr, "/metrics").await;
        assert_eq!(status, 200, "{headers}\n{body}");
        assert!(
            headers
                .to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{headers}"
        );
        body
    }

    /// Signals shutdown without waiting: the drain runs while the test watches it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Signals shutdown and waits for the node to drain and stop.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("node task").expect("node stopped cleanly");
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A plain HTTP/1.1 GET (as a Prometheus scraper sends it): (status, headers, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to metrics");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw))
        .await
        .expect("metrics answer in time")
        .expect("read");
    let text = String::from_utf8(raw).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("http answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head.to_string(), body.to_string())
}

/// The value of the sample `name{labels}` in a scrape (labels exactly as exposed).
pub fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        (s == series).then(|| v.parse().ok()).flatten()
    })
}

/// A clock tests move by hand; it counts how often the node read it.
#[derive(Clone)]
pub struct ManualClock(
    Arc<std::sync::Mutex<time::OffsetDateTime>>,
    Arc<std::sync::atomic::AtomicU64>,
);

impl ManualClock {
    /// A clock showing `t`.
    pub fn at(t: time::OffsetDateTime) -> Self {
        Self(Arc::new(std::sync::Mutex::new(t)), Arc::default())
    }

    /// Sets the time.
    pub fn set(&self, t: time::OffsetDateTime) {
        if let Ok(mut g) = self.0.lock() {
            *g = t;
        }
    }

    /// How many times the node has read the time so far.
    pub fn reads(&self) -> u64 {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The node clock reading this one.
    pub fn clock(&self) -> Clock {
        let inner = self.0.clone();
        let reads = self.1.clone();
        Arc::new(move || {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            inner
                .lock()
                .map(|g| *g)
                .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        })
    }
}

/// An agreement text between `provider`/`receiver` builders for tests.
pub fn agreement_text(
    id: &str,
    parties: [&str; 2],
    from: &str,
    until: &str,
    grants: &[String],
) -> String {
    format!(
        "format = \"puente-agreement/1\"\nid = \"{id}\"\nparties = [\"{}\", \"{}\"]\nvalid_from = \"{from}\"\nvalid_until = \"{until}\"\n{}",
        parties[0],
        parties[1],
        grants.join("")
    )
}

/// One `[[grant]]` block; `extra` holds more `key = value` lines (quotas, modes, …).
pub fn grant(
    provider: &str,
    receiver: &str,
    services: &[&str],
    purposes: &[&str],
    fields: &[&str],
    extra: &str,
) -> String {
    let list = |v: &[&str]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "\n[[grant]]\nprovider = \"{provider}\"\nreceiver = \"{receiver}\"\nservices = [{}]\npurposes = [{}]\nfields = [{}]\nlegal_basis = \"test basis\"\nretention_days = 30\n{extra}\n",
        list(services),
        list(purposes),
        list(fields)
    )
}

/// Rewrites keys of `code`'s `[server]` section (adding those the generated config lacks).
pub fn set_server(fed: &Federation, code: &str, values: &[(&str, &str)]) {
    set_config(fed, code, "server", values);
}

/// Sets `key = value` lines of `[section]` in `code`'s config (keys the file lacks go
/// right after the section header).
pub fn set_config(fed: &Federation, code: &str, section: &str, values: &[(&str, &str)]) {
    let header = format!("[{section}]");
    let path = &fed.country(code).config;
    let text = std::fs::read_to_string(path).expect("read config");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            current = line.to_string();
        }
        let key = line.split('=').next().unwrap_or("").trim();
        match values.iter().find(|(k, _)| *k == key) {
            Some((k, v)) if current == header => out.push(format!("{k} = {v}")),
            _ => out.push(line.to_string()),
        }
        if line == header {
            for (k, v) in values {
                if !text.contains(&format!("\n{k} =")) {
                    out.push(format!("{k} = {v}"));
                }
            }
        }
    }
    std::fs::write(path, out.join("\n") + "\n").expect("write config");
}

/// Points `truster`'s trust entry for `peer` at `address` (a proxy, a silent listener).
pub fn set_peer_address(fed: &Federation, truster: &str, peer: &str, address: &str) {
    let node = fed.country(truster).load();
    let path = node.config.trust.file.clone();
    let real = fed.country(peer).addr.to_string();
    let text = std::fs::read_to_string(&path).expect("read trust file");
    let needle = format!("address = \"{real}\"");
    assert!(text.contains(&needle), "{needle} not in {}", path.display());
    std::fs::write(
        &path,
        text.replace(&needle, &format!("address = \"{address}\"")),
    )
    .expect("write trust file");
}

/// An agreement in which MEX answers GTM's identity queries, for identification, with
/// the nationality disclosed, `per_day` a day: what `document_query` asks under.
pub fn agree_queries(fed: &Federation, per_day: u32) {
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-Q",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["identity_query"],
                &["identification"],
                &["nationality"],
                &format!("queries_per_day = {per_day}"),
            )],
        ),
    );
}

/// A document query (passport `number` issued by BGD) for `Exchange.QueryIdentity`, with
/// purpose identification and `case` as its case reference.
pub fn document_query(case: &str, number: &str) -> puente_proto::v1::QueryIdentityRequest {
    use puente_proto::v1 as pb;
    pb::QueryIdentityRequest {
        context: Some(pb::RequestContext {
            purpose: pb::Purpose::Identification as i32,
            case_reference: case.into(),
            ..Default::default()
        }),
        query: Some(pb::IdentityQuery {
            terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                document_number: number.into(),
                issuing_state: "BGD".into(),
                document_type: pb::DocumentType::Passport as i32,
            })),
        }),
        max_matches: 0,
    }
}
