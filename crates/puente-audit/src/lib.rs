//! Puente's tamper-evident audit log, after Certificate Transparency: every exchange, on
//! each side, is a leaf of an RFC 6962 Merkle tree kept in an append-only file; the node signs
//! checkpoints (C2SP signed notes) per group-committed batch; responders hand askers a
//! receipt (index, leaf hash, signed checkpoint, inclusion proof); peers cosign each
//! other's checkpoints so no country can rewrite its history unseen; auditors verify it
//! all offline.
//!
//! # Layout
//! - [`merkle`]: RFC 6962 hashing, inclusion and consistency proofs (pure).
//! - [`entry`]: entries and their deterministic, versioned encoding.
//! - [`checkpoint`]: signed checkpoints and witness cosignatures.
//! - [`file`](mod@file): the append-only log file and the index files derived from it.
//! - [`trees`]: [`Trees`], the log's files and sled trees opened together; what every
//!   reader of the log goes through.
//! - [`head`]: the latest signed checkpoint kept outside sled, to notice a store that lost entries.
//! - [`log`]: [`AuditLog`], the log with its group-committing writer.
//! - [`receipt`]: verifying a counterpart's receipt (signature checked once per checkpoint).
//! - [`verify`]: the full offline verifier.
//! - [`view`]: filtered, paged listing for auditors.
//! - [`error`](mod@error): [`AuditError`].

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod entry;
pub mod error;
pub mod file;
pub mod head;
pub mod log;
pub mod merkle;
mod migrate;
pub mod receipt;
pub mod seen;
pub mod trees;
pub mod verify;
pub mod view;

pub use entry::{Entry, EntryRef};
pub use error::AuditError;
pub use log::AuditLog;
pub use trees::Trees;

#[cfg(test)]
mod tests;
