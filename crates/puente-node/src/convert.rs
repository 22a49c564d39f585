//! Between the contract's messages and the records' model: query terms validated into
//! what the matcher takes (every problem an `INVALID_ARGUMENT` naming the field), and a
//! record turned into a `DisclosedPerson` holding only the fields a permit grants.

use std::collections::BTreeSet;

use crate::error::ExchangeError;
use puente_pki::country;
use puente_policy::Field;
use puente_proto::v1 as pb;
use puente_records::matcher::NameQuery;
use puente_records::model::{DocumentType, PartialDate, PersonRecord, Sex};
use puente_records::mrz;

/// Longest name field accepted in a query.
pub const MAX_NAME: usize = 200;

/// Validated query terms.
#[derive(Clone, Debug)]
pub enum Terms {
    /// By document.
    Document {
        /// Issuing state.
        issuing_state: String,
        /// Normalized number.
        number: String,
    },
    /// By MRZ (validated).
    Mrz(Box<mrz::Td3>),
    /// By name and date of birth.
    Name(NameQuery),
}

impl Terms {
    /// The query terms as strings for keyed hashing in the audit log (never logged raw).
    pub fn audit_terms(&self) -> Vec<(&'static str, String)> {
        match self {
            Terms::Document {
                issuing_state,
                number,
            } => vec![("document", format!("{issuing_state}:{number}"))],
            Terms::Mrz(m) => vec![(
                "document",
                format!("{}:{}", m.issuing_state, m.document_number),
            )],
            Terms::Name(q) => vec![
                (
                    "name",
                    puente_records::names::normalize(&[
                        &q.given_names,
                        &q.surnames,
                        q.full_name.as_deref().unwrap_or(""),
                    ])
                    .tokens
                    .join(" "),
                ),
                ("date_of_birth", q.date_of_birth.to_string()),
            ],
        }
    }
}

fn code(field: &str, v: &str) -> Result<String, ExchangeError> {
    let upper = v.trim().to_ascii_uppercase();
    if country::is_iso_alpha3(&upper) || country::is_icao_only_code(&upper) {
        Ok(upper)
    } else {
        Err(ExchangeError::invalid_argument(format!(
            "{field}: {v:?} is not an ISO 3166-1 alpha-3 or ICAO 9303 code"
        )))
    }
}

/// A partial date from the wire (0 = unknown), checked.
pub fn partial_date(
    field: &str,
    d: Option<&pb::PartialDate>,
) -> Result<PartialDate, ExchangeError> {
    let d = d.ok_or_else(|| {
        ExchangeError::invalid_argument(format!("{field}: required, with at least the year"))
    })?;
    let year = i32::try_from(d.year)
        .map_err(|_| ExchangeError::invalid_argument(format!("{field}.year: out of range")))?;
    if !(1880..=2200).contains(&year) {
        return Err(ExchangeError::invalid_argument(format!(
            "{field}.year: {year} is not a plausible year"
        )));
    }
    let month = match d.month {
        0 => None,
        m => Some(u8::try_from(m).map_err(|_| {
            ExchangeError::invalid_argument(format!("{field}.month: {m} out of range"))
        })?),
    };
    let day = match d.day {
        0 => None,
        x => Some(u8::try_from(x).map_err(|_| {
            ExchangeError::invalid_argument(format!("{field}.day: {x} out of range"))
        })?),
    };
    let date = PartialDate { year, month, day };
    date.check()
        .map_err(|e| ExchangeError::invalid_argument(format!("{field}: {e}")))?;
    Ok(date)
}

