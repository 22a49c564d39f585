//! Creating and wiring a country's material: `puente init`, `puente pki …`,
//! `puente trust …`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use puente_node::NodeConfig;
use puente_pki::ca::{self, CountryCa, IssueOptions};
use puente_pki::inspect::{self, fingerprint_text};
use puente_pki::trust::{self, PeerEntry, TrustBundle};
use puente_pki::{files, CountryCode, Role};
use time::OffsetDateTime;

use crate::cli::{InitArgs, PkiCommand, TrustCommand};

/// What `init` created.
#[derive(Debug)]
pub struct InitOutcome {
    /// The config file.
    pub config: PathBuf,
    /// The operator certificate.
    pub operator_cert: PathBuf,
    /// The auditor certificate.
    pub auditor_cert: PathBuf,
    /// Where the node will serve its metrics.
    pub metrics_listen: std::net::SocketAddr,
}

/// The metrics address for a node set up without `--metrics-listen`: the usual port when
/// it is free, else a free loopback port (two countries tried on one host, or a second
/// node beside a running one, would otherwise collide at start).
fn default_metrics_listen() -> std::net::SocketAddr {
    let usual: std::net::SocketAddr = puente_node::config::DEFAULT_METRICS_LISTEN
        .parse()
        .unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 9464)));
    if std::net::TcpListener::bind(usual).is_ok() {
        return usual;
    }
    std::net::TcpListener::bind((usual.ip(), 0))
        .and_then(|l| l.local_addr())
        .unwrap_or(usual)
}

