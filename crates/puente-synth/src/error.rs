//! Errors of the synthetic-data generator.

use puente_records::RecordsError;

/// Everything that can go wrong while generating synthetic data.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The name pools built into the crate do not load (the crate's tests catch this
    /// before a release).
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A generated person does not make a valid record (an MRZ or a date refused).
    #[error("synthetic record {record_id}: {reason}")]
    Build {
        /// The generated record's id.
        record_id: String,
        /// Why it was refused.
        reason: String,
    },
    /// A SPECIMEN image could not be encoded.
    #[error("encoding a SPECIMEN passport copy")]
    Image(#[source] png::EncodingError),
    /// The CSV or a passport copy could not be written. Kept as the records' own error
    /// (its text, and a bad `--out` stays a usage error for the command line).
    #[error("{0}")]
    Write(#[from] RecordsError),
}

/// A name-pool file that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("name pools: data/names/{file} line {line}: {reason}")]
pub struct PoolError {
    /// The file, relative to `data/names/`.
    pub file: &'static str,
    /// 1-based line; 0 for the file (or the set of files) as a whole.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}
