//! A flow-count cell: its key (period and dimensions), its value, their text names, their
//! byte encodings in the store, and their wire form ([`pb::FlowCell`]).
//!
//! Store keys put the dimensions before the period so that the day cells of one month
//! and one combination of dimensions are contiguous: the month total and its days can
//! then be read together, which secondary suppression needs.

use std::fmt;

use pb::{AgeGroup, EncounterEvent, Sex, SuppressionReason};
use puente_pki::country;
use puente_proto::v1 as pb;
use time::{Date, Month};

use crate::error::{Result, StatsError};

/// Longest entry-point code, in characters.
pub const MAX_ENTRY_POINT_CHARS: usize = 128;

/// A statistical reference period: one day or one month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    /// A calendar month.
    Month {
        /// Year.
        year: i32,
        /// Month 1..=12.
        month: u8,
    },
    /// A calendar day.
    Day(Date),
}

impl Period {
    /// Parses `YYYY-MM` (a month) or `YYYY-MM-DD` (a day).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            StatsError::Invalid(format!(
                "{s:?} is not a period (YYYY-MM for a month, YYYY-MM-DD for a day)"
            ))
        };
        let parts: Vec<&str> = s.trim().split('-').collect();
        let num = |p: &str| -> Result<u32> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 4 {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        match parts.as_slice() {
            [y, m] if y.len() == 4 && m.len() == 2 => Self::month(num(y)? as i32, num(m)? as u8),
            [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
                Self::day(num(y)? as i32, num(m)? as u8, num(d)? as u8)
            }
            _ => Err(bad()),
        }
    }

    /// A month, checked.
    pub fn month(year: i32, month: u8) -> Result<Self> {
        if !(1900..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(StatsError::Invalid(format!(
                "{year:04}-{month:02} is not a month between 1900 and 9999"
            )));
        }
        Ok(Period::Month { year, month })
    }

    /// A day, checked against the calendar.
    pub fn day(year: i32, month: u8, day: u8) -> Result<Self> {
        let bad = || {
            StatsError::Invalid(format!(
                "{year:04}-{month:02}-{day:02} is not a calendar day between 1900 and 9999"
            ))
        };
        if !(1900..=9999).contains(&year) {
            return Err(bad());
        }
        let m = Month::try_from(month).map_err(|_| bad())?;
        Date::from_calendar_date(year, m, day)
            .map(Period::Day)
            .map_err(|_| bad())
    }

    /// The month this period lies in (itself for a month).
    pub fn month_of(&self) -> Period {
        match *self {
            Period::Month { .. } => *self,
            Period::Day(d) => Period::Month {
                year: d.year(),
                month: d.month() as u8,
            },
        }
    }

    /// Whether this period begins after `day` (a month: its first day).
    pub fn begins_after(&self, day: Date) -> bool {
        let (y, m, d) = self.year_month_day();
        (y, m, d.max(1)) > (day.year(), day.month() as u8, day.day())
    }

    /// Whether this is a day.
    pub fn is_day(&self) -> bool {
        matches!(self, Period::Day(_))
    }

    /// The month before this one (for a month), or the day before (for a day).
    pub fn previous(&self) -> Option<Period> {
        match *self {
            Period::Month { year, month } if month > 1 => Some(Period::Month {
                year,
                month: month - 1,
            }),
            Period::Month { year, .. } => (year > 1900).then_some(Period::Month {
                year: year - 1,
                month: 12,
            }),
            Period::Day(d) => d.previous_day().map(Period::Day),
        }
    }

    /// Whether `self` equals `filter` or lies inside it (a day inside a month).
    pub fn within(&self, filter: &Period) -> bool {
        self == filter || (filter == &self.month_of() && self.is_day())
    }

    fn year_month_day(&self) -> (i32, u8, u8) {
        match *self {
            Period::Month { year, month } => (year, month, 0),
            Period::Day(d) => (d.year(), d.month() as u8, d.day()),
        }
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::Period {
        use pb::period::Granularity;
        pb::Period {
            granularity: Some(match *self {
                Period::Month { year, month } => Granularity::Month(pb::YearMonth {
                    year: year as u32,
                    month: month.into(),
                }),
                Period::Day(d) => Granularity::Day(pb::CalendarDate {
                    year: d.year() as u32,
                    month: d.month() as u32,
                    day: d.day().into(),
                }),
            }),
        }
    }

    /// From the wire, checked.
    pub fn from_proto(p: Option<&pb::Period>) -> Result<Self> {
        use pb::period::Granularity;
        let small = |v: u32| u8::try_from(v).unwrap_or(u8::MAX);
        let year = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        match p.and_then(|p| p.granularity.as_ref()) {
            Some(Granularity::Month(m)) => Self::month(year(m.year), small(m.month)),
            Some(Granularity::Day(d)) => Self::day(year(d.year), small(d.month), small(d.day)),
            None => Err(StatsError::Invalid("period is missing".into())),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Day(d) => write!(f, "{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()),
        }
    }
}

/// The age groups, in order.
pub const AGE_GROUPS: [AgeGroup; 8] = [
    AgeGroup::Age04,
    AgeGroup::Age511,
    AgeGroup::Age1217,
    AgeGroup::Age1829,
    AgeGroup::Age3044,
    AgeGroup::Age4559,
    AgeGroup::Age60Plus,
    AgeGroup::AgeUnknown,
];

/// The events, in order.
pub const EVENTS: [EncounterEvent; 6] = [
    EncounterEvent::Entry,
    EncounterEvent::Detection,
    EncounterEvent::Return,
    EncounterEvent::AsylumClaim,
    EncounterEvent::Departure,
    EncounterEvent::ExpectedArrival,
];

/// The age group of an age in completed years.
pub fn age_group_of(age: i32) -> AgeGroup {
    match age {
        i32::MIN..=-1 => AgeGroup::AgeUnknown,
        0..=4 => AgeGroup::Age04,
        5..=11 => AgeGroup::Age511,
        12..=17 => AgeGroup::Age1217,
        18..=29 => AgeGroup::Age1829,
        30..=44 => AgeGroup::Age3044,
        45..=59 => AgeGroup::Age4559,
        _ => AgeGroup::Age60Plus,
    }
}

/// The text name of an age group (`0-4` … `60+`, `unknown`).
pub fn age_name(a: AgeGroup) -> &'static str {
    match a {
        AgeGroup::Age04 => "0-4",
        AgeGroup::Age511 => "5-11",
        AgeGroup::Age1217 => "12-17",
        AgeGroup::Age1829 => "18-29",
        AgeGroup::Age3044 => "30-44",
        AgeGroup::Age4559 => "45-59",
        AgeGroup::Age60Plus => "60+",
        AgeGroup::AgeUnknown | AgeGroup::Unspecified => "unknown",
    }
}