/// `puente init`: a country's node in one directory.
pub fn init(args: &InitArgs) -> Result<InitOutcome> {
    let country = CountryCode::parse(&args.country)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-1", country.as_str().to_ascii_lowercase()));
    puente_pki::identity::validate_name(&name)?;
    let listen: std::net::SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not ip:port", args.listen))?;
    let metrics_listen: std::net::SocketAddr = match &args.metrics_listen {
        Some(given) => given
            .parse()
            .with_context(|| format!("--metrics-listen {given:?} is not ip:port"))?,
        None => default_metrics_listen(),
    };
    let advertise = args.advertise.clone().unwrap_or_else(|| listen.to_string());
    trust::dialable(&advertise).map_err(|e| {
        crate::officer::UsageError(match &args.advertise {
            Some(_) => format!("--advertise: {e}"),
            None => format!(
                "--listen {listen} is also where peers would dial (no --advertise was given), but {e}; e.g. --advertise puente.mex.example:{}",
                listen.port()
            ),
        })
    })?;
    let config_path = args.dir.join("puente.toml");
    if config_path.exists() {
        bail!(
            "{} already exists; refusing to overwrite a node (choose another --dir)",
            config_path.display()
        );
    }
    let now = OffsetDateTime::now_utc();
    let pki_dir = args.dir.join("pki");
    let ca = CountryCa::init(&pki_dir, country, now)?;
    let mut node_opts = IssueOptions::valid_for_days(now, ca::LEAF_VALIDITY_DAYS);
    let host = advertise
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_string())
        .unwrap_or_default();
    node_opts.hosts = vec![host];
    let node = ca.issue(Role::Node, &name, &node_opts)?;
    let leaf = IssueOptions::valid_for_days(now, ca::LEAF_VALIDITY_DAYS);
    let operator = ca.issue(Role::Operator, &args.operator, &leaf)?;
    let auditor = ca.issue(Role::Auditor, &args.auditor, &leaf)?;
    puente_records::DataKey::generate(&pki_dir.join("data.key"))?;
    let data = args.dir.join("data");
    files::create_private_dir(&data)
        .with_context(|| format!("creating {} (mode 0700)", data.display()))?;
    files::create_dir(&args.dir.join("agreements"))?;
    TrustBundle::create_empty(&args.dir.join("trust.toml"))?;
    let rel = |p: &Path| p.strip_prefix(&args.dir).unwrap_or(p).display().to_string();
    let text = format!(
        r#"# Puente node configuration for {country} ({country_name}).
# Relative paths are relative to this file's directory. Check it with
#   puente node check --config {config}
# and run the node with
#   puente node run --config {config}

[node]
# ISO 3166-1 alpha-3 code of this node's country.
country = "{country}"
# This node's name; tls.cert must carry urn:puente:{country}:node:{name}.
name = "{name}"
# Socket address to listen on (use 0.0.0.0:PORT to accept peers from other hosts).
listen = "{listen}"
# Address peers and the CLI dial; it goes into `puente trust export`.
advertise = "{advertise}"
# The node's store (records, audit log, statistics).
data_dir = "data"

[tls]
# This country's root CA: verifies this country's operators and auditors.
ca = "{ca}"
# The node's certificate and key: served to callers, presented to peers.
cert = "{cert}"
key = "{key}"
# This country's revocation list (`puente pki revoke` rewrites it).
crl = "{crl}"

[signing]
# Ed25519 key that signs agreements and audit checkpoints.
key = "{signing}"

[trust]
# Peer countries this node trusts (`puente trust add` writes it).
file = "trust.toml"

[agreements]
# Signed bilateral agreements (*.toml). The node reloads them when they change, and on
# SIGHUP. Without an agreement in force, every exchange with a peer is refused.
dir = "agreements"

[records]
# The node data key: seals records and passport copies at rest (mode 0600; back it up).
data_key = "pki/data.key"
# Minutes a reference handed out with a match stays valid for fetching a passport copy.
reference_ttl_minutes = 60
# Score (0.5-1.0) at or above which a name candidate counts as a match.
match_threshold = 0.85

[client]
# What `puente peers/query/fetch` present to this node (an operator of {country}),
# and what `puente audit` presents (an auditor of {country}).
operator_cert = "{op_cert}"
operator_key = "{op_key}"
auditor_cert = "{au_cert}"
auditor_key = "{au_key}"

[server]
# Seconds allowed for a TLS handshake.
handshake_timeout_secs = 10
# Seconds in-flight calls get to finish on SIGINT/SIGTERM.
drain_grace_secs = 10
# Most TLS handshakes in progress at once.
max_pending_handshakes = 256
# Seconds a call to a peer may take.
peer_timeout_secs = 10
# Seconds between checks for changes of the agreements directory, tls.* and the trust
# file; all of them also reload on SIGHUP (`systemctl reload`), without a restart.
reload_interval_secs = 5
# Days ahead of the node certificate's or an agreement's end from which the node warns
# (at start and daily); 0 turns the warnings off.
expiry_warning_days = 30
# Seconds between rounds of having peers cosign this node's audit checkpoint.
witness_interval_secs = 300
# Seconds a whole passport-copy transfer from a peer may take.
document_timeout_secs = 120
# Exchange calls admitted per second from each peer country, and the burst above it
# (refused with RESOURCE_EXHAUSTED "rate.peer_limit" before any quota is counted).
peer_rate_per_sec = 50
peer_burst = 200
# WitnessCheckpoint calls admitted per minute from each peer country, and the burst above
# it (refused with RESOURCE_EXHAUSTED "rate.witness_limit"): each costs a durable audit
# entry, and an honest peer asks once per witness_interval_secs and after each sync.
witness_per_minute = 6
witness_burst = 10
# Inconsistent checkpoints kept as evidence per peer country (the first ones: the first
# conflict is the proof); later ones are refused, counted and logged, not kept.
witness_evidence_per_peer = 16
# Most concurrent calls on one connection.
max_concurrent_streams = 128
# MiB that must stay free for the data directory; below, exchanges are refused.
min_free_mb = 64

[stats]
# The nightly pull of flow counts from every peer whose agreement grants this country
# flow_counts. Local time HH:MM ("" turns the schedule off; `puente stats sync` still
# works), in the node's time zone given as a UTC offset.
sync_at = "02:00"
utc_offset = "+00:00"
# Start up to this many minutes after sync_at, at random, to spread the region's load.
jitter_minutes = 15
# Cells per page; a failed sync retries from its last stored page, waiting
# retry_initial_secs, then twice as long each time up to retry_max_secs.
page_size = 1000
# A peer that keeps saying "more pages" is stopped after this many in one sync.
max_pages = 2000
retry_initial_secs = 30
retry_max_secs = 3600
retry_attempts = 8

[metrics]
# Prometheus metrics: GET http://{metrics_listen}/metrics (plain HTTP, no TLS, no
# personal data). Keep it on loopback or behind a firewall; enabled = false serves none.
enabled = true
listen = "{metrics_listen}"
"#,
        country_name = country.name(),
        config = config_path.display(),
        ca = rel(&pki_dir.join(ca::CA_CERT)),
        cert = rel(&node.cert_path),
        key = rel(&node.key_path),
        crl = rel(&pki_dir.join(ca::CRL)),
        signing = rel(&pki_dir.join(ca::SIGNING_KEY)),
        op_cert = rel(&operator.cert_path),
        op_key = rel(&operator.key_path),
        au_cert = rel(&auditor.cert_path),
        au_key = rel(&auditor.key_path),
    );
    files::write_public(&config_path, &text)?;
    // Prove the file we wrote is one the node accepts.
    NodeConfig::load(&config_path)?;
    Ok(InitOutcome {
        config: config_path,
        operator_cert: operator.cert_path,
        auditor_cert: auditor.cert_path,
        metrics_listen,
    })
}

