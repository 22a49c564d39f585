//! The officer's Ask page: a person by document, MRZ, or name with birth date, asked of
//! a peer for a purpose. Only the peer-and-purpose pairs an agreement in force grants
//! this country are offered (the node refuses any other anyway). The answer shows each
//! match's score and why it matched (from the fields disclosed), and a passport copy is
//! fetched on request, shown inline with its verified SHA-256 and a download.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use puente_client::CallError;
use puente_proto::v1 as pb;
use serde::Deserialize;

use crate::page::{self, node_error, problem, shell, Ctx};
use crate::session::{HeldCopy, Session};
use crate::Console;

/// A peer and purpose an agreement in force lets this country ask about identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The peer's country code.
    pub peer: String,
    /// The purpose (`pb::Purpose` number).
    pub purpose: i32,
    /// Whether the same grant lets us fetch passport copies.
    pub copies: bool,
}

impl Offer {
    /// The value of its `<option>`.
    pub fn value(&self) -> String {
        format!("{}|{}", self.peer, self.purpose)
    }
}

/// The offers of the agreements the node reports in force.
pub fn offers_of(own: &str, agreements: &pb::ListAgreementsResponse) -> Vec<Offer> {
    let mut out: Vec<Offer> = Vec::new();
    let query = pb::Service::IdentityQuery as i32;
    let copy = pb::Service::PassportCopy as i32;
    for a in &agreements.agreements {
        if a.state != pb::AgreementState::InForce as i32 {
            continue;
        }
        for g in &a.grants {
            if g.receiver_country != own || !g.services.contains(&query) {
                continue;
            }
            for p in &g.purposes {
                let o = Offer {
                    peer: g.provider_country.clone(),
                    purpose: *p,
                    copies: g.services.contains(&copy),
                };
                if !out.iter().any(|x| x.value() == o.value()) {
                    out.push(o);
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.peer, a.purpose).cmp(&(&b.peer, b.purpose)));
    out
}

async fn offers(c: &Console) -> Result<Vec<Offer>, CallError> {
    let agreements = c.client.list_agreements().await?;
    Ok(offers_of(&c.client.country().to_string(), &agreements))
}

/// The Ask form's fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct AskForm {
    /// `PEER|purpose`.
    pub offer: String,
    /// Case reference.
    pub case: String,
    /// Document number.
    pub document: String,
    /// Issuing state.
    pub issuer: String,
    /// Document type word.
    pub doctype: String,
    /// MRZ line 1.
    pub mrz1: String,
    /// MRZ line 2.
    pub mrz2: String,
    /// Given names.
    pub given: String,
    /// Surnames.
    pub surnames: String,
    /// The whole name, split unknown.
    pub whole: String,
    /// Birth date.
    pub birth: String,
    /// Nationality.
    pub nationality: String,
}

/// A birth date `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (0 = unknown part).
pub fn partial_date(s: &str) -> Option<pb::PartialDate> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    let num = |i: usize, len: usize| -> Option<u32> {
        match parts.get(i) {
            None => Some(0),
            Some(p) if p.len() == len && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
            Some(_) => None,
        }
    };
    if parts.len() > 3 {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(1, 2)?, num(2, 2)?);
    let ok = year >= 1900 && month <= 12 && day <= 31 && (month > 0 || day == 0);
    ok.then_some(pb::PartialDate { year, month, day })
}

/// The query the form describes, or the message key of what is wrong.
pub fn identity_query(f: &AskForm) -> Result<pb::IdentityQuery, &'static str> {
    use pb::identity_query::Terms;
    let filled = |s: &str| !s.trim().is_empty();
    let kinds = [
        filled(&f.document),
        filled(&f.mrz1) || filled(&f.mrz2),
        filled(&f.given) || filled(&f.surnames) || filled(&f.whole),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err("ask.one.way");
    }
    if kinds[0] {
        let dt = pb::DocumentType::from_str_name(&format!(
            "DOCUMENT_TYPE_{}",
            f.doctype.trim().to_ascii_uppercase()
        ))
        .unwrap_or(pb::DocumentType::Passport);
        return Ok(pb::IdentityQuery {
            terms: Some(Terms::Document(pb::DocumentTerms {
                document_number: f.document.trim().to_string(),
                issuing_state: f.issuer.trim().to_ascii_uppercase(),
                document_type: dt as i32,
            })),
        });
    }
    if kinds[1] {
        return Ok(pb::IdentityQuery {
            terms: Some(Terms::Mrz(pb::MrzTerms {
                line1: f.mrz1.trim().to_string(),
                line2: f.mrz2.trim().to_string(),
            })),
        });
    }
    if !filled(&f.birth) {
        return Err("ask.need.birth");
    }
    let date = partial_date(&f.birth).ok_or("ask.bad.birth")?;
    let (given, surnames) = if filled(&f.whole) {
        (String::new(), f.whole.trim().to_string())
    } else {
        (f.given.trim().to_string(), f.surnames.trim().to_string())
    };
    Ok(pb::IdentityQuery {
        terms: Some(Terms::Name(pb::NameTerms {
            given_names: given,
            surnames,
            date_of_birth: Some(date),
            nationality: f.nationality.trim().to_ascii_uppercase(),
            sex: None,
        })),
    })
}

