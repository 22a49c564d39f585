//! Importing a country's holdings from the spreadsheets and databases authorities keep:
//! CSV with a header row, or JSON Lines with the same field names.
//!
//! The import is all or nothing: a first pass validates every row and reports each bad
//! one with its line number and reason (nothing is written then); a second pass writes.
//! Re-importing a `record_id` replaces that record. A marker in the store records an
//! import in progress, so one interrupted by a crash is reported until it is re-run (the
//! re-run converges: writes are keyed by `record_id`).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use puente_pki::country;

use crate::error::{RecordsError, RowError};
use crate::media::sniff_media_type;
use crate::model::{
    normalize_document_number, CopyInfo, DocumentType, Encounter, PartialDate, PersonRecord, Sex,
    TravelDocument, EVENTS, VULNERABILITIES,
};
use crate::mrz;
use crate::store::RecordStore;

/// The columns, in the order `records generate` writes them.
pub const COLUMNS: &[&str] = &[
    "record_id",
    "given_names",
    "surnames",
    "date_of_birth",
    "sex",
    "nationality",
    "document_type",
    "document_number",
    "issuing_state",
    "document_expiry",
    "mrz_line1",
    "mrz_line2",
    "protection_status",
    "protected_against",
    "vulnerabilities",
    "encounter_date",
    "encounter_place",
    "encounter_event",
    "previous_country",
    "passport_copy",
];

/// Columns a file must have.
pub const REQUIRED_COLUMNS: &[&str] = &[
    "record_id",
    "given_names",
    "surnames",
    "date_of_birth",
    "sex",
    "nationality",
];

/// Largest passport copy accepted.
pub const MAX_COPY_BYTES: u64 = 16 * 1024 * 1024;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows read.
    pub rows: u64,
    /// Records that did not exist before.
    pub created: u64,
    /// Records replaced.
    pub updated: u64,
    /// Passport copies stored.
    pub copies: u64,
    /// Notes that did not stop the import (unknown columns…).
    pub warnings: Vec<String>,
}

/// A row as read: field name → text.
type RawRow = BTreeMap<String, String>;

fn is_country_or_icao(code: &str) -> bool {
    country::is_iso_alpha3(code) || country::is_icao_only_code(code)
}

struct RowCheck<'a> {
    line: u64,
    row: &'a RawRow,
    errors: Vec<RowError>,
}

impl<'a> RowCheck<'a> {
    fn get(&self, field: &str) -> &'a str {
        self.row.get(field).map(|s| s.trim()).unwrap_or("")
    }
    fn err(&mut self, field: &str, reason: impl Into<String>) {
        self.errors.push(RowError {
            line: self.line,
            field: Some(field.to_string()),
            reason: reason.into(),
        });
    }
    fn code(&mut self, field: &str, value: &str) -> Option<String> {
        let upper = value.to_ascii_uppercase();
        if is_country_or_icao(&upper) {
            Some(upper)
        } else {
            self.err(
                field,
                format!("{value:?} is not an ISO 3166-1 alpha-3 or ICAO 9303 code"),
            );
            None
        }
    }
}

