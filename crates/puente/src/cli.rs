//! Command-line definitions. Help texts teach the path a country walks: `init`, swap
//! trust bundles, sign an agreement, run the node, query.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod access;
mod backup;
mod flows;
mod manifests;
mod people;
mod records;
pub use access::{AccessArgs, ClientCommand, ClientInitArgs, NodeAccess, PersonRole};
pub use backup::{BackupArgs, RestoreArgs};
pub use flows::{AlertCommand, AlertPublishArgs, SeverityArg, StatsCommand, StatsFormat};
pub use manifests::{ManifestCommand, ManifestFormatArg};
pub use people::{AuditCommand, AuditFilter, FetchArgs, QueryArgs};
pub use records::RecordsCommand;

/// Puente: exchange migration data between countries' authorities, peer to peer, over
/// mutual TLS, only as signed bilateral agreements permit, with a signed audit log.
///
/// First time? Run `puente demo` to watch a three-country federation start on this
/// machine, then `puente init --country XXX --dir DIR` to set up a real node.
#[derive(Debug, Parser)]
#[command(name = "puente", version, propagate_version = true)]
pub struct Cli {
    /// Log level or filter (e.g. `debug`, `puente_node=debug`); default: info for the
    /// node and demo, warn otherwise.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up a country's node in one step: PKI (CA, node, operator and auditor
    /// certificates, signing key), a commented config, an empty trust file and data dir.
    Init(InitArgs),
    /// Manage a country's PKI: CA, certificates, revocation.
    Pki {
        /// What to do with the PKI.
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Swap and manage trust bundles with peer countries.
    Trust {
        /// What to do with trust bundles.
        #[command(subcommand)]
        command: TrustCommand,
    },
    /// Run or check a node.
    Node {
        /// What to do with the node.
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Ask your own node for its peers and whether each is reachable over mTLS now.
    ///
    /// Examples:
    ///   puente peers --profile ~/ana/puente-client.toml     (an officer's workstation)
    ///   puente peers --config /srv/puente/puente.toml       (the node's host)
    #[command(verbatim_doc_comment)]
    Peers(AccessArgs),
    /// One screen of your own node: what runs out when (certificates, CRLs), each peer
    /// (reachable now, round trip), agreements in force with today's quota use on both
    /// sides, the statistics sync, the audit log and each peer's last cosignature, free
    /// disk. An auditor's profile sees the node's own part.
    ///
    /// Examples:
    ///   puente status --config /srv/puente/puente.toml
    ///   puente status --profile ~/ana/puente-client.toml --output json
    #[command(verbatim_doc_comment)]
    Status {
        /// Which node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Draft, sign, verify and show bilateral agreements.
    Agreement {
        /// What to do with an agreement file.
        #[command(subcommand)]
        command: AgreementCommand,
    },
    /// Ask your own node which agreements it enforces, which it refused and why, and the
    /// quotas used today.
    ///
    /// Example: puente agreements --profile ~/ana/puente-client.toml
    Agreements(AccessArgs),
    /// The country's own records: import, delete, search (through the running node, or
    /// offline on its data directory), generate synthetic data, make a data key.
    Records {
        /// What to do with the records.
        #[command(subcommand)]
        command: RecordsCommand,
    },
    /// Ask a peer country whether it knows a person (as an operator, through your node).
    ///
    /// Your node asks the peer under its own identity and records you as the actor.
    ///
    /// Examples:
    ///   puente query --profile ~/ana/puente-client.toml --peer GTM --purpose identification \
    ///       --case EXP-2026-0042 --document P1234567 --issuer GTM
    ///   PUENTE_PROFILE=~/ana/puente-client.toml puente query --peer GTM --purpose return \
    ///       --case EXP-2026-0042 --surnames "Diallo" --given-names "Aminata" --birth-date 1994-03
    #[command(verbatim_doc_comment)]
    Query(QueryArgs),
    /// Fetch a passport copy from a peer, by the reference a match gave.
    ///
    /// Example:
    ///   puente fetch --profile ~/ana/puente-client.toml --peer GTM --reference REF \
    ///       --case EXP-2026-0042 --out copy.png
    #[command(verbatim_doc_comment)]
    Fetch(FetchArgs),
    /// Officers' and auditors' workstations: make a client profile (a person's
    /// certificate and this country's CA, no node secrets) to use with --profile.
    Client {
        /// What to do.
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Audit the node's log: verify it, list, export, search and prove entries.
    Audit {
        /// What to do with the audit log.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Flow statistics: import aggregated counts, sync with peers now, see each peer's
    /// sync, export the regional matrix (CSV or SDMX-CSV) and summarize it.
    Stats {
        /// What to do with flow statistics.
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Early warnings: publish a signed alert to the peers whose agreements grant them
    /// alerts, review the alerts the node drafted from surges in the flow counts, list
    /// the alerts issued and received.
    Alert {
        /// What to do with alerts.
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// Carriers' manifests (advance passenger information): a carrier submits a flight's
    /// PAXLST or a bus trip's JSON/CSV; officers list them and see which passengers the
    /// own records know.
    Manifest {
        /// What to do with manifests.
        #[command(subcommand)]
        command: ManifestCommand,
    },
    /// Back up a node's data (store, audit log, quota counters) into one archive, while
    /// it runs (streamed by the node) or stopped (read from its data directory).
    ///
    /// Example: puente backup --config /srv/puente/puente.toml --out /backup/mex-1.puente
    #[command(verbatim_doc_comment)]
    Backup(BackupArgs),
    /// Restore a backup into an empty data directory (also how a node moves machine).
    /// Without keys in the archive, the node's data key and signing key must already be
    /// at the paths the configuration names: records are sealed with the data key.
    ///
    /// Example: puente restore --config /srv/puente/puente.toml /backup/mex-1.puente
    #[command(verbatim_doc_comment)]
    Restore(RestoreArgs),
    /// Measure performance (figures are ratios against a baseline measured in the same run).
    Bench {
        /// Which benchmark.
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The console: a web UI for officers and auditors on this workstation, served on
    /// loopback, talking to your own node with your certificate (as the CLI does). The
    /// first line printed is the address to open, with a one-time login token.
    ///
    /// Examples:
    ///   puente console --profile ~/ana/puente-client.toml
    ///   puente console --profile ~/aud/puente-client.toml --bundle MEX.bundle --bundle GTM.bundle
    ///   puente console --config /srv/puente/puente.toml --role auditor --no-open
    #[command(verbatim_doc_comment)]
    Console(ConsoleArgs),
    /// Start a three-country federation (MEX, GTM, CRI) on 127.0.0.1 and show it working.
    Demo(DemoArgs),
    /// Print a shell completion script, e.g. `puente completions bash >
    /// /etc/bash_completion.d/puente` (zsh: into a directory of `$fpath` as `_puente`;
    /// fish: `~/.config/fish/completions/puente.fish`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `puente console`
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Which node, as whom.
    #[command(flatten)]
    pub access: NodeAccess,
    /// With --config (the node's host): which certificate of its `[client]` section to
    /// use. A profile's own role decides otherwise.
    #[arg(long, value_enum, default_value_t = PersonRole::Operator)]
    pub role: PersonRole,
    /// Address to serve the console on (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Do not open the browser; only print the address.
    #[arg(long)]
    pub no_open: bool,
    /// Allow a --listen address beyond loopback. The console speaks plain HTTP: anyone
    /// on the path sees the pages; prefer an SSH tunnel to a loopback console.
    #[arg(long)]
    pub allow_remote: bool,
    /// Public bundles (`puente trust export`) whose signing keys check the node's
    /// checkpoints (this country's bundle) and peers' cosignatures (theirs); repeatable.
    /// With --config the node's own key and trust file are used as well.
    #[arg(long = "bundle", value_name = "FILE")]
    pub bundles: Vec<PathBuf>,
}

/// `--config` of a node.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The node's configuration file (made by `puente init`: DIR/puente.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
}

/// `puente init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// ISO 3166-1 alpha-3 code of the country (e.g. MEX).
    #[arg(long)]
    pub country: String,
    /// Directory to create the node in (must not already hold one).
    #[arg(long)]
    pub dir: PathBuf,
    /// The node's name (default: lower-case country code and "-1", e.g. mex-1).
    #[arg(long)]
    pub name: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7400")]
    pub listen: String,
    /// Address peers dial (default: the listen address). Its host goes into the node
    /// certificate.
    #[arg(long)]
    pub advertise: Option<String>,
    /// Name of the first operator certificate.
    #[arg(long, default_value = "officer")]
    pub operator: String,
    /// Name of the first auditor certificate.
    #[arg(long, default_value = "auditor")]
    pub auditor: String,
    /// Address of the Prometheus metrics listener (plain HTTP; keep it on loopback).
    /// Default: 127.0.0.1:9464, or a free loopback port when another node on this host
    /// already holds that one (the config file records the port chosen).
    #[arg(long)]
    pub metrics_listen: Option<String>,
}

/// `puente pki …`
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create a country's root CA, empty CRL and Ed25519 signing key in DIR.
    Init {
        /// ISO 3166-1 alpha-3 code of the country.
        #[arg(long)]
        country: String,
        /// PKI directory to create (e.g. certs/MEX).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue a node, operator or auditor certificate from the CA in DIR.
    Issue {
        /// The PKI directory.
        #[arg(long)]
        dir: PathBuf,
        /// node, operator or auditor.
        #[arg(long)]
        role: String,
        /// Holder name: 1-63 of a-z 0-9 . _ - (e.g. mex-1, ana.lopez).
        #[arg(long)]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Host name or IP address the node serves under (repeatable; nodes only).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
    /// Revoke a certificate and reissue the CRL. Nodes reload it on restart.
    Revoke {
        /// The PKI directory.
        #[arg(long)]
        dir: PathBuf,
        /// Serial number (hex) as `pki show` prints it.
        #[arg(long, conflicts_with = "cert", required_unless_present = "cert")]
        serial: Option<String>,
        /// The certificate file to revoke.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// Why.
        #[arg(long, default_value = "unspecified", value_parser = clap::builder::PossibleValuesParser::new(puente_pki::ca::REVOCATION_REASONS))]
        reason: String,
    },
    /// Re-sign the CRL: the same revocations, a fresh thisUpdate and nextUpdate (renew it
    /// before it runs out; the node warns 7 days ahead).
    Crl {
        /// The PKI directory.
        #[arg(long)]
        dir: PathBuf,
        /// Days until its nextUpdate.
        #[arg(long, default_value_t = puente_pki::ca::CRL_VALIDITY_DAYS)]
        days: i64,
    },
    /// Renew a certificate this CA issued: same identity and host names, a new key and
    /// validity. Run it a month before `pki show` says it expires (the node warns 30 days
    /// ahead); a running node picks the new certificate up by itself.
    #[command(
        after_help = "Example: puente pki renew --dir certs/MEX --cert certs/MEX/node-mex-1.pem --days 365\n\nThe certificate file and its key (same name, .key) are replaced in place; the old\ncertificate stays valid until it expires: revoke it (--reason superseded) once the new\none is in use."
    )]
    Renew {
        /// The PKI directory of the CA that issued it.
        #[arg(long)]
        dir: PathBuf,
        /// The certificate file to renew (its key is the file beside it ending in .key).
        #[arg(long)]
        cert: PathBuf,
        /// Validity of the new certificate, in days from now.
        #[arg(long, default_value_t = puente_pki::ca::LEAF_VALIDITY_DAYS)]
        days: i64,
    },
    /// Print who a certificate says it is, who issued it and until when, with its
    /// fingerprint; given a PKI directory, its CA and signing-key fingerprints (the two
    /// that peers confirm by phone); given a `signing.pub`, that key's fingerprint.
    Show {
        /// A PEM certificate file, a PKI directory, or a signing.pub file.
        file: PathBuf,
    },
}

/// `puente trust …`
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Write this country's public bundle (CA certificate, signing key, node address, CRL)
    /// to hand to a peer.
    Export {
        /// The node's configuration.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Add (or replace) a peer from its public bundle, printing fingerprints to confirm
    /// with the peer by phone or in person.
    Add {
        /// The node's configuration.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// The peer's bundle file.
        file: PathBuf,
        /// Refuse unless the peer CA's SHA-256 fingerprint is this (hex, spaces allowed).
        #[arg(long)]
        expect_fingerprint: Option<String>,
        /// Take a bundle whose CA or signing key differs from the one trusted for that
        /// country (after confirming the new fingerprints with the peer). Not needed for a
        /// newer CRL or a new address from the same CA.
        #[arg(long)]
        replace: bool,
    },
    /// List the trusted peers with their fingerprints.
    List {
        /// The node's configuration.
        #[arg(long, short = 'c')]
        config: PathBuf,
    },
    /// Stop trusting a peer country.
    Remove {
        /// The node's configuration.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// The peer's country code.
        country: String,
    },
}

/// `puente agreement …`
#[derive(Debug, Subcommand)]
pub enum AgreementCommand {
    /// Write a commented agreement template for two countries to edit and sign.
    Draft {
        /// The two parties, e.g. MEX,GTM.
        #[arg(long, value_delimiter = ',', required = true)]
        parties: Vec<String>,
        /// Output file (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
        /// Agreement id (default: A-B-YEAR-01).
        #[arg(long)]
        id: Option<String>,
        /// First day it applies, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        valid_from: Option<String>,
        /// Last day it applies, YYYY-MM-DD (default: one year after valid_from, less a day).
        #[arg(long)]
        valid_until: Option<String>,
    },
    /// Add this country's signature (the key in its config's `[signing]`) to FILE, in place.
    Sign {
        /// The signing country's node configuration.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// The agreement file.
        file: PathBuf,
    },
    /// Check both parties' signatures against this node's keys and trust bundle; exits
    /// non-zero saying why when the agreement would not be enforced.
    Verify {
        /// The node configuration whose trust bundle to use.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// The agreement file.
        file: PathBuf,
    },
    /// Print an agreement in plain words.
    Show {
        /// The agreement file.
        file: PathBuf,
    },
}

/// Output format of query and search commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A readable table.
    Table,
    /// JSON, for scripts.
    Json,
}

/// How a person is looked for.
#[derive(Debug, Args, Clone)]
pub struct PersonTerms {
    /// Travel document number (with --issuer).
    #[arg(long, requires = "issuer")]
    pub document: Option<String>,
    /// Issuing state of the document (alpha-3 or ICAO code).
    #[arg(long)]
    pub issuer: Option<String>,
    /// Document type: passport, identity_card, travel_document, other.
    #[arg(long, default_value = "passport")]
    pub document_type: String,
    /// The two MRZ lines of a passport (TD3), each 44 characters.
    #[arg(long, num_args = 2, value_names = ["LINE1", "LINE2"])]
    pub mrz: Option<Vec<String>>,
    /// Given names (with --surnames).
    #[arg(long)]
    pub given_names: Option<String>,
    /// Surnames (with --given-names).
    #[arg(long)]
    pub surnames: Option<String>,
    /// The whole name, when it is not known which part is the surname.
    #[arg(long, conflicts_with_all = ["given_names", "surnames"])]
    pub name: Option<String>,
    /// Date of birth: YYYY-MM-DD, YYYY-MM or YYYY (with a name).
    #[arg(long)]
    pub birth_date: Option<String>,
    /// Nationality (alpha-3), to narrow a name query.
    #[arg(long)]
    pub nationality: Option<String>,
    /// Sex (M, F, X), to narrow a name query.
    #[arg(long)]
    pub sex: Option<String>,
}

/// `puente bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Identity matching inside the node: document lookup and name-query latency on a
    /// store of synthetic persons, recall and precision on realistic name variants, and a
    /// full-scan baseline.
    Identity {
        /// Persons in the store.
        #[arg(long, default_value_t = 1_000_000)]
        persons: u64,
        /// Queries of each kind.
        #[arg(long, default_value_t = 2000)]
        queries: u64,
        /// Full-scan baseline queries (each reads every person).
        #[arg(long, default_value_t = 3)]
        scan_queries: u64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Queries of each kind in the independent evaluation: labelled variants made
        /// by rules of their own, not the matcher's tables (0: no evaluation).
        #[arg(long, default_value_t = 200)]
        eval_queries: u64,
        /// Also write the population and the evaluation's queries here: persons.csv
        /// (the `records import` format) and queries.jsonl.
        #[arg(long)]
        eval_export: Option<PathBuf>,
    },
    /// The identity-query path (operator → own node → peer node → back, with agreement
    /// check, matching, protection filter, durable audit entries on both sides and a
    /// verified receipt) against the transport's limit measured in the same run: a bare
    /// tonic mTLS echo and a bare two-hop mTLS relay. Throughput and p50/p99/p999 at each
    /// concurrency, and the ratio of the query path to the relay.
    Query {
        /// Persons the answering node holds.
        #[arg(long, default_value_t = 1_000_000)]
        persons: u64,
        /// Requests in flight, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1, 8, 32, 128])]
        concurrency: Vec<usize>,
        /// Seconds each run lasts (after a one-second warm-up).
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Repeat every concurrency's four runs this many times, one round after the
        /// other, and report the median of each round's ratios with their range. On a
        /// shared machine throughput moves by tens of percent between runs; the ratios
        /// of one round, measured minutes apart at most, move much less.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=20))]
        rounds: u64,
        /// Also write the figures as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Node start: a node holding many persons and audit entries, started as its own
    /// process again and again; time from the start of the process to its first answer
    /// to a peer's identity query, and its resident memory then.
    Start {
        /// Persons the started node holds.
        #[arg(long, default_value_t = 1_000_000)]
        persons: u64,
        /// Audit entries in its log (permitted queries of the last hours, all read again
        /// by the quota recount).
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Restarts measured after the first start.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Keep the prepared nodes in DIR (made if missing) instead of deleting them at
        /// the end; given a DIR that holds them from an earlier run with the same
        /// --persons and --entries, start those nodes again without preparing (to
        /// compare two builds on the same data, without the import's minutes).
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Load and soak: hold a share of the peak query rate across two real nodes for a
    /// long time, then check that no request failed, memory stayed within a bound, both
    /// audit logs verify and every acknowledged exchange has its entries in both. Exits 1
    /// if any of that does not hold.
    Soak {
        /// Persons the answering node holds.
        #[arg(long, default_value_t = 100_000)]
        persons: u64,
        /// How long to hold the load.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Share of the peak rate to hold.
        #[arg(long, default_value_t = 0.8)]
        share: f64,
        /// Largest allowed growth of resident memory after the first 10 s, in MB.
        #[arg(long, default_value_t = 256)]
        memory_bound_mb: u64,
    },
    /// A manifest checked with a counterpart in one call (manifest_check) against the
    /// same travellers asked one identity query each, in the same run on two real nodes.
    Manifest {
        /// Passengers on the manifest (at most 1000).
        #[arg(long, default_value_t = 500)]
        passengers: usize,
        /// Persons the counterpart holds.
        #[arg(long, default_value_t = 20_000)]
        persons: u64,
    },
    /// The statistics sync between two real nodes over mutual TLS: time and bytes to
    /// sync N cells, an incremental sync when nothing changed and when 1 % changed,
    /// against a bare mTLS pull of the same pages that stores and audits nothing.
    Stats {
        /// Cells the providing node holds.
        #[arg(long, default_value_t = 100_000)]
        cells: u64,
        /// Cells per page.
        #[arg(long, default_value_t = 1000)]
        page_size: u32,
    },
    /// The audit log: durable appends per second with group commit (against one flush per
    /// entry in the same run) and full verification time.
    Audit {
        /// Entries to append and then verify.
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Concurrent appenders (exchanges in flight).
        #[arg(long, default_value_t = 256)]
        appenders: u64,
        /// Entries appended one flush each, for the baseline.
        #[arg(long, default_value_t = 2000)]
        baseline: u64,
    },
}

/// `puente node …`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Run the node until SIGINT/SIGTERM, then drain in-flight calls and exit.
    Run(ConfigArg),
    /// Validate a configuration, its keys, certificates and trust file without starting.
    Check(ConfigArg),
}

/// `puente demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the federation in DIR (one sub-directory per country) instead of a temporary
    /// directory; DIR must be empty or absent.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Leave the three nodes running after the tour and print the exact commands to
    /// query them by hand (puente, grpcurl, the Python client); Ctrl-C stops them, then
    /// the logs are verified as usual.
    #[arg(long)]
    pub keep_running: bool,
}