fn tokens(s: &str) -> Vec<String> {
    let mut t: Vec<String> = s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_uppercase())
        .collect();
    t.sort();
    t
}

fn alike(asked: &str, got: &str) -> Option<bool> {
    let (a, g) = (tokens(asked), tokens(got));
    if a.is_empty() || g.is_empty() {
        return None;
    }
    if a == g {
        Some(true)
    } else if a.iter().any(|x| g.contains(x)) {
        Some(false)
    } else {
        None
    }
}

/// Why a match matched, as message keys, from the fields disclosed to us.
pub fn why(f: &AskForm, p: &pb::DisclosedPerson) -> Vec<&'static str> {
    let mut out = Vec::new();
    let doc = |n: &str, s: &str| {
        let norm = |x: &str| {
            x.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_uppercase()
        };
        p.document_number.as_deref().map(norm) == Some(norm(n))
            && p.issuing_state
                .as_deref()
                .is_none_or(|i| i.eq_ignore_ascii_case(s.trim()))
    };
    if !f.document.trim().is_empty() && doc(&f.document, &f.issuer) {
        out.push("why.document");
    }
    if !f.mrz2.trim().is_empty() {
        let number: String = f.mrz2.chars().take(9).filter(|c| *c != '<').collect();
        let state: String = f
            .mrz2
            .chars()
            .skip(10)
            .take(3)
            .filter(|c| *c != '<')
            .collect();
        if doc(&number, &state) {
            out.push("why.document");
        }
    }
    let (asked_given, asked_sur) = if f.whole.trim().is_empty() {
        (f.given.clone(), f.surnames.clone())
    } else {
        (f.whole.clone(), f.whole.clone())
    };
    if let Some(s) = p.surnames.as_deref() {
        match alike(&asked_sur, s) {
            Some(true) => out.push("why.surnames"),
            Some(false) => out.push("why.surnames.near"),
            None => {}
        }
    }
    if let Some(g) = p.given_names.as_deref() {
        match alike(&asked_given, g) {
            Some(true) => out.push("why.given"),
            Some(false) => out.push("why.given.near"),
            None => {}
        }
    }
    if let (Some(asked), Some(got)) = (partial_date(&f.birth), p.date_of_birth.as_ref()) {
        if got.year != 0 && asked == *got {
            out.push("why.birth");
        } else if got.year == asked.year
            && (asked.month == 0 || got.month == 0 || asked.month == got.month)
        {
            out.push("why.birth.partial");
        }
    }
    if let Some(n) = p.nationality.as_deref() {
        if !f.nationality.trim().is_empty() && n.eq_ignore_ascii_case(f.nationality.trim()) {
            out.push("why.nationality");
        }
    }
    if out.is_empty() {
        out.push("why.undisclosed");
    }
    out
}

fn date(d: Option<&pb::PartialDate>) -> Option<String> {
    d.filter(|d| d.year != 0).map(|d| match (d.month, d.day) {
        (0, _) => format!("{:04}", d.year),
        (m, 0) => format!("{:04}-{m:02}", d.year),
        (m, day) => format!("{:04}-{m:02}-{day:02}", d.year),
    })
}

fn cal(d: Option<&pb::CalendarDate>) -> Option<String> {
    d.filter(|d| d.year != 0)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
}

