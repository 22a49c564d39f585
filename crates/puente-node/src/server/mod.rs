//! Serving: a TLS accept loop of our own (rustls `ServerConfig` with the country-aware
//! client verifier and CRLs, handshakes bounded in time and number, every refusal logged
//! at WARN with the peer address and reason) feeding tonic's server, and a drain on
//! shutdown: health turns NOT_SERVING, the listener closes, in-flight calls get a grace
//! period, then the server stops. Limits (message sizes per service, concurrent streams
//! per connection, a token bucket per peer country on `Exchange`) are applied here, once.
//! Opening a node's data directory before it serves is in `open.rs`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use puente_proto::v1::audit_server::AuditServer;
use puente_proto::v1::exchange_server::ExchangeServer;
use puente_proto::v1::local_server::LocalServer;
use puente_proto::v1::manifest_server::ManifestServer;
use puente_proto::v1::node_status_server::NodeStatusServer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tracing::{debug, info, warn};

use crate::agreements::Agreements;
use crate::config::LoadedNode;
use crate::error::NodeError;
use crate::gate::{Gate, Rule};
use crate::limits::{self, PeerLimiter};
use crate::metrics::layer::RequestLayer;
use crate::metrics::Metrics;
use crate::refusals::{Refusal, RefusalLog, RefusalStage};
use crate::services::{
    audit::AuditService, exchange::ExchangeService, local::LocalService, manifest::ManifestService,
    status::StatusService, NodeState,
};

mod open;

/// Full gRPC names of the services, as health checks name them.
pub const SERVICE_NAMES: [&str; 5] = [
    "puente.v1.Exchange",
    "puente.v1.Local",
    "puente.v1.Audit",
    "puente.v1.NodeStatus",
    "puente.v1.Manifest",
];

/// A node ready to serve.
#[derive(Debug)]
pub struct Node {
    state: Arc<NodeState>,
    metrics_listener: Option<TcpListener>,
}

impl Node {
    /// The node's shared state (tests and the demo drive witnessing through it).
    pub fn state(&self) -> Arc<NodeState> {
        self.state.clone()
    }

    /// The node's agreements, to reload them (SIGHUP) from outside.
    pub fn agreements(&self) -> Arc<Agreements> {
        self.state.agreements.clone()
    }

    /// Serves `GET /metrics` on `listener` (already bound, from `metrics.listen` or by a
    /// test) while the node runs.
    pub fn with_metrics_listener(mut self, listener: TcpListener) -> Self {
        self.metrics_listener = Some(listener);
        self
    }

    /// The node's metrics (the statistics sync reports its lag per peer here).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// The node's record of recent refusals.
    pub fn refusals(&self) -> Arc<RefusalLog> {
        self.state.refusals.clone()
    }

    /// Serves on an already-bound listener until `shutdown` completes, then drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let state = self.state;
        let local_addr = listener.local_addr().ok();
        let own = state.node.country();
        let grace = state.node.drain_grace();

        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status("", ServingStatus::Serving).await;
        for name in SERVICE_NAMES {
            health
                .set_service_status(name, ServingStatus::Serving)
                .await;
        }
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(puente_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| crate::error::TlsSetupError::Reflection(e.to_string()))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(puente_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| crate::error::TlsSetupError::Reflection(e.to_string()))?;