/// Prints the next steps after `init`.
pub fn print_init_next_steps(args: &InitArgs, outcome: &InitOutcome) {
    let c = outcome.config.display();
    println!(
        "Created the {} node in {}:",
        args.country,
        args.dir.display()
    );
    println!("  config        {c}");
    println!("  PKI           {}", args.dir.join("pki").display());
    println!("  operator cert {}", outcome.operator_cert.display());
    println!("  auditor cert  {}", outcome.auditor_cert.display());
    println!(
        "  metrics       http://{}/metrics (change with --metrics-listen or [metrics] listen)",
        outcome.metrics_listen
    );
    println!();
    println!("Next steps:");
    println!("  1. Hand your public bundle to each peer country:");
    println!(
        "       puente trust export --config {c} --out {}.bundle",
        args.country
    );
    println!(
        "  2. Add each peer's bundle, and confirm the fingerprints it prints with them by phone:"
    );
    println!("       puente trust add --config {c} PEER.bundle");
    println!(
        "  3. Draft a bilateral agreement with each peer, both sign it, each drops it in {}:",
        args.dir.join("agreements").display()
    );
    println!(
        "       puente agreement draft --parties {},PEER --out AGREEMENT.toml",
        args.country
    );
    println!("       puente agreement sign --config {c} AGREEMENT.toml");
    println!("  4. Run the node, then check your peers are reachable:");
    println!("       puente node run --config {c}");
    println!("       puente peers --config {c}");
}

