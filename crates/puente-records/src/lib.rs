//! A country's own holdings: persons, travel documents, encounters, protection status,
//! vulnerability flags and passport copies, kept in sled and sealed at rest with the node
//! data key; indexes hold keyed hashes, not raw names or numbers.
//!
//! # Layout
//! - [`model`]: [`PersonRecord`] and its parts.
//! - [`crypto`]: [`DataKey`]: sealing and keyed hashes.
//! - [`store`]: [`RecordStore`]: sled trees and blocking indexes.
//! - [`blocks`]: which blocks of the name index a query reads, most selective first.
//! - [`import`](mod@import): CSV / JSONL import, all or nothing.
//! - [`keys`]: match keys, the part of a person a name query scores, held in memory.
//! - [`names`]: folding names for matching; skeletons and blocking keys.
//! - [`spelling`]: which spellings are the same name, read from `data/spelling/*.txt`.
//! - [`matcher`]: scoring and ranking name queries.
//! - [`mrz`]: ICAO 9303 TD3 machine-readable zones.
//! - [`media`]: what kind of image a passport copy is.
//! - [`error`](mod@error): [`RecordsError`].

#![forbid(unsafe_code)]

pub mod blocks;
pub mod crypto;
pub mod error;
pub mod import;
pub mod keys;
pub mod matcher;
pub mod media;
pub mod model;
pub mod mrz;
pub mod names;
pub mod phonetic;
pub mod spelling;
pub mod store;

pub use crypto::DataKey;
pub use error::RecordsError;
pub use model::PersonRecord;
pub use store::RecordStore;

#[cfg(test)]
mod doc_index_tests;
#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod name_index_tests;
#[cfg(test)]
mod protection_tests;
#[cfg(test)]
mod rank_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;
