//! Checking one passenger's fields, whatever the format: the same rules as a record's
//! import row ([`puente_records::import`]), so a manifest's traveller and a record are
//! compared on equal terms. Each check names the field it failed on; the format's parser
//! adds the place (segment or row).

use puente_pki::country;
use puente_records::model::{document_number, DocumentType, PartialDate, Sex, TravelDocument};

/// Longest name part accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// A field problem: (field, reason).
pub type FieldProblem = (&'static str, String);

/// Checks a name part (given names or surnames).
pub fn name(field: &'static str, v: &str) -> Result<String, FieldProblem> {
    let v = v.trim();
    if v.chars().count() > MAX_NAME_CHARS {
        return Err((field, format!("longer than {MAX_NAME_CHARS} characters")));
    }
    if !v.is_empty() && !v.chars().any(char::is_alphabetic) {
        return Err((field, "contains no letter".into()));
    }
    if v.chars().any(|c| c.is_control() || c.is_ascii_digit()) {
        return Err((field, "contains digits or control characters".into()));
    }
    Ok(v.to_string())
}

/// At least one of the two name parts.
pub fn names(given: &str, surnames: &str) -> Result<(String, String), FieldProblem> {
    let g = name("given_names", given)?;
    let s = name("surnames", surnames)?;
    if g.is_empty() && s.is_empty() {
        return Err((
            "surnames",
            "a passenger needs at least a surname or a given name".into(),
        ));
    }
    Ok((g, s))
}

/// A country code: ISO 3166-1 alpha-3 or an ICAO 9303 code (XXA, D, …).
pub fn country_code(field: &'static str, v: &str) -> Result<String, FieldProblem> {
    let upper = v.trim().to_ascii_uppercase();
    if country::is_iso_alpha3(&upper) || country::is_icao_only_code(&upper) {
        Ok(upper)
    } else {
        let shown: String = v.chars().take(12).collect();
        Err((
            field,
            format!("{shown:?} is not an ISO 3166-1 alpha-3 or ICAO 9303 code"),
        ))
    }
}

/// A date of birth, not after `today`.
pub fn birth(v: &str, today: time::Date) -> Result<PartialDate, FieldProblem> {
    let d = PartialDate::parse(v).map_err(|e| ("date_of_birth", e))?;
    if d.year > today.year() {
        return Err(("date_of_birth", format!("{d} is in the future")));
    }
    Ok(d)
}

/// Sex: M, F or X.
pub fn sex(v: &str) -> Result<Sex, FieldProblem> {
    Sex::parse(v).ok_or_else(|| {
        let shown: String = v.chars().take(12).collect();
        ("sex", format!("{shown:?} is not M, F or X"))
    })
}

/// The document, when any of its fields is given: type, number and issuing state are
/// then required.
pub fn document(
    document_type: &str,
    number: &str,
    issuing_state: &str,
    expiry: &str,
) -> Result<Option<TravelDocument>, FieldProblem> {
    if [document_type, number, issuing_state, expiry]
        .iter()
        .all(|f| f.trim().is_empty())
    {
        return Ok(None);
    }
    let kind = DocumentType::parse(document_type).ok_or_else(|| {
        let shown: String = document_type.chars().take(24).collect();
        (
            "document_type",
            format!("{shown:?} is not passport, identity_card, travel_document or other"),
        )
    })?;
    let n = document_number(number).map_err(|e| ("document_number", e))?;
    let state = country_code("issuing_state", issuing_state)?;
    let expiry = match expiry.trim() {
        "" => None,
        e => Some(PartialDate::parse(e).map_err(|e| ("document_expiry", e))?),
    };
    Ok(Some(TravelDocument {
        document_type: kind,
        number: n,
        issuing_state: state,
        expiry,
        mrz: None,
    }))
}