/// Validates the terms of an identity query.
pub fn terms(q: Option<&pb::IdentityQuery>) -> Result<Terms, ExchangeError> {
    use pb::identity_query::Terms as T;
    match q.and_then(|q| q.terms.as_ref()) {
        None => Err(ExchangeError::invalid_argument(
            "query: give document, mrz or name terms",
        )),
        Some(T::Document(d)) => {
            let number =
                puente_records::model::document_number(&d.document_number).map_err(|e| {
                    ExchangeError::invalid_argument(format!("query.document.document_number: {e}"))
                })?;
            if pb::DocumentType::try_from(d.document_type).unwrap_or(pb::DocumentType::Unspecified)
                == pb::DocumentType::Unspecified
            {
                return Err(ExchangeError::invalid_argument(
                    "query.document.document_type: required (e.g. DOCUMENT_TYPE_PASSPORT)",
                ));
            }
            Ok(Terms::Document {
                issuing_state: code("query.document.issuing_state", &d.issuing_state)?,
                number,
            })
        }
        Some(T::Mrz(m)) => mrz::parse_td3(&m.line1, &m.line2)
            .map(|t| Terms::Mrz(Box::new(t)))
            .map_err(|e| ExchangeError::invalid_argument(format!("query.mrz: {e}"))),
        Some(T::Name(n)) => {
            if n.surnames.trim().is_empty() && n.given_names.trim().is_empty() {
                return Err(ExchangeError::invalid_argument(
                    "query.name.surnames: required",
                ));
            }
            for (f, v) in [("given_names", &n.given_names), ("surnames", &n.surnames)] {
                if v.chars().count() > MAX_NAME || v.chars().any(char::is_control) {
                    return Err(ExchangeError::invalid_argument(format!(
                        "query.name.{f}: at most {MAX_NAME} printable characters"
                    )));
                }
            }
            let date_of_birth = partial_date("query.name.date_of_birth", n.date_of_birth.as_ref())?;
            let nationality = match n.nationality.trim() {
                "" => None,
                v => Some(code("query.name.nationality", v)?),
            };
            let sex = match n.sex {
                None => None,
                Some(s) => Some(match pb::Sex::try_from(s) {
                    Ok(pb::Sex::Male) => Sex::M,
                    Ok(pb::Sex::Female) => Sex::F,
                    Ok(pb::Sex::X) => Sex::X,
                    Ok(pb::Sex::Unspecified) => return Err(ExchangeError::invalid_argument(
                        "query.name.sex: SEX_UNSPECIFIED is not a sex; leave the field out instead",
                    )),
                    Err(_) => return Err(ExchangeError::invalid_argument(format!(
                        "query.name.sex: {s} is not a Sex (SEX_MALE, SEX_FEMALE, SEX_X); leave the field out when unknown"
                    ))),
                }),
            };
            Ok(Terms::Name(NameQuery {
                given_names: n.given_names.clone(),
                surnames: n.surnames.clone(),
                full_name: None,
                date_of_birth,
                nationality,
                sex,
            }))
        }
    }
}

fn pb_date(d: &PartialDate) -> pb::PartialDate {
    pb::PartialDate {
        year: u32::try_from(d.year).unwrap_or(0),
        month: d.month.map(u32::from).unwrap_or(0),
        day: d.day.map(u32::from).unwrap_or(0),
    }
}

fn pb_calendar(d: &PartialDate) -> pb::CalendarDate {
    pb::CalendarDate {
        year: u32::try_from(d.year).unwrap_or(0),
        month: d.month.map(u32::from).unwrap_or(0),
        day: d.day.map(u32::from).unwrap_or(0),
    }
}

/// The contract's sex value.
pub fn pb_sex(s: Sex) -> pb::Sex {
    match s {
        Sex::M => pb::Sex::Male,
        Sex::F => pb::Sex::Female,
        Sex::X => pb::Sex::X,
    }
}

/// The contract's document type.
pub fn pb_document_type(t: DocumentType) -> pb::DocumentType {
    match t {
        DocumentType::Passport => pb::DocumentType::Passport,
        DocumentType::IdentityCard => pb::DocumentType::IdentityCard,
        DocumentType::TravelDocument => pb::DocumentType::TravelDocument,
        DocumentType::Other => pb::DocumentType::Other,
    }
}

fn pb_event(e: &str) -> Option<pb::EncounterEvent> {
    pb::EncounterEvent::from_str_name(&format!("ENCOUNTER_EVENT_{}", e.to_ascii_uppercase()))
}

