//! The flags that say which node to talk to and as whom, shared by every officer and
//! auditor command, and `puente client …`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// Your own node, reached either with a person's client profile (on a workstation) or
/// with the node's configuration (on the node's host). Exactly one of them.
#[derive(Debug, Args, Clone, Default)]
pub struct NodeAccess {
    /// Your client profile (DIR/puente-client.toml, made by `puente client init`): the
    /// node's address, this country's CA, your certificate and key.
    #[arg(long, short = 'p', value_name = "FILE", env = "PUENTE_PROFILE")]
    pub profile: Option<PathBuf>,
    /// Or, on the node's host, the node's configuration (DIR/puente.toml): the
    /// certificate in its `[client]` section is used.
    #[arg(long, short = 'c', value_name = "FILE", env = "PUENTE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `--profile` or `--config`, as the only node flags of a command.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Which node, as whom.
    #[command(flatten)]
    pub access: NodeAccess,
}

/// `puente client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Issue a person's certificate with this country's CA and write a client profile
    /// (run it on the node's host, where the CA key is).
    ///
    /// PROFILE_DIR receives puente-client.toml, ca.pem, ROLE-NAME.pem and ROLE-NAME.key (mode
    /// 0600): everything an officer's or auditor's workstation needs, and nothing of the
    /// node's (no node key, no signing key, no data key). The key is moved out of the PKI
    /// directory; the node's host keeps the certificate, to revoke it later with
    /// `puente pki revoke --dir DIR/pki --cert DIR/pki/ROLE-NAME.pem`. Hand PROFILE_DIR to the
    /// person over a safe channel; they may copy it anywhere.
    ///
    /// Examples:
    ///   puente client init --config /srv/puente/puente.toml --role operator --name ana.lopez --out ana
    ///   puente client init --config /srv/puente/puente.toml --role auditor --name auditor.2 --out aud2
    ///
    /// Then, on the workstation:
    ///   export PUENTE_PROFILE=~/ana/puente-client.toml
    ///   puente peers
    ///   puente query --peer GTM --purpose identification --case EXP-2026-0042 \
    ///       --document P1234567 --issuer GTM
    #[command(verbatim_doc_comment)]
    Init(ClientInitArgs),
}

/// `puente client init`
#[derive(Debug, Args)]
pub struct ClientInitArgs {
    /// The node's configuration (DIR/puente.toml): its CA issues the certificate, and
    /// the profile points at its advertised address.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// operator (officer commands) or auditor (`audit … --online`).
    #[arg(long, value_enum)]
    pub role: PersonRole,
    /// The person's name: 1-63 of a-z 0-9 . _ - (e.g. ana.lopez); it is recorded as the
    /// actor of every exchange they make.
    #[arg(long)]
    pub name: String,
    /// The directory to write the profile into (created; must not hold a profile).
    #[arg(long, value_name = "PROFILE_DIR")]
    pub out: PathBuf,
}

/// The roles a profile can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PersonRole {
    /// An officer: peers, agreements, query, fetch, stats, alerts.
    Operator,
    /// An auditor: `audit list/prove/checkpoint --online`.
    Auditor,
    /// A carrier (airline, bus company): `manifest submit`.
    Carrier,
}
