//! The records a country holds about a person, as the node stores them (encrypted) and
//! as import reads them.

use puente_pki::CountryCode;
use puente_policy::protection::{Protection, ProtectionStatus};
use serde::{Deserialize, Serialize};

/// A date that may be known only to the year or the month (never a fake 01-01).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct PartialDate {
    /// The year.
    pub year: i32,
    /// 1-12, when known.
    pub month: Option<u8>,
    /// 1-31, when known (only with a month).
    pub day: Option<u8>,
}

impl PartialDate {
    /// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, checking the calendar. A month or day
    /// written `00` or `XX` (how many registries write "not known") is read as unknown:
    /// `1986-00-00` is the year 1986, `1986-05-00` May 1986.
    pub fn parse(s: &str) -> Result<Self, String> {
        let shown: String = s.chars().take(40).collect();
        let bad = || format!("{shown:?} is not a date (YYYY-MM-DD, YYYY-MM or YYYY)");
        let parts: Vec<&str> = s.trim().split('-').collect();
        if parts.len() > 3 {
            return Err(bad());
        }
        let num = |p: &str, len: usize| -> Result<u32, String> {
            if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse::<u32>().map_err(|_| bad())
        };
        // `None` for an unknown part (`00`, `XX`).
        let part = |p: &str| -> Result<Option<u8>, String> {
            if p.eq_ignore_ascii_case("XX") {
                return Ok(None);
            }
            let v = u8::try_from(num(p, 2)?).map_err(|_| bad())?;
            Ok((v != 0).then_some(v))
        };
        let year =
            i32::try_from(num(parts.first().copied().unwrap_or(""), 4)?).map_err(|_| bad())?;
        if !(1880..=2200).contains(&year) {
            return Err(format!("{shown:?}: year {year} is implausible"));
        }
        let month = match parts.get(1) {
            Some(m) => part(m)?,
            None => None,
        };
        let day = match (month, parts.get(2)) {
            // A day without a month says nothing.
            (Some(_), Some(d)) => part(d)?,
            (None, Some(d)) => {
                part(d)?;
                None
            }
            _ => None,
        };
        let date = Self { year, month, day };
        date.check().map_err(|e| format!("{shown:?}: {e}"))?;
        Ok(date)
    }

    /// Whether this is 1 January, which many registries write when only the year is
    /// known: a match treats it as "year only" against any other date of that year.
    pub fn is_placeholder(&self) -> bool {
        self.month == Some(1) && self.day == Some(1)
    }

    /// Checks month and day against the calendar.
    pub fn check(&self) -> Result<(), String> {
        if let Some(m) = self.month {
            let month =
                time::Month::try_from(m).map_err(|_| format!("month {m} does not exist"))?;
            if let Some(d) = self.day {
                time::Date::from_calendar_date(self.year, month, d)
                    // Without the year: the message may reach a peer and an audit entry.
                    .map_err(|_| format!("day {d} does not exist in month {m} of that year"))?;
            }
        } else if self.day.is_some() {
            return Err("a day without a month".into());
        }
        Ok(())
    }
}

impl std::fmt::Display for PartialDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
            if let Some(d) = self.day {
                write!(f, "-{d:02}")?;
            }
        }
        Ok(())
    }
}

/// Sex as travel documents record it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    /// Male.
    M,
    /// Female.
    F,
    /// Unspecified / other.
    X,
}

impl Sex {
    /// Parses `M`, `F` or `X`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "M" | "m" => Some(Sex::M),
            "F" | "f" => Some(Sex::F),
            "X" | "x" | "<" => Some(Sex::X),
            _ => None,
        }
    }
}

/// Kinds of travel document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocumentType {
    /// A passport (ICAO code P).
    Passport,
    /// An identity card.
    IdentityCard,
    /// A refugee or other travel document.
    TravelDocument,
    /// Anything else.
    Other,
}

impl DocumentType {
    /// Parses the import spelling (`passport`/`P`, `identity_card`/`ID`, `travel_document`, `other`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "passport" | "p" => Some(Self::Passport),
            "identity_card" | "id" | "i" => Some(Self::IdentityCard),
            "travel_document" | "refugee_travel_document" => Some(Self::TravelDocument),
            "other" => Some(Self::Other),
            _ => None,
        }
    }
}

