//! One passenger's group of a PAXLST message (NAD+FL, ATT, DTM 329, LOC, NAT, RFF,
//! the DOC group with its DTM 36 and LOC 91) and the DTM date formats.

use puente_records::model::{DocumentType, PartialDate, Sex, TravelDocument};

use super::err;
use crate::edifact::Segment;
use crate::error::ManifestError;
use crate::model::LocalTime;
use crate::passenger as check;

/// A passenger being read, until the next NAD, CNT or UNT closes the group.
pub(super) struct Draft {
    pub(super) start: usize,
    pub(super) given: String,
    pub(super) surnames: String,
    pub(super) birth: Option<PartialDate>,
    pub(super) sex: Option<Sex>,
    pub(super) nationality: Option<String>,
    pub(super) document: Option<TravelDocument>,
    pub(super) doc_pending: bool,
    pub(super) embarkation: Option<String>,
    pub(super) debarkation: Option<String>,
}

impl Draft {
    /// Reads one segment of the group; `stage` says whether DTM/LOC belong to the DOC.
    pub(super) fn apply(
        &mut self,
        s: &Segment,
        stage: u8,
        today: time::Date,
    ) -> Result<(), ManifestError> {
        match s.tag.as_str() {
            "ATT" if s.get(0, 0) == "2" => {
                let v = s.get(2, 0);
                let v = if v == "U" { "X" } else { v };
                self.sex = Some(check::sex(v).map_err(|(_, r)| err(s, "element 3 (gender)", r))?);
            }
            "DTM" if stage == 2 => {
                if s.get(0, 0) != "329" {
                    return Err(err(
                        s,
                        "element 1 (date/time qualifier)",
                        "a passenger's date is 329 (date of birth)",
                    ));
                }
                let t = date_time(s, today, true)?;
                let (y, m, dd) = t.date;
                let birth = check::birth(&format!("{y:04}-{m:02}-{dd:02}"), today)
                    .map_err(|(_, r)| err(s, "element 1 (date of birth)", r))?;
                self.birth = Some(birth);
            }
            "LOC" if stage == 4 => {
                let place = s.get(1, 0).trim().chars().take(35).collect::<String>();
                match s.get(0, 0) {
                    "178" => self.embarkation = Some(place),
                    "179" => self.debarkation = Some(place),
                    _ => {}
                }
            }
            "NAT" => {
                self.nationality = Some(
                    check::country_code("nationality", s.get(1, 0))
                        .map_err(|(_, r)| err(s, "element 2 (nationality)", r))?,
                );
            }
            "DOC" => {
                let code = s.get(0, 0).trim().to_ascii_uppercase();
                let kind = match code.as_str() {
                    "V" => None, // a visa is not the travel document
                    c if c.starts_with('P') => Some(DocumentType::Passport),
                    "I" | "ID" | "IP" | "AC" => Some(DocumentType::IdentityCard),
                    "T" | "F" => Some(DocumentType::TravelDocument),
                    "" => {
                        return Err(err(s, "element 1 (document type)", "is empty"));
                    }
                    _ => Some(DocumentType::Other),
                };
                let n = puente_records::model::document_number(s.get(1, 0))
                    .map_err(|e| err(s, "element 2 (document number)", &e))?;
                self.doc_pending = false;
                if let (Some(kind), None) = (kind, &self.document) {
                    self.document = Some(TravelDocument {
                        document_type: kind,
                        number: n,
                        issuing_state: String::new(),
                        expiry: None,
                        mrz: None,
                    });
                    self.doc_pending = true;
                }
            }
            "DTM" if self.doc_pending && s.get(0, 0) == "36" => {
                let t = date_time(s, today, false)?;
                let (y, m, dd) = t.date;
                if let Some(doc) = self.document.as_mut() {
                    doc.expiry = Some(PartialDate {
                        year: y,
                        month: Some(m),
                        day: Some(dd),
                    });
                }
            }
            "LOC" if self.doc_pending && s.get(0, 0) == "91" => {
                let state = check::country_code("issuing_state", s.get(1, 0))
                    .map_err(|(_, r)| err(s, "element 2 (issuing country)", r))?;
                if let Some(doc) = self.document.as_mut() {
                    doc.issuing_state = state;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A DTM's date (and time): format 102 (CCYYMMDD), 201 (YYMMDDHHMM), 203
/// (CCYYMMDDHHMM), or, without a format, YYMMDD / CCYYMMDD by length. Two-digit years:
/// a birth is never after `today`; other dates are this century.
pub(super) fn date_time(
    s: &Segment,
    today: time::Date,
    birth: bool,
) -> Result<LocalTime, ManifestError> {
    let v = s.get(0, 1).trim();
    let field = "element 1 (date/time)";
    let bad = |why: &str| {
        err(
            s,
            field,
            format!("{:?}: {why}", v.chars().take(16).collect::<String>()),
        )
    };
    if !v.bytes().all(|b| b.is_ascii_digit()) || v.is_empty() {
        return Err(bad("not digits"));
    }
    let format = s.get(0, 2);
    let (century, rest) = match (format, v.len()) {
        ("102", 8) | ("203", 12) | ("", 8) | ("", 12) => (Some(&v[..2]), &v[2..]),
        ("201", 10) | ("", 6) | ("", 10) => (None, v),
        _ => return Err(bad(
            "does not fit its format (102 CCYYMMDD, 201 YYMMDDHHMM, 203 CCYYMMDDHHMM, or YYMMDD)",
        )),
    };
    let two = |i: usize| -> u32 { rest[i..i + 2].parse().unwrap_or(0) };
    let yy = two(0) as i32;
    let year = match century {
        Some(c) => c.parse::<i32>().unwrap_or(0) * 100 + yy,
        None if birth => {
            let this = today.year();
            if 2000 + yy > this {
                1900 + yy
            } else {
                2000 + yy
            }
        }
        None => 2000 + yy,
    };
    let time = (rest.len() == 10).then(|| (two(6) as u8, two(8) as u8));
    LocalTime::new(year, two(2) as u8, two(4) as u8, time).map_err(|e| bad(&e))
}
