//! `puente demo`: the path countries walk, for three countries on one machine. Each
//! country sets up its node, they swap trust bundles, sign bilateral agreements, import
//! their records, start real nodes on 127.0.0.1, and officers query each other. Every step
//! uses the same code as the commands it names.

mod data;
mod flows;
mod manifests;
mod officers;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use puente_node::{LoadedNode, Node, NodeConfig};
use puente_pki::files;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cli::{DemoArgs, InitArgs};
use crate::{operate, setup};

/// The demo federation.
pub const COUNTRIES: [&str; 3] = ["MEX", "GTM", "CRI"];

/// How many synthetic persons each country holds in the demo.
const PERSONS: [u64; 3] = [2000, 800, 800];

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
    runtime.block_on(federation(&base, args.keep_running))?;
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

fn step(n: u32, text: &str) {
    println!();
    println!("Step {n}. {text}");
}

fn index_of(country: &str) -> usize {
    COUNTRIES.iter().position(|c| *c == country).unwrap_or(0)
}

async fn federation(base: &Path, keep_running: bool) -> Result<()> {
    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    println!(
        "Puente demo: a federation of {} on 127.0.0.1",
        COUNTRIES.join(", ")
    );
    println!("Working directory: {}", base.display());

    step(1, "Each country sets up its node (puente init): root CA, node, operator and auditor certificates, signing key, data key, config.");
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
            // Three nodes on one machine: each takes a free port when run by hand.
            metrics_listen: Some("127.0.0.1:0".into()),
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

    step(2, "They swap public trust bundles (puente trust export / trust add) and confirm fingerprints.");
    for (i, from) in COUNTRIES.iter().enumerate() {
        let bundle = setup::export_bundle(&configs[i])?;
        let bundle_path = base.join(format!("{from}.bundle"));
        files::write_public(&bundle_path, &bundle)?;
        for (j, to) in COUNTRIES.iter().enumerate() {
            if i == j {
                continue;
            }
            let report = setup::add_peer(&configs[j], &bundle_path, None, false)
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

    step(3, "Each pair drafts a bilateral agreement and both parties sign it (puente agreement draft / sign).");
    let today = time::OffsetDateTime::now_utc().date();
    for (a, b, text) in data::demo_agreements(today) {
        let file = base.join(format!("{a}-{b}.agreement.toml"));
        files::write_public(&file, &text)?;
        for c in [a, b] {
            let node = NodeConfig::load(&configs[index_of(c)])?;
            crate::agreement::sign_file(&node, &file)
                .with_context(|| format!("{c} signing {a}-{b}"))?;
        }
        let signed = files::read_text(&file)?;
        for c in [a, b] {
            let node = NodeConfig::load(&configs[index_of(c)])?;
            crate::agreement::verify_file(&node, &file)?;
            files::write_public(
                &node.config.agreements.dir.join(format!("{a}-{b}.toml")),
                &signed,
            )?;
        }
        let agreement = puente_policy::Agreement::parse(&signed, "demo")?;
        for line in agreement.describe().lines() {
            println!("  {line}");
        }
    }

    step(4, "Each country imports its records (puente records generate / records import): synthetic migrants, sealed at rest.");
    for (i, country) in COUNTRIES.iter().enumerate() {
        let dir = base.join(country).join("import");
        let csv = data::write_records(&dir, country, PERSONS[i], 100 + i as u64)?;
        let (_store, records) = crate::records::open(&configs[i])?;
        let report = puente_records::import::import(&records, &csv, today, &mut |_, _| {})
            .with_context(|| format!("{country} importing {}", csv.display()))?;
        println!(
            "  {country}: {} persons imported ({} passport copies)",
            report.created, report.copies
        );
    }

    step(
        5,
        "Three nodes start (puente node run), each serving gRPC over mutual TLS.",
    );
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    let mut loaded: Vec<LoadedNode> = Vec::new();
    let mut states = Vec::new();
    for (listener, config) in listeners.into_iter().zip(&configs) {
        let node = NodeConfig::load(config)?;
        loaded.push(node.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = Node::new(node)?;
        states.push(server.state());
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

    step(6, "An officer of each country asks its own node for its peers (puente peers); the node dials each peer over mTLS.");
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
    }

    step(
        7,
        "The agreements MEX enforces (puente agreements), as its officer sees them:",
    );
    let listed = crate::agreement::fetch(&loaded[0]).await?;
    for line in crate::agreement::render(&listed).lines() {
        println!("  {line}");
    }

    step(
        8,
        "Officers query each other (puente query / puente fetch), through their own nodes:",
    );
    officers::story(base, &loaded, &mut failures).await?;

    step(
        9,
        "Flow statistics: countries add aggregated counts, the nodes sync them, MEX assembles the regional matrix:",
    );
    flows::story(base, &loaded, &mut failures).await?;

    step(
        10,
        "Early warning: a surge in MEX's counts becomes a signed alert, published by an officer:",
    );
    flows::alert_story(&loaded, &mut failures).await?;

    step(
        11,
        "Advance passenger information: a bus company at a border crossing and an airline send their manifests to MEX:",
    );
    manifests::story(base, &loaded, &mut failures).await?;

    step(
        12,
        "Each node has its peers cosign its latest audit checkpoint (cross-witnessing):",
    );
    for state in &states {
        for (peer, outcome) in state.witness_all().await {
            match outcome {
                Ok(size) => println!(
                    "  {} cosigned {}'s checkpoint at size {size}",
                    peer,
                    state.country()
                ),
                Err(e) => {
                    println!(
                        "  {} did NOT cosign {}'s checkpoint: {e}",
                        peer,
                        state.country()
                    );
                    failures.push(format!("witnessing {} by {peer}: {e}", state.country()));
                }
            }
        }
    }

    step(13, "An auditor of MEX reads its node's log online (puente audit list --online), as the Audit service serves it:");
    audit_view(&loaded[0], &mut failures).await;

    if keep_running {
        hands_on(&loaded);
        wait_for_stop().await;
    }

    step(14, "The nodes shut down gracefully (drain in-flight calls, sign a final checkpoint, then stop).");
    for tx in stops {
        let _ = tx.send(());
    }
    for h in handles {
        h.await.context("a demo node task failed")??;
    }
    drop(states);

    step(15, "Auditors verify each log offline (puente audit verify) and prove one entry (puente audit prove):");
    for config in &configs {
        let node = NodeConfig::load(config)?;
        let store = puente_node::store::Store::open(&node.config.node.data_dir)?;
        let trees = puente_audit::log::Trees::open(store.db(), &store.audit_dir())?;
        let keys = DemoKeys(&node, node.signing.verifying_key());
        match puente_audit::verify::verify(&trees, &keys, &mut |_, _| {}) {
            Ok(r) => println!(
                "  {}: {} entries, {} signed checkpoints, {} peer cosignatures, {} counterpart receipts — all verify",
                node.country(), r.entries, r.checkpoints, r.cosignatures, r.receipts
            ),
            Err(e) => failures.push(format!("{}'s log: {e}", node.country())),
        }
        if node.country().as_str() == "MEX" {
            let size = trees.size()?;
            if size > 0 {
                let index = size / 2;
                let proof = puente_audit::merkle::inclusion_proof(
                    &puente_audit::log::Stored(&trees),
                    index,
                    size,
                )
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                let leaf =
                    puente_audit::entry::leaf_of(&trees.entry_bytes(index)?.unwrap_or_default());
                let note = trees.latest()?.unwrap_or_default();
                let cp = puente_audit::checkpoint::open(&note, &node.signing.verifying_key())?;
                let ok =
                    puente_audit::merkle::verify_inclusion(index, size, &leaf, &proof, &cp.root);
                println!("  MEX entry {index}: {} proof hashes lead to the root signed at size {size}: {}", proof.len(), if ok { "proven" } else { "NOT PROVEN" });
                if !ok {
                    failures.push("the inclusion proof failed".into());
                }
            }
        }
    }

    println!();
    if failures.is_empty() {
        println!(
            "Summary: 3 nodes over mutual TLS, 3 signed agreements, {} persons held; every query answered as its agreement and the protection rule require. ({:.1}s)",
            PERSONS.iter().sum::<u64>() + data::STORY_ROWS.len() as u64,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        bail!(
            "the demo did not go as it should:\n  {}",
            failures.join("\n  ")
        )
    }
}

struct DemoKeys<'a>(&'a LoadedNode, puente_pki::VerifyingKey);

impl puente_audit::verify::Keys for DemoKeys<'_> {
    fn own(&self) -> &puente_pki::VerifyingKey {
        &self.1
    }
    fn peer(&self, country: &str) -> Option<puente_pki::VerifyingKey> {
        let c = puente_pki::CountryCode::parse(country).ok()?;
        self.0.trust.peer(c).map(|p| p.signing_key.clone())
    }
}

async fn audit_view(node: &LoadedNode, failures: &mut Vec<String>) {
    use puente_proto::v1 as pb;
    let result = async {
        let id = puente_pki::tls::TlsIdentity {
            chain: puente_pki::files::load_certs(
                node.config
                    .client
                    .auditor_cert
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("no auditor cert"))?,
            )?,
            key: puente_pki::files::load_private_key(
                node.config
                    .client
                    .auditor_key
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("no auditor key"))?,
            )?,
        };
        let ch = puente_node::client::node_channel(
            &node.advertise,
            &id,
            &node.own_anchor,
            std::time::Duration::from_secs(5),
            None,
        )
        .map_err(anyhow::Error::msg)?;
        let mut c = puente_proto::v1::audit_client::AuditClient::new(ch.channel);
        let r = c
            .list_entries(pb::ListEntriesRequest {
                page_size: 1000,
                ..Default::default()
            })
            .await?
            .into_inner();
        let cp = c
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await?
            .into_inner();
        Ok::<_, anyhow::Error>((r, cp))
    }
    .await;
    match result {
        Ok((r, cp)) => {
            println!("  {} entries in MEX's log; the last ones:", r.tree_size);
            for e in r.entries.iter().rev().take(8).rev() {
                let dir = if e.direction == pb::Direction::Incoming as i32 {
                    "in "
                } else {
                    "out"
                };
                let decision = pb::Decision::try_from(e.decision)
                    .map(|d| {
                        d.as_str_name()
                            .trim_start_matches("DECISION_")
                            .to_ascii_lowercase()
                    })
                    .unwrap_or_default();
                let service = pb::Service::try_from(e.service)
                    .map(|d| {
                        d.as_str_name()
                            .trim_start_matches("SERVICE_")
                            .to_ascii_lowercase()
                    })
                    .unwrap_or_default();
                println!(
                    "    #{:<4} {dir} {}  {:<15} {:<8} {}{}",
                    e.index,
                    e.peer_country,
                    service,
                    decision,
                    e.rule,
                    if e.counterpart_receipt.is_some() {
                        "  (holds the peer's signed receipt)"
                    } else {
                        ""
                    }
                );
            }
            let witnesses: Vec<String> = cp
                .witnessed
                .iter()
                .map(|w| w.witness_country.clone())
                .collect();
            println!(
                "  latest checkpoint: {}",
                cp.checkpoint
                    .map(|c| c.note.lines().take(2).collect::<Vec<_>>().join(" / "))
                    .unwrap_or_default()
            );
            println!(
                "  cosigned by: {}",
                if witnesses.is_empty() {
                    "nobody yet".to_string()
                } else {
                    witnesses.join(", ")
                }
            );
            if witnesses.len() != 2 {
                failures.push(format!(
                    "MEX's checkpoints are cosigned by {} peers, expected 2",
                    witnesses.len()
                ));
            }
        }
        Err(e) => failures.push(format!("the auditor's view: {e}")),
    }
}

