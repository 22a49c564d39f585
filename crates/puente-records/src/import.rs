//! Importing a country's holdings from the spreadsheets and databases authorities keep:
//! CSV with a header row, or JSON Lines with the same field names.
//!
//! The import is all or nothing: a first pass validates every row and reports each bad
//! one with the line it starts on in the file and the reason (nothing is written then);
//! a second pass writes, offline in parts, on a serving node as one change that queries
//! see whole or not at all ([`Apply`]).
//! Re-importing a `record_id` replaces that record. A marker in the store records an
//! import in progress, so one interrupted by a crash is reported until it is re-run (the
//! re-run converges: writes are keyed by `record_id`).

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::Path;

use puente_pki::country;

use crate::error::{RecordsError, RowError};
use crate::media::sniff_media_type;
use crate::model::{
    document_number, CopyInfo, DocumentType, Encounter, PartialDate, PersonRecord, Sex,
    TravelDocument, EVENTS, VULNERABILITIES,
};
use crate::mrz;
use crate::store::{Incoming, RecordStore};

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

mod copies;
mod read;
mod row;
pub use copies::Copies;
use read::read_rows;
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
    check_rows_with(name, input, format, &Copies::Dir(base), today)
}

/// [`check_rows`] with the passport copies taken from `copies`.
pub fn check_rows_with(
    name: &str,
    input: impl BufRead,
    format: RowFormat,
    copies: &Copies<'_>,
    today: time::Date,
) -> Result<CheckReport, RecordsError> {
    let mut errors: Vec<RowError> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut first_line: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows = 0u64;
    let mut unreadable = Vec::new();
    let warnings = read_rows(name, input, format, &mut unreadable, &mut |line, row| {
        rows += 1;
        match check_row(line, &row, copies, today) {
            Ok((record, _)) => {
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
            }
            Err(mut e) => errors.append(&mut e),
        }
        Ok(())
    })?;
    rows += unreadable.len() as u64;
    errors.append(&mut unreadable);
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(RecordsError::BadRows {
            file: name.to_string(),
            errors,
        });
    }
    Ok(CheckReport { rows, warnings })
}

/// The passport copies the rows of `input` name (their `passport_copy` column), in
/// order, each once: what a client sends with a file it imports through the node.
pub fn copy_names(
    name: &str,
    input: impl BufRead,
    format: RowFormat,
) -> Result<Vec<String>, RecordsError> {
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    read_rows(name, input, format, &mut Vec::new(), &mut |_, row| {
        if let Some(name) = row.get("passport_copy").map(|s| s.trim()) {
            if !name.is_empty() && seen.insert(name.to_string()) {
                names.push(name.to_string());
            }
        }
        Ok(())
    })?;
    Ok(names)
}

/// Rows written per part by an offline import (a node's import is one part).
const PART_ROWS: usize = 10_000;

/// How an import's rows reach the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Apply {
    /// In parts of `PART_ROWS`, bracketed by the in-progress mark: for a store no one
    /// reads meanwhile (offline), with memory bounded whatever the file's size.
    InParts,
    /// As one change ([`RecordStore::apply_import`]): queries in flight see none of it
    /// or all of it. The node imports so while it serves.
    Whole,
}

/// Imports `path` into `store` in parts (offline). `progress(done, total)` is called as
/// rows are written.
pub fn import(
    store: &RecordStore,
    path: &Path,
    today: time::Date,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport, RecordsError> {
    import_file(store, path, today, Apply::InParts, progress)
}

/// Imports `path` into `store`, its copies relative to its directory.
pub fn import_file(
    store: &RecordStore,
    path: &Path,
    today: time::Date,
    apply: Apply,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport, RecordsError> {
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let label = path.display().to_string();
    let format = RowFormat::of(path)?;
    let mut open = || -> Result<Box<dyn BufRead>, RecordsError> {
        std::fs::File::open(path)
            .map(|f| Box::new(std::io::BufReader::new(f)) as Box<dyn BufRead>)
            .map_err(|e| RecordsError::File {
                file: label.clone(),
                reason: e.to_string(),
            })
    };
    import_rows(
        store,
        &label,
        format,
        &Copies::Dir(&base),
        &mut open,
        today,
        apply,
        progress,
    )
}

/// Imports the file `bytes` (named `name`, written in `format`) as one change, its
/// passport copies from `copies`: how the node imports a file a client sent.
pub fn import_bytes(
    store: &RecordStore,
    name: &str,
    format: RowFormat,
    bytes: &[u8],
    copies: &BTreeMap<String, Vec<u8>>,
    today: time::Date,
) -> Result<ImportReport, RecordsError> {
    let mut open = || -> Result<Box<dyn BufRead + '_>, RecordsError> { Ok(Box::new(bytes)) };
    import_rows(
        store,
        name,
        format,
        &Copies::Sent(copies),
        &mut open,
        today,
        Apply::Whole,
        &mut |_, _| {},
    )
}

/// Validates every row (nothing is written if one is bad), then writes them as `apply`
/// says. `open` reads the file from its start, once per pass.
#[allow(clippy::too_many_arguments)]
pub fn import_rows<'a>(
    store: &RecordStore,
    name: &str,
    format: RowFormat,
    copies: &Copies<'_>,
    open: &mut dyn FnMut() -> Result<Box<dyn BufRead + 'a>, RecordsError>,
    today: time::Date,
    apply: Apply,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport, RecordsError> {
    // Pass 1: validate everything, write nothing.
    let CheckReport { rows, warnings } = check_rows_with(name, open()?, format, copies, today)?;
    // Pass 2: write.
    let mut report = ImportReport {
        rows,
        warnings,
        ..ImportReport::default()
    };
    if apply == Apply::InParts {
        store.begin_import(name)?;
    }
    let mut pending: Vec<Incoming> = Vec::new();
    let mut done = 0u64;
    let mut write = |pending: &mut Vec<Incoming>, report: &mut ImportReport| {
        let part = std::mem::take(pending);
        let n = part.len() as u64;
        let applied = match apply {
            Apply::InParts => store.apply_part(part)?,
            Apply::Whole => store.apply_import(name, part)?,
        };
        report.created += applied.created;
        report.updated += applied.updated;
        done += n;
        progress(done, rows);
        Ok::<(), RecordsError>(())
    };
    let mut unreadable = Vec::new();
    read_rows(name, open()?, format, &mut unreadable, &mut |line, row| {
        let (mut record, copy) =
            check_row(line, &row, copies, today).map_err(|errors| RecordsError::BadRows {
                file: name.to_string(),
                errors,
            })?;
        let copy = match copy {
            Some(copy_name) => {
                let bytes = copies
                    .load(&copy_name)
                    .map_err(|reason| RecordsError::File {
                        file: copy_name.clone(),
                        reason,
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
        pending.push((record, copy));
        if apply == Apply::InParts && pending.len() >= PART_ROWS {
            write(&mut pending, &mut report)?;
        }
        Ok(())
    })?;
    if !unreadable.is_empty() {
        // The file changed between the passes.
        return Err(RecordsError::BadRows {
            file: name.to_string(),
            errors: unreadable,
        });
    }
    if !pending.is_empty() {
        write(&mut pending, &mut report)?;
    }
    if apply == Apply::InParts {
        store.end_import()?;
        store.flush()?;
    }
    Ok(report)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}