/// Parses an age group name.
pub fn parse_age(s: &str) -> Result<AgeGroup> {
    AGE_GROUPS
        .into_iter()
        .find(|a| age_name(*a) == s.trim())
        .ok_or_else(|| {
            StatsError::Invalid(format!(
                "{s:?} is not an age group (one of {})",
                AGE_GROUPS.map(age_name).join(", ")
            ))
        })
}

/// The text name of an event (`entry`, `detection`, …).
pub fn event_name(e: EncounterEvent) -> &'static str {
    match e {
        EncounterEvent::Entry => "entry",
        EncounterEvent::Detection => "detection",
        EncounterEvent::Return => "return",
        EncounterEvent::AsylumClaim => "asylum_claim",
        EncounterEvent::Departure => "departure",
        EncounterEvent::ExpectedArrival => "expected_arrival",
        EncounterEvent::Unspecified => "unspecified",
    }
}

/// Parses an event name.
pub fn parse_event(s: &str) -> Result<EncounterEvent> {
    EVENTS
        .into_iter()
        .find(|e| event_name(*e) == s.trim())
        .ok_or_else(|| {
            StatsError::Invalid(format!(
                "{s:?} is not an event (one of {})",
                EVENTS.map(event_name).join(", ")
            ))
        })
}

/// The text name of a sex (`M`, `F`, `X`).
pub fn sex_name(s: Sex) -> &'static str {
    match s {
        Sex::Male => "M",
        Sex::Female => "F",
        Sex::X | Sex::Unspecified => "X",
    }
}

