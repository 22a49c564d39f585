//! A country's public-key infrastructure for Puente.
//!
//! Each country is its own root of trust: a root CA that issues certificates to its node,
//! its operators and its auditors (identity in a `urn:puente:<COUNTRY>:<role>:<name>` URI
//! SAN), a CRL, and an Ed25519 signing key for agreements and audit checkpoints. Countries
//! trust each other by swapping public bundles ([`trust`]). The TLS verifiers in [`tls`]
//! turn that into handshakes that know which country is calling.
//!
//! # Layout
//! - [`country`]: ISO 3166-1 alpha-3 codes.
//! - [`identity`]: [`CountryCode`], [`Role`], [`PeerIdentity`] and its URN form.
//! - [`ca`]: [`CountryCa`]: init, issue, revoke, CRL.
//! - [`signing`]: Ed25519 [`SigningKey`] / [`VerifyingKey`] (C2SP note key format).
//! - [`inspect`]: what a certificate says (`puente pki show`), fingerprints.
//! - [`trust`]: public bundles and the node's trust file.
//! - [`tls`]: rustls server/client configurations with country-aware verifiers.
//! - [`files`]: PEM and key files (0600).

#![forbid(unsafe_code)]

pub mod ca;
pub mod country;
pub mod error;
pub mod files;
pub mod identity;
pub mod inspect;
pub mod signing;
pub mod tls;
pub mod trust;

pub use ca::{CountryCa, IssueOptions, Issued, Renewed};
pub use error::PkiError;
pub use identity::{CountryCode, PeerIdentity, Role};
pub use signing::{SigningKey, VerifyingKey};
