//! Advance passenger information: the manifests carriers send a country before their
//! passengers arrive. Airlines send UN/EDIFACT PAXLST (the WCO/IATA/ICAO API guidelines'
//! message); bus companies, which have no such standard, send a simple JSON or CSV
//! manifest with the same passenger fields as a record ([`puente_records::model`]).
//! Both become one [`Manifest`], checked whole: the first problem refuses the file and
//! names its place (segment index and tag, or row, and the field).
//!
//! Pure and bounded: no I/O, no clock (`today` is an argument); at most [`MAX_BYTES`]
//! bytes and [`MAX_PASSENGERS`] passengers, refused as soon as either is crossed.
//!
//! # Layout
//! - [`model`]: [`Manifest`], [`Passenger`], [`Stop`], [`Format`].
//! - [`edifact`]: UN/EDIFACT syntax: UNA, segments, elements, the release character.
//! - [`paxlst`]: the PAXLST message read from the segments, in message-guide order.
//! - [`bus`]: JSON and CSV bus manifests.
//! - [`passenger`]: one passenger's fields, the same checks as a record's.
//! - [`write`](mod@write): PAXLST and bus JSON/CSV written from a [`Manifest`] (demo, bench, tests).
//! - [`error`](mod@error): [`ManifestError`].

#![forbid(unsafe_code)]

pub mod bus;
pub mod edifact;
pub mod error;
pub mod model;
pub mod passenger;
pub mod paxlst;
pub mod write;

pub use error::ManifestError;
pub use model::{Format, LocalTime, Manifest, Passenger, Stop};

/// Most bytes one manifest may have (a full wide-body flight's PAXLST is ~200 KB).
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// Most passengers one manifest may list (the largest airliners seat under 900; a
/// manifest beyond this is an error or an attack, not a trip).
pub const MAX_PASSENGERS: usize = 5_000;
/// Longest EDIFACT segment, in characters.
pub const MAX_SEGMENT_CHARS: usize = 2_000;

/// Parses and checks a manifest written in `format`.
pub fn parse(bytes: &[u8], format: Format, today: time::Date) -> Result<Manifest, ManifestError> {
    if bytes.len() > MAX_BYTES {
        return Err(ManifestError::TooLarge {
            size: bytes.len(),
            max: MAX_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ManifestError::Format(format!(
            "not UTF-8 text (byte {}); PAXLST syntax UNOA-UNOY and CSV/JSON are text",
            e.valid_up_to()
        ))
    })?;
    match format {
        Format::Paxlst => paxlst::parse(text, today),
        Format::BusJson => bus::parse_json(text, today),
        Format::BusCsv => bus::parse_csv(text, today),
    }
}

#[cfg(test)]
mod bus_tests;
#[cfg(test)]
mod tests;