/// Vulnerability flags.
pub const VULNERABILITIES: &[&str] = &[
    "unaccompanied_child",
    "separated_child",
    "trafficking_victim",
    "violence_survivor",
    "pregnant",
    "disability",
    "serious_illness",
    "elderly",
];

/// Encounter events.
pub const EVENTS: &[&str] = &["entry", "detection", "return", "asylum_claim", "departure"];

/// A travel document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TravelDocument {
    /// Its kind.
    pub document_type: DocumentType,
    /// The number, normalized (upper case, no spaces or dashes).
    pub number: String,
    /// Issuing state (ISO alpha-3 or ICAO code).
    pub issuing_state: String,
    /// Expiry date.
    pub expiry: Option<PartialDate>,
    /// The two TD3 MRZ lines, when recorded.
    pub mrz: Option<(String, String)>,
}

/// One encounter with the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encounter {
    /// When.
    pub date: PartialDate,
    /// Where (entry point).
    pub place: String,
    /// What happened (`entry`, `detection`, …).
    pub event: String,
    /// The country the person came from on the route.
    pub previous_country: Option<String>,
}

/// A stored passport copy's description (the image itself is stored apart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyInfo {
    /// Media type (`image/png`, `image/jpeg`).
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the image.
    pub sha256: [u8; 32],
}

/// Everything the country holds about one person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// The country's own id for the record.
    pub record_id: String,
    /// Given names as recorded.
    pub given_names: String,
    /// Surnames as recorded.
    pub surnames: String,
    /// Date of birth.
    pub date_of_birth: PartialDate,
    /// Sex.
    pub sex: Sex,
    /// Nationality (ISO alpha-3 or ICAO code such as XXA).
    pub nationality: String,
    /// The travel document, if any.
    pub document: Option<TravelDocument>,
    /// Protection status.
    pub protection_status: String,
    /// Countries the person is protected against.
    pub protected_against: Vec<String>,
    /// Vulnerability flags.
    pub vulnerabilities: Vec<String>,
    /// Encounters, oldest first.
    pub encounters: Vec<Encounter>,
    /// The passport copy, if one is stored.
    pub passport_copy: Option<CopyInfo>,
}

impl PersonRecord {
    /// The protection the policy filter needs.
    pub fn protection(&self) -> Protection {
        Protection {
            status: ProtectionStatus::parse(&self.protection_status)
                .unwrap_or(ProtectionStatus::None),
            protected_against: self
                .protected_against
                .iter()
                .filter_map(|c| CountryCode::parse(c).ok())
                .collect(),
        }
    }

    /// Countries this person is never disclosed to (see [`puente_policy::protection`]).
    pub fn shielded_from(&self) -> Vec<String> {
        puente_policy::protection::shielded_from(&[self.nationality.as_str()], &self.protection())
            .into_iter()
            .map(|c| c.to_string())
            .collect()
    }

    /// The latest encounter.
    pub fn last_encounter(&self) -> Option<&Encounter> {
        self.encounters.iter().max_by_key(|e| e.date)
    }

    /// Countries on the route, in order.
    pub fn route(&self) -> Vec<String> {
        let mut route: Vec<String> = Vec::new();
        for e in &self.encounters {
            if let Some(c) = &e.previous_country {
                if route.last() != Some(c) {
                    route.push(c.clone());
                }
            }
        }
        route
    }
}

/// A document number as written (letters, digits, spaces, '-' and filler '<'),
/// normalized: 1-20 letters or digits. Any other character is refused, not dropped:
/// dropping punctuation or full-width digits would turn it into another number.
pub fn document_number(s: &str) -> Result<String, String> {
    // The message names the position, not the character: it goes into audit entries
    // and to the asking country, and a document number is personal data.
    if let Some(at) = s
        .chars()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '<')))
    {
        return Err(format!(
            "character {} is not a letter A-Z, a digit, a space, '-' or '<'",
            at + 1
        ));
    }
    let n = normalize_document_number(s);
    if n.is_empty() || n.len() > 20 {
        return Err("must have 1-20 letters or digits".into());
    }
    Ok(n)
}

/// Normalizes a document number: upper case, spaces, dashes and MRZ fillers removed.
pub fn normalize_document_number(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