        let cfg = &state.node.config.server;
        let recheck = {
            let state = state.clone();
            crate::gate::Recheck(Arc::new(move || state.material()))
        };
        let gate = |name, rule| {
            Gate::new(name, rule, own, state.refusals.clone()).with_recheck(recheck.clone())
        };
        let limiter = Arc::new(PeerLimiter::new(cfg.peer_rate_per_sec, cfg.peer_burst));
        // Each service decodes at most what its contract can need (an oversized message is
        // RESOURCE_EXHAUSTED before any handler runs) and never encodes more.
        let exchange = InterceptedService::new(
            ExchangeServer::new(ExchangeService::new(state.clone()))
                .max_decoding_message_size(limits::EXCHANGE_MAX_REQUEST)
                .max_encoding_message_size(limits::EXCHANGE_MAX_RESPONSE),
            gate("puente.v1.Exchange", Rule::PeerNode)
                .with_limiter(limiter, state.clock.clone())
                .with_disk(state.disk.clone()),
        );
        let local = InterceptedService::new(
            LocalServer::new(LocalService::new(state.clone()))
                .max_decoding_message_size(limits::LOCAL_MAX_REQUEST)
                .max_encoding_message_size(limits::LOCAL_MAX_RESPONSE),
            gate("puente.v1.Local", Rule::OwnOperator),
        );
        let audit = InterceptedService::new(
            AuditServer::new(AuditService::new(state.clone()))
                .max_decoding_message_size(limits::AUDIT_MAX_REQUEST)
                .max_encoding_message_size(limits::AUDIT_MAX_RESPONSE),
            gate("puente.v1.Audit", Rule::OwnAuditor),
        );

        let status = InterceptedService::new(
            NodeStatusServer::new(StatusService::new(state.clone())),
            gate("puente.v1.NodeStatus", Rule::OwnStaff),
        );

        let manifest = InterceptedService::new(
            ManifestServer::new(ManifestService::new(state.clone()))
                .max_decoding_message_size(limits::MANIFEST_MAX_REQUEST)
                .max_encoding_message_size(limits::LOCAL_MAX_RESPONSE),
            gate("puente.v1.Manifest", Rule::OwnCarrierOrOperator),
        );

        let (conn_tx, conn_rx) = mpsc::channel::<Result<TlsStream<TcpStream>, std::io::Error>>(64);
        // The listener closes only once health says NOT_SERVING, so a client sees the
        // drain coming before its connections are refused.
        let (closing_tx, closing_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(
            listener,
            state.clone(),
            conn_tx,
            closing_rx,
            state.refusals.clone(),
            Duration::from_secs(state.node.config.server.handshake_timeout_secs),
            state.node.config.server.max_pending_handshakes,
        ));

        let watcher = tokio::spawn(watch_files(
            state.clone(),
            Duration::from_secs(state.node.config.server.reload_interval_secs),
            stop_rx.clone(),
        ));
        let expiry = tokio::spawn(expiry_warnings(state.clone(), stop_rx.clone()));

        let witnesses = tokio::spawn(witness_rounds(
            state.clone(),
            Duration::from_secs(state.node.config.server.witness_interval_secs),
            stop_rx.clone(),
        ));