/// Parses `M`, `F` or `X`.
pub fn parse_sex(s: &str) -> Result<Sex> {
    match s.trim() {
        "M" => Ok(Sex::Male),
        "F" => Ok(Sex::Female),
        "X" => Ok(Sex::X),
        other => Err(StatsError::Invalid(format!(
            "{other:?} is not a sex (M, F or X)"
        ))),
    }
}

/// Checks a nationality code: ISO 3166-1 alpha-3 or an ICAO 9303 code (XXX = unknown).
pub fn check_nationality(code: &str) -> Result<String> {
    if code.len() == 3 && (country::is_iso_alpha3(code) || country::is_icao_only_code(code)) {
        Ok(code.to_string())
    } else {
        Err(StatsError::Invalid(format!(
            "{code:?} is not a nationality code (ISO 3166-1 alpha-3 in upper case, or an ICAO code such as XXX for unknown)"
        )))
    }
}

/// What a CSV field may not start with, or a spreadsheet runs it as a formula (OWASP's
/// "CSV injection"): such an entry point is refused, and exports neutralize it anyway.
pub const FORMULA_STARTS: [char; 4] = ['=', '+', '-', '@'];

/// A CSV field a spreadsheet will show, not run: a leading formula character gets a `'`.
pub fn spreadsheet_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(FORMULA_STARTS) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// One CSV field written by hand (the audit exports): spreadsheet-safe, and quoted when
/// it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    let s = spreadsheet_safe(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.into_owned()
    }
}

/// Checks an entry-point code: at most 128 characters, no control characters, not
/// starting like a spreadsheet formula.
pub fn check_entry_point(ep: &str) -> Result<String> {
    let ep = ep.trim();
    if ep.chars().count() > MAX_ENTRY_POINT_CHARS {
        return Err(StatsError::Invalid(format!(
            "entry point is longer than {MAX_ENTRY_POINT_CHARS} characters"
        )));
    }
    if ep.chars().any(char::is_control) {
        return Err(StatsError::Invalid(
            "entry point contains a control character".into(),
        ));
    }
    if ep.starts_with(FORMULA_STARTS) {
        return Err(StatsError::Invalid(format!(
            "entry point {ep:?} starts with one of = + - @, which a spreadsheet opening an export would run as a formula"
        )));
    }
    Ok(ep.to_string())
}

/// What a cell counts: the period and the dimensions (the reporting country is implied
/// by where the cell is kept).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// Nationality of the persons.
    pub nationality: String,
    /// Their sex.
    pub sex: Sex,
    /// Their age group at the event.
    pub age: AgeGroup,
    /// Entry point or place code; empty = not attributed.
    pub entry_point: String,
    /// The kind of event.
    pub event: EncounterEvent,
    /// The reference period.
    pub period: Period,
}

impl CellKey {
    /// A checked key.
    pub fn new(
        period: Period,
        nationality: &str,
        sex: Sex,
        age: AgeGroup,
        entry_point: &str,
        event: EncounterEvent,
    ) -> Result<Self> {
        if sex == Sex::Unspecified {
            return Err(StatsError::Invalid("sex is unspecified".into()));
        }
        if age == AgeGroup::Unspecified {
            return Err(StatsError::Invalid("age group is unspecified".into()));
        }
        if event == EncounterEvent::Unspecified {
            return Err(StatsError::Invalid("event is unspecified".into()));
        }
        Ok(Self {
            nationality: check_nationality(nationality)?,
            sex,
            age,
            entry_point: check_entry_point(entry_point)?,
            event,
            period,
        })
    }

    /// The same dimensions for another period.
    pub fn with_period(&self, period: Period) -> Self {
        Self {
            period,
            ..self.clone()
        }
    }

    /// The dimensions part of the store key (everything but the period).
    fn dims(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(10 + self.entry_point.len());
        v.extend_from_slice(self.nationality.as_bytes());
        v.push(self.sex as u8);
        v.push(self.age as u8);
        v.push(self.event as u8);
        let ep = self.entry_point.as_bytes();
        v.extend_from_slice(&(ep.len() as u16).to_be_bytes());
        v.extend_from_slice(ep);
        v
    }

