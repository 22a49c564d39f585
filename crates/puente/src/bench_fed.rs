//! Real nodes for benchmarks: countries set up with `puente init` in a temp dir, trust
//! bundles swapped, one agreement signed by both, nodes serving on 127.0.0.1 ports — the
//! same code paths an operator uses, so a benchmark measures what runs in production.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use puente_node::{LoadedNode, Node, NodeConfig};
use puente_pki::files;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cli::InitArgs;
use crate::setup;

/// Countries set up but not started yet (import records now, then [`Prepared::start`]).
pub struct Prepared {
    /// Keeps the files.
    pub dir: tempfile::TempDir,
    /// Each country's config, in the order given.
    pub configs: Vec<PathBuf>,
    listeners: Vec<TcpListener>,
}

/// Running nodes.
pub struct Running {
    /// Keeps the files.
    pub dir: tempfile::TempDir,
    /// Each node's loaded config, in the order given.
    pub nodes: Vec<LoadedNode>,
    stops: Vec<oneshot::Sender<()>>,
    handles: Vec<tokio::task::JoinHandle<Result<(), puente_node::NodeError>>>,
}

/// Sets up `countries`, has each trust every other, and signs `agreement` (a TOML body
/// after the header lines; `{from}`/`{until}` are filled in) between the first two.
/// `tweak` edits each config's text (e.g. to turn the schedule off).
pub async fn prepare(
    countries: &[&str],
    agreement_id: &str,
    grants: &str,
    tweak: &dyn Fn(&str) -> String,
) -> Result<Prepared> {
    prepare_in(None, countries, agreement_id, grants, tweak).await
}

/// [`prepare`], in a new directory under `within` (the system's temporary directory
/// when `None`).
pub async fn prepare_in(
    within: Option<&std::path::Path>,
    countries: &[&str],
    agreement_id: &str,
    grants: &str,
    tweak: &dyn Fn(&str) -> String,
) -> Result<Prepared> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("puente-bench-");
    let dir = match within {
        Some(w) => builder
            .tempdir_in(w)
            .with_context(|| format!("a directory in {}", w.display()))?,
        None => builder.tempdir().context("temp dir")?,
    };
    let base = dir.path().to_path_buf();
    let mut listeners = Vec::new();
    let mut configs: Vec<PathBuf> = Vec::new();
    for country in countries {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let args = InitArgs {
            country: country.to_string(),
            dir: base.join(country),
            name: None,
            listen: listener.local_addr()?.to_string(),
            advertise: None,
            operator: "officer".into(),
            auditor: "auditor".into(),
            metrics_listen: Some("127.0.0.1:0".into()),
        };
        configs.push(setup::init(&args)?.config);
        listeners.push(listener);
    }
    for i in 0..configs.len() {
        let bundle = setup::export_bundle(&configs[i])?;
        let path = base.join(format!("{i}.bundle"));
        files::write_public(&path, &bundle)?;
        for (j, c) in configs.iter().enumerate() {
            if i != j {
                setup::add_peer(c, &path, None, false)?;
            }
        }
    }
    for c in &configs {
        // Benchmarks measure the exchange path, not the per-peer rate limit in front of it.
        let text = std::fs::read_to_string(c)?
            .replace("peer_rate_per_sec = 50\n", "peer_rate_per_sec = 100000\n")
            .replace("peer_burst = 200\n", "peer_burst = 1000000\n");
        std::fs::write(c, tweak(&text))?;
    }
    let today = time::OffsetDateTime::now_utc().date();
    let text = format!(
        "format = \"puente-agreement/1\"\nid = \"{agreement_id}\"\nparties = [\"{}\", \"{}\"]\nvalid_from = \"{}\"\nvalid_until = \"{}\"\n{grants}",
        countries[0],
        countries[1],
        today - time::Duration::days(1),
        today + time::Duration::days(30)
    );
    let draft = base.join("agreement.toml");
    std::fs::write(&draft, text)?;
    for c in &configs[..2] {
        crate::agreement::sign_file(&NodeConfig::load(c)?, &draft)?;
    }
    let signed = std::fs::read_to_string(&draft)?;
    for c in &configs[..2] {
        let node = NodeConfig::load(c)?;
        std::fs::write(node.config.agreements.dir.join("bench.toml"), &signed)?;
    }
    Ok(Prepared {
        dir,
        configs,
        listeners,
    })
}

impl Prepared {
    /// The files without the listeners (their ports free again, for nodes started as
    /// processes of their own with these configs).
    pub fn into_files(self) -> (tempfile::TempDir, Vec<PathBuf>) {
        (self.dir, self.configs)
    }

    /// Starts every node.
    pub async fn start(self) -> Result<Running> {
        let mut nodes = Vec::new();
        let mut stops = Vec::new();
        let mut handles = Vec::new();
        for (listener, c) in self.listeners.into_iter().zip(&self.configs) {
            let node = NodeConfig::load(c)?;
            nodes.push(node.clone());
            let (tx, rx) = oneshot::channel::<()>();
            stops.push(tx);
            handles.push(tokio::spawn(Node::new(node)?.serve(listener, async {
                let _ = rx.await;
            })));
        }
        Ok(Running {
            dir: self.dir,
            nodes,
            stops,
            handles,
        })
    }
}

impl Running {
    /// Stops every node and waits for it; returns the directory (still holding the data).
    pub async fn stop(self) -> Result<tempfile::TempDir> {
        for tx in self.stops {
            let _ = tx.send(());
        }
        for h in self.handles {
            h.await
                .map_err(|e| anyhow!("a bench node task: {e}"))?
                .map_err(|e| anyhow!("a bench node: {e}"))?;
        }
        Ok(self.dir)
    }
}
