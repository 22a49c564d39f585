//! Running a node and talking to it: `puente node run`, `puente node check`,
//! `puente peers`.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use puente_client::NodeClient;
use puente_node::agreements::AgreementSet;
use puente_node::lifecycle::expiry_warnings;
use puente_node::{ConfigError, LoadedNode, NodeConfig};
use puente_pki::inspect::fingerprint_text;
use puente_pki::tls::TlsIdentity;
use puente_pki::Role;
use puente_proto::v1::local_client::LocalClient;
use puente_proto::v1::ListPeersResponse;
use time::OffsetDateTime;
use tokio::net::TcpListener;

use crate::cli::NodeAccess;

/// `puente node run`: serve until SIGINT/SIGTERM, then drain.
pub fn run_node(config: &Path) -> Result<()> {
    let node = NodeConfig::load(config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        // Signal handlers first: a SIGTERM that arrives while the store opens must drain
        // the node, not kill it.
        let shutdown = shutdown_signal();
        let listener = TcpListener::bind(node.listen).await.map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (is a node already running on this config? `puente status --config …` asks it)"
            } else {
                ""
            };
            anyhow!(
                "binding node.listen {} from {}: {e}{hint}",
                node.listen,
                config.display()
            )
        })?;
        let metrics = match node.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
                format!("binding metrics.listen {addr} from {}", config.display())
            })?),
            None => None,
        };
        let mut node = puente_node::Node::new(node)?;
        if let Some(l) = metrics {
            node = node.with_metrics_listener(l);
        }
        let state = node.state();
        #[cfg(unix)]
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!(
                    "SIGHUP received: reloading certificate, CRLs, trust bundle and agreements"
                );
                // `reload` logs its report: what changed, or why nothing did.
                let s = state.clone();
                let _ = tokio::task::spawn_blocking(move || s.reload()).await;
            }
        });
        node.serve(listener, shutdown).await?;
        Ok(())
    })
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, not
/// when the returned future is first polled.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM received"),
                        _ = int.recv() => tracing::info!("SIGINT received"),
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    tracing::info!("SIGINT received");
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("SIGINT received");
    }
}

/// `puente node check`: validate without starting; returns a report.
pub fn check_node(config: &Path) -> Result<String> {
    let node = NodeConfig::load(config)?;
    let now = OffsetDateTime::now_utc();
    // What the node checks at start and on every reload, beyond parsing.
    let problems = node.material().check_serving(&node.config, now);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid {
            path: config.to_path_buf(),
            problems,
        }
        .into());
    }
    let mut out = format!(
        "{} is valid.\n  node         {} ({})\n  listen       {} (advertised as {})\n  metrics      {}\n  certificate  valid until {} ({} days left)\n  signing key  {}\n  peers        {}\n",
        config.display(),
        node.identity.urn(),
        node.country().name(),
        node.listen,
        node.advertise,
        node.metrics_listen
            .map(|a| format!("http://{a}/metrics"))
            .unwrap_or_else(|| "off".into()),
        node.cert_info.not_after.date(),
        (node.cert_info.not_after - now).whole_days(),
        node.signing.name(),
        node.trust.peers.len(),
    );
    for p in &node.trust.peers {
        out.push_str(&format!(
            "    {} at {}  CA {}\n",
            p.country,
            p.address,
            fingerprint_text(&p.ca_info.fingerprint)
        ));
    }
    // Loads (a config of an earlier version may hold it), but peers cannot dial it.
    if let Err(e) = puente_pki::trust::dialable(&node.advertise) {
        out.push_str(&format!("  WARNING: node.advertise {e}\n"));
    }
    for p in &node.trust.peers {
        if let Err(e) = puente_pki::trust::dialable(&p.address) {
            out.push_str(&format!(
                "  WARNING: the trust file's {} address {e}\n",
                p.country
            ));
        }
    }
    // The same agreements and warnings the node would have at start.
    let agreements = AgreementSet::load(
        &node.config.agreements.dir,
        node.country(),
        &node.signing.verifying_key(),
        &node.trust,
    );
    let enforced: Vec<_> = agreements.enforced(now).into_iter().cloned().collect();
    out.push_str(&format!(
        "  agreements   {} enforced, {} files not enforced\n",
        enforced.len(),
        agreements.files.len() - enforced.len()
    ));
    for f in &agreements.files {
        match &f.refused {
            Some(why) if f.broken => out.push_str(&format!("    ERROR: {why}\n")),
            Some(why) => out.push_str(&format!("    not enforced: {why}\n")),
            None => {}
        }
    }
    for w in expiry_warnings(
        now,
        &node.cert_info,
        &enforced,
        node.config.server.expiry_warning_days,
    ) {
        out.push_str(&format!("  WARNING: {w}\n"));
    }
    let crls = puente_node::crl::crl_statuses(&node.material());
    for c in crls.iter().filter(|c| c.own) {
        if let Some(next) = c.next_update {
            out.push_str(&format!(
                "  CRL          current until {} ({} days left)\n",
                next.date(),
                (next - now).whole_days()
            ));
        }
    }
    for c in puente_node::crl::crl_concerns(now, &crls) {
        match c {
            puente_node::crl::CrlConcern::Warning(w) => out.push_str(&format!("  WARNING: {w}\n")),
            puente_node::crl::CrlConcern::Error(e) => out.push_str(&format!("  ERROR: {e}\n")),
        }
    }
    out.push_str(&check_store_and_ports(&node)?);
    Ok(out)
}