fn person(ctx: &Ctx, p: &pb::DisclosedPerson) -> Markup {
    let doc = p.document_number.as_ref().map(|n| {
        let t = p
            .document_type
            .and_then(|t| pb::DocumentType::try_from(t).ok())
            .map(|t| page::word(t.as_str_name()))
            .unwrap_or_default();
        format!("{t} {n} {}", p.issuing_state.clone().unwrap_or_default())
    });
    let sex = p
        .sex
        .and_then(|s| pb::Sex::try_from(s).ok())
        .map(|s| page::word(s.as_str_name()).to_uppercase());
    let encounter = cal(p.last_encounter_date.as_ref()).map(|d| {
        let ev = p
            .last_encounter_event
            .and_then(|e| pb::EncounterEvent::try_from(e).ok())
            .map(|e| page::word(e.as_str_name()))
            .unwrap_or_default();
        format!(
            "{d} {ev} {}",
            p.last_encounter_place.clone().unwrap_or_default()
        )
    });
    let rows: Vec<(&str, Option<String>)> = vec![
        ("field.given", p.given_names.clone()),
        ("field.surnames", p.surnames.clone()),
        ("field.birth", date(p.date_of_birth.as_ref())),
        ("field.sex", sex),
        ("field.nationality", p.nationality.clone()),
        ("field.document", doc),
        ("field.expiry", cal(p.document_expiry.as_ref())),
        ("field.encounter", encounter),
        (
            "field.route",
            (!p.route.is_empty()).then(|| p.route.join(" → ")),
        ),
        (
            "field.vulnerability",
            (!p.vulnerability_flags.is_empty()).then(|| {
                p.vulnerability_flags
                    .iter()
                    .filter_map(|v| pb::Vulnerability::try_from(*v).ok())
                    .map(|v| page::word(v.as_str_name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        ),
    ];
    html! {
        dl {
            @for (k, v) in rows {
                @if let Some(v) = v { dt { (ctx.t(k)) } dd.field { (v) } }
            }
        }
    }
}

fn form_markup(ctx: &Ctx, offers: &[Offer], f: &AskForm) -> Markup {
    let docs = ["passport", "identity_card", "travel_document", "other"];
    html! {
        @if offers.is_empty() { p.muted { (ctx.t("ask.none")) } }
        form #ask method="post" action="/ask" {
            (ctx.csrf())
            fieldset {
                div.row {
                    label { (ctx.t("ask.peer"))
                        select name="offer" id="offer" {
                            @for o in offers {
                                option value=(o.value()) selected[o.value() == f.offer] {
                                    (o.peer) " · " (page::purpose(o.purpose))
                                }
                            }
                        }
                    }
                    label { (ctx.t("ask.case")) input name="case" id="case" value=(f.case); }
                }
            }
            fieldset { legend { (ctx.t("ask.by.document")) }
                div.row {
                    label { (ctx.t("ask.document")) input name="document" id="document" value=(f.document); }
                    label { (ctx.t("ask.issuer")) input name="issuer" id="issuer" maxlength="3" value=(f.issuer); }
                    label { (ctx.t("ask.doctype"))
                        select name="doctype" {
                            @for d in docs { option value=(d) selected[f.doctype == d] { (d.replace('_', " ")) } }
                        }
                    }
                }
            }
            fieldset { legend { (ctx.t("ask.by.mrz")) }
                div.row {
                    input name="mrz1" size="46" maxlength="44" value=(f.mrz1);
                    input name="mrz2" size="46" maxlength="44" value=(f.mrz2);
                }
            }
            fieldset { legend { (ctx.t("ask.by.name")) }
                div.row {
                    label { (ctx.t("ask.given")) input name="given" id="given" value=(f.given); }
                    label { (ctx.t("ask.surnames")) input name="surnames" id="surnames" value=(f.surnames); }
                    label { (ctx.t("ask.whole")) input name="whole" id="whole" value=(f.whole); }
                    label { (ctx.t("ask.birth")) input name="birth" id="birth" value=(f.birth); }
                    label { (ctx.t("ask.nationality")) input name="nationality" maxlength="3" value=(f.nationality); }
                }
            }
            button #send type="submit" disabled[offers.is_empty()] { (ctx.t("ask.send")) }
        }
    }
}

/// `GET /ask`.
pub async fn form(State(c): State<Arc<Console>>, Extension(s): Extension<Session>) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/ask",
    };
    let body = match offers(&c).await {
        Ok(o) => form_markup(&ctx, &o, &AskForm::default()),
        Err(e) => node_error(&ctx, &e),
    };
    shell(&ctx, "ask.title", body)
}

fn answer(ctx: &Ctx, f: &AskForm, offer: &Offer, r: &pb::QueryResponse) -> Markup {
    let matched = r.outcome == pb::MatchOutcome::Match as i32;
    let hit_only = r.mode == pb::Mode::HitNoHit as i32;
    html! {
        section.result {
            h2 { (ctx.t("ask.result")) " " (r.peer_country) }
            div #outcome {
                @if matched {
                    p { span.badge.ok { (ctx.t("ask.match")) } " " (r.matches.len()) " " (ctx.t("ask.matches")) }
                } @else {
                    p { span.badge { (ctx.t("ask.nomatch")) } }
                }
                @if matched && hit_only { p.muted { (ctx.t("ask.hitnohit")) } }
                @for (i, m) in r.matches.iter().enumerate() {
                    div.card.match {
                        h3 { (ctx.t("ask.match")) " " (i + 1) " · " (ctx.t("ask.score")) " "
                            span.score { (format!("{:.1} %", f64::from(m.score_permille) / 10.0)) } }
                        @if let Some(p) = &m.person {
                            (person(ctx, p))
                            p.why { strong { (ctx.t("ask.why")) ": " }
                                (why(f, p).iter().map(|k| ctx.t(k)).collect::<Vec<_>>().join("; ")) }
                            @if p.passport_copy_available == Some(true) && offer.copies && !m.reference.is_empty() {
                                form method="post" action="/copy" {
                                    (ctx.csrf())
                                    input type="hidden" name="peer" value=(offer.peer);
                                    input type="hidden" name="purpose" value=(offer.purpose);
                                    input type="hidden" name="case" value=(f.case);
                                    input type="hidden" name="reference" value=(m.reference);
                                    button.fetch type="submit" { (ctx.t("ask.fetch")) }
                                }
                            }
                        }
                    }
                }
            }
            div #exchange.muted {
                p {
                    @if r.receipt_verified { span.ok { (ctx.t("ask.receipt.ok")) } }
                    @else { span.bad { (ctx.t("ask.receipt.no")) } }
                    " " (ctx.t("ask.audit")) " #" (r.audit_index)
                    @if r.retention_days > 0 { " · " (ctx.t("ask.retention")) ": " (r.retention_days) }
                }
            }
        }
    }
}

