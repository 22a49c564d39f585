//! The officer's Alerts page: early warnings received from peers and issued by this
//! country (with each peer's delivery), and the drafts the node made from surges in the
//! flow counts. A draft is published only after a confirmation page that shows exactly
//! what will be signed and sent; nothing is sent by looking at a draft.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use puente_proto::v1 as pb;
use serde::Deserialize;

use crate::page::{self, node_error, problem, shell, when, Ctx};
use crate::session::Session;
use crate::Console;

fn severity(n: i32) -> String {
    pb::Severity::try_from(n)
        .map(|s| page::word(s.as_str_name()))
        .unwrap_or_default()
}

fn period(p: Option<&pb::Period>) -> String {
    use pb::period::Granularity;
    match p.and_then(|p| p.granularity.as_ref()) {
        Some(Granularity::Day(d)) => format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
        Some(Granularity::Month(m)) => format!("{:04}-{:02}", m.year, m.month),
        None => String::new(),
    }
}

fn alert(ctx: &Ctx, a: &pb::Alert) -> Markup {
    html! {
        dl {
            dt { (ctx.t("alerts.severity")) } dd { span.badge { (severity(a.severity)) } }
            dt { (ctx.t("alerts.text")) } dd.text { (a.text) }
            @if !a.nationalities.is_empty() { dt { (ctx.t("field.nationality")) } dd { (a.nationalities.join(", ")) } }
            @if !a.entry_points.is_empty() { dt { (ctx.t("alerts.entry")) } dd { (a.entry_points.join(", ")) } }
            @if !a.route_countries.is_empty() { dt { (ctx.t("field.route")) } dd { (a.route_countries.join(" → ")) } }
            @if a.period.is_some() { dt { (ctx.t("alerts.period")) } dd { (period(a.period.as_ref())) } }
            @if a.observed_count > 0 { dt { (ctx.t("alerts.observed")) } dd { (a.observed_count) " (" (ctx.t("alerts.baseline")) " " (a.baseline_count) ")" } }
        }
    }
}

async fn body(c: &Console, ctx: &Ctx<'_>, detect: bool) -> Markup {
    let (alerts, drafts) = (
        c.client
            .list_alerts(pb::ListAlertsRequest {
                include_expired: false,
                issuing_countries: Vec::new(),
            })
            .await,
        c.client.list_alert_drafts(detect).await,
    );
    let alerts = match alerts {
        Ok(a) => a.alerts,
        Err(e) => return node_error(ctx, &e),
    };
    let drafts = match drafts {
        Ok(d) => d.drafts,
        Err(e) => return node_error(ctx, &e),
    };
    let (issued, received): (Vec<_>, Vec<_>) = alerts.iter().partition(|r| r.issued_here);
    html! {
        h2 { (ctx.t("alerts.drafts")) }
        form #detect method="post" action="/alerts/detect" { (ctx.csrf()) button.secondary type="submit" { (ctx.t("alerts.detect")) } }
        @let open: Vec<&pb::AlertDraft> = drafts.iter().filter(|d| !d.published).collect();
        @if open.is_empty() { p #no-drafts { (ctx.t("alerts.nodrafts")) } }
        @for d in open {
            div.card.draft {
                p.muted { (d.reason) " · " (when(d.detected_at.as_ref())) }
                @if let Some(a) = &d.proposed { (alert(ctx, a)) }
                form method="post" action="/alerts/review" {
                    (ctx.csrf())
                    input type="hidden" name="draft" value=(d.draft_id);
                    button.review type="submit" { (ctx.t("alerts.review")) }
                }
            }
        }
        h2 { (ctx.t("alerts.received")) }
        @if received.is_empty() { p { "—" } }
        @for r in &received { @if let Some(a) = &r.alert {
            div.card.received { p { strong { (a.issuing_country) } " · " (when(a.issued_at.as_ref())) } (alert(ctx, a)) }
        } }
        h2 { (ctx.t("alerts.issued")) }
        @if issued.is_empty() { p { "—" } }
        @for r in &issued { @if let Some(a) = &r.alert {
            div.card.issued {
                p { (when(a.issued_at.as_ref())) " → " (when(a.expires_at.as_ref())) }
                (alert(ctx, a))
                p.deliveries { @for d in &r.deliveries {
                    (d.peer_country) ": " (pb::DeliveryState::try_from(d.state).map(|s| page::word(s.as_str_name())).unwrap_or_default()) " "
                } }
            }
        } }
    }
}

/// `GET /alerts`.
pub async fn list(State(c): State<Arc<Console>>, Extension(s): Extension<Session>) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/alerts",
    };
    let b = body(&c, &ctx, false).await;
    shell(&ctx, "alerts.title", b)
}

/// `POST /alerts/detect`: the node looks for surges now (drafts only; nothing is sent).
pub async fn detect(State(c): State<Arc<Console>>, Extension(s): Extension<Session>) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/alerts",
    };
    let b = body(&c, &ctx, true).await;
    shell(&ctx, "alerts.title", b)
}

/// The draft a form names, and whether the person confirmed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DraftForm {
    draft: String,
    confirm: String,
}

/// `POST /alerts/review`: what publishing the draft would sign and send.
pub async fn review(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Form(f): Form<DraftForm>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/alerts",
    };
    let drafts = match c.client.list_alert_drafts(false).await {
        Ok(d) => d.drafts,
        Err(e) => return shell(&ctx, "alerts.title", node_error(&ctx, &e)),
    };
    let Some(d) = drafts
        .iter()
        .find(|d| d.draft_id == f.draft && !d.published)
    else {
        return shell(&ctx, "alerts.title", problem(ctx.t("alerts.gone")));
    };
    let b = html! {
        div.card #review {
            h2 { (ctx.t("alerts.confirm.title")) }
            p { (ctx.t("alerts.confirm.text")) }
            @if let Some(a) = &d.proposed { (alert(&ctx, a)) }
            form method="post" action="/alerts/publish" {
                (ctx.csrf())
                input type="hidden" name="draft" value=(d.draft_id);
                label.check { input #confirm type="checkbox" name="confirm" value="yes" required; (ctx.t("alerts.confirm.box")) }
                button #publish type="submit" { (ctx.t("alerts.publish")) }
                " " a.button.secondary href="/alerts" { (ctx.t("alerts.cancel")) }
            }
        }
    };
    shell(&ctx, "alerts.title", b)
}

/// `POST /alerts/publish`: publishes a reviewed draft, only with the confirmation.
pub async fn publish(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Form(f): Form<DraftForm>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/alerts",
    };
    if f.confirm != "yes" {
        return shell(&ctx, "alerts.title", problem(ctx.t("alerts.unconfirmed")));
    }
    let r = c
        .client
        .issue_alert(pb::IssueAlertRequest {
            draft_id: f.draft.clone(),
            ..Default::default()
        })
        .await;
    let top = match r {
        Ok(_) => html! { p.ok #published { "✓ " (ctx.t("alerts.published")) } },
        Err(e) => node_error(&ctx, &e),
    };
    let b = body(&c, &ctx, false).await;
    shell(&ctx, "alerts.title", html! { (top) (b) })
}
