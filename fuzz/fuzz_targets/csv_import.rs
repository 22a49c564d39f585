//! Import files, row by row: a country's holdings (CSV or JSON Lines, the validation pass
//! of `puente records import`) and flow counts (`puente stats import`).
//!
//! Input: a selector byte, then the file. Properties: nothing panics; every cell of an
//! accepted flow-count file survives the store's key encoding and the contract's message.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use puente_fuzz::select;
use puente_records::import::{check_rows, RowFormat};
use puente_stats::{table, CellKey, Value};
use time::macros::date;

fuzz_target!(|data: &[u8]| {
    let Some((which, file)) = select(data) else {
        return;
    };
    // A base directory that does not exist: passport copies named relatively are missing.
    let base = Path::new("/nonexistent/puente-fuzz");
    match which % 3 {
        0 | 1 => {
            let format = if which % 3 == 0 {
                RowFormat::Csv
            } else {
                RowFormat::JsonLines
            };
            if let Err(e) = check_rows("fuzz.csv", file, format, base, date!(2026 - 06 - 01)) {
                let _ = e.to_string();
            }
        }
        _ => {
            let Ok(cells) = table::read_import("fuzz.csv", file) else {
                return;
            };
            for (key, count) in cells {
                let decoded = CellKey::decode(&key.encode())
                    .unwrap_or_else(|e| panic!("{key:?} does not decode: {e}"));
                assert_eq!(decoded, key);
                let version = count.max(1);
                let proto = key.to_proto("MEX", Value::Count(count), version);
                let (k2, v2, ver2) = CellKey::from_proto(&proto)
                    .unwrap_or_else(|e| panic!("{key:?} does not come back from the wire: {e}"));
                assert_eq!((k2, v2, ver2), (key, Value::Count(count), version));
            }
        }
    }
});
