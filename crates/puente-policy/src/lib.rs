//! Bilateral agreements, and the rules that decide what leaves a node.
//!
//! This crate is pure: no sockets, no files, no clock (callers pass `now`). The node
//! loads agreement files, verifies them here against the parties' keys, and calls
//! [`evaluate`](fn@evaluate) before touching any data; the identity and document paths call
//! [`protection::screen`] on every candidate record.
//!
//! # Layout
//! - [`vocab`]: services, purposes, disclosable fields and modes: the proto enums.
//! - [`agreement`]: the TOML document, validation, signatures, plain-words rendering.
//! - [`evaluate`](mod@evaluate): default-deny evaluation to a [`Permit`] or a [`Refusal`] naming its [`Rule`].
//! - [`protection`]: non-refoulement, overriding every agreement.
//! - [`error`](mod@error): [`AgreementError`].

#![forbid(unsafe_code)]

pub mod agreement;
pub mod error;
pub mod evaluate;
pub mod protection;
pub mod vocab;

pub use agreement::{Agreement, Grant};
pub use error::AgreementError;
pub use evaluate::{evaluate, Permit, Refusal, Request, Rule};
pub use vocab::{Field, Mode, Purpose, Service, Term};

#[cfg(test)]
mod manifest_tests;
#[cfg(test)]
mod tests;