        let schedule = tokio::spawn(state.clone().stats_schedule(stop_rx.clone()));
        let deliveries = tokio::spawn(state.clone().alert_deliveries(stop_rx.clone()));
        let inbox = tokio::spawn(state.clone().inbox_watch(stop_rx.clone()));
        let retention = tokio::spawn(state.clone().manifest_retention(stop_rx.clone()));
        if state.node.config.alerts.detect {
            let s = state.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = s.detect_surges() {
                    warn!("surge detection at start: {}", e.message());
                }
            });
        }
        let metrics_server = self.metrics_listener.map(|l| {
            match l.local_addr() {
                Ok(addr) if !addr.ip().is_loopback() => warn!(
                    %addr,
                    "metrics are served beyond loopback, without TLS: restrict who can reach this address"
                ),
                Ok(addr) => info!(%addr, "metrics at http://{addr}/metrics"),
                Err(_) => {}
            }
            tokio::spawn(crate::metrics::http::serve(
                l,
                state.clone(),
                stop_rx.clone(),
            ))
        });

        info!(
            country = %own,
            node = %state.node.identity.name,
            addr = ?local_addr,
            peers = state.material().loaded.trust.peers.len(),
            "node serving"
        );

        // The store's health: while the data directory is below its free-space reserve
        // (or unreadable), the services that write audit entries are NOT_SERVING, so load
        // balancers and monitors see what every refused exchange says.
        let storage_health = {
            let health = health.clone();
            let disk = state.disk.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let mut serving = true;
                loop {
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    let d = disk.clone();
                    let ok = tokio::task::spawn_blocking(move || d.check().is_ok())
                        .await
                        .unwrap_or(false);
                    if ok != serving {
                        serving = ok;
                        let status = if ok {
                            ServingStatus::Serving
                        } else {
                            ServingStatus::NotServing
                        };
                        for name in ["", "puente.v1.Exchange", "puente.v1.Local"] {
                            health.set_service_status(name, status).await;
                        }
                    }
                }
            })
        };

        let mut drain_rx = stop_rx.clone();
        let health_on_drain = health.clone();
        let server_shutdown = async move {
            let _ = drain_rx.wait_for(|stop| *stop).await;
            health_on_drain
                .set_service_status("", ServingStatus::NotServing)
                .await;
            for name in SERVICE_NAMES {
                health_on_drain
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
            let _ = closing_tx.send(true);
            info!("draining in-flight calls");
        };
        let streams = state.node.config.server.max_concurrent_streams;
        let server = Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            // One connection (one peer, operator or auditor) gets at most this many
            // calls at once, enforced by HTTP/2 itself (SETTINGS_MAX_CONCURRENT_STREAMS):
            // the client queues. Not `concurrency_limit_per_connection`: when that limit
            // is reached hyper stops reading the connection, WINDOW_UPDATEs included, and
            // client and server can wait on each other for ever (hyper#3559; seen here
            // under the SIGKILL campaign's load).
            .max_concurrent_streams(Some(streams))
            .layer(RequestLayer::new(state.metrics.clone()))
            .add_service(InterceptedService::new(
                health_service,
                gate("grpc.health.v1.Health", Rule::OwnStaffOrPeerNode),
            ))
            .add_service(InterceptedService::new(
                reflection_v1,
                gate(
                    "grpc.reflection.v1.ServerReflection",
                    Rule::OwnStaffOrPeerNode,
                ),
            ))
            .add_service(InterceptedService::new(
                reflection_v1alpha,
                gate(
                    "grpc.reflection.v1alpha.ServerReflection",
                    Rule::OwnStaffOrPeerNode,
                ),
            ))
            .add_service(exchange)
            .add_service(local)
            .add_service(audit)
            .add_service(status)
            .add_service(manifest)
            .serve_with_incoming_shutdown(ReceiverStream::new(conn_rx), server_shutdown);
        tokio::pin!(server);

        let mut grace_rx = stop_rx;
        let result = tokio::select! {
            r = &mut server => r.map_err(NodeError::from),
            _ = async {
                let _ = grace_rx.wait_for(|stop| *stop).await;
                tokio::time::sleep(grace).await;
            } => {
                warn!(grace = ?grace, "in-flight calls did not finish within the grace period; stopping anyway");
                Ok(())
            }
        };
        accept.abort();
        watcher.abort();
        expiry.abort();
        witnesses.abort();
        schedule.abort();
        storage_health.abort();
        deliveries.abort();
        // An inbox file being imported stays in the inbox and is taken again at the
        // next start (an import converges).
        inbox.abort();
        retention.abort();
        if let Some(m) = metrics_server {
            m.abort();
        }
        // A final checkpoint over everything written, then the store is flushed.
        state.audit.close();
        if let Err(e) = state.store.flush().await {
            warn!("final flush of the store failed: {e}");
        }
        if let Err(e) = state.store.restrict_files() {
            warn!("{e}");
        }
        info!(country = %own, "node stopped");
        result
    }
}

/// Serves `node` on `listener` until `shutdown` completes (mini-redis style entry point).
pub async fn run(
    listener: TcpListener,
    node: LoadedNode,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    Node::new(node)?.serve(listener, shutdown).await
}

/// Runs `work` every `period` until the node stops (also at once when `at_start`); a
/// stop during a round lets the round finish.
async fn every<F, Fut>(
    period: Duration,
    at_start: bool,
    mut stop: watch::Receiver<bool>,
    mut work: F,
) where
    F: FnMut() -> Fut,
    Fut: Future,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !at_start {
        tick.tick().await;
    }
    loop {
        // The select's output holds the watch's guard: decide first, then work.
        let stopping = tokio::select! {
            _ = stop.wait_for(|s| *s) => true,
            _ = tick.tick() => false,
        };
        if stopping {
            break;
        }
        // What a round found is its own to report (logs, metrics).
        let _ = work().await;
    }
}

