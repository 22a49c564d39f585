//! Errors of the statistics store and its files.

/// What can go wrong with flow statistics.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// A cell, period or file field is malformed; nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// A line of an import file is malformed; nothing was imported.
    #[error("{file}, line {line}: {message}")]
    Line {
        /// The file.
        file: String,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Several lines of an import file are malformed; nothing was imported.
    #[error("{file}: {} bad row(s), nothing was imported:{}", errors.len(), errors.iter().take(MAX_SHOWN).map(|(l, m)| format!("\n  line {l}: {m}")).collect::<String>() + &if errors.len() > MAX_SHOWN { format!("\n  … and {} more", errors.len() - MAX_SHOWN) } else { String::new() })]
    Lines {
        /// The file.
        file: String,
        /// Each bad line (1-based, the header is line 1) and what is wrong with it.
        errors: Vec<(u64, String)>,
    },
    /// The store holds bytes that do not decode: it is corrupt.
    #[error("statistics store is corrupt: {0}")]
    Corrupt(String),
    /// The embedded store failed.
    #[error("statistics store: {0}")]
    Store(#[from] sled::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Result with [`StatsError`].
pub type Result<T, E = StatsError> = std::result::Result<T, E>;

/// Bad rows an error lists (all are counted).
pub const MAX_SHOWN: usize = 50;