/// `puente pki …`
pub fn pki(command: &PkiCommand) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    match command {
        PkiCommand::Init { country, dir } => {
            let country = CountryCode::parse(country)?;
            let ca = CountryCa::init(dir, country, now)?;
            let ca_der = files::cert_from_pem(ca.cert_pem(), &dir.join(ca::CA_CERT))?;
            println!(
                "Created the PKI of {country} ({}) in {}",
                country.name(),
                dir.display()
            );
            println!("  CA certificate  {}", dir.join(ca::CA_CERT).display());
            println!(
                "  CA fingerprint  {}",
                fingerprint_text(&inspect::fingerprint(&ca_der))
            );
            println!(
                "  signing key     {} (public: {})",
                dir.join(ca::SIGNING_KEY).display(),
                dir.join(ca::SIGNING_PUB).display()
            );
            println!(
                "Issue certificates with: puente pki issue --dir {} --role node --name NAME",
                dir.display()
            );
        }
        PkiCommand::Issue {
            dir,
            role,
            name,
            days,
            hosts,
        } => {
            let role: Role = role.parse()?;
            if *days < 1 {
                bail!("--days must be at least 1");
            }
            if role != Role::Node && !hosts.is_empty() {
                bail!("--host only applies to node certificates");
            }
            let ca = CountryCa::open(dir)?;
            let mut opts = IssueOptions::valid_for_days(now, *days);
            opts.hosts = hosts.clone();
            let issued = ca.issue(role, name, &opts)?;
            println!(
                "Issued {} (serial {})",
                issued.identity.urn(),
                issued.serial
            );
            println!("  certificate {}", issued.cert_path.display());
            println!("  key         {} (mode 0600)", issued.key_path.display());
            println!("  valid until {}", date(issued.not_after));
        }
        PkiCommand::Revoke {
            dir,
            serial,
            cert,
            reason,
        } => {
            let ca = CountryCa::open(dir)?;
            let (urn, which) = match (serial, cert) {
                (Some(s), _) => (ca.revoke(s, reason, now)?, format!("serial {s}")),
                (None, Some(c)) => (
                    ca.revoke_file(c, reason, now)?,
                    format!("the certificate in {}", c.display()),
                ),
                (None, None) => bail!("give --serial or --cert"),
            };
            // The serial matters: a renewed identity has several certificates, and only
            // this one is revoked.
            println!(
                "Revoked {which} of {urn} (that certificate only); CRL rewritten: {}",
                dir.join(ca::CRL).display()
            );
            println!("Nodes of this country reload the CRL by themselves (within [server] reload_interval_secs); send peers the new trust bundle with `puente trust export`.");
        }
        PkiCommand::Crl { dir, days } => {
            let ca = CountryCa::open(dir)?;
            let path = ca.write_crl_valid_for(now, *days)?;
            println!(
                "CRL re-signed: {} ({} revoked), current until {}. Nodes of this country reload it by themselves; send peers the new trust bundle (`puente trust export`).",
                path.display(),
                ca.revoked_serials()?.len(),
                (now + time::Duration::days(*days)).date()
            );
        }
        PkiCommand::Renew { dir, cert, days } => {
            let ca = CountryCa::open(dir)?;
            let renewed = ca.renew(cert, *days, now)?;
            let issued = &renewed.issued;
            println!(
                "Renewed {} (new serial {}, new key)",
                issued.identity.urn(),
                issued.serial
            );
            println!("  certificate {}", issued.cert_path.display());
            println!("  key         {} (mode 0600)", issued.key_path.display());
            println!("  valid until {}", date(issued.not_after));
            if !renewed.hosts.is_empty() {
                println!("  hosts       {}", renewed.hosts.join(", "));
            }
            println!(
                "A node using these files takes the new certificate by itself (within [server] reload_interval_secs); a client re-reads it at its next command."
            );
            println!(
                "The previous certificate (serial {}) stays valid until {}. Once the new one is in use, revoke it: puente pki revoke --dir {} --serial {} --reason superseded",
                renewed.previous_serial,
                date(renewed.previous_not_after),
                dir.display(),
                renewed.previous_serial
            );
        }
        PkiCommand::Show { file } => {
            // A PKI directory: its CA and signing key, the two fingerprints peers confirm.
            let (cert_file, signing_pub) = if file.is_dir() {
                (file.join(ca::CA_CERT), Some(file.join(ca::SIGNING_PUB)))
            } else if file.extension().is_some_and(|e| e == "pub") {
                (PathBuf::new(), Some(file.clone()))
            } else {
                (file.clone(), None)
            };
            if !cert_file.as_os_str().is_empty() {
                for der in files::load_certs(&cert_file)? {
                    let info = inspect::inspect(&der, &cert_file)?;
                    print!("{}", show_cert(&info, now));
                }
            }
            if let Some(path) = signing_pub.filter(|p| p.exists() || !file.is_dir()) {
                let key = puente_pki::VerifyingKey::parse(&files::read_text(&path)?)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                println!(
                    "signing key {} ({})\n  fingerprint  {}",
                    key.name(),
                    path.display(),
                    fingerprint_text(&key.fingerprint())
                );
            }
        }
    }
    Ok(())
}

fn show_cert(info: &inspect::CertInfo, now: OffsetDateTime) -> String {
    let who = match &info.identity {
        Some(id) => format!(
            "{} {} of {} ({}) — {}",
            id.role,
            id.name,
            id.country,
            id.country.name(),
            id.urn()
        ),
        None if info.is_ca => format!("certificate authority {}", info.subject),
        None => format!("{} (no Puente identity)", info.subject),
    };
    let state = if now < info.not_before {
        "NOT YET VALID"
    } else if now > info.not_after {
        "EXPIRED"
    } else {
        "valid"
    };
    let days_left = (info.not_after - now).whole_days();
    format!(
        "{who}\n  issuer       {}\n  serial       {}\n  valid from   {}\n  valid until  {} ({state}, {days_left} days left)\n  fingerprint  {}\n",
        info.issuer,
        info.serial,
        date(info.not_before),
        date(info.not_after),
        fingerprint_text(&info.fingerprint)
    )
}

fn date(t: OffsetDateTime) -> String {
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}

mod bundles;
pub use bundles::{add_peer, export_bundle, trust_command};