/// Looks for changes of the agreements directory and of the TLS material and trust file.
async fn watch_files(state: Arc<NodeState>, period: Duration, stop: watch::Receiver<bool>) {
    every(period, false, stop, || {
        let s = state.clone();
        async move {
            let _ = tokio::task::spawn_blocking(move || {
                // Material first: a changed trust bundle re-verifies the agreements itself.
                s.reload_material_if_changed();
                s.agreements.reload_if_changed();
            })
            .await;
        }
    })
    .await;
}

/// Warns of the node certificate and agreements nearing their end: at start, then daily.
async fn expiry_warnings(state: Arc<NodeState>, stop: watch::Receiver<bool>) {
    every(Duration::from_secs(24 * 60 * 60), true, stop, || {
        state.warn_expiry();
        std::future::ready(())
    })
    .await;
}

/// Asks the peers to cosign this node's latest checkpoint, every `period`.
async fn witness_rounds(state: Arc<NodeState>, period: Duration, stop: watch::Receiver<bool>) {
    every(period, false, stop, || state.witness_all()).await;
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<NodeState>,
    conns: mpsc::Sender<Result<TlsStream<TcpStream>, std::io::Error>>,
    mut stop: watch::Receiver<bool>,
    refusals: Arc<RefusalLog>,
    handshake_timeout: Duration,
    max_pending: usize,
) {
    let pending = Arc::new(Semaphore::new(max_pending));
    let sources = Arc::new(PendingBySource::new(max_pending));
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly, keep serving.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(source) = sources.enter(peer.ip()) else {
            warn!(%peer, "too many TLS handshakes in progress from this address; connection dropped");
            continue;
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            warn!(%peer, "too many TLS handshakes in progress; connection dropped");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        // Each connection takes the material in use when it arrives.
        let acceptor = TlsAcceptor::from(state.material().server.clone());
        let conns = conns.clone();
        let refusals = refusals.clone();
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await;
            drop(permit);
            drop(source);
            match outcome {
                Ok(Ok(stream)) => {
                    debug!(%peer, "TLS handshake completed");
                    let _ = conns.send(Ok(stream)).await;
                }
                Ok(Err(e)) => {
                    handshake_refused(&refusals, peer, puente_pki::tls::describe_io_error(&e))
                }
                Err(_) => handshake_refused(
                    &refusals,
                    peer,
                    format!("handshake not completed within {handshake_timeout:?}"),
                ),
            }
        });
    }
}

/// Handshakes in progress per source address, each at most a quarter of all the slots:
/// connections that open and send nothing hold a slot until the handshake timeout, so
/// without this one address (no certificate needed) could hold every slot and keep
/// every operator and peer out. A real handshake takes milliseconds, so even a
/// ministry's NAT, many workstations behind one address, stays far below the cap.
#[derive(Debug)]
struct PendingBySource {
    cap: usize,
    counts: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One handshake's place in [`PendingBySource`], given back when dropped.
struct SourceSlot {
    sources: Arc<PendingBySource>,
    ip: std::net::IpAddr,
}

impl PendingBySource {
    fn new(max_pending: usize) -> Self {
        Self {
            cap: (max_pending / 4).max(1),
            counts: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn counts(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<std::net::IpAddr, usize>> {
        // A poisoned lock only means a panic elsewhere between whole-value updates.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a handshake from `ip`, unless it already has its share in progress.
    fn enter(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<SourceSlot> {
        let mut counts = self.counts();
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            sources: self.clone(),
            ip,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut counts = self.sources.counts();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

fn handshake_refused(refusals: &RefusalLog, peer: SocketAddr, reason: String) {
    warn!(%peer, "TLS handshake refused: {reason}");
    refusals.record(Refusal {
        stage: RefusalStage::Handshake,
        peer: Some(peer),
        reason,
    });
}
