//! Flow counts as files: the import format for countries that hold only aggregates, the
//! regional matrix export (plain CSV and SDMX-CSV 2.0), and the readable summary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use crate::cell::{
    age_name, event_name, parse_age, parse_event, parse_sex, sex_name, CellKey, Period,
    Suppression, Value,
};
use crate::error::{Result, StatsError};
use puente_proto::v1::{AgeGroup, EncounterEvent, Sex};

/// Columns of an import file, in this order.
pub const IMPORT_COLUMNS: [&str; 7] = [
    "period",
    "nationality",
    "sex",
    "age_group",
    "entry_point",
    "event",
    "count",
];

/// Most rows one import file may hold.
pub const MAX_IMPORT_ROWS: usize = 5_000_000;

/// Reads an import file: every row is checked before anything is returned; each bad row
/// is named by its line and column, and nothing is imported.
pub fn read_import(name: &str, input: impl Read) -> Result<BTreeMap<CellKey, u64>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(input);
    let line_err = |line: u64, message: String| StatsError::Line {
        file: name.to_string(),
        line,
        message,
    };
    let headers = rdr
        .headers()
        .map_err(|e| line_err(1, format!("cannot read the header: {e}")))?
        .clone();
    let got: Vec<&str> = headers.iter().collect();
    if got != IMPORT_COLUMNS {
        return Err(line_err(
            1,
            format!(
                "the header must be exactly `{}` (found `{}`)",
                IMPORT_COLUMNS.join(","),
                got.join(",")
            ),
        ));
    }
    let mut out = BTreeMap::new();
    let mut seen_at: BTreeMap<CellKey, u64> = BTreeMap::new();
    // Every bad row is reported (as a records import does), each with its line.
    let mut bad: Vec<(u64, String)> = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                bad.push((line, format!("not a well-formed CSV row: {e}")));
                continue;
            }
        };
        if out.len() + bad.len() >= MAX_IMPORT_ROWS {
            return Err(line_err(
                line,
                format!("more than {MAX_IMPORT_ROWS} rows; split the file"),
            ));
        }
        match import_row(&rec) {
            Ok((key, count)) => {
                if let Some(first) = seen_at.get(&key) {
                    bad.push((line, format!("the same cell is already on line {first}")));
                    continue;
                }
                seen_at.insert(key.clone(), line);
                out.insert(key, count);
            }
            Err(message) => bad.push((line, message)),
        }
    }
    match bad.len() {
        0 => Ok(out),
        1 => {
            let (line, message) = bad.remove(0);
            Err(line_err(line, message))
        }
        _ => Err(StatsError::Lines {
            file: name.to_string(),
            errors: bad,
        }),
    }
}

/// One row of an import file: its cell and count, or what is wrong (naming the column).
fn import_row(rec: &csv::StringRecord) -> std::result::Result<(CellKey, u64), String> {
    let col = |n: usize| rec.get(n).unwrap_or("");
    let field = |n: usize, e: StatsError| format!("{}: {e}", IMPORT_COLUMNS[n]);
    let period = Period::parse(col(0)).map_err(|e| field(0, e))?;
    let sex = parse_sex(col(2)).map_err(|e| field(2, e))?;
    let age = parse_age(col(3)).map_err(|e| field(3, e))?;
    let event = parse_event(col(5)).map_err(|e| field(5, e))?;
    let count: u64 = col(6)
        .parse()
        .map_err(|_| format!("count: {:?} is not a whole number of events", col(6)))?;
    let key = CellKey::new(period, col(1), sex, age, col(4), event).map_err(|e| {
        let which = if e.to_string().contains("nationality") {
            1
        } else {
            4
        };
        field(which, e)
    })?;
    Ok((key, count))
}

/// One line of the regional matrix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    /// Country that recorded the events.
    pub reporting: String,
    /// The cell.
    pub key: CellKey,
    /// Its value (own cells: the exact count).
    pub value: Value,
    /// The reporting country's version of it.
    pub version: u64,
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Plain CSV with Puente's names.
    Csv,
    /// SDMX-CSV 2.0.
    SdmxCsv,
}

