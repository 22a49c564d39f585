//! Flow statistics for Puente: standardized, comparable counts of extra-regional flows,
//! kept as cells (period × reporting country × nationality × sex × age group × entry point
//! × event), versioned so that peers sync only what changed, and protected by small-cell
//! and secondary suppression before they leave the country.
//!
//! - [`cell`]: keys, values, names and encodings.
//! - [`store`]: the sled trees of own and received cells, versions and sync state.
//! - [`suppress`]: what a peer may see of a cell under its agreement.
//! - [`aggregate`]: cells from the country's encounter records.
//! - [`shield`]: the cells as seen by a country some persons are protected against.
//! - [`table`]: import of aggregated counts, CSV / SDMX-CSV export, summary.
//! - [`watermark`]: authenticated resume points handed to peers.

pub mod aggregate;
pub mod cell;
pub mod error;
pub mod shield;
pub mod store;
pub mod suppress;
pub mod table;
pub mod watermark;

pub use cell::{CellKey, OwnCell, Period, ReceivedCell, Suppression, Value};
pub use error::{Result, StatsError};
pub use store::{Change, Source, StatsStore, SyncState};
pub use suppress::{disclose, Policy};
pub use watermark::Watermarks;

#[cfg(test)]
mod shield_tests;
#[cfg(test)]
mod tests;
