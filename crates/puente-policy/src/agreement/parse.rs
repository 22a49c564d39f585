//! Reading an agreement's fields: terms, grants, identifiers and dates, each problem
//! named by its key.

use super::*;

pub(super) fn parse_terms<T: Term>(
    names: &[String],
    key: &str,
    p: &mut Vec<String>,
) -> BTreeSet<T> {
    let mut out = BTreeSet::new();
    for (i, n) in names.iter().enumerate() {
        match T::parse(n) {
            Some(t) => {
                if !out.insert(t) {
                    p.push(format!("{key}[{i}]: {n:?} is listed twice"));
                }
            }
            None => p.push(format!(
                "{key}[{i}]: {n:?} is not a {}; expected one of: {}",
                T::KIND,
                T::names()
            )),
        }
    }
    out
}

pub(super) fn parse_grant(
    g: &GrantFile,
    at: &str,
    parties: &[CountryCode],
    p: &mut Vec<String>,
) -> Option<Grant> {
    let before = p.len();
    let provider = CountryCode::parse(&g.provider)
        .map_err(|e| p.push(format!("{at}.provider: {e}")))
        .ok();
    let receiver = CountryCode::parse(&g.receiver)
        .map_err(|e| p.push(format!("{at}.receiver: {e}")))
        .ok();
    for (key, c) in [("provider", provider), ("receiver", receiver)] {
        if let Some(c) = c {
            if !parties.contains(&c) {
                p.push(format!("{at}.{key}: {c} is not a party"));
            }
        }
    }
    if provider.is_some() && provider == receiver {
        p.push(format!(
            "{at}: provider and receiver are both {}",
            g.provider
        ));
    }
    let services: BTreeSet<Service> = parse_terms(&g.services, &format!("{at}.services"), p);
    if services.contains(&Service::AuditWitness) {
        p.push(format!(
            "{at}.services: audit_witness needs no agreement and cannot be granted"
        ));
    }
    if services.contains(&Service::ManifestSubmit) {
        p.push(format!(
            "{at}.services: manifest_submit is a carrier's submission to its own node, not an exchange; grant manifest_check"
        ));
    }
    if g.services.is_empty() {
        p.push(format!("{at}.services: grant at least one service"));
    }
    let purposes: BTreeSet<Purpose> = parse_terms(&g.purposes, &format!("{at}.purposes"), p);
    if g.purposes.is_empty() {
        p.push(format!("{at}.purposes: name at least one purpose"));
    }
    let fields: BTreeSet<Field> = parse_terms(&g.fields, &format!("{at}.fields"), p);
    if g.legal_basis.trim().is_empty() {
        p.push(format!("{at}.legal_basis: state the legal basis"));
    }
    let mut modes = BTreeMap::new();
    for (s, m) in &g.modes {
        match (Service::parse(s), Mode::parse(m)) {
            (Some(s), Some(m)) if services.contains(&s) => {
                modes.insert(s, m);
            }
            (Some(_), Some(_)) => p.push(format!(
                "{at}.modes.{s}: mode for a service this grant does not give"
            )),
            (None, _) => p.push(format!("{at}.modes: {s:?} is not a service")),
            (_, None) => p.push(format!(
                "{at}.modes.{s}: {m:?} is not a mode (full or hit_no_hit)"
            )),
        }
    }
    // A hit/no-hit answer discloses no field, so such a grant needs none listed.
    let full_identity = services.contains(&Service::IdentityQuery)
        && modes.get(&Service::IdentityQuery) != Some(&Mode::HitNoHit);
    if full_identity && g.fields.is_empty() {
        p.push(format!(
            "{at}.fields: identity_query is granted in full mode, so list the fields that may be disclosed (or set modes.identity_query = \"hit_no_hit\")"
        ));
    }
    let need = |svc: Service, v: Option<u32>, key: &str, p: &mut Vec<String>| -> u32 {
        match (services.contains(&svc), v) {
            (true, Some(0)) => {
                p.push(format!(
                    "{at}.{key}: must be at least 1 (remove {} from services to allow none)",
                    svc.name()
                ));
                0
            }
            (true, Some(n)) => n,
            (true, None) => {
                p.push(format!(
                    "{at}.{key}: required when {} is granted",
                    svc.name()
                ));
                0
            }
            (false, Some(_)) => {
                p.push(format!(
                    "{at}.{key}: {} is not granted, so this limit means nothing",
                    svc.name()
                ));
                0
            }
            (false, None) => 0,
        }
    };
    let queries_per_day = need(
        Service::IdentityQuery,
        g.queries_per_day,
        "queries_per_day",
        p,
    );
    let copies_per_day = need(Service::PassportCopy, g.copies_per_day, "copies_per_day", p);
    let small_cell_threshold = need(
        Service::FlowCounts,
        g.small_cell_threshold,
        "small_cell_threshold",
        p,
    );
    let travellers_per_day = need(
        Service::ManifestCheck,
        g.travellers_per_day,
        "travellers_per_day",
        p,
    );
    let max_batch = need(Service::ManifestCheck, g.max_batch, "max_batch", p);
    if max_batch > MAX_BATCH_LIMIT {
        p.push(format!(
            "{at}.max_batch: {max_batch} is outside 1..={MAX_BATCH_LIMIT}"
        ));
    }
    if services.contains(&Service::ManifestCheck) && g.fields.is_empty() {
        p.push(format!(
            "{at}.fields: manifest_check matches travellers on the fields listed; list those the receiver may send (e.g. document_number, issuing_state, surnames, given_names, date_of_birth)"
        ));
    }
    let max_matches = g.max_matches.unwrap_or(5);
    if max_matches == 0 || max_matches > MAX_MATCHES_LIMIT {
        p.push(format!(
            "{at}.max_matches: {max_matches} is outside 1..={MAX_MATCHES_LIMIT}"
        ));
    }
    if p.len() != before {
        return None;
    }
    Some(Grant {
        provider: provider?,
        receiver: receiver?,
        services,
        purposes,
        fields,
        modes,
        legal_basis: g.legal_basis.clone(),
        queries_per_day,
        copies_per_day,
        retention_days: g.retention_days,
        max_matches,
        small_cell_threshold,
        secondary_suppression: g.secondary_suppression.unwrap_or(true),
        travellers_per_day,
        max_batch,
    })
}

pub(super) fn valid_id(id: &str) -> bool {
    (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

pub(super) fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).ok()
}

pub(super) fn parse_start(s: &str) -> Result<OffsetDateTime, String> {
    if let Some(d) = parse_date(s) {
        return Ok(d.with_time(Time::MIDNIGHT).assume_utc());
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"))
}

pub(super) fn parse_end(s: &str) -> Result<OffsetDateTime, String> {
    if let Some(d) = parse_date(s) {
        // A date is inclusive: the agreement holds through that whole UTC day.
        return Ok(d.with_time(Time::MIDNIGHT).assume_utc() + Duration::days(1));
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"))
}