/// `POST /ask`: the query, through the own node.
pub async fn send(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Form(f): Form<AskForm>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/ask",
    };
    let offers = match offers(&c).await {
        Ok(o) => o,
        Err(e) => return shell(&ctx, "ask.title", node_error(&ctx, &e)),
    };
    let form = form_markup(&ctx, &offers, &f);
    let Some(offer) = offers.iter().find(|o| o.value() == f.offer) else {
        return shell(
            &ctx,
            "ask.title",
            html! { (problem(ctx.t("ask.bad.peer"))) (form) },
        );
    };
    let query = match identity_query(&f) {
        Ok(q) => q,
        Err(k) => return shell(&ctx, "ask.title", html! { (problem(ctx.t(k))) (form) }),
    };
    let r = c
        .client
        .query(pb::QueryRequest {
            peer_country: offer.peer.clone(),
            context: Some(pb::RequestContext {
                purpose: offer.purpose,
                case_reference: f.case.trim().to_string(),
                ..Default::default()
            }),
            query: Some(query),
            max_matches: 0,
        })
        .await;
    let result = match r {
        Ok(r) => answer(&ctx, &f, offer, &r),
        Err(e) => node_error(&ctx, &e),
    };
    // The answer first: it is what the officer came for; the form stays below to refine.
    shell(&ctx, "ask.title", html! { (result) (form) })
}

/// The fetch form's fields.
#[derive(Debug, Deserialize)]
pub struct CopyForm {
    peer: String,
    purpose: i32,
    #[serde(default)]
    case: String,
    reference: String,
}

