//! Reading the rows of a holdings file, each with the line it starts on in the file (the
//! CSV header is line 1; blank lines and lines inside a quoted field are counted). A row
//! that cannot be read at all (a CSV row with another number of fields, a JSON line
//! that is not an object) goes to `bad` and reading goes on, so every bad row of a file
//! is reported at once.

use super::*;

/// Most unreadable rows collected before reading stops.
const MAX_BAD: usize = 100_000;

/// Reads the rows of `input` (named `name` in errors), calling `each(line, row)`;
/// unreadable rows go to `bad`. Returns the warnings (unknown columns).
pub(super) fn read_rows(
    name: &str,
    input: impl BufRead,
    format: RowFormat,
    bad: &mut Vec<RowError>,
    each: &mut dyn FnMut(u64, RawRow) -> Result<(), RecordsError>,
) -> Result<Vec<String>, RecordsError> {
    let file_err = |reason: String| RecordsError::File {
        file: name.to_string(),
        reason,
    };
    let mut warnings = Vec::new();
    match format {
        RowFormat::Csv => {
            let empty = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .trim(csv::Trim::All)
                .from_reader(LineScan {
                    inner: input,
                    empty: empty.clone(),
                    blank: true,
                });
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
                // One header field holding them all: another separator (a spreadsheet
                // set to the Latin American or European list separator writes ';').
                let separator = match headers.as_slice() {
                    [one] => [';', '\t', '|'].into_iter().find(|c| one.contains(*c)),
                    _ => None,
                };
                let hint = separator
                    .map(|c| {
                        format!(
                            "; the header seems separated by {:?}: Puente reads comma-separated CSV (in a spreadsheet, save as \"CSV UTF-8 (comma delimited)\")",
                            c
                        )
                    })
                    .unwrap_or_default();
                return Err(file_err(format!(
                    "line 1: missing column(s) {}; the header must name at least {}{hint}",
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
            let mut record = csv::StringRecord::new();
            loop {
                // csv places a row where it began reading it, before the blank lines
                // it skipped: the row's own line is the first one with content.
                let started = reader.position().line();
                let line_of = |from: u64| first_content_line(&empty.borrow(), from);
                match reader.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        let line = line_of(record.position().map_or(started, |p| p.line()));
                        let row: RawRow = headers
                            .iter()
                            .cloned()
                            .zip(record.iter().map(str::to_string))
                            .collect();
                        each(line, row)?;
                    }
                    Err(e) => {
                        if let csv::ErrorKind::Io(io) = e.kind() {
                            return Err(file_err(io.to_string()));
                        }
                        let line = line_of(e.position().map_or(started, |p| p.line()));
                        let reason = match e.kind() {
                            csv::ErrorKind::UnequalLengths {
                                expected_len, len, ..
                            } => format!("{len} field(s) where the header names {expected_len}"),
                            _ => format!("not a well-formed CSV row: {e}"),
                        };
                        bad.push(RowError {
                            line,
                            field: None,
                            reason,
                        });
                        if bad.len() >= MAX_BAD {
                            break;
                        }
                    }
                }
            }
        }
        RowFormat::JsonLines => {
            for (i, text) in input.lines().enumerate() {
                let line = i as u64 + 1;
                let text = text.map_err(|e| file_err(format!("line {line}: {e}")))?;
                if text.trim().is_empty() {
                    continue;
                }
                let value: BTreeMap<String, serde_json::Value> = match serde_json::from_str(&text) {
                    Ok(v) => v,
                    Err(e) => {
                        bad.push(RowError {
                            line,
                            field: None,
                            reason: format!("not a JSON object: {e}"),
                        });
                        if bad.len() >= MAX_BAD {
                            break;
                        }
                        continue;
                    }
                };
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

/// Passes bytes through, noting for each line (by its `\n`) whether it was blank.
struct LineScan<R> {
    inner: R,
    empty: std::rc::Rc<std::cell::RefCell<Vec<bool>>>,
    blank: bool,
}

impl<R: std::io::Read> std::io::Read for LineScan<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut empty = self.empty.borrow_mut();
        for b in buf.iter().take(n) {
            match b {
                b'\n' => {
                    empty.push(self.blank);
                    self.blank = true;
                }
                b'\r' => {}
                _ => self.blank = false,
            }
        }
        Ok(n)
    }
}

/// The first line from `from` on (1-based) that is not blank.
fn first_content_line(empty: &[bool], from: u64) -> u64 {
    let mut line = from.max(1);
    while usize::try_from(line - 1)
        .ok()
        .and_then(|i| empty.get(i))
        .copied()
        .unwrap_or(false)
    {
        line += 1;
    }
    line
}
