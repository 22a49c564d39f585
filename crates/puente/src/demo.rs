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
    println!("Step 3. Each pair drafts a bilateral agreement and both parties sign it (puente agreement draft / sign).");
    let today = time::OffsetDateTime::now_utc().date();
    for (a, b, text) in demo_agreements(today) {
        let (ia, ib) = (index_of(a), index_of(b));
        let file = base.join(format!("{a}-{b}.agreement.toml"));
        files::write_public(&file, &text)?;
        for i in [ia, ib] {
            let node = NodeConfig::load(&configs[i])?;
            crate::agreement::sign_file(&node, &file)
                .with_context(|| format!("{} signing {a}-{b}", COUNTRIES[i]))?;
        }
        let signed = files::read_text(&file)?;
        for i in [ia, ib] {
            let node = NodeConfig::load(&configs[i])?;
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

    println!();
    println!("Step 4. Three nodes start (puente node run), each serving gRPC over mutual TLS.");
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
    println!("Step 5. An officer of each country asks its own node for its peers (puente peers); the node dials each peer over mTLS.");
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
    println!("Step 6. The agreements each node enforces (puente agreements), as MEX's officer sees them:");
    let listed = crate::agreement::fetch(&loaded[0]).await?;
    for line in crate::agreement::render(&listed).lines() {
        println!("  {line}");
    }
    let in_force = listed
        .agreements
        .iter()
        .filter(|a| a.state == puente_proto::v1::AgreementState::InForce as i32)
        .count();
    if in_force != 2 {
        failures.push(format!("MEX enforces {in_force} agreements, expected 2"));
    }

    println!();
    println!("Step 7. Requests between nodes are evaluated against the agreements before any data is touched:");
    let permitted = exchange_probe(
        &loaded[1],
        &loaded[0],
        puente_proto::v1::Purpose::Identification,
    )
    .await;
    println!(
        "  GTM asks MEX for an identity query (purpose identification): {}",
        verdict(&permitted)
    );
    if permitted
        .as_ref()
        .is_err_and(|s| s.code() == tonic::Code::PermissionDenied)
    {
        failures.push(format!(
            "GTM → MEX identity query was refused: {}",
            verdict(&permitted)
        ));
    }
    let refused = exchange_probe(
        &loaded[2],
        &loaded[1],
        puente_proto::v1::Purpose::Identification,
    )
    .await;
    println!("  CRI asks GTM for an identity query (their agreement covers only statistics and alerts): {}", verdict(&refused));
    if !refused
        .as_ref()
        .is_err_and(|s| s.code() == tonic::Code::PermissionDenied)
    {
        failures.push("CRI → GTM identity query was not refused".into());
    }

    println!();
    println!("Step 8. The nodes shut down gracefully (drain in-flight calls, then stop).");
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

fn index_of(country: &str) -> usize {
    COUNTRIES.iter().position(|c| *c == country).unwrap_or(0)
}

fn verdict(r: &Result<(), tonic::Status>) -> String {
    match r {
        Ok(()) => "answered".into(),
        Err(s) if s.code() == tonic::Code::Unimplemented => "PERMITTED by the agreement".into(),
        Err(s) if s.code() == tonic::Code::PermissionDenied => format!("REFUSED — {}", s.message()),
        Err(s) => format!("failed: {}", puente_node::client::status_text(s)),
    }
}

/// One `Exchange.QueryIdentity` from `from`'s node to `to`'s node, as the node would send it.
async fn exchange_probe(
    from: &puente_node::LoadedNode,
    to: &puente_node::LoadedNode,
    purpose: puente_proto::v1::Purpose,
) -> Result<(), tonic::Status> {
    use puente_proto::v1::{
        identity_query::Terms, DocumentTerms, DocumentType, IdentityQuery, QueryIdentityRequest,
        RequestContext,
    };
    let channel = puente_node::client::node_channel(
        &to.advertise,
        &from.tls,
        &to.own_anchor,
        std::time::Duration::from_secs(5),
        Some(std::time::Duration::from_secs(20)),
    )
    .map_err(tonic::Status::unavailable)?;
    puente_proto::v1::exchange_client::ExchangeClient::new(channel.channel)
        .query_identity(QueryIdentityRequest {
            context: Some(RequestContext {
                purpose: purpose as i32,
                case_reference: "DEMO-1".into(),
                operator_id: "officer".into(),
                request_id: String::new(),
            }),
            query: Some(IdentityQuery {
                terms: Some(Terms::Document(DocumentTerms {
                    document_number: "P1234567".into(),
                    issuing_state: "BGD".into(),
                    document_type: DocumentType::Passport as i32,
                })),
            }),
            max_matches: 0,
        })
        .await
        .map(|_| ())
}

/// The demo federation's agreements, each with different grants.
fn demo_agreements(today: time::Date) -> Vec<(&'static str, &'static str, String)> {
    let from = today - time::Duration::days(30);
    let until = today + time::Duration::days(365);
    let head = |id: &str, a: &str, b: &str, title: &str| {
        format!("# {title}\nformat = \"puente-agreement/1\"\nid = \"{id}\"\ntitle = \"{title}\"\nparties = [\"{a}\", \"{b}\"]\nvalid_from = \"{from}\"\nvalid_until = \"{until}\"\n")
    };
    let full_fields = r#"["given_names", "surnames", "date_of_birth", "sex", "nationality", "document_type", "document_number", "issuing_state", "document_expiry", "last_encounter_date", "last_encounter_place", "route"]"#;
    let identity_and_copies = |p: &str, r: &str| {
        format!("\n[[grant]]\nprovider = \"{p}\"\nreceiver = \"{r}\"\nservices = [\"identity_query\", \"passport_copy\", \"flow_counts\", \"alerts\"]\npurposes = [\"identification\", \"return\", \"statistics\", \"early_warning\"]\nlegal_basis = \"Regional migration conference, working group on extra-regional migrants: information exchange memorandum, art. 3-5\"\nfields = {full_fields}\nqueries_per_day = 500\ncopies_per_day = 50\nmax_matches = 5\nretention_days = 90\nsmall_cell_threshold = 5\nsecondary_suppression = true\n")
    };
    let mex_gtm = format!(
        "{}{}{}",
        head(
            "MEX-GTM-DEMO-01",
            "MEX",
            "GTM",
            "Mexico and Guatemala: identity, passport copies, statistics and alerts"
        ),
        identity_and_copies("MEX", "GTM"),
        identity_and_copies("GTM", "MEX")
    );
    let mex_cri = format!(
        "{}\n[[grant]]\nprovider = \"MEX\"\nreceiver = \"CRI\"\nservices = [\"identity_query\", \"flow_counts\"]\npurposes = [\"identification\", \"protection_referral\", \"statistics\"]\nlegal_basis = \"Bilateral protocol MEX-CRI on migrant identification, art. 2\"\nfields = [\"nationality\"]\nmodes = {{ identity_query = \"hit_no_hit\" }}\nqueries_per_day = 200\nmax_matches = 3\nretention_days = 30\nsmall_cell_threshold = 10\n\n[[grant]]\nprovider = \"CRI\"\nreceiver = \"MEX\"\nservices = [\"identity_query\", \"passport_copy\"]\npurposes = [\"identification\", \"return\"]\nlegal_basis = \"Bilateral protocol MEX-CRI on migrant identification, art. 3\"\nfields = {full_fields}\nqueries_per_day = 200\ncopies_per_day = 20\nretention_days = 60\n",
        head("MEX-CRI-DEMO-01", "MEX", "CRI", "Mexico and Costa Rica: hit/no-hit towards Costa Rica, full towards Mexico")
    );
    let flows = |p: &str, r: &str| {
        format!("\n[[grant]]\nprovider = \"{p}\"\nreceiver = \"{r}\"\nservices = [\"flow_counts\", \"alerts\"]\npurposes = [\"statistics\", \"early_warning\"]\nlegal_basis = \"Regional statistics commitment of the working group\"\nretention_days = 365\nsmall_cell_threshold = 5\nsecondary_suppression = true\n")
    };
    let gtm_cri = format!(
        "{}{}{}",
        head(
            "GTM-CRI-DEMO-01",
            "GTM",
            "CRI",
            "Guatemala and Costa Rica: flow statistics and early warnings only"
        ),
        flows("GTM", "CRI"),
        flows("CRI", "GTM")
    );
    vec![
        ("MEX", "GTM", mex_gtm),
        ("MEX", "CRI", mex_cri),
        ("GTM", "CRI", gtm_cri),
    ]
}
