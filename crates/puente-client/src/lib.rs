//! The client side of a Puente node: what an officer's or an auditor's workstation needs
//! to talk to its own country's node, and nothing of the node's secrets.
//!
//! A person holds a [profile] — the node's address, this country's CA, their own
//! certificate and key — and [`NodeClient`] turns it into one pooled mutual-TLS channel on
//! which the officer calls (`Local`) and the auditor calls (`Audit`) are made. Nodes use
//! the same [channel] code to dial their peers.
//!
//! # Layout
//! - [`channel`]: lazy, pooled mTLS channels that check the server is a node of the
//!   expected country.
//! - [`profile`]: `puente-client.toml`: format, loading with every check, writing.
//! - [`calls`]: [`NodeClient`] and the officer and auditor calls.
//! - [`status`]: a failed call as the one line a person reads.
//! - [`error`]: [`ProfileError`], [`ConnectError`], [`CallError`].

#![forbid(unsafe_code)]

pub mod calls;
pub mod channel;
pub mod error;
pub mod profile;
pub mod status;

pub use calls::{Document, NodeClient};
pub use error::{CallError, ConnectError, ProfileError};
pub use profile::Profile;
