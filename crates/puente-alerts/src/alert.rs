//! The alert as signed. The signature covers a canonical encoding defined here (not the
//! protobuf bytes, which two implementations may lay out differently): a domain prefix,
//! then every field but the signature in field order, each length-prefixed.

use puente_pki::country;
use puente_pki::{SigningKey, VerifyingKey};
use puente_proto::v1 as pb;

/// What is wrong with an alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// A field is missing or malformed.
    #[error("alert.invalid: {0}")]
    Invalid(String),
    /// The signature does not verify with the issuing country's key.
    #[error("alert.signature: {0}")]
    Signature(String),
}

/// Domain separation of the signed bytes (format version 1).
pub const DOMAIN: &[u8] = b"puente-alert/v1\0";
/// Longest alert id.
pub const MAX_ID: usize = 64;
/// Longest text.
pub const MAX_TEXT: usize = 4096;
/// Longest life of an alert (a year, as `Local.IssueAlert` allows).
pub const MAX_LIFETIME_SECS: i64 = 8760 * 3600;

/// Unicode format characters (general category Cf) that change how text is shown without
/// showing themselves: bidirectional overrides and isolates, zero-width characters, the
/// soft hyphen, the byte-order mark.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_list(out: &mut Vec<u8>, v: &[String]) {
    out.extend_from_slice(&(v.len() as u32).to_be_bytes());
    for s in v {
        put(out, s.as_bytes());
    }
}

fn put_time(out: &mut Vec<u8>, t: &Option<prost_types::Timestamp>) {
    let (s, n) = t.as_ref().map(|t| (t.seconds, t.nanos)).unwrap_or((0, 0));
    out.extend_from_slice(&s.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
}

/// The bytes the issuing country signs.
pub fn canonical(a: &pb::Alert) -> Vec<u8> {
    let mut out = DOMAIN.to_vec();
    put(&mut out, a.alert_id.as_bytes());
    put(&mut out, a.issuing_country.as_bytes());
    out.extend_from_slice(&a.severity.to_be_bytes());
    put(&mut out, a.text.as_bytes());
    put_list(&mut out, &a.nationalities);
    put_list(&mut out, &a.entry_points);
    put_list(&mut out, &a.route_countries);
    let period = puente_stats::Period::from_proto(a.period.as_ref())
        .map(|p| p.to_string())
        .unwrap_or_default();
    put(&mut out, period.as_bytes());
    out.extend_from_slice(&a.observed_count.to_be_bytes());
    out.extend_from_slice(&a.baseline_count.to_be_bytes());
    put_time(&mut out, &a.issued_at);
    put_time(&mut out, &a.expires_at);
    put(&mut out, a.key_name.as_bytes());
    out
}

fn invalid(s: impl Into<String>) -> AlertError {
    AlertError::Invalid(s.into())
}

/// Checks every field but the signature's validity.
pub fn validate(a: &pb::Alert) -> Result<(), AlertError> {
    if a.alert_id.is_empty()
        || a.alert_id.len() > MAX_ID
        || !a
            .alert_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(invalid(format!(
            "alert_id must be 1-{MAX_ID} characters of A-Z, a-z, 0-9, '.', '_', '-'"
        )));
    }
    if !country::is_iso_alpha3(&a.issuing_country) {
        return Err(invalid(format!(
            "issuing_country {:?} is not an ISO 3166-1 alpha-3 code",
            a.issuing_country
        )));
    }
    match pb::Severity::try_from(a.severity) {
        Ok(pb::Severity::Info | pb::Severity::Warning | pb::Severity::Critical) => {}
        _ => return Err(invalid("severity must be info, warning or critical")),
    }
    if a.text.trim().is_empty() || a.text.chars().count() > MAX_TEXT {
        return Err(invalid(format!("text must be 1-{MAX_TEXT} characters")));
    }
    if a.text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid("text contains a control character"));
    }
    if let Some(c) = a.text.chars().find(|c| is_format(*c)) {
        return Err(invalid(format!(
            "text contains the invisible formatting character U+{:04X} (it can reorder or hide what officers read)",
            u32::from(c)
        )));
    }
    if a.observed_count > puente_stats::cell::MAX_COUNT {
        return Err(invalid(format!(
            "observed_count is above {} events",
            puente_stats::cell::MAX_COUNT
        )));
    }
    if a.nationalities.len() > 64 {
        return Err(invalid("more than 64 nationalities"));
    }
    for n in &a.nationalities {
        puente_stats::cell::check_nationality(n)
            .map_err(|e| invalid(format!("nationalities: {e}")))?;
    }
    if a.entry_points.len() > 64 {
        return Err(invalid("more than 64 entry points"));
    }
    for e in &a.entry_points {
        if e.trim().is_empty() {
            return Err(invalid("entry_points: an entry point is empty"));
        }
        puente_stats::cell::check_entry_point(e)
            .map_err(|e| invalid(format!("entry_points: {e}")))?;
    }
    if a.route_countries.len() > 32 {
        return Err(invalid("more than 32 route countries"));
    }
    for c in &a.route_countries {
        if !country::is_iso_alpha3(c) {
            return Err(invalid(format!(
                "route_countries: {c:?} is not an alpha-3 code"
            )));
        }
    }
    if a.period.is_some() {
        puente_stats::Period::from_proto(a.period.as_ref())
            .map_err(|e| invalid(format!("period: {e}")))?;
    }
    let (Some(issued), Some(expires)) = (&a.issued_at, &a.expires_at) else {
        return Err(invalid("issued_at and expires_at are required"));
    };
    if !(0..1_000_000_000).contains(&issued.nanos) || !(0..1_000_000_000).contains(&expires.nanos) {
        return Err(invalid("a timestamp has invalid nanoseconds"));
    }
    if (expires.seconds, expires.nanos) <= (issued.seconds, issued.nanos) {
        return Err(invalid("expires_at must be after issued_at"));
    }
    if expires.seconds.saturating_sub(issued.seconds) > MAX_LIFETIME_SECS {
        return Err(invalid(format!(
            "an alert lasts at most {} hours from issued_at to expires_at",
            MAX_LIFETIME_SECS / 3600
        )));
    }
    if a.key_name.is_empty() || a.key_name.len() > 64 {
        return Err(invalid("key_name must be 1-64 characters"));
    }
    if a.signature.len() != 64 {
        return Err(invalid("signature must be 64 bytes (Ed25519)"));
    }
    Ok(())
}

/// Signs `a` with `key` (sets `key_name` and `signature`).
pub fn sign(a: &mut pb::Alert, key: &SigningKey) {
    a.key_name = key.name().to_string();
    a.signature = key.sign(&canonical(a)).to_vec();
}

/// Validates `a` and verifies its signature with the issuing country's `key`.
pub fn verify(a: &pb::Alert, key: &VerifyingKey) -> Result<(), AlertError> {
    validate(a)?;
    if a.key_name != key.name() {
        return Err(AlertError::Signature(format!(
            "signed with key {:?}, but {}'s key in the trust bundle is {:?}",
            a.key_name,
            a.issuing_country,
            key.name()
        )));
    }
    if !key.verify(&canonical(a), &a.signature) {
        return Err(AlertError::Signature(format!(
            "the signature does not verify with {}'s key: the alert was altered or forged",
            a.issuing_country
        )));
    }
    Ok(())
}