/// Validates one row into a record and the path of its passport copy.
fn check_row(
    line: u64,
    row: &RawRow,
    base: &Path,
    today: time::Date,
) -> Result<(PersonRecord, Option<PathBuf>), Vec<RowError>> {
    let mut c = RowCheck {
        line,
        row,
        errors: Vec::new(),
    };
    let record_id = c.get("record_id").to_string();
    if record_id.is_empty() {
        c.err("record_id", "is empty");
    } else if record_id.chars().count() > 64 || record_id.chars().any(char::is_control) {
        c.err("record_id", "must be 1-64 printable characters");
    }
    let given_names = c.get("given_names").to_string();
    let surnames = c.get("surnames").to_string();
    if given_names.is_empty() && surnames.is_empty() {
        c.err(
            "surnames",
            "a person needs at least a surname or a given name",
        );
    }
    for (f, v) in [("given_names", &given_names), ("surnames", &surnames)] {
        if v.chars().count() > 200 {
            c.err(f, "longer than 200 characters");
        } else if !v.is_empty() && !v.chars().any(char::is_alphabetic) {
            c.err(f, format!("{v:?} contains no letter"));
        } else if v.chars().any(|ch| ch.is_control() || ch.is_ascii_digit()) {
            c.err(f, format!("{v:?} contains digits or control characters"));
        }
    }
    let date_of_birth = match PartialDate::parse(c.get("date_of_birth")) {
        Ok(d) if d.year > today.year() => {
            c.err("date_of_birth", format!("{d} is in the future"));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            c.err("date_of_birth", e);
            None
        }
    };
    let sex = Sex::parse(c.get("sex"));
    if sex.is_none() {
        let v = c.get("sex").to_string();
        c.err("sex", format!("{v:?} is not M, F or X"));
    }
    let nationality = {
        let v = c.get("nationality");
        c.code("nationality", v)
    };

    let doc_fields = [
        "document_type",
        "document_number",
        "issuing_state",
        "document_expiry",
        "mrz_line1",
        "mrz_line2",
    ];
    let has_doc = doc_fields.iter().any(|f| !c.get(f).is_empty());
    let mut document = None;
    if has_doc {
        let document_type = DocumentType::parse(c.get("document_type"));
        if document_type.is_none() {
            let v = c.get("document_type").to_string();
            c.err(
                "document_type",
                format!("{v:?} is not passport, identity_card, travel_document or other"),
            );
        }
        let number = normalize_document_number(c.get("document_number"));
        if number.is_empty() || number.len() > 20 {
            c.err("document_number", "must have 1-20 letters or digits");
        }
        let issuing_state = {
            let v = c.get("issuing_state");
            c.code("issuing_state", v)
        };
        let expiry = match c.get("document_expiry") {
            "" => None,
            v => match PartialDate::parse(v) {
                Ok(d) if d.day.is_some() => Some(d),
                Ok(_) => {
                    c.err("document_expiry", "needs a full date YYYY-MM-DD");
                    None
                }
                Err(e) => {
                    c.err("document_expiry", e);
                    None
                }
            },
        };
        let (l1, l2) = (c.get("mrz_line1"), c.get("mrz_line2"));
        let mrz_lines = match (l1.is_empty(), l2.is_empty()) {
            (true, true) => None,
            (false, false) => {
                match mrz::parse_td3(l1, l2) {
                    Ok(m) => {
                        if m.document_number != number {
                            c.err("mrz_line2", format!("the MRZ document number {} differs from document_number {number}", m.document_number));
                        }
                        if issuing_state
                            .as_deref()
                            .is_some_and(|s| s != m.issuing_state)
                        {
                            c.err(
                                "mrz_line1",
                                format!(
                                    "the MRZ issuing state {} differs from issuing_state",
                                    m.issuing_state
                                ),
                            );
                        }
                        if let Some(d) = date_of_birth {
                            let y = m.birth_date.birth_year(today.year());
                            if y != d.year
                                || d.month.is_some_and(|mm| mm != m.birth_date.mm)
                                || d.day.is_some_and(|dd| dd != m.birth_date.dd)
                            {
                                c.err(
                                    "mrz_line2",
                                    format!("the MRZ date of birth differs from date_of_birth {d}"),
                                );
                            }
                        }
                        Some((l1.to_string(), l2.to_string()))
                    }
                    Err(e) => {
                        c.err("mrz_line1", e.to_string());
                        None
                    }
                }
            }
            _ => {
                c.err("mrz_line2", "give both MRZ lines or neither");
                None
            }
        };
        if let (Some(document_type), Some(issuing_state)) = (document_type, issuing_state) {
            document = Some(TravelDocument {
                document_type,
                number,
                issuing_state,
                expiry,
                mrz: mrz_lines,
            });
        }
    }

    let protection_status = match c.get("protection_status") {
        "" => "none".to_string(),
        v if puente_policy::protection::ProtectionStatus::parse(v).is_some() => v.to_string(),
        v => {
            let v = v.to_string();
            c.err(
                "protection_status",
                format!("{v:?} is not none, asylum_seeker, refugee, complementary or stateless"),
            );
            String::new()
        }
    };
    let mut protected_against = Vec::new();
    for code in c
        .get("protected_against")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let upper = code.to_ascii_uppercase();
        if country::is_iso_alpha3(&upper) {
            protected_against.push(upper);
        } else {
            c.err(
                "protected_against",
                format!("{code:?} is not an ISO 3166-1 alpha-3 country"),
            );
        }
    }
    let mut vulnerabilities = Vec::new();
    for v in c
        .get("vulnerabilities")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if VULNERABILITIES.contains(&v) {
            vulnerabilities.push(v.to_string());
        } else {
            c.err(
                "vulnerabilities",
                format!("{v:?} is not one of {}", VULNERABILITIES.join(", ")),
            );
        }
    }
    let mut encounters = Vec::new();
    let enc_fields = [
        "encounter_date",
        "encounter_place",
        "encounter_event",
        "previous_country",
    ];
    if enc_fields.iter().any(|f| !c.get(f).is_empty()) {
        let date = match PartialDate::parse(c.get("encounter_date")) {
            Ok(d) => Some(d),
            Err(e) => {
                c.err("encounter_date", e);
                None
            }
        };
        let event = c.get("encounter_event");
        if !EVENTS.contains(&event) {
            let v = event.to_string();
            c.err(
                "encounter_event",
                format!("{v:?} is not one of {}", EVENTS.join(", ")),
            );
        }
        let place = c.get("encounter_place").to_string();
        if place.chars().count() > 100 || place.chars().any(char::is_control) {
            c.err(
                "encounter_place",
                "must be at most 100 printable characters",
            );
        }
        let previous_country = match c.get("previous_country") {
            "" => None,
            v => c.code("previous_country", v),
        };
        if let Some(date) = date {
            encounters.push(Encounter {
                date,
                place,
                event: event.to_string(),
                previous_country,
            });
        }
    }
    let copy_path = match c.get("passport_copy") {
        "" => None,
        rel => {
            let path = base.join(rel);
            match std::fs::metadata(&path) {
                Err(e) => {
                    c.err("passport_copy", format!("{}: {e}", path.display()));
                    None
                }
                Ok(m) if !m.is_file() => {
                    c.err(
                        "passport_copy",
                        format!("{} is not a regular file", path.display()),
                    );
                    None
                }
                Ok(m) if m.len() > MAX_COPY_BYTES => {
                    c.err(
                        "passport_copy",
                        format!("{} is larger than 16 MiB", path.display()),
                    );
                    None
                }
                Ok(_) => Some(path),
            }
        }
    };
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    match (date_of_birth, sex, nationality) {
        (Some(date_of_birth), Some(sex), Some(nationality)) => Ok((
            PersonRecord {
                record_id,
                given_names,
                surnames,
                date_of_birth,
                sex,
                nationality,
                document,
                protection_status,
                protected_against,
                vulnerabilities,
                encounters,
                passport_copy: None,
            },
            copy_path,
        )),
        _ => Err(vec![RowError {
            line,
            field: None,
            reason: "incomplete row".into(),
        }]),
    }
}

