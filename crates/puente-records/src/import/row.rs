//! Checking one row of an import: every field, with the line and column of each problem.

use super::*;

pub(super) fn is_country_or_icao(code: &str) -> bool {
    country::is_iso_alpha3(code) || country::is_icao_only_code(code)
}

pub(super) struct RowCheck<'a> {
    pub(super) line: u64,
    pub(super) row: &'a RawRow,
    pub(super) errors: Vec<RowError>,
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
pub(super) fn check_row(
    line: u64,
    row: &RawRow,
    copies: &Copies<'_>,
    today: time::Date,
) -> Result<(PersonRecord, Option<String>), Vec<RowError>> {
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
        let number = match document_number(c.get("document_number")) {
            Ok(n) => n,
            Err(e) => {
                c.err("document_number", e);
                String::new()
            }
        };
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

    // Written by hand as often as by a system: "Refugee" and "None" are the same words.
    let status_word = c.get("protection_status").trim().to_ascii_lowercase();
    let protection_status = match status_word.as_str() {
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
        // A day of slack: the recording office's day may already be tomorrow in UTC.
        let tomorrow = today.next_day().unwrap_or(today);
        let date = match PartialDate::parse(c.get("encounter_date")) {
            Ok(d)
                if (d.year, d.month.unwrap_or(1), d.day.unwrap_or(1))
                    > (tomorrow.year(), tomorrow.month() as u8, tomorrow.day()) =>
            {
                c.err("encounter_date", format!("{d} is in the future"));
                None
            }
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
        name => match copies.check(name) {
            Ok(()) => Some(name.to_string()),
            Err(reason) => {
                c.err("passport_copy", reason);
                None
            }
        },
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
