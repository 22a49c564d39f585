//! The officer's Ask page: a person by document, MRZ, or name with birth date, asked of
//! a peer for a purpose. Only the peer-and-purpose pairs an agreement in force grants
//! this country are offered (the node refuses any other anyway). The answer shows each
//! match's score and why it matched (from the fields disclosed), and a passport copy is
//! fetched on request ([`crate::copy`]), shown inline with its verified SHA-256 and a
//! download.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use puente_client::CallError;
use puente_proto::v1 as pb;

use crate::page::{self, node_error, problem, shell, Ctx};
use crate::session::Session;
pub use crate::terms::{identity_query, partial_date, why, AskForm};
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
                    label { (ctx.t("ask.case")) input name="case" id="case" required value=(f.case); }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
