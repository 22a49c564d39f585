//! The officer's Agreements page (what each peer grants us and we grant them, in plain
//! words, with today's quota use and the expiry) and Peers page (reachability now and
//! the certificates and keys the node trusts for each).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use puente_proto::v1 as pb;

use crate::page::{self, node_error, shell, when, Ctx};
use crate::session::Session;
use crate::Console;

fn state_key(n: i32) -> &'static str {
    match pb::AgreementState::try_from(n) {
        Ok(pb::AgreementState::InForce) => "state.in_force",
        Ok(pb::AgreementState::NotYetValid) => "state.not_yet",
        Ok(pb::AgreementState::Expired) => "state.expired",
        Ok(pb::AgreementState::Superseded) => "state.superseded",
        _ => "state.invalid",
    }
}

fn list(words: impl Iterator<Item = String>) -> String {
    words.collect::<Vec<_>>().join(", ")
}

/// One direction of an agreement as a sentence.
fn grant(ctx: &Ctx, g: &pb::DirectionGrant) -> Markup {
    let mode = if g.identity_mode == pb::Mode::HitNoHit as i32 {
        ctx.t("agr.mode.hit")
    } else {
        ctx.t("agr.mode.full")
    };
    html! {
        p.grant {
            strong { (g.receiver_country) } " " (ctx.t("agr.may.ask")) " " strong { (g.provider_country) } ": "
            (list(g.services.iter().map(|s| page::service(*s))))
            @if !g.purposes.is_empty() { " " (ctx.t("agr.purposes")) " " (list(g.purposes.iter().map(|p| page::purpose(*p)))) }
            @if !g.fields.is_empty() { "; " (ctx.t("agr.fields")) " " (list(g.fields.iter().map(|f| page::field(*f)))) }
            @if g.services.contains(&(pb::Service::IdentityQuery as i32)) { "; " (mode) }
            @if g.retention_days > 0 { "; " (ctx.t("agr.keep")) " " (g.retention_days) }
            "."
        }
        p.quota.muted {
            @if g.queries_per_day > 0 { (ctx.t("agr.queries")) ": " (g.queries_used_today) " / " (g.queries_per_day) " · " }
            @if g.copies_per_day > 0 { (ctx.t("agr.copies")) ": " (g.copies_used_today) " / " (g.copies_per_day) }
        }
    }
}

fn days_left(until: Option<&prost_types::Timestamp>) -> Option<i64> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    until.map(|t| (t.seconds - now).div_euclid(86_400))
}

/// `GET /agreements`.
pub async fn agreements(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/agreements",
    };
    let own = c.client.country().to_string();
    let body = match c.client.list_agreements().await {
        Err(e) => node_error(&ctx, &e),
        Ok(r) if r.agreements.is_empty() => html! { p { (ctx.t("agr.none")) } },
        Ok(r) => html! {
            @for a in &r.agreements {
                div.card.agreement {
                    h2 { (a.agreement_id) " "
                        span class=(if a.state == pb::AgreementState::InForce as i32 { "badge ok" } else { "badge bad" }) { (ctx.t(state_key(a.state))) } }
                    p.muted { (a.parties.join(" ⇄ ")) " · " (ctx.t("agr.valid")) " " (when(a.valid_from.as_ref())) " → " (when(a.valid_until.as_ref()))
                        @if let Some(d) = days_left(a.valid_until.as_ref()) { " · " (ctx.t("agr.expires.in")) ": " (d) } }
                    @if !a.state_reason.is_empty() { p.muted { (a.state_reason) } }
                    @for g in a.grants.iter().filter(|g| g.receiver_country == own) {
                        h3 { (ctx.t("agr.they.grant")) } (grant(&ctx, g))
                    }
                    @for g in a.grants.iter().filter(|g| g.receiver_country != own) {
                        h3 { (ctx.t("agr.we.grant")) } (grant(&ctx, g))
                    }
                }
            }
        },
    };
    shell(&ctx, "agr.title", body)
}

/// `GET /peers`: checks each peer's reachability now.
pub async fn peers(State(c): State<Arc<Console>>, Extension(s): Extension<Session>) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/peers",
    };
    let body = match c.client.list_peers(true).await {
        Err(e) => node_error(&ctx, &e),
        Ok(r) => html! {
            table #peers {
                tr { th { (ctx.t("peers.country")) } th { (ctx.t("peers.address")) } th { (ctx.t("peers.reach")) }
                     th.num { (ctx.t("peers.rtt")) } th { (ctx.t("peers.cert")) } th { (ctx.t("peers.ca")) } th { (ctx.t("peers.key")) } }
                @for p in &r.peers {
                    tr {
                        td { strong { (p.country) } br; span.muted { (p.peer_node) } }
                        td { code { (p.address) } }
                        td { @if p.reachable { span.ok { (ctx.t("yes")) } } @else { span.bad { (ctx.t("no")) } br; span.muted { (p.error) } } }
                        td.num { @if let Some(d) = &p.round_trip { (format!("{:.1} ms", d.seconds as f64 * 1000.0 + f64::from(d.nanos) / 1e6)) } }
                        td { (when(p.certificate_not_after.as_ref())) }
                        td { code.hash { (p.ca_fingerprint) } }
                        td { code.hash { (p.signing_key_fingerprint) } }
                    }
                }
            }
        },
    };
    shell(&ctx, "peers.title", body)
}
