//! The asker: this node calling a peer, for an operator (`Local.Query`,
//! `Local.FetchDocument`) or for itself (statistics sync, alerts, witnessing, in
//! [`crate::sync`]). Every call goes through one [`call::PeerCall`]: the peer timeout,
//! the check of the peer's receipt against this very exchange, and the outgoing audit
//! entry written before the answer is used.
//!
//! - [`call`]: [`call::PeerCall`], the link to a peer, the context a request carries.
//! - [`receipt`]: the outgoing entry, and accepting a peer's receipt.
//! - [`query`]: an operator's identity query (refused here if it would ask a country
//!   about a person protected against it).
//! - [`document`]: an operator's passport-copy fetch.
//! - [`held`]: answers held to this node's own copy of the agreement they name.

pub mod call;
pub mod document;
pub mod held;
pub mod manifest_check;
pub mod query;
pub mod receipt;

#[cfg(test)]
mod tests;
