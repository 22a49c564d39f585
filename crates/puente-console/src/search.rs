//! The auditor's Search: who asked, or was asked, about a person. The log holds no names
//! or document numbers, only keyed hashes of the query terms; the node computes the hash
//! of the terms given here with its data key (`ListEntries.subject`), so the data key
//! never leaves the node. The terms travel in a POST body, never in a URL.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use puente_proto::v1 as pb;

use crate::ask::{identity_query, AskForm};
use crate::log::{table, MAX_EXPORT};
use crate::page::{node_error, problem, shell, Ctx};
use crate::session::Session;
use crate::Console;

fn form_markup(ctx: &Ctx, f: &AskForm) -> Markup {
    html! {
        p.muted { (ctx.t("search.help")) }
        form #search method="post" action="/search" {
            (ctx.csrf())
            fieldset { legend { (ctx.t("ask.by.document")) }
                div.row {
                    label { (ctx.t("ask.document")) input name="document" id="document" value=(f.document); }
                    label { (ctx.t("ask.issuer")) input name="issuer" id="issuer" maxlength="3" value=(f.issuer); }
                    input type="hidden" name="doctype" value="passport";
                }
            }
            fieldset { legend { (ctx.t("ask.by.name")) }
                div.row {
                    label { (ctx.t("ask.given")) input name="given" id="given" value=(f.given); }
                    label { (ctx.t("ask.surnames")) input name="surnames" id="surnames" value=(f.surnames); }
                    label { (ctx.t("ask.birth")) input name="birth" id="birth" value=(f.birth); }
                }
            }
            button #send type="submit" { (ctx.t("search.send")) }
        }
    }
}

/// `GET /search`.
pub async fn form(State(c): State<Arc<Console>>, Extension(s): Extension<Session>) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/search",
    };
    shell(&ctx, "search.title", form_markup(&ctx, &AskForm::default()))
}

/// `POST /search`.
pub async fn send(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Form(f): Form<AskForm>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/search",
    };
    let form = form_markup(&ctx, &f);
    let subject = match identity_query(&f) {
        Ok(q) => q,
        Err(k) => return shell(&ctx, "search.title", html! { (form) (problem(ctx.t(k))) }),
    };
    let mut found = Vec::new();
    let mut start = 0;
    let result = loop {
        let r = c
            .client
            .list_entries(pb::ListEntriesRequest {
                start_index: start,
                page_size: 1000,
                subject: Some(subject.clone()),
                ..Default::default()
            })
            .await;
        match r {
            Err(e) => break Err(e),
            Ok(r) => {
                // A page token is bound to its listing; the next page starts after the
                // last entry of a full one.
                let next = crate::log::next_start(&r);
                found.extend(r.entries);
                match next {
                    Some(n) if found.len() < MAX_EXPORT => start = n,
                    _ => break Ok(()),
                }
            }
        }
    };
    let body = match result {
        Err(e) => html! { (form) (node_error(&ctx, &e)) },
        Ok(()) => html! {
            (form)
            section.result {
                p #found { strong { (found.len()) } " " (ctx.t("search.found")) }
                @if !found.is_empty() { (table(&ctx, &found)) }
            }
        },
    };
    shell(&ctx, "search.title", body)
}
