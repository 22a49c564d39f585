//! Early warnings for Puente: alerts of extraordinary flows, signed by the issuing
//! country, delivered to the peers its agreements name, verified and kept by receivers.
//!
//! - [`alert`]: the canonical, domain-separated encoding that is signed; validation of
//!   every field; signing and verification.
//! - [`store`]: issued alerts with their deliveries, received alerts (a duplicate is
//!   recognized, a different alert under the same id refused), and drafts.
//! - [`detect`]: weekly nationality × entry-point groups from the day cells, and the
//!   surge test against the recent baseline that drafts an alert for an operator.

pub mod alert;
pub mod detect;
pub mod store;

pub use alert::{canonical, sign, validate, verify, AlertError};
pub use store::{AlertStore, Received};

#[cfg(test)]
mod tests;
