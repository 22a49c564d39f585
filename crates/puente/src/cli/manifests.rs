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
}
