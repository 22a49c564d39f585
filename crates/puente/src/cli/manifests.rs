//! `puente manifest …`: carriers' manifests (advance passenger information).

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

use super::{NodeAccess, Output};

/// How a manifest file is written.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ManifestFormatArg {
    /// UN/EDIFACT PAXLST (airlines).
    Paxlst,
    /// A bus manifest as JSON.
    BusJson,
    /// A bus manifest as CSV.
    BusCsv,
}

/// `puente manifest …`
#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Send a flight's or trip's manifest to your own node (a carrier's profile, or an
    /// operator's for a carrier without its own integration). The file is checked
    /// whole: a problem refuses it, naming the segment or row and the field, and
    /// nothing is stored.
    ///
    /// Examples:
    ///   puente manifest submit --profile carrier.toml AV242.edi
    ///   puente manifest submit --profile carrier.toml --format bus-csv TFS-0413.csv
    #[command(verbatim_doc_comment)]
    Submit {
        /// Which node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// How FILE is written (default: guessed; UNA/UNB is PAXLST, `{` JSON, else CSV).
        #[arg(long, value_enum)]
        format: Option<ManifestFormatArg>,
        /// The manifest file.
        file: PathBuf,
    },
    /// The manifests your node holds, newest first (officers).
    ///
    /// Example: puente manifest list --profile ~/ana/puente-client.toml --carrier avianca
    #[command(verbatim_doc_comment)]
    List {
        /// Which node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// Only those a carrier (its certificate name) submitted.
        #[arg(long)]
        carrier: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        max: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// One trip: its route and passengers, and which of them your own records already
    /// know, by document and by name (officers).
    ///
    /// Example: puente manifest show --profile ~/ana/puente-client.toml m1764750000000-a1b2c3d4e5f6
    #[command(verbatim_doc_comment)]
    Show {
        /// Which node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// The manifest id, as `manifest submit` or `manifest list` printed it.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Check a manifest's travellers with a peer country in one call (agreement service
    /// manifest_check): per traveller a match with a reference, or no match; nothing
    /// else. Only the fields the agreement grants are sent, and no passenger this
    /// country protects against the peer.
    ///
    /// Examples:
    ///   puente manifest check --profile ~/ana/puente-client.toml --peer GTM TFS-0413.csv
    ///   puente manifest check --config /srv/puente/puente.toml --peer GTM --id m1764750000000-a1b2c3d4e5f6
    #[command(verbatim_doc_comment)]
    Check {
        /// Which node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// The peer country to ask.
        #[arg(long)]
        peer: String,
        /// Purpose (as the agreement names it).
        #[arg(long, default_value = "identification")]
        purpose: String,
        /// Your case file reference (recorded in both countries' audit logs).
        #[arg(long, default_value = "")]
        case: String,
        /// A manifest your node holds, instead of FILE.
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        id: Option<String>,
        /// How FILE is written (default: guessed).
        #[arg(long, value_enum)]
        format: Option<ManifestFormatArg>,
        /// The manifest file.
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}
