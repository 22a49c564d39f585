//! A country's own records for the tests, imported offline as `puente records import`
//! does, before its node starts.

use crate::Federation;

/// The import columns, in order.
pub const COLUMNS: &str = "record_id,given_names,surnames,date_of_birth,sex,nationality,document_type,document_number,issuing_state,document_expiry,mrz_line1,mrz_line2,protection_status,protected_against,vulnerabilities,encounter_date,encounter_place,encounter_event,previous_country,passport_copy";

/// Imports `rows` (CSV lines in [`COLUMNS`] order) into country `code`'s records. A row
/// may name `copies/r1.png`: a specimen passport image (seed 42) is there.
pub fn import_rows<S: AsRef<str>>(fed: &Federation, code: &str, rows: &[S]) {
    let dir = fed
        .temp
        .path()
        .join(format!("{}-data", code.to_ascii_lowercase()));
    std::fs::create_dir_all(dir.join("copies")).expect("records dir");
    let png = puente_synth::specimen::specimen_png(42).expect("specimen");
    std::fs::write(dir.join("copies/r1.png"), &png).expect("specimen file");
    let lines: Vec<&str> = rows.iter().map(AsRef::as_ref).collect();
    let csv = dir.join("persons.csv");
    std::fs::write(&csv, format!("{COLUMNS}\n{}\n", lines.join("\n"))).expect("csv");
    let (_store, records) = puente::records::open(&fed.country(code).config)
        .unwrap_or_else(|e| panic!("opening {code}'s records: {e:#}"));
    let today = time::OffsetDateTime::now_utc().date();
    puente_records::import::import(&records, &csv, today, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("importing into {code}: {e}"));
    records.flush().expect("flush");
}