fn pb_vulnerability(v: &str) -> Option<pb::Vulnerability> {
    pb::Vulnerability::from_str_name(&format!("VULNERABILITY_{}", v.to_ascii_uppercase()))
}

/// The fields a disclosed person actually carries (what an asker checks against the
/// fields the answer says it disclosed).
pub fn present_fields(p: &pb::DisclosedPerson) -> BTreeSet<Field> {
    [
        (Field::GivenNames, p.given_names.is_some()),
        (Field::Surnames, p.surnames.is_some()),
        (Field::DateOfBirth, p.date_of_birth.is_some()),
        (Field::Sex, p.sex.is_some()),
        (Field::Nationality, p.nationality.is_some()),
        (Field::DocumentType, p.document_type.is_some()),
        (Field::DocumentNumber, p.document_number.is_some()),
        (Field::IssuingState, p.issuing_state.is_some()),
        (Field::DocumentExpiry, p.document_expiry.is_some()),
        (Field::LastEncounterDate, p.last_encounter_date.is_some()),
        (Field::LastEncounterPlace, p.last_encounter_place.is_some()),
        (Field::LastEncounterEvent, p.last_encounter_event.is_some()),
        (Field::Route, !p.route.is_empty()),
        (Field::VulnerabilityFlags, !p.vulnerability_flags.is_empty()),
        (
            Field::PassportCopyAvailable,
            p.passport_copy_available.is_some(),
        ),
    ]
    .into_iter()
    .filter_map(|(f, present)| present.then_some(f))
    .collect()
}

/// The person as disclosed: only `fields`, and only what the record holds. Returns the
/// fields actually filled.
pub fn disclose(
    r: &PersonRecord,
    fields: &BTreeSet<Field>,
) -> (pb::DisclosedPerson, BTreeSet<Field>) {
    let mut p = pb::DisclosedPerson::default();
    let mut filled = BTreeSet::new();
    let doc = r.document.as_ref();
    let last = r.last_encounter();
    for f in fields {
        let done = match f {
            Field::GivenNames => {
                p.given_names = Some(r.given_names.clone());
                true
            }
            Field::Surnames => {
                p.surnames = Some(r.surnames.clone());
                true
            }
            Field::DateOfBirth => {
                p.date_of_birth = Some(pb_date(&r.date_of_birth));
                true
            }
            Field::Sex => {
                p.sex = Some(pb_sex(r.sex) as i32);
                true
            }
            Field::Nationality => {
                p.nationality = Some(r.nationality.clone());
                true
            }
            Field::DocumentType => doc
                .map(|d| p.document_type = Some(pb_document_type(d.document_type) as i32))
                .is_some(),
            Field::DocumentNumber => doc
                .map(|d| p.document_number = Some(d.number.clone()))
                .is_some(),
            Field::IssuingState => doc
                .map(|d| p.issuing_state = Some(d.issuing_state.clone()))
                .is_some(),
            Field::DocumentExpiry => doc
                .and_then(|d| d.expiry.as_ref())
                .map(|e| p.document_expiry = Some(pb_calendar(e)))
                .is_some(),
            Field::LastEncounterDate => last
                .map(|e| p.last_encounter_date = Some(pb_calendar(&e.date)))
                .is_some(),
            Field::LastEncounterPlace => last
                .map(|e| p.last_encounter_place = Some(e.place.clone()))
                .is_some(),
            Field::LastEncounterEvent => last
                .and_then(|e| pb_event(&e.event))
                .map(|ev| p.last_encounter_event = Some(ev as i32))
                .is_some(),
            Field::Route => {
                p.route = r.route();
                !p.route.is_empty()
            }
            Field::VulnerabilityFlags => {
                p.vulnerability_flags = r
                    .vulnerabilities
                    .iter()
                    .filter_map(|v| pb_vulnerability(v))
                    .map(|v| v as i32)
                    .collect();
                !p.vulnerability_flags.is_empty()
            }
            Field::PassportCopyAvailable => {
                p.passport_copy_available = Some(r.passport_copy.is_some());
                true
            }
            Field::Unspecified => false,
        };
        if done {
            filled.insert(*f);
        }
    }
    (p, filled)
}
