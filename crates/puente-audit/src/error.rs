//! Errors of the audit log; each names the index, size or signer concerned.

/// Everything that can go wrong with the audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The store failed; the exchange must be refused (fail closed).
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

impl From<sled::Error> for AuditError {
    fn from(e: sled::Error) -> Self {
        AuditError::Store(e.to_string())
    }
}
