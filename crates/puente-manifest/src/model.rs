//! A carrier's manifest as the node keeps it: the trip, its route and times, and each
//! passenger with the same identity and document fields as a record
//! ([`puente_records::model`]).

use puente_records::model::{PartialDate, Sex, TravelDocument};
use serde::{Deserialize, Serialize};

/// How the manifest was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// UN/EDIFACT PAXLST (airlines: the WCO/IATA/ICAO API guidelines' message).
    Paxlst,
    /// A bus manifest as JSON.
    BusJson,
    /// A bus manifest as CSV, one passenger a row.
    BusCsv,
}

impl Format {
    /// The name used on the command line and in the contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Paxlst => "paxlst",
            Format::BusJson => "bus_json",
            Format::BusCsv => "bus_csv",
        }
    }

    /// Guesses the format from the first bytes: `UNA`/`UNB` is EDIFACT, `{` JSON, else CSV.
    pub fn sniff(bytes: &[u8]) -> Format {
        let start: Vec<u8> = bytes
            .iter()
            .copied()
            .skip_while(|b| b.is_ascii_whitespace() || *b == 0xEF || *b == 0xBB || *b == 0xBF)
            .take(3)
            .collect();
        match start.as_slice() {
            b"UNA" | b"UNB" => Format::Paxlst,
            [b'{', ..] => Format::BusJson,
            _ => Format::BusCsv,
        }
    }
}

/// A time on the manifest, local to the place (PAXLST and bus timetables carry no zone):
/// minutes are the finest it is kept at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LocalTime {
    /// The day.
    pub date: (i32, u8, u8),
    /// Hour and minute, when given.
    pub time: Option<(u8, u8)>,
}

impl LocalTime {
    /// Checks the calendar and the clock.
    pub fn new(year: i32, month: u8, day: u8, time: Option<(u8, u8)>) -> Result<Self, String> {
        let m =
            time::Month::try_from(month).map_err(|_| format!("month {month} does not exist"))?;
        time::Date::from_calendar_date(year, m, day)
            .map_err(|_| format!("day {day} does not exist in {year}-{month:02}"))?;
        if let Some((h, min)) = time {
            if h > 23 || min > 59 {
                return Err(format!("{h:02}:{min:02} is not a time of day"));
            }
        }
        Ok(Self {
            date: (year, month, day),
            time,
        })
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DD HH:MM` (seconds and a zone,
    /// if written, are read and dropped).
    pub fn parse(s: &str) -> Result<Self, String> {
        let shown: String = s.chars().take(40).collect();
        let bad = || format!("{shown:?} is not a date and time (YYYY-MM-DDTHH:MM)");
        let s = s.trim();
        let (d, t) = match s.find(['T', ' ']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let num = |p: &str, len: usize| -> Result<u32, String> {
            if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let parts: Vec<&str> = d.split('-').collect();
        let [y, m, dd] = parts.as_slice() else {
            return Err(bad());
        };
        let year = num(y, 4)? as i32;
        let month = num(m, 2)? as u8;
        let day = num(dd, 2)? as u8;
        let time = match t {
            None => None,
            Some(t) => {
                let hm = t.get(..5).ok_or_else(bad)?;
                let (h, mi) = hm.split_once(':').ok_or_else(bad)?;
                Some((num(h, 2)? as u8, num(mi, 2)? as u8))
            }
        };
        Self::new(year, month, day, time).map_err(|e| format!("{shown:?}: {e}"))
    }

    /// The day, as the statistics count it.
    pub fn day(&self) -> Option<time::Date> {
        let (y, m, d) = self.date;
        time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
    }
}

impl std::fmt::Display for LocalTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.date;
        write!(f, "{y:04}-{m:02}-{d:02}")?;
        if let Some((h, mi)) = self.time {
            write!(f, "T{h:02}:{mi:02}")?;
        }
        Ok(())
    }
}

/// One stop on a trip's route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    /// The place as the carrier names it (an IATA airport code, a bus terminal, a border
    /// post).
    pub place: String,
    /// The country it is in (ISO 3166-1 alpha-3), when known (bus routes always say it;
    /// PAXLST names airports only).
    pub country: Option<String>,
    /// Whether the trip crosses a border to reach this stop (its country differs from the
    /// previous stop's).
    pub border_crossing: bool,
}

/// One traveller on the manifest: the same identity and document fields as a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passenger {
    /// Given names as the document carries them.
    pub given_names: String,
    /// Surnames.
    pub surnames: String,
    /// Date of birth.
    pub date_of_birth: PartialDate,
    /// Sex.
    pub sex: Sex,
    /// Nationality (ISO alpha-3 or ICAO code).
    pub nationality: String,
    /// The travel document, when given.
    pub document: Option<TravelDocument>,
    /// Where this passenger boards, when the manifest says it per passenger.
    pub embarkation: Option<String>,
    /// Where this passenger leaves the trip, when the manifest says it per passenger.
    pub debarkation: Option<String>,
}

/// A whole manifest, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// How it was written.
    pub format: Format,
    /// The carrier as the manifest names it (airline code, bus company).
    pub carrier: String,
    /// The flight number or trip id.
    pub trip: String,
    /// The route, first stop the departure, last the arrival.
    pub route: Vec<Stop>,
    /// Scheduled departure (local time of the departure place).
    pub departure: Option<LocalTime>,
    /// Scheduled arrival (local time of the arrival place).
    pub arrival: Option<LocalTime>,
    /// The travellers, in manifest order.
    pub passengers: Vec<Passenger>,
}

impl Manifest {
    /// Where the trip enters `country`: the first stop in it reached by a border
    /// crossing, else the first stop in it, else (PAXLST: airports carry no country) the
    /// arrival place.
    pub fn entry_point(&self, country: &str) -> Option<&str> {
        self.route
            .iter()
            .find(|s| s.border_crossing && s.country.as_deref() == Some(country))
            .or_else(|| {
                self.route
                    .iter()
                    .find(|s| s.country.as_deref() == Some(country))
            })
            .or_else(|| self.route.last())
            .map(|s| s.place.as_str())
    }

    /// The border crossings on the route.
    pub fn border_crossings(&self) -> impl Iterator<Item = &Stop> {
        self.route.iter().filter(|s| s.border_crossing)
    }
}

/// Marks each stop whose country differs from the previous stop's as a border crossing.
pub(crate) fn mark_crossings(route: &mut [Stop]) {
    let mut previous: Option<String> = None;
    for stop in route.iter_mut() {
        stop.border_crossing = match (&previous, &stop.country) {
            (Some(p), Some(c)) => p != c,
            _ => false,
        };
        if stop.country.is_some() {
            previous = stop.country.clone();
        }
    }
}