/// The dataflow the SDMX-CSV export declares.
pub const SDMX_DATAFLOW: &str = "PUENTE:MIGR_FLOWS(1.0)";

fn sdmx_sex(s: Sex) -> &'static str {
    match s {
        Sex::Male => "M",
        Sex::Female => "F",
        Sex::X | Sex::Unspecified => "_U",
    }
}

fn sdmx_age(a: AgeGroup) -> &'static str {
    match a {
        AgeGroup::Age04 => "Y0T4",
        AgeGroup::Age511 => "Y5T11",
        AgeGroup::Age1217 => "Y12T17",
        AgeGroup::Age1829 => "Y18T29",
        AgeGroup::Age3044 => "Y30T44",
        AgeGroup::Age4559 => "Y45T59",
        AgeGroup::Age60Plus => "Y_GE60",
        AgeGroup::AgeUnknown | AgeGroup::Unspecified => "_U",
    }
}

fn sdmx_event(e: EncounterEvent) -> String {
    event_name(e).to_ascii_uppercase()
}

/// Writes `rows` (sorted by reporting country, period, dimensions) in `format`.
pub fn export(rows: &[Row], format: Format, out: impl Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    // Keep an I/O error's kind (a reader that closed the pipe is not a failure).
    let io = |e: csv::Error| {
        let text = e.to_string();
        StatsError::Io {
            path: "export".into(),
            source: match e.into_kind() {
                csv::ErrorKind::Io(io) => io,
                _ => std::io::Error::other(text),
            },
        }
    };
    match format {
        Format::Csv => {
            w.write_record([
                "reporting_country",
                "period",
                "nationality",
                "sex",
                "age_group",
                "entry_point",
                "event",
                "count",
                "status",
            ])
            .map_err(io)?;
            for r in rows {
                let (count, status) = match r.value {
                    Value::Count(n) => (n.to_string(), "disclosed"),
                    Value::Suppressed(Suppression::Primary) => {
                        (String::new(), "suppressed_primary")
                    }
                    Value::Suppressed(Suppression::Secondary) => {
                        (String::new(), "suppressed_secondary")
                    }
                };
                w.write_record([
                    r.reporting.as_str(),
                    &r.key.period.to_string(),
                    &r.key.nationality,
                    sex_name(r.key.sex),
                    age_name(r.key.age),
                    &crate::cell::spreadsheet_safe(&r.key.entry_point),
                    event_name(r.key.event),
                    &count,
                    status,
                ])
                .map_err(io)?;
            }
        }
        Format::SdmxCsv => {
            w.write_record([
                "STRUCTURE",
                "STRUCTURE_ID",
                "ACTION",
                "REF_AREA",
                "CITIZENSHIP",
                "SEX",
                "AGE",
                "ENTRY_POINT",
                "EVENT",
                "TIME_PERIOD",
                "OBS_VALUE",
                "CONF_STATUS",
            ])
            .map_err(io)?;
            for r in rows {
                // CL_CONF_STATUS: F free, A primary (small counts), D secondary set by
                // the sender.
                let (value, status) = match r.value {
                    Value::Count(n) => (n.to_string(), "F"),
                    Value::Suppressed(Suppression::Primary) => (String::new(), "A"),
                    Value::Suppressed(Suppression::Secondary) => (String::new(), "D"),
                };
                let entry = if r.key.entry_point.is_empty() {
                    "_Z".to_string()
                } else {
                    crate::cell::spreadsheet_safe(&r.key.entry_point).into_owned()
                };
                w.write_record([
                    "dataflow",
                    SDMX_DATAFLOW,
                    "I",
                    r.reporting.as_str(),
                    &r.key.nationality,
                    sdmx_sex(r.key.sex),
                    sdmx_age(r.key.age),
                    &entry,
                    &sdmx_event(r.key.event),
                    &r.key.period.to_string(),
                    &value,
                    status,
                ])
                .map_err(io)?;
            }
        }
    }
    w.flush().map_err(|e| StatsError::Io {
        path: "export".into(),
        source: e,
    })
}