/// How a holdings file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowFormat {
    /// CSV with a header row naming the columns.
    Csv,
    /// JSON Lines: one object per line, with the column names as keys.
    JsonLines,
}

impl RowFormat {
    /// The format a file's extension names (`.csv`, `.jsonl`, `.ndjson`).
    pub fn of(path: &Path) -> Result<Self, RecordsError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Ok(RowFormat::Csv),
            "jsonl" | "ndjson" => Ok(RowFormat::JsonLines),
            _ => Err(RecordsError::File {
                file: path.display().to_string(),
                reason: "expected a .csv or .jsonl file".into(),
            }),
        }
    }
}

/// Reads the rows of `input` (named `name` in errors), calling `each(line, row)`.
fn read_rows(
    name: &str,
    input: impl BufRead,
    format: RowFormat,
    each: &mut dyn FnMut(u64, RawRow) -> Result<(), RecordsError>,
) -> Result<Vec<String>, RecordsError> {
    let file_err = |reason: String| RecordsError::File {
        file: name.to_string(),
        reason,
    };
    let mut warnings = Vec::new();
    match format {
        RowFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .trim(csv::Trim::All)
                .from_reader(input);
            let headers: Vec<String> = reader
                .headers()
                .map_err(|e| file_err(format!("line 1: {e}")))?
                .iter()
                .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
                .collect();
            let missing: Vec<&str> = REQUIRED_COLUMNS
                .iter()
                .copied()
                .filter(|c| !headers.iter().any(|h| h == c))
                .collect();
            if !missing.is_empty() {
                return Err(file_err(format!(
                    "line 1: missing column(s) {}; the header must name at least {}",
                    missing.join(", "),
                    REQUIRED_COLUMNS.join(", ")
                )));
            }
            for h in &headers {
                if !COLUMNS.contains(&h.as_str()) {
                    warnings.push(format!(
                        "column {h:?} is not a Puente column and is ignored"
                    ));
                }
            }
            for (i, rec) in reader.records().enumerate() {
                let line = rec
                    .as_ref()
                    .ok()
                    .and_then(|r| r.position())
                    .map(|p| p.line())
                    .unwrap_or(i as u64 + 2);
                let rec = rec.map_err(|e| RecordsError::BadRows {
                    file: name.to_string(),
                    errors: vec![RowError {
                        line,
                        field: None,
                        reason: e.to_string(),
                    }],
                })?;
                let row: RawRow = headers
                    .iter()
                    .cloned()
                    .zip(rec.iter().map(str::to_string))
                    .collect();
                each(line, row)?;
            }
        }
        RowFormat::JsonLines => {
            for (i, text) in input.lines().enumerate() {
                let line = i as u64 + 1;
                let text = text.map_err(|e| file_err(format!("line {line}: {e}")))?;
                if text.trim().is_empty() {
                    continue;
                }
                let value: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
                    .map_err(|e| RecordsError::BadRows {
                        file: name.to_string(),
                        errors: vec![RowError {
                            line,
                            field: None,
                            reason: format!("not a JSON object: {e}"),
                        }],
                    })?;
                let mut row = RawRow::new();
                for (k, v) in value {
                    let s = match v {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Array(items) => items
                            .iter()
                            .map(|x| {
                                x.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| x.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(";"),
                        other => other.to_string(),
                    };
                    if !COLUMNS.contains(&k.as_str())
                        && !warnings
                            .iter()
                            .any(|w: &String| w.contains(&format!("{k:?}")))
                    {
                        warnings.push(format!("field {k:?} is not a Puente field and is ignored"));
                    }
                    row.insert(k, s);
                }
                each(line, row)?;
            }
        }
    }
    Ok(warnings)
}

/// What the validation pass found in a file that can be imported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Rows read.
    pub rows: u64,
    /// Notes that do not stop an import (unknown columns…).
    pub warnings: Vec<String>,
}

