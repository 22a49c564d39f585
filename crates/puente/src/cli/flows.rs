//! The flags of `puente stats …` and `puente alert …`: an operator's calls about flow
//! statistics and early warnings.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{NodeAccess, Output};

/// `puente stats …` (each talks to the running node as its operator).
#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Import aggregated counts as this country's own cells (for holdings kept only as
    /// aggregates). CSV with the header
    /// `period,nationality,sex,age_group,entry_point,event,count`: period YYYY-MM or
    /// YYYY-MM-DD; sex M, F or X; age_group 0-4, 5-11, 12-17, 18-29, 30-44, 45-59, 60+ or
    /// unknown; event entry, detection, return, asylum_claim or departure. Every row is
    /// checked first; one bad row imports nothing. Re-importing a cell replaces its count.
    Import {
        /// Your own node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// The CSV file.
        file: PathBuf,
    },
    /// Pull flow counts now from every peer whose agreement grants them (or only
    /// --peer), as the nightly schedule does. Exits 1 if any sync did not complete.
    Sync {
        /// Your own node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// Only this peer (alpha-3); repeatable.
        #[arg(long, value_name = "COUNTRY")]
        peer: Vec<String>,
    },
    /// The last sync with each peer: outcome, when, lag, cells; and the next scheduled run.
    Status {
        /// Your own node, as whom.
        #[command(flatten)]
        access: NodeAccess,
    },
    /// Write own and received cells as one table (the regional matrix). Own cells carry
    /// exact counts; received cells carry what each peer disclosed, suppressed cells
    /// flagged (SDMX CONF_STATUS A = small cell, D = secondary; OBS_VALUE empty).
    Export {
        /// Your own node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// csv or sdmx-csv (SDMX-CSV 2.0).
        #[arg(long, value_enum, default_value = "csv")]
        format: StatsFormat,
        /// Only this period: YYYY-MM (the month and its days) or YYYY-MM-DD.
        #[arg(long)]
        period: Option<String>,
        /// Only cells reported by this country; repeatable.
        #[arg(long, value_name = "COUNTRY")]
        country: Vec<String>,
        /// Output file (default: stdout; refuses to overwrite).
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// A readable summary: per reporting country and month, the top nationalities with
    /// the change from the previous month.
    Show {
        /// Your own node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// The month to show (YYYY-MM; the one before it gives the change). Default: the
        /// last complete month any country reported (the current month is still counting).
        #[arg(long)]
        period: Option<String>,
        /// Nationalities listed per country and month.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Only this reporting country (alpha-3); repeatable.
        #[arg(long, value_name = "COUNTRY")]
        country: Vec<String>,
    },
}

/// `puente alert …` (each talks to the running node as its operator).
#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Sign an alert with this country's key and deliver it to every peer whose
    /// agreement grants it alerts (retried until acknowledged). Either your own alert
    /// (--severity and --text, plus optional fields) or a reviewed draft (--draft ID).
    Publish(AlertPublishArgs),
    /// The alerts the node drafted from surges in this country's flow counts (a
    /// nationality at an entry point, weekly, well above its recent baseline). Nothing
    /// is sent until an operator publishes one with `puente alert publish --draft ID`.
    Drafts {
        /// Your own node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// Show the stored drafts without running detection first.
        #[arg(long)]
        no_detect: bool,
    },
    /// Alerts issued here and received from peers (active ones unless --all).
    List {
        /// Your own node, as whom.
        #[command(flatten)]
        access: NodeAccess,
        /// Include expired alerts.
        #[arg(long)]
        all: bool,
        /// Only alerts issued by this country; repeatable.
        #[arg(long, value_name = "COUNTRY")]
        country: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
}

/// `puente alert publish`
#[derive(Debug, Args)]
pub struct AlertPublishArgs {
    /// Your own node, as whom.
    #[command(flatten)]
    pub access: NodeAccess,
    /// Publish this draft (from `puente alert drafts`); --severity and --text, if
    /// given, replace the draft's.
    #[arg(long, value_name = "ID")]
    pub draft: Option<String>,
    /// info, warning or critical.
    #[arg(long, value_enum)]
    pub severity: Option<SeverityArg>,
    /// What is happening (aggregates only, never personal data; max 4096 characters).
    #[arg(long)]
    pub text: Option<String>,
    /// Nationality concerned (alpha-3); repeatable.
    #[arg(long, value_name = "CODE")]
    pub nationality: Vec<String>,
    /// Entry point concerned; repeatable.
    #[arg(long, value_name = "PLACE")]
    pub entry_point: Vec<String>,
    /// Route country (alpha-3), in travel order; repeatable.
    #[arg(long, value_name = "COUNTRY")]
    pub route: Vec<String>,
    /// Period observed: YYYY-MM or YYYY-MM-DD.
    #[arg(long)]
    pub period: Option<String>,
    /// Events observed in the period.
    #[arg(long, default_value_t = 0)]
    pub observed: u64,
    /// Usual number of events for such a period.
    #[arg(long, default_value_t = 0)]
    pub baseline: u64,
    /// Hours until the alert expires (default: the node's alerts.default_expiry_hours).
    #[arg(long, default_value_t = 0)]
    pub expires_in_hours: u32,
}

/// Alert severities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// For information.
    Info,
    /// Unusual flow; preparation advised.
    Warning,
    /// Severe or fast-growing; act now.
    Critical,
}

/// Export formats of `puente stats export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatsFormat {
    /// Plain CSV with Puente's names.
    Csv,
    /// SDMX-CSV 2.0 (REF_AREA, CITIZENSHIP, SEX, AGE, ENTRY_POINT, EVENT, TIME_PERIOD,
    /// OBS_VALUE, CONF_STATUS).
    SdmxCsv,
}
