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

mod row;
use row::*;

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