/// What `node run` would meet next, when no node runs on this config: the store and the
/// audit log open (and the log is as long as the node last signed for), and the listen
/// and metrics addresses can be bound. A node that runs holds them: then they are not
/// checked, and the report says so.
fn check_store_and_ports(node: &LoadedNode) -> Result<String> {
    let dir = &node.config.node.data_dir;
    if !dir.exists() {
        return Ok(format!(
            "  store        {} does not exist yet (the first start makes it)\n",
            dir.display()
        ));
    }
    let Some(store) = crate::access::store_unless_running(node)? else {
        return Ok(
            "  store        held by the node running on this config (store, log and addresses not checked)\n"
                .to_string(),
        );
    };
    let key = node.signing.verifying_key();
    let trees = puente_audit::Trees::open_checked(store.db(), &store.audit_dir(), &key)
        .map_err(|e| anyhow!("the audit log in {}: {e}", store.audit_dir().display()))?;
    puente_audit::head::check(&puente_node::store::audit_head_path(dir), &trees, &key)
        .map_err(|e| anyhow!("the audit log in {}: {e}", store.audit_dir().display()))?;
    let entries = trees.size().unwrap_or(0);
    drop(trees);
    drop(store);
    let mut bind = vec![("node.listen", node.listen)];
    bind.extend(node.metrics_listen.map(|a| ("metrics.listen", a)));
    for (key, addr) in &bind {
        std::net::TcpListener::bind(addr).map_err(|e| {
            anyhow!("{key} {addr} cannot be bound: {e} (another process holds it?)")
        })?;
    }
    Ok(format!(
        "  store        opens; the audit log holds {entries} entries, as signed\n  addresses    {} can be bound\n",
        bind.iter()
            .map(|(_, a)| a.to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    ))
}

/// The operator identity named by `[client]` of a loaded config.
pub fn operator_identity(node: &LoadedNode) -> Result<TlsIdentity> {
    crate::access::person_identity(node, Role::Operator)
}

/// A `Local` client to the node of `node`, as its operator (the config's `[client]`).
pub fn local_client(node: &LoadedNode) -> Result<LocalClient<tonic::transport::Channel>> {
    Ok(crate::access::node_client(node, Role::Operator)?.local())
}

/// Asks the node configured at `config` for its peers, probing each.
pub async fn list_peers(node: &LoadedNode) -> Result<ListPeersResponse> {
    peers_of(&crate::access::node_client(node, Role::Operator)?).await
}

/// Asks the node behind `client` for its peers, probing each.
pub async fn peers_of(client: &NodeClient) -> Result<ListPeersResponse> {
    client
        .list_peers(true)
        .await
        .map_err(|e| anyhow!("asking {}: {e}", client.describe()))
}

/// Renders a `ListPeers` answer as a table.
pub fn render_peers(r: &ListPeersResponse) -> String {
    let mut out = format!(
        "{} node {}: {} peer(s)\n",
        r.local_country,
        r.local_node,
        r.peers.len()
    );
    if r.peers.is_empty() {
        out.push_str("  (none: add peers with `puente trust add`)\n");
        return out;
    }
    out.push_str(&format!(
        "  {:<8} {:<22} {:<10} {:<10} {:>9}  {:<12} {}\n",
        "COUNTRY",
        "ADDRESS",
        "REACHABLE",
        "NODE",
        "RTT",
        "CERT UNTIL",
        "CA FINGERPRINT (first 4 groups)"
    ));
    for p in &r.peers {
        let rtt = p
            .round_trip
            .as_ref()
            .map(|d| format!("{:.1}ms", d.seconds as f64 * 1e3 + f64::from(d.nanos) / 1e6))
            .unwrap_or_default();
        let until = p
            .certificate_not_after
            .as_ref()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
            .map(|t| t.date().to_string())
            .unwrap_or_else(|| "-".into());
        // The wire carries plain hex; show the first four groups, as `trust list` does.
        let fp = fingerprint_text(&hex::decode(&p.ca_fingerprint).unwrap_or_default())
            .split(' ')
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&format!(
            "  {:<8} {:<22} {:<10} {:<10} {:>9}  {:<12} {}\n",
            p.country,
            p.address,
            if p.reachable { "yes" } else { "NO" },
            if p.peer_node.is_empty() {
                "-"
            } else {
                &p.peer_node
            },
            rtt,
            until,
            fp
        ));
        if !p.reachable && !p.error.is_empty() {
            out.push_str(&format!("           why: {}\n", p.error));
        }
    }
    out
}

/// `puente peers`
pub fn peers(access: &NodeAccess) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let _in_runtime = runtime.enter();
    let (_access, client) = crate::access::client(access, Role::Operator)?;
    let response = runtime.block_on(peers_of(&client))?;
    print!("{}", render_peers(&response));
    Ok(())
}
