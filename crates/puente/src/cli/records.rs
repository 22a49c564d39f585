//! The flags of `puente records …`.

use std::path::PathBuf;

use clap::Subcommand;

use super::{NodeAccess, Output, PersonTerms};

/// `puente records …`
///
/// Import, delete and search work while the node runs: with --config on the node's
/// host, a running node (it holds the data directory) is found at once and the command
/// goes through it as the operator of the config's `[client]` section; a stopped node's
/// data directory is used directly. With --profile (an operator's workstation) they
/// always go through the node.
#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// Import persons from a CSV (header row) or JSON Lines file, all or nothing: every
    /// bad row is listed with the line it is on and nothing is stored; a good file is
    /// applied as one change (a running node's peers find the persons as soon as the
    /// command returns).
    ///
    /// Examples:
    ///   puente records import --config /srv/puente/puente.toml persons.csv
    ///   puente records import --profile ~/ana/puente-client.toml feed.jsonl
    #[command(verbatim_doc_comment)]
    Import {
        /// The node (--config on its host; --profile as an operator).
        #[command(flatten)]
        access: NodeAccess,
        /// The file (.csv or .jsonl); passport copies it names are read relative to it.
        file: PathBuf,
    },
    /// Delete persons by record id (with their passport copies), as one change.
    ///
    /// Example:
    ///   puente records delete --config /srv/puente/puente.toml --record-id MEX-0001 --record-id MEX-0002
    #[command(verbatim_doc_comment)]
    Delete {
        /// The node (--config on its host; --profile as an operator).
        #[command(flatten)]
        access: NodeAccess,
        /// A record id to delete; repeat the flag, or give several after it.
        #[arg(long = "record-id", value_name = "ID", required = true, num_args = 1..)]
        record_ids: Vec<String>,
    },
    /// Search the country's own records (through the running node, or offline).
    Search {
        /// The node (--config on its host; --profile as an operator).
        #[command(flatten)]
        access: NodeAccess,
        /// Who to look for.
        #[command(flatten)]
        terms: Box<PersonTerms>,
        /// Most results.
        #[arg(long, default_value_t = 10)]
        max: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Write realistic synthetic records (CSV + SPECIMEN passport copies) for demos and tests.
    Generate {
        /// How many persons.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Random seed (same seed, same data).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output directory (persons.csv and copies/).
        #[arg(long)]
        out: PathBuf,
        /// Write a passport copy for one person in this many (0: none).
        #[arg(long, default_value_t = 10)]
        copy_every: u64,
        /// The country that holds the data (alpha-3; it records the encounters). Default:
        /// the country of the node of --config.
        #[arg(long)]
        holder: Option<String>,
        /// The node the data is for: its country holds the data.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
    },
    /// Create a node data key file (mode 0600).
    Keygen {
        /// Where to write it (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
}
