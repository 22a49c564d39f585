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