    /// The store key.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.dims();
        let (y, m, d) = self.period.year_month_day();
        v.push(u8::from(self.period.is_day()));
        v.extend_from_slice(&(y as u16).to_be_bytes());
        v.push(m);
        v.push(d);
        v
    }

    /// The prefix shared by the day cells of this key's month (same dimensions).
    pub fn days_prefix(&self) -> Vec<u8> {
        let mut v = self.dims();
        let (y, m, _) = self.period.year_month_day();
        v.push(1);
        v.extend_from_slice(&(y as u16).to_be_bytes());
        v.push(m);
        v
    }

    /// Decodes a store key.
    pub fn decode(b: &[u8]) -> Result<Self> {
        let bad = |why: &str| StatsError::Corrupt(format!("cell key: {why}"));
        if b.len() < 3 + 3 + 2 + 5 {
            return Err(bad("too short"));
        }
        let nationality = std::str::from_utf8(&b[..3])
            .map_err(|_| bad("nationality"))?
            .to_string();
        let sex = Sex::try_from(i32::from(b[3])).map_err(|_| bad("sex"))?;
        let age = AgeGroup::try_from(i32::from(b[4])).map_err(|_| bad("age"))?;
        let event = EncounterEvent::try_from(i32::from(b[5])).map_err(|_| bad("event"))?;
        let len = usize::from(u16::from_be_bytes([b[6], b[7]]));
        if b.len() != 8 + len + 5 {
            return Err(bad("length"));
        }
        let entry_point = std::str::from_utf8(&b[8..8 + len])
            .map_err(|_| bad("entry point"))?
            .to_string();
        let p = &b[8 + len..];
        let year = i32::from(u16::from_be_bytes([p[1], p[2]]));
        let period = match p[0] {
            0 => Period::month(year, p[3]),
            1 => Period::day(year, p[3], p[4]),
            _ => return Err(bad("period kind")),
        }
        .map_err(|e| bad(&e.to_string()))?;
        Ok(Self {
            nationality,
            sex,
            age,
            entry_point,
            event,
            period,
        })
    }

    /// The wire form with a value and version.
    pub fn to_proto(&self, reporting: &str, value: Value, version: u64) -> pb::FlowCell {
        pb::FlowCell {
            period: Some(self.period.to_proto()),
            reporting_country: reporting.to_string(),
            nationality: self.nationality.clone(),
            sex: self.sex as i32,
            age_group: self.age as i32,
            entry_point: self.entry_point.clone(),
            event: self.event as i32,
            value: Some(value.to_proto()),
            version,
        }
    }

    /// From the wire, checked (key, value, version).
    pub fn from_proto(c: &pb::FlowCell) -> Result<(Self, Value, u64)> {
        let enm = |what: &str| StatsError::Invalid(format!("{what} is not a known value"));
        let key = Self::new(
            Period::from_proto(c.period.as_ref())?,
            &c.nationality,
            Sex::try_from(c.sex).map_err(|_| enm("sex"))?,
            AgeGroup::try_from(c.age_group).map_err(|_| enm("age_group"))?,
            &c.entry_point,
            EncounterEvent::try_from(c.event).map_err(|_| enm("event"))?,
        )?;
        let value = match c.value {
            Some(pb::flow_cell::Value::Count(n)) if n > MAX_COUNT => {
                return Err(StatsError::Invalid(format!(
                    "count {n} is more than {MAX_COUNT}, more than any cell of flows holds"
                )))
            }
            Some(pb::flow_cell::Value::Count(n)) => Value::Count(n),
            Some(pb::flow_cell::Value::Suppressed(r)) => match SuppressionReason::try_from(r) {
                Ok(SuppressionReason::Primary) => Value::Suppressed(Suppression::Primary),
                Ok(SuppressionReason::Secondary) => Value::Suppressed(Suppression::Secondary),
                _ => return Err(enm("suppression reason")),
            },
            None => return Err(StatsError::Invalid("cell has no value".into())),
        };
        if c.version == 0 {
            return Err(StatsError::Invalid("cell version is 0".into()));
        }
        Ok((key, value, c.version))
    }
}

