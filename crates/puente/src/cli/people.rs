//! The flags of an officer's `puente query` / `puente fetch` and of `puente audit …`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{NodeAccess, Output, PersonTerms};

/// `puente query`
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Your own node, as whom.
    #[command(flatten)]
    pub access: NodeAccess,
    /// The peer country to ask.
    #[arg(long)]
    pub peer: String,
    /// Purpose: identification, return, protection_referral, family_reunification, anti_trafficking …
    #[arg(long)]
    pub purpose: String,
    /// Your case file reference, e.g. EXP-2026-114 (required: both countries' audit logs
    /// record it; no personal data in it).
    #[arg(long)]
    pub case: String,
    /// Most matches wanted (0: what the agreement allows).
    #[arg(long, default_value_t = 0)]
    pub max: u32,
    /// Who to look for.
    #[command(flatten)]
    pub terms: PersonTerms,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// `puente fetch`
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Your own node, as whom.
    #[command(flatten)]
    pub access: NodeAccess,
    /// The peer country that gave the reference.
    #[arg(long)]
    pub peer: String,
    /// The reference from a match.
    #[arg(long)]
    pub reference: String,
    /// Where to write the copy (refuses to overwrite).
    #[arg(long)]
    pub out: PathBuf,
    /// Purpose of the fetch.
    #[arg(long, default_value = "identification")]
    pub purpose: String,
    /// Your case file reference (required, as for the query that gave the reference).
    #[arg(long)]
    pub case: String,
}

/// Entry filters of `audit list` / `audit export`.
#[derive(Debug, Args, Clone, Default)]
pub struct AuditFilter {
    /// Only exchanges with this peer country.
    #[arg(long)]
    pub peer: Option<String>,
    /// Only this service (identity_query, passport_copy, flow_counts, alerts, audit_witness).
    #[arg(long)]
    pub service: Option<String>,
    /// Only this decision (allowed, refused, withheld).
    #[arg(long)]
    pub decision: Option<String>,
    /// Only this direction (incoming, outgoing).
    #[arg(long)]
    pub direction: Option<String>,
    /// Only actors containing this text (an operator's name, a peer node).
    #[arg(long)]
    pub actor: Option<String>,
    /// From this UTC day (YYYY-MM-DD) or RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Before this UTC day (YYYY-MM-DD) or RFC 3339 time.
    #[arg(long)]
    pub until: Option<String>,
}

/// `puente audit …` (offline on a data directory unless `--online`).
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Rebuild the tree and check every entry, hash, checkpoint, cosignature and receipt;
    /// reports the first problem with its index.
    ///
    /// On the node's host (stop the node first, or use a copy), with its configuration:
    ///   puente audit verify --config /srv/puente/puente.toml
    ///
    /// Anywhere else, as an auditor outside the ministry, with only a copy of the audit
    /// files (DATA_DIR/audit, plus DATA_DIR/audit-head if you have it) and the public
    /// bundles `puente trust export` writes (the log's country's, and its peers' to check
    /// their receipts and cosignatures). Nothing is written to the copy:
    ///   puente audit verify --log copy/audit --bundle MEX.bundle --bundle GTM.bundle
    #[command(verbatim_doc_comment)]
    Verify {
        /// The node's configuration (on the node's host).
        #[arg(long, short = 'c', value_name = "FILE", required_unless_present = "log", conflicts_with_all = ["log", "bundle"])]
        config: Option<PathBuf>,
        /// A copy of the node's audit directory (DATA_DIR/audit).
        #[arg(long, value_name = "DIR", requires = "bundle")]
        log: Option<PathBuf>,
        /// A public trust bundle (`puente trust export`): the log's own country's, and
        /// each peer's whose receipts or cosignatures the log holds. Repeatable.
        #[arg(long, value_name = "FILE")]
        bundle: Vec<PathBuf>,
    },
    /// List entries, newest last.
    ///
    /// Examples:
    ///   puente audit list --config /srv/puente/puente.toml --peer GTM   (offline, node's host)
    ///   puente audit list --profile ~/aud/puente-client.toml --online --decision refused
    #[command(verbatim_doc_comment)]
    List {
        /// The node (offline: --config only; --online: an auditor's --profile, or --config).
        #[command(flatten)]
        access: NodeAccess,
        /// Filters.
        #[command(flatten)]
        filter: AuditFilter,
        /// First index to show.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most entries to show.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Ask the running node (Audit service, auditor certificate) instead of reading
        /// the data directory.
        #[arg(long)]
        online: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Export entries as JSON Lines or CSV.
    Export {
        /// The node (offline: --config only; --online: an auditor's --profile, or --config).
        #[command(flatten)]
        access: NodeAccess,
        /// Ask the running node (Audit service, auditor certificate) instead of reading
        /// the data directory.
        #[arg(long)]
        online: bool,
        /// jsonl or csv.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Filters.
        #[command(flatten)]
        filter: AuditFilter,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Who asked about, or was asked about, this document (by its keyed hash).
    Search {
        /// The node (offline: --config only, its data key computes the keyed hash;
        /// --online: an auditor's --profile, or --config, and the node computes it).
        #[command(flatten)]
        access: NodeAccess,
        /// Ask the running node (Audit service, auditor certificate) instead of reading
        /// the data directory.
        #[arg(long)]
        online: bool,
        /// Document number.
        #[arg(long)]
        document: String,
        /// Issuing state.
        #[arg(long)]
        issuer: String,
    },
    /// Prove one entry: its inclusion proof against the latest signed checkpoint.
    Prove {
        /// The node (offline: --config only; --online: an auditor's --profile, or --config).
        #[command(flatten)]
        access: NodeAccess,
        /// With --profile: this country's public bundle (`puente trust export`), whose
        /// signing key checks the node's checkpoint.
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        /// The entry's index.
        #[arg(long)]
        index: u64,
        /// Ask the running node instead of reading the data directory.
        #[arg(long)]
        online: bool,
    },
    /// Show the latest signed checkpoint and the peers' cosignatures.
    Checkpoint {
        /// The node (offline: --config only; --online: an auditor's --profile, or --config).
        #[command(flatten)]
        access: NodeAccess,
        /// Ask the running node instead of reading the data directory.
        #[arg(long)]
        online: bool,
    },
}
