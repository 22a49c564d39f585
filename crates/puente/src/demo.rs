//! `puente demo`: the path two countries walk, for three countries on one machine.
//! Each country gets its PKI and config (`puente init`), they swap trust bundles
//! (`puente trust export/add`), three real nodes start on 127.0.0.1, and each asks its own
//! node, as an operator, which peers it can reach over mutual TLS.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use puente_node::{Node, NodeConfig};
use puente_pki::files;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cli::{DemoArgs, InitArgs};
use crate::{operate, setup};

/// The demo federation.
pub const COUNTRIES: [&str; 3] = ["MEX", "GTM", "CRI"];

/// Runs the demo; fails with the step that went wrong.
pub fn run(args: &DemoArgs) -> Result<()> {
    let (_temp, base) = match &args.dir {
        Some(dir) => {
            if dir.exists()
                && std::fs::read_dir(dir)
                    .with_context(|| format!("reading {}", dir.display()))?
                    .next()
                    .is_some()
            {
                bail!(
                    "{} is not empty; give `puente demo --dir` an empty or new directory",
                    dir.display()
                );
            }
            files::create_dir(dir)?;
            (None, dir.clone())
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("puente-demo-")
                .tempdir()
                .context("creating a temporary directory")?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(federation(&base))?;
    if args.dir.is_some() {
        println!();
        println!(
            "The federation is kept in {}. Run a node again with:",
            base.display()
        );
        println!(
            "  puente node run --config {}",
            base.join("MEX/puente.toml").display()
        );
    }
    Ok(())
}

async fn federation(base: &Path) -> Result<()> {
    let started = Instant::now();
    println!(
        "Puente demo: a federation of {} on 127.0.0.1",
        COUNTRIES.join(", ")
    );
    println!("Working directory: {}", base.display());
    println!();

    println!("Step 1. Each country sets up its node (puente init): root CA, node, operator and auditor certificates, signing key, config.");
    let mut listeners = Vec::new();
    let mut configs: Vec<PathBuf> = Vec::new();
    for country in COUNTRIES {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0 for a demo node")?;
        let addr = listener.local_addr()?;
        let args = InitArgs {
            country: country.to_string(),
            dir: base.join(country),
            name: None,
            listen: addr.to_string(),
            advertise: None,
            operator: "officer".into(),
            auditor: "auditor".into(),
        };
        let outcome = setup::init(&args).with_context(|| format!("setting up {country}"))?;
        println!(
            "  {country}: node {}-1 at {addr}, config {}",
            country.to_ascii_lowercase(),
            outcome.config.display()
        );
        listeners.push(listener);
        configs.push(outcome.config);
    }

    println!();
    println!("Step 2. They swap public trust bundles (puente trust export / trust add) and confirm fingerprints.");
    for (i, from) in COUNTRIES.iter().enumerate() {
        let bundle = setup::export_bundle(&configs[i])?;
        let bundle_path = base.join(format!("{from}.bundle"));
        files::write_public(&bundle_path, &bundle)?;
        for (j, to) in COUNTRIES.iter().enumerate() {
            if i == j {
                continue;
            }
            let report = setup::add_peer(&configs[j], &bundle_path, None)
                .with_context(|| format!("{to} adding the bundle of {from}"))?;
            let fp = report
                .lines()
                .find(|l| l.contains("CA fingerprint"))
                .map(|l| {
                    l.trim()
                        .trim_start_matches("CA fingerprint")
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            println!("  {to} trusts {from}  (CA {fp})");
        }
    }

    println!();
    println!("Step 3. Three nodes start (puente node run), each serving gRPC over mutual TLS.");
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    let mut loaded = Vec::new();
    for (listener, config) in listeners.into_iter().zip(&configs) {
        let node = NodeConfig::load(config)?;
        loaded.push(node.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = Node::new(node)?;
        stops.push(tx);
        handles.push(tokio::spawn(server.serve(listener, async {
            let _ = rx.await;
        })));
    }
    for node in &loaded {
        println!(
            "  {} node {} listening on {}",
            node.country(),
            node.identity.name,
            node.advertise
        );
    }

    println!();
    println!("Step 4. An officer of each country asks its own node for its peers (puente peers); the node dials each peer over mTLS.");
    let mut failures = Vec::new();
    for node in &loaded {
        let response = operate::list_peers(node)
            .await
            .with_context(|| format!("officer of {} asking its node", node.country()))?;
        println!();
        for line in operate::render_peers(&response).lines() {
            println!("  {line}");
        }
        for p in &response.peers {
            if !p.reachable {
                failures.push(format!(
                    "{} cannot reach {}: {}",
                    node.country(),
                    p.country,
                    p.error
                ));
            }
        }
        if response.peers.len() != COUNTRIES.len() - 1 {
            failures.push(format!(
                "{} sees {} peers, expected {}",
                node.country(),
                response.peers.len(),
                COUNTRIES.len() - 1
            ));
        }
    }

    println!();
    println!("Step 5. The nodes shut down gracefully (drain in-flight calls, then stop).");
    for tx in stops {
        let _ = tx.send(());
    }
    for h in handles {
        h.await.context("a demo node task failed")??;
    }

    println!();
    if failures.is_empty() {
        println!(
            "Summary: {} nodes, each reached its {} peers over mutual TLS with certificates of their own country CAs. ({:.1}s)",
            COUNTRIES.len(),
            COUNTRIES.len() - 1,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        bail!(
            "the federation is not fully connected:\n  {}",
            failures.join("\n  ")
        )
    }
}