/// Prints the commands to use the running federation by hand.
fn hands_on(loaded: &[LoadedNode]) {
    let cfg = |i: usize| loaded[i].path.display().to_string();
    let pki = |i: usize| {
        loaded[i]
            .path
            .parent()
            .map(|p| p.join("pki").display().to_string())
            .unwrap_or_default()
    };
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "puente".into());
    println!();
    println!("The federation keeps running (Ctrl-C stops it). Try, in another terminal:");
    println!();
    println!("  # An officer of GTM asks MEX about the Bangladeshi migrant, then fetches the passport copy:");
    println!("  {exe} query --config {} --peer MEX --document BX1234567 --issuer BGD --purpose identification --case DEMO-1", cfg(1));
    println!("  {exe} query --config {} --peer MEX --given-names \"Muhammad Abdul\" --surnames Husain --birth-date 1990-04-12 --purpose identification --case DEMO-1 --output json", cfg(1));
    println!("  {exe} fetch --config {} --peer MEX --reference <reference from the answer> --case DEMO-1 --out copy.png", cfg(1));
    println!("  # Peers, agreements, statistics and alerts as each node sees them:");
    println!("  {exe} peers --config {}", cfg(0));
    println!("  {exe} agreements --config {}", cfg(0));
    println!("  {exe} stats status --config {}", cfg(1));
    println!("  {exe} stats show --config {} --top 3", cfg(0));
    println!(
        "  {exe} stats export --config {} --format sdmx-csv --period {}",
        cfg(0),
        {
            let d = time::OffsetDateTime::now_utc().date();
            format!("{}-{:02}", d.year(), d.month() as u8)
        }
    );
    println!("  {exe} alert list --config {}", cfg(1));
    println!("  # The auditor of MEX reads and checks its log online:");
    println!("  {exe} audit list --config {} --online", cfg(0));
    println!("  {exe} audit checkpoint --config {} --online", cfg(0));
    println!("  # The console, a web UI on 127.0.0.1 (its first line is the address to open): an officer of GTM, the auditor of MEX:");
    println!("  {exe} console --config {} --role operator", cfg(1));
    println!("  {exe} console --config {} --role auditor", cfg(0));
    println!("  # Standard tools: grpcurl with MEX's operator certificate (reflection and health are served):");
    println!(
        "  grpcurl -cacert {p}/ca.pem -cert {p}/operator-officer.pem -key {p}/operator-officer.key {a} list",
        p = pki(0),
        a = loaded[0].advertise
    );
    println!(
        "  grpcurl -cacert {p}/ca.pem -cert {p}/operator-officer.pem -key {p}/operator-officer.key -d '{{\"service\": \"puente.v1.Exchange\"}}' {a} grpc.health.v1.Health/Check",
        p = pki(0),
        a = loaded[0].advertise
    );
    println!(
        "  # The independent Python client (pip install -r examples/python/requirements.txt):"
    );
    println!(
        "  python3 examples/python/puente_client.py --addr {a} --ca {p}/ca.pem --cert {p}/operator-officer.pem --key {p}/operator-officer.key peers --check",
        p = pki(1),
        a = loaded[1].advertise
    );
    println!();
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