/// `POST /copy`: fetches a passport copy through the own node, checks its SHA-256 and
/// shows it.
pub async fn fetch(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Form(f): Form<CopyForm>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/ask",
    };
    let r = c
        .client
        .fetch_document(pb::FetchDocumentRequest {
            peer_country: f.peer.clone(),
            context: Some(pb::RequestContext {
                purpose: f.purpose,
                case_reference: f.case.clone(),
                ..Default::default()
            }),
            reference: f.reference.clone(),
        })
        .await;
    let doc = match r {
        Ok(d) => d,
        Err(e) => return shell(&ctx, "copy.title", node_error(&ctx, &e)),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, &doc.bytes);
    let verified = doc.trailer.sha256_verified && digest.as_ref() == doc.header.sha256.as_slice();
    let size = doc.bytes.len();
    let media = doc.header.media_type.clone();
    let id = c.sessions.keep_copy(
        &s.id,
        HeldCopy {
            media_type: media.clone(),
            bytes: doc.bytes,
        },
    );
    let body = html! {
        section.result {
            p { (f.peer) " · " (doc.header.agreement_id) " · " (media) " · " (size) " bytes" }
            p #sha {
                @if verified { span.badge.ok { "SHA-256 ✓" } " " (ctx.t("copy.verified")) }
                @else { span.badge.bad { "SHA-256 ✗" } " " (ctx.t("copy.bad")) }
            }
            p { code.hash #digest { (hex::encode(digest.as_ref())) } }
            @if let Some(id) = &id {
                @if verified { p { img.copy #copy src=(format!("/copy/{id}")) alt=(ctx.t("copy.title")); } }
                p { a.button #download href=(format!("/copy/{id}?download=1")) { (ctx.t("copy.download")) } }
            }
            p.muted { (ctx.t("ask.audit")) " #" (doc.trailer.audit_index)
                @if doc.header.retention_days > 0 { " · " (ctx.t("ask.retention")) ": " (doc.header.retention_days) } }
        }
    };
    shell(&ctx, "copy.title", body)
}

/// `?download=1`.
#[derive(Debug, Default, Deserialize)]
pub struct Download {
    #[serde(default)]
    download: Option<String>,
}

/// `GET /copy/{id}`: the bytes of a copy this session fetched.
pub async fn copy_bytes(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Path(id): Path<String>,
    Query(q): Query<Download>,
) -> Response {
    let Some(copy) = c.sessions.copy(&s.id, &id) else {
        return (StatusCode::NOT_FOUND, s.lang.t("copy.gone")).into_response();
    };
    // Only image types the browser shows inline; anything else is a download.
    let (media, ext) = match copy.media_type.as_str() {
        "image/png" => ("image/png", "png"),
        "image/jpeg" => ("image/jpeg", "jpg"),
        _ => ("application/octet-stream", "bin"),
    };
    let disposition = if q.download.is_some() || media == "application/octet-stream" {
        format!("attachment; filename=\"passport-copy.{ext}\"")
    } else {
        "inline".to_string()
    };
    (
        [
            (header::CONTENT_TYPE, media.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        copy.bytes.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates_parse_at_their_precision() {
        assert_eq!(partial_date("1990-04-12").map(|d| d.day), Some(12));
        assert_eq!(
            partial_date("1990-04").map(|d| (d.month, d.day)),
            Some((4, 0))
        );
        assert_eq!(partial_date("1990").map(|d| d.month), Some(0));
        for bad in [
            "",
            "90",
            "1990-4",
            "1990-13",
            "abcd",
            "1990-04-12-1",
            "1990--12",
        ] {
            assert!(partial_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_form_says_who_in_exactly_one_way() {
        let mut f = AskForm::default();
        assert_eq!(identity_query(&f).unwrap_err(), "ask.one.way");
        f.document = "X1".into();
        f.surnames = "DIALLO".into();
        assert_eq!(identity_query(&f).unwrap_err(), "ask.one.way");
        f.document.clear();
        assert_eq!(identity_query(&f).unwrap_err(), "ask.need.birth");
        f.birth = "1994-3".into();
        assert_eq!(identity_query(&f).unwrap_err(), "ask.bad.birth");
        f.birth = "1994-03".into();
        assert!(identity_query(&f).is_ok());
    }

    #[test]
    fn only_in_force_grants_to_us_are_offered() {
        let grant = |from: &str, to: &str, purposes: Vec<i32>, copies: bool| pb::DirectionGrant {
            provider_country: from.into(),
            receiver_country: to.into(),
            services: if copies { vec![1, 2] } else { vec![1] },
            purposes,
            ..Default::default()
        };
        let r = pb::ListAgreementsResponse {
            agreements: vec![
                pb::AgreementSummary {
                    state: pb::AgreementState::InForce as i32,
                    grants: vec![
                        grant("MEX", "GTM", vec![1, 2], true),
                        grant("GTM", "MEX", vec![3], false),
                    ],
                    ..Default::default()
                },
                pb::AgreementSummary {
                    state: pb::AgreementState::Expired as i32,
                    grants: vec![grant("CRI", "GTM", vec![1], false)],
                    ..Default::default()
                },
            ],
        };
        let o = offers_of("GTM", &r);
        assert_eq!(
            o.iter().map(Offer::value).collect::<Vec<_>>(),
            ["MEX|1", "MEX|2"]
        );
        assert!(o.iter().all(|x| x.copies));
    }

    #[test]
    fn why_names_what_agrees() {
        let f = AskForm {
            given: "Aminata".into(),
            surnames: "Diallo".into(),
            birth: "1994-03-02".into(),
            ..Default::default()
        };
        let p = pb::DisclosedPerson {
            given_names: Some("AMINATA".into()),
            surnames: Some("DIALLO BARRY".into()),
            date_of_birth: Some(pb::PartialDate {
                year: 1994,
                month: 3,
                day: 2,
            }),
            ..Default::default()
        };
        assert_eq!(why(&f, &p), ["why.surnames.near", "why.given", "why.birth"]);
        assert_eq!(
            why(&f, &pb::DisclosedPerson::default()),
            ["why.undisclosed"]
        );
    }
}
