//! The responder: how this node answers a peer's `Exchange` call. One call passes, in
//! order:
//!
//! 1. [`authorize`]: the request context is validated and the agreements evaluated for
//!    the verified caller (default deny), the daily quota taken;
//! 2. [`query`] / [`document`]: the records matched for the asking country, persons
//!    the protection rule shields from it set aside before anything is ranked (protect),
//!    and only the granted fields disclosed;
//! 3. [`audit`]: the one [`audit::Audited`] guard writes the entry, allowed or refused,
//!    durably before the answer or the refusal leaves, and returns its receipt.
//!
//! Refusals are [`crate::error::ExchangeError`]s, carrying their rule, code and message
//! (and receipt once recorded).

pub mod audit;
pub mod authorize;
pub mod document;
pub mod manifest_check;
pub mod query;

#[cfg(test)]
mod tests;