/// The largest count a cell may carry, from an import or a peer: far above any day's or
/// month's flow of one kind, and small enough that totals over every cell of a matrix
/// cannot overflow.
pub const MAX_COUNT: u64 = 1_000_000_000;

/// Why a value is withheld.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Suppression {
    /// A small cell.
    Primary,
    /// A complement that would reveal a small cell.
    Secondary,
}

/// A cell's value as disclosed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// The count.
    Count(u64),
    /// Withheld.
    Suppressed(Suppression),
}

impl Value {
    /// The wire form.
    pub fn to_proto(self) -> pb::flow_cell::Value {
        match self {
            Value::Count(n) => pb::flow_cell::Value::Count(n),
            Value::Suppressed(Suppression::Primary) => {
                pb::flow_cell::Value::Suppressed(SuppressionReason::Primary as i32)
            }
            Value::Suppressed(Suppression::Secondary) => {
                pb::flow_cell::Value::Suppressed(SuppressionReason::Secondary as i32)
            }
        }
    }

    /// The count, if disclosed.
    pub fn count(self) -> Option<u64> {
        match self {
            Value::Count(n) => Some(n),
            Value::Suppressed(_) => None,
        }
    }

    fn encode(self) -> [u8; 9] {
        let mut b = [0u8; 9];
        match self {
            Value::Count(n) => b[1..].copy_from_slice(&n.to_be_bytes()),
            Value::Suppressed(Suppression::Primary) => b[0] = 1,
            Value::Suppressed(Suppression::Secondary) => b[0] = 2,
        }
        b
    }

    fn decode(b: &[u8]) -> Result<Self> {
        match b.first() {
            Some(0) if b.len() == 9 => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[1..9]);
                Ok(Value::Count(u64::from_be_bytes(a)))
            }
            Some(1) => Ok(Value::Suppressed(Suppression::Primary)),
            Some(2) => Ok(Value::Suppressed(Suppression::Secondary)),
            _ => Err(StatsError::Corrupt("cell value".into())),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Count(n) => write!(f, "{n}"),
            Value::Suppressed(Suppression::Primary) => f.write_str("suppressed (small cell)"),
            Value::Suppressed(Suppression::Secondary) => f.write_str("suppressed (secondary)"),
        }
    }
}

/// `OwnCell::month` of a day whose month has no cell.
pub const NO_MONTH: u64 = u64::MAX;

/// One of this country's own cells, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnCell {
    /// The exact count.
    pub count: u64,
    /// Its version (strictly increasing across all changes of own cells).
    pub version: u64,
    /// For a month cell: the smallest non-zero count among its day cells (0 if none),
    /// which decides secondary suppression of the month.
    pub min_day: u64,
    /// For a day cell: the count of its month cell ([`NO_MONTH`] if there is none); the
    /// days of a small month are all withheld.
    pub month: u64,
}

impl OwnCell {
    pub(crate) fn encode(&self) -> [u8; 33] {
        let mut b = [0u8; 33];
        b[0] = 2;
        b[1..9].copy_from_slice(&self.count.to_be_bytes());
        b[9..17].copy_from_slice(&self.version.to_be_bytes());
        b[17..25].copy_from_slice(&self.min_day.to_be_bytes());
        b[25..33].copy_from_slice(&self.month.to_be_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self> {
        if b.len() != 33 || b[0] != 2 {
            return Err(StatsError::Corrupt("own cell value".into()));
        }
        let u = |r: std::ops::Range<usize>| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[r]);
            u64::from_be_bytes(a)
        };
        Ok(Self {
            count: u(1..9),
            version: u(9..17),
            min_day: u(17..25),
            month: u(25..33),
        })
    }
}

/// A cell received from a peer, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedCell {
    /// The value as disclosed.
    pub value: Value,
    /// The peer's version.
    pub version: u64,
}

impl ReceivedCell {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(18);
        v.push(1);
        v.extend_from_slice(&self.version.to_be_bytes());
        v.extend_from_slice(&self.value.encode());
        v
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self> {
        if b.len() != 18 || b[0] != 1 {
            return Err(StatsError::Corrupt("received cell value".into()));
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[1..9]);
        Ok(Self {
            version: u64::from_be_bytes(a),
            value: Value::decode(&b[9..])?,
        })
    }
}