/// A month total for one country and nationality: the disclosed sum, and how many of
/// its cells were withheld (then the sum is a lower bound).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Total {
    /// Sum of the disclosed counts.
    pub count: u64,
    /// Cells withheld from the sum.
    pub suppressed: u64,
}

/// Month totals by (reporting country, month, nationality), from month cells (or, where a
/// country sent only days, from the days of that month).
pub fn month_totals(rows: &[Row]) -> BTreeMap<(String, Period, String), Total> {
    // Which (reporting, dims, month) have a month cell.
    let months: BTreeSet<(String, CellKey)> = rows
        .iter()
        .filter(|r| !r.key.period.is_day())
        .map(|r| (r.reporting.clone(), r.key.clone()))
        .collect();
    let mut out: BTreeMap<(String, Period, String), Total> = BTreeMap::new();
    for r in rows {
        let month = r.key.period.month_of();
        if r.key.period.is_day()
            && months.contains(&(r.reporting.clone(), r.key.with_period(month)))
        {
            continue;
        }
        let t = out
            .entry((r.reporting.clone(), month, r.key.nationality.clone()))
            .or_default();
        match r.value {
            Value::Count(n) => t.count += n,
            Value::Suppressed(_) => t.suppressed += 1,
        }
    }
    out
}

/// The readable summary: per reporting country and month, the top nationalities with the
/// change from the previous month.
pub fn summary(rows: &[Row], top: usize) -> String {
    use std::fmt::Write as _;
    let totals = month_totals(rows);
    let mut by_group: BTreeMap<(String, Period), Vec<(String, Total)>> = BTreeMap::new();
    for ((rep, month, nat), t) in &totals {
        by_group
            .entry((rep.clone(), *month))
            .or_default()
            .push((nat.clone(), *t));
    }
    let mut s = String::new();
    if by_group.is_empty() {
        s.push_str("No flow counts yet: import or aggregate records, then sync with peers.\n");
        return s;
    }
    // Country names padded to the longest shown, so long ones do not push columns out.
    let name_width = totals
        .keys()
        .map(|(_, _, nat)| {
            puente_pki::country::country_name(nat)
                .unwrap_or("")
                .chars()
                .count()
        })
        .max()
        .unwrap_or(0);
    for ((rep, month), mut nats) in by_group {
        nats.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        let all: u64 = nats.iter().map(|(_, t)| t.count).sum();
        let withheld: u64 = nats.iter().map(|(_, t)| t.suppressed).sum();
        let _ = writeln!(
            s,
            "{rep} {month}: {all} events{}",
            if withheld > 0 {
                format!(" disclosed, {withheld} cell(s) suppressed")
            } else {
                String::new()
            }
        );
        for (nat, t) in nats.iter().take(top) {
            let prev = month
                .previous()
                .and_then(|p| totals.get(&(rep.clone(), p, nat.clone())));
            let name = puente_pki::country::country_name(nat).unwrap_or("");
            if t.count == 0 && t.suppressed > 0 {
                // Every cell withheld: there is no lower bound worth printing, and no change.
                let _ = writeln!(
                    s,
                    "  {nat} {name:<name_width$} {:>9}   withheld (small cells)",
                    "-"
                );
                continue;
            }
            let change = match prev {
                Some(p) if p.count == 0 && p.suppressed > 0 => {
                    "previous month withheld (small cells)".to_string()
                }
                Some(p) if p.count > 0 => {
                    let d = t.count as i64 - p.count as i64;
                    format!(
                        "{d:+} ({:+.0}%) vs previous month",
                        d as f64 * 100.0 / p.count as f64
                    )
                }
                Some(_) => "new vs previous month (was 0)".to_string(),
                None => "no previous month".to_string(),
            };
            let value = if t.suppressed > 0 {
                format!("≥{}", t.count)
            } else {
                t.count.to_string()
            };
            let _ = writeln!(s, "  {nat} {name:<name_width$} {value:>9}   {change}");
        }
    }
    s
}
