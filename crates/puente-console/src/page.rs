//! The page shell every page shares: header with the person and the node, navigation
//! offering only the pages the person's role may use, the language switch, and the
//! node's refusals shown as the node worded them. Also the words for the contract's
//! enums.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use puente_client::CallError;
use puente_pki::Role;
use puente_proto::v1 as pb;

use crate::i18n::Lang;
use crate::session::Session;
use crate::Console;

/// What a page needs to know about the request.
pub struct Ctx<'a> {
    /// The console.
    pub console: &'a Console,
    /// The session.
    pub session: &'a Session,
    /// The path, for the language switch to come back to.
    pub path: &'a str,
}

impl Ctx<'_> {
    /// The text of `key` in the session's language.
    pub fn t(&self, key: &'static str) -> &'static str {
        self.session.lang.t(key)
    }

    /// The hidden CSRF field every form carries.
    pub fn csrf(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.csrf); }
    }
}

/// The pages a role is offered: (path, message key).
pub fn nav(role: Role) -> &'static [(&'static str, &'static str)] {
    match role {
        Role::Auditor => &[
            ("/log", "nav.log"),
            ("/search", "nav.search"),
            ("/charts", "nav.charts"),
            ("/checkpoints", "nav.checkpoints"),
            ("/stats", "nav.stats"),
        ],
        _ => &[
            ("/ask", "nav.ask"),
            ("/agreements", "nav.agreements"),
            ("/peers", "nav.peers"),
            ("/alerts", "nav.alerts"),
            ("/stats", "nav.stats"),
        ],
    }
}

/// A whole page: `title_key` names it, `body` is its content.
pub fn shell(ctx: &Ctx, title_key: &'static str, body: Markup) -> Response {
    let c = ctx.console;
    let role_key = match c.role() {
        Role::Auditor => "role.auditor",
        _ => "role.operator",
    };
    let node = c.client.node_name().unwrap_or_else(|| c.client.describe());
    let lang = ctx.session.lang;
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (ctx.t(title_key)) " · " (ctx.t("app")) }
                link rel="stylesheet" href="/assets/console.css";
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                script src="/assets/console.js" defer {}
            }
            body {
                header {
                    img src="/assets/icon.svg" alt="" width="28" height="28";
                    strong { (ctx.t("app")) }
                    span.who {
                        (c.person) " " (ctx.t("as")) " " (ctx.t(role_key)) " · "
                        (c.client.country().to_string()) " " (ctx.t("of.node")) " " (node)
                    }
                    form.lang method="post" action="/lang" {
                        (ctx.csrf())
                        input type="hidden" name="back" value=(ctx.path);
                        label { (ctx.t("lang.switch")) " " }
                        button type="submit" name="lang" value="en" disabled[lang == Lang::En] { "English" }
                        button type="submit" name="lang" value="es" disabled[lang == Lang::Es] { "Español" }
                    }
                }
                nav {
                    @for (path, key) in nav(c.role()) {
                        a href=(path) class=[ctx.path.starts_with(path).then_some("active")] { (ctx.t(key)) }
                    }
                }
                main id="main" {
                    h1 { (ctx.t(title_key)) }
                    (body)
                }
            }
        }
    };
    (StatusCode::OK, markup).into_response()
}

/// The node's refusal or failure, as the node worded it.
pub fn node_error(ctx: &Ctx, e: &CallError) -> Markup {
    html! {
        div.error role="alert" {
            strong { (ctx.t("error")) ": " }
            (e.to_string())
        }
    }
}

/// A notice of bad input in a form.
pub fn problem(text: &str) -> Markup {
    html! { div.error role="alert" { (text) } }
}

/// `PURPOSE_IDENTIFICATION` → `identification`.
pub fn word(name: &str) -> String {
    let parts: Vec<&str> = name.splitn(2, '_').collect();
    let rest = match name {
        n if n.starts_with("DISCLOSABLE_FIELD_") => &n["DISCLOSABLE_FIELD_".len()..],
        n if n.starts_with("DOCUMENT_TYPE_") => &n["DOCUMENT_TYPE_".len()..],
        n if n.starts_with("MATCH_OUTCOME_") => &n["MATCH_OUTCOME_".len()..],
        n if n.starts_with("ENCOUNTER_EVENT_") => &n["ENCOUNTER_EVENT_".len()..],
        n if n.starts_with("DELIVERY_STATE_") => &n["DELIVERY_STATE_".len()..],
        _ => parts.get(1).copied().unwrap_or(name),
    };
    rest.to_ascii_lowercase().replace('_', " ")
}

/// The word of a purpose number.
pub fn purpose(n: i32) -> String {
    pb::Purpose::try_from(n)
        .map(|p| word(p.as_str_name()))
        .unwrap_or_else(|_| n.to_string())
}

/// The word of a service number.
pub fn service(n: i32) -> String {
    pb::Service::try_from(n)
        .map(|p| word(p.as_str_name()))
        .unwrap_or_else(|_| n.to_string())
}

/// The word of a field number.
pub fn field(n: i32) -> String {
    pb::DisclosableField::try_from(n)
        .map(|p| word(p.as_str_name()))
        .unwrap_or_else(|_| n.to_string())
}

/// The message key of a decision.
pub fn decision_key(n: i32) -> &'static str {
    match pb::Decision::try_from(n) {
        Ok(pb::Decision::Allowed) => "dec.allowed",
        Ok(pb::Decision::Refused) => "dec.refused",
        Ok(pb::Decision::Withheld) => "dec.withheld",
        _ => "log.any",
    }
}

/// The message key of a direction.
pub fn direction_key(n: i32) -> &'static str {
    match pb::Direction::try_from(n) {
        Ok(pb::Direction::Incoming) => "dir.in",
        Ok(pb::Direction::Outgoing) => "dir.out",
        _ => "log.any",
    }
}

/// A wire timestamp as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn when(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .map(|d| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                d.year(),
                u8::from(d.month()),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            )
        })
        .unwrap_or_else(|| "—".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_read_as_words() {
        assert_eq!(word("PURPOSE_PROTECTION_REFERRAL"), "protection referral");
        assert_eq!(word("DISCLOSABLE_FIELD_GIVEN_NAMES"), "given names");
        assert_eq!(purpose(1), "identification");
        assert_eq!(service(2), "passport copy");
        assert_eq!(word("DELIVERY_STATE_NOT_PERMITTED"), "not permitted");
    }

    #[test]
    fn every_nav_key_is_translated() {
        for role in [Role::Operator, Role::Auditor] {
            for (_, k) in nav(role) {
                assert_ne!(Lang::Es.t(k), *k);
            }
        }
    }
}
