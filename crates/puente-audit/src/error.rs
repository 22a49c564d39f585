//! Errors of the audit log; each names the file, index, size or signer concerned.

use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong with the audit log. `Clone`, because one failed batch
/// fails every exchange waiting on it: the causes are shared behind an [`Arc`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// A file of the log could not be read or written; the exchange must be refused
    /// (fail closed).
    #[error("audit store: {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `writing`, `truncating` …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The sled trees (cosignatures, witnessing state) failed; fail closed.
    #[error("audit store: {0}")]
    Sled(#[from] sled::Error),
    /// A thread of the log could not start; fail closed.
    #[error("audit store: starting the {thread} thread: {source}")]
    Thread {
        /// Which thread.
        thread: &'static str,
        /// Why it did not start.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The store failed otherwise (a stopped writer, a poisoned lock); fail closed.
    #[error("audit store: {0}")]
    Store(String),
    /// An entry's bytes do not decode.
    #[error("audit entry does not decode: {0}")]
    Decode(String),
    /// A checkpoint or cosignature is malformed or does not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A receipt does not verify.
    #[error("receipt: {0}")]
    Receipt(String),
    /// A proof was asked for outside the log.
    #[error("{0}")]
    Range(String),
    /// The log does not verify: the first problem found, with its index.
    #[error("audit log does not verify: {0}")]
    Tampered(String),
    /// A witness refused a checkpoint as inconsistent with one it cosigned before.
    #[error("inconsistent checkpoint: {0}")]
    Inconsistent(String),
}

impl AuditError {
    /// A failed file operation: `action` on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AuditError::Io {
            action,
            path: path.into(),
            source: Arc::new(source),
        }
    }
}