/// Validates every row of `input` (named `name` in errors) as [`import`]'s first pass
/// does, writing nothing: each bad row is reported with its line and reason. Passport
/// copies are looked up relative to `base`.
pub fn check_rows(
    name: &str,
    input: impl BufRead,
    format: RowFormat,
    base: &Path,
    today: time::Date,
) -> Result<CheckReport, RecordsError> {
    let mut errors: Vec<RowError> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut first_line: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows = 0u64;
    let warnings = read_rows(name, input, format, &mut |line, row| {
        rows += 1;
        match check_row(line, &row, base, today) {
            Ok((record, copy)) => {
                if !seen.insert(record.record_id.clone()) {
                    let first = first_line.get(&record.record_id).copied().unwrap_or(0);
                    errors.push(RowError {
                        line,
                        field: Some("record_id".into()),
                        reason: format!("{:?} already appears on line {first}", record.record_id),
                    });
                } else if seen.len() < 2_000_000 {
                    first_line.insert(record.record_id.clone(), line);
                }
                if let Some(p) = copy {
                    match read_head(&p) {
                        Ok(head) if sniff_media_type(&head).is_some() => {}
                        Ok(_) => errors.push(RowError {
                            line,
                            field: Some("passport_copy".into()),
                            reason: format!("{} is not a PNG or JPEG image", p.display()),
                        }),
                        Err(e) => errors.push(RowError {
                            line,
                            field: Some("passport_copy".into()),
                            reason: format!("{}: {e}", p.display()),
                        }),
                    }
                }
            }
            Err(mut e) => errors.append(&mut e),
        }
        Ok(())
    })?;
    if !errors.is_empty() {
        return Err(RecordsError::BadRows {
            file: name.to_string(),
            errors,
        });
    }
    Ok(CheckReport { rows, warnings })
}

/// The first bytes of a file, enough to tell its media type.
fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(8);
    std::fs::File::open(path)?.take(8).read_to_end(&mut head)?;
    Ok(head)
}

/// Imports `path` into `store`. `progress(done, total)` is called as rows are written.
pub fn import(
    store: &RecordStore,
    path: &Path,
    today: time::Date,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport, RecordsError> {
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let label = path.display().to_string();
    let format = RowFormat::of(path)?;
    let open = || {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|e| RecordsError::File {
                file: label.clone(),
                reason: e.to_string(),
            })
    };
    // Pass 1: validate everything, write nothing.
    let CheckReport { rows, warnings } = check_rows(&label, open()?, format, &base, today)?;
    // Pass 2: write.
    store.begin_import(&label)?;
    let mut report = ImportReport {
        rows,
        warnings,
        ..ImportReport::default()
    };
    let mut done = 0u64;
    read_rows(&label, open()?, format, &mut |line, row| {
        let (mut record, copy_path) =
            check_row(line, &row, &base, today).map_err(|errors| RecordsError::BadRows {
                file: label.clone(),
                errors,
            })?;
        let copy = match copy_path {
            Some(p) => {
                let bytes = std::fs::read(&p).map_err(|e| RecordsError::File {
                    file: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                let media_type = sniff_media_type(&bytes)
                    .unwrap_or("application/octet-stream")
                    .to_string();
                record.passport_copy = Some(CopyInfo {
                    media_type,
                    size: bytes.len() as u64,
                    sha256: sha256(&bytes),
                });
                report.copies += 1;
                Some(bytes)
            }
            None => None,
        };
        if store.get_by_record_id(&record.record_id)?.is_some() {
            report.updated += 1;
        } else {
            report.created += 1;
        }
        store.put(&record, copy.as_deref())?;
        done += 1;
        if done.is_multiple_of(10_000) || done == rows {
            progress(done, rows);
        }
        Ok(())
    })?;
    store.flush()?;
    store.end_import()?;
    store.flush()?;
    Ok(report)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}
