//! Carriers' manifests: UN/EDIFACT PAXLST and the JSON/CSV bus manifests.
//!
//! Input: a selector byte, then the file: 0 PAXLST, 1 bus JSON, 2 bus CSV
//! (`puente_manifest::parse`, what `Manifest.Submit` runs on a carrier's upload).
//! Properties: nothing panics; an accepted manifest lists 1 to `MAX_PASSENGERS`
//! passengers with checked fields; written again in its kind (PAXLST, or a bus JSON
//! manifest; `puente_manifest::write`), it parses back with the same passengers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use puente_manifest::{parse, write, Format, MAX_PASSENGERS};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let format = match selector % 3 {
        0 => Format::Paxlst,
        1 => Format::BusJson,
        _ => Format::BusCsv,
    };
    let today = time::macros::date!(2026 - 12 - 03);
    let Ok(m) = parse(file, format, today) else {
        return;
    };
    assert!(!m.passengers.is_empty() && m.passengers.len() <= MAX_PASSENGERS);
    for p in &m.passengers {
        assert!(!(p.given_names.is_empty() && p.surnames.is_empty()));
        assert!(p.date_of_birth.check().is_ok());
        assert!(p.date_of_birth.year <= today.year());
    }
    if format == Format::Paxlst {
        let again = parse(write::paxlst(&m, "FUZZ1").as_bytes(), Format::Paxlst, today)
            .expect("a written PAXLST parses");
        assert_eq!(again.passengers.len(), m.passengers.len());
    } else {
        let json = parse(write::bus_json(&m).as_bytes(), Format::BusJson, today)
            .expect("a written bus manifest parses");
        assert_eq!(json.passengers, m.passengers);
    }
});
