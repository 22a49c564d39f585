//! Errors of the records store, import and matching. Variants that wrap a cause
//! (sled, the file system) keep it as their `source`; the others carry the text that
//! names the offending value and where it came from.

/// A bad input row: its line and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1 in a CSV).
    pub line: u64,
    /// The column or field, when one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: {field}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// Everything that can go wrong with records.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The store could not be used.
    #[error("records store: {0}")]
    Store(String),
    /// A stored value is corrupt or does not open.
    #[error("records store is corrupt: {0}")]
    Corrupt(String),
    /// A cryptographic operation failed.
    #[error("records crypto: {0}")]
    Crypto(String),
    /// The data key is missing or malformed.
    #[error("data key: {0}")]
    Key(String),
    /// An import file has bad rows (every one is listed); nothing was imported.
    #[error("{file}: {} bad row(s); nothing was imported:\n{}", errors.len(), errors.iter().map(|e| format!("  {e}\n")).collect::<String>())]
    BadRows {
        /// The file.
        file: String,
        /// The bad rows (all of them).
        errors: Vec<RowError>,
    },
    /// An import file could not be read at all.
    #[error("{file}: {reason}")]
    File {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// The sled trees failed.
    #[error("records store: {0}")]
    Sled(#[from] sled::Error),
    /// The data key file could not be read or written.
    #[error("data key: {action} {}: {source}", path.display())]
    KeyFile {
        /// What was being done (`reading`, `writing`).
        action: &'static str,
        /// The key file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A query is malformed.
    #[error("{0}")]
    BadQuery(String),
}
