//! The auditor's Log page: entries of the node's audit log, filtered by peer, direction,
//! service, decision, rule, date, case reference and actor, paged; and Export, the
//! current filter as CSV or JSON Lines. Peer, direction, service, decision, actor and
//! dates are filtered by the node (`Audit.ListEntries`); rule and case reference, which
//! the node does not filter, here, over the node's pages.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};
use puente_client::CallError;
use puente_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::page::{self, node_error, problem, shell, when, Ctx};
use crate::session::Session;
use crate::Console;

/// Entries per page.
pub const PAGE: usize = 50;
/// Node pages scanned at most for one console page (rule / case filters).
pub const MAX_SCAN: usize = 20;
/// Entries an export holds at most.
pub const MAX_EXPORT: usize = 200_000;

/// The Log page's filter, as its query string.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LogFilter {
    /// Peer country code.
    pub peer: String,
    /// `in` or `out`.
    pub direction: String,
    /// Service number.
    pub service: String,
    /// Decision number.
    pub decision: String,
    /// Rule (substring).
    pub rule: String,
    /// First day, `YYYY-MM-DD`.
    pub since: String,
    /// Last day, `YYYY-MM-DD`.
    pub until: String,
    /// Case reference (exact).
    pub case: String,
    /// Actor (substring, by the node).
    pub actor: String,
    /// First index to look at.
    pub from: u64,
    /// `csv` or `jsonl` (Export).
    pub format: String,
}

fn day(s: &str, end: bool) -> Result<Option<prost_types::Timestamp>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).map_err(|_| format!("{s:?}: use YYYY-MM-DD"))?;
    let t = d.midnight().assume_utc().unix_timestamp() + if end { 86_399 } else { 0 };
    Ok(Some(prost_types::Timestamp {
        seconds: t,
        nanos: 0,
    }))
}

fn num(s: &str) -> i32 {
    s.trim().parse().unwrap_or(0)
}

impl LogFilter {
    /// The node's part of the filter, from entry `start`.
    pub fn request(&self, start: u64, page_size: u32) -> Result<pb::ListEntriesRequest, String> {
        Ok(pb::ListEntriesRequest {
            since: day(&self.since, false)?,
            until: day(&self.until, true)?,
            peer_country: self.peer.trim().to_ascii_uppercase(),
            service: num(&self.service),
            decision: num(&self.decision),
            direction: match self.direction.as_str() {
                "in" => pb::Direction::Incoming as i32,
                "out" => pb::Direction::Outgoing as i32,
                _ => 0,
            },
            start_index: start,
            page_size,
            page_token: String::new(),
            actor: self.actor.trim().to_string(),
            subject: None,
        })
    }

    /// The console's part of the filter.
    pub fn keeps(&self, e: &pb::AuditEntry) -> bool {
        let rule = self.rule.trim();
        let case = self.case.trim();
        (rule.is_empty() || e.rule.contains(rule)) && (case.is_empty() || e.case_reference == case)
    }

    fn local(&self) -> bool {
        !self.rule.trim().is_empty() || !self.case.trim().is_empty()
    }

    /// The query string of this filter with `format` (for Export and paging links).
    pub fn query(&self, from: u64, format: &str) -> String {
        let f = LogFilter {
            from,
            format: format.to_string(),
            ..self.clone()
        };
        serde_json::to_value(&f)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| {
                        let v = match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (!v.is_empty() && v != "0").then(|| format!("{k}={}", encode(&v)))
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            })
            .unwrap_or_default()
    }
}

/// Where the listing after `r` starts: the first index the node did not examine, while
/// it says the listing goes on (its token is bound to the request's filters, so the
/// next request is made by `start_index`, with the console's own filters alongside). A
/// page may be short, even empty, when the node's scan bound ended it.
pub fn next_start(r: &pb::ListEntriesResponse) -> Option<u64> {
    if r.next_page_token.is_empty() {
        return None;
    }
    match r.next_index {
        // A node of an earlier version fills no next_index: after the page's last entry.
        0 => r.entries.last().map(|e| e.index + 1),
        n => Some(n),
    }
}

/// Percent-encoding of a query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Problems of a filter or a call.
pub enum Failure {
    /// Bad filter input.
    Input(String),
    /// The node refused or failed.
    Node(CallError),
}

/// Up to `want` entries the filter keeps from entry `from` on, and where to go on.
pub async fn entries(
    c: &Console,
    f: &LogFilter,
    from: u64,
    want: usize,
    max_scan: usize,
) -> Result<(Vec<pb::AuditEntry>, Option<u64>, u64), Failure> {
    let mut out = Vec::new();
    let mut start = from;
    let mut size = 0;
    for _ in 0..max_scan {
        let page = if f.local() {
            1000
        } else {
            (want - out.len()).min(1000) as u32
        };
        let r = c
            .client
            .list_entries(f.request(start, page).map_err(Failure::Input)?)
            .await
            .map_err(Failure::Node)?;
        size = r.tree_size;
        let next = next_start(&r);
        for e in r.entries {
            if out.len() == want {
                return Ok((out, Some(e.index), size));
            }
            if f.keeps(&e) {
                out.push(e);
            }
        }
        match next {
            Some(n) if out.len() < want => start = n,
            Some(n) => return Ok((out, Some(n), size)),
            None => return Ok((out, None, size)),
        }
    }
    Ok((out, Some(start), size))
}

/// The entries' table.
pub fn table(ctx: &Ctx, entries: &[pb::AuditEntry]) -> Markup {
    html! {
        table #entries {
            tr { th.num { "#" } th { (ctx.t("log.time")) } th { (ctx.t("log.direction")) } th { (ctx.t("log.peer")) }
                 th { (ctx.t("log.actor")) } th { (ctx.t("log.service")) } th { (ctx.t("log.purpose")) }
                 th { (ctx.t("log.case")) } th { (ctx.t("log.decision")) } th { (ctx.t("log.rule")) } }
            @for e in entries {
                tr.entry {
                    td.num { a href=(format!("/log/{}", e.index)) { (e.index) } }
                    td { (when(e.time.as_ref())) }
                    td { (ctx.t(page::direction_key(e.direction))) }
                    td { (e.peer_country) }
                    td { (e.actor) }
                    td { (page::service(e.service)) }
                    td { (page::purpose(e.purpose)) }
                    td { (e.case_reference) }
                    td { (ctx.t(page::decision_key(e.decision))) }
                    td { code { (e.rule) } }
                }
            }
        }
    }
}

fn select(name: &str, value: &str, options: &[(String, String)]) -> Markup {
    html! {
        select name=(name) id=(name) {
            @for (v, label) in options { option value=(v) selected[v == value] { (label) } }
        }
    }
}

fn filter_form(ctx: &Ctx, f: &LogFilter) -> Markup {
    let any = (String::new(), ctx.t("log.any").to_string());
    let mut dirs = vec![any.clone()];
    dirs.push(("in".into(), ctx.t("dir.in").into()));
    dirs.push(("out".into(), ctx.t("dir.out").into()));
    let mut services = vec![any.clone()];
    services.extend((1..=5).map(|n| (n.to_string(), page::service(n))));
    let mut decisions = vec![any];
    decisions.extend((1..=3).map(|n| (n.to_string(), ctx.t(page::decision_key(n)).to_string())));
    html! {
        form #filter method="get" action="/log" {
            fieldset { div.row {
                label { (ctx.t("log.peer")) input name="peer" id="peer" maxlength="3" value=(f.peer); }
                label { (ctx.t("log.direction")) (select("direction", &f.direction, &dirs)) }
                label { (ctx.t("log.service")) (select("service", &f.service, &services)) }
                label { (ctx.t("log.decision")) (select("decision", &f.decision, &decisions)) }
                label { (ctx.t("log.rule")) input name="rule" id="rule" value=(f.rule); }
                label { (ctx.t("log.since")) input name="since" id="since" value=(f.since); }
                label { (ctx.t("log.until")) input name="until" id="until" value=(f.until); }
                label { (ctx.t("log.case")) input name="case" id="case" value=(f.case); }
                label { (ctx.t("log.actor")) input name="actor" id="actor" value=(f.actor); }
                button #apply type="submit" { (ctx.t("log.filter")) }
            } }
        }
    }
}

/// `GET /log`.
pub async fn page(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Query(f): Query<LogFilter>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/log",
    };
    let listed = match entries(&c, &f, f.from, PAGE, MAX_SCAN).await {
        Err(Failure::Input(p)) => problem(&p),
        Err(Failure::Node(e)) => node_error(&ctx, &e),
        Ok((list, next, size)) => html! {
            p.muted { (size) " " (ctx.t("log.size")) " · " (ctx.t("log.export")) ": "
                a #export-csv href=(format!("/export?{}", f.query(0, "csv"))) { "CSV" } " · "
                a #export-jsonl href=(format!("/export?{}", f.query(0, "jsonl"))) { "JSON Lines" } }
            @if list.is_empty() { p { (ctx.t("log.empty")) } } @else { (table(&ctx, &list)) }
            @if let Some(n) = next {
                p { a.button.secondary #next href=(format!("/log?{}", f.query(n, ""))) { (ctx.t("log.next")) " →" } }
            }
        },
    };
    shell(
        &ctx,
        "log.title",
        html! { (filter_form(&ctx, &f)) (listed) },
    )
}

fn hexes(v: &[u8]) -> String {
    hex::encode(v)
}

/// One entry as a JSON object (no personal data: the log holds none).
pub fn json_of(e: &pb::AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "index": e.index,
        "time": when(e.time.as_ref()),
        "direction": page::word(pb::Direction::try_from(e.direction).map(|d| d.as_str_name()).unwrap_or("")),
        "peer_country": e.peer_country,
        "actor": e.actor,
        "service": page::service(e.service),
        "purpose": page::purpose(e.purpose),
        "case_reference": e.case_reference,
        "agreement_id": e.agreement_id,
        "decision": page::word(pb::Decision::try_from(e.decision).map(|d| d.as_str_name()).unwrap_or("")),
        "rule": e.rule,
        "reason": e.reason,
        "disclosed_fields": e.disclosed_fields.iter().map(|f| page::field(*f)).collect::<Vec<_>>(),
        "request_sha256": hexes(&e.request_sha256),
        "response_sha256": hexes(&e.response_sha256),
        "leaf_hash": hexes(&e.leaf_hash),
    })
}

const CSV_COLUMNS: [&str; 16] = [
    "index",
    "time",
    "direction",
    "peer_country",
    "actor",
    "service",
    "purpose",
    "case_reference",
    "agreement_id",
    "decision",
    "rule",
    "reason",
    "disclosed_fields",
    "request_sha256",
    "response_sha256",
    "leaf_hash",
];

/// A CSV field, quoted when it must be; a leading formula character is neutralized so
/// that a spreadsheet never runs a case reference as a formula.
pub fn csv_field(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str())
            .collect::<Vec<_>>()
            .join(";"),
        other => other.to_string(),
    };
    puente_stats::cell::csv_field(&s)
}

/// `GET /export?…&format=csv|jsonl`: every entry the filter keeps.
pub async fn export(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Query(f): Query<LogFilter>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/log",
    };
    let csv = f.format != "jsonl";
    let all = match entries(&c, &f, 0, MAX_EXPORT, usize::MAX).await {
        Ok((list, _, _)) => list,
        Err(Failure::Input(p)) => return shell(&ctx, "log.title", problem(&p)),
        Err(Failure::Node(e)) => return shell(&ctx, "log.title", node_error(&ctx, &e)),
    };
    let mut out = String::new();
    if csv {
        out.push_str(&CSV_COLUMNS.join(","));
        out.push('\n');
    }
    for e in &all {
        let j = json_of(e);
        if csv {
            let row: Vec<String> = CSV_COLUMNS.iter().map(|k| csv_field(&j[*k])).collect();
            out.push_str(&row.join(","));
        } else {
            out.push_str(&j.to_string());
        }
        out.push('\n');
    }
    let (media, name) = if csv {
        ("text/csv; charset=utf-8", "puente-audit.csv")
    } else {
        ("application/jsonl; charset=utf-8", "puente-audit.jsonl")
    };
    (
        [
            (header::CONTENT_TYPE, media.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_round_trips_through_its_query_string() {
        let f = LogFilter {
            peer: "GTM".into(),
            case: "CASE 7&x".into(),
            ..Default::default()
        };
        let mut q: Vec<String> = f.query(120, "csv").split('&').map(str::to_string).collect();
        q.sort();
        assert_eq!(
            q,
            ["case=CASE%207%26x", "format=csv", "from=120", "peer=GTM"]
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        use serde_json::json;
        assert_eq!(csv_field(&json!("a,b")), "\"a,b\"");
        assert_eq!(csv_field(&json!("=SUM(A1)")), "'=SUM(A1)");
        assert_eq!(csv_field(&json!(["x", "y"])), "x;y");
        assert_eq!(csv_field(&json!(7)), "7");
    }

    #[test]
    fn dates_are_whole_days_and_bad_ones_are_named() {
        let r = LogFilter {
            since: "2026-03-01".into(),
            until: "2026-03-01".into(),
            ..Default::default()
        }
        .request(0, 10)
        .unwrap_or_default();
        let (a, b) = (r.since.unwrap_or_default(), r.until.unwrap_or_default());
        assert_eq!(b.seconds - a.seconds, 86_399);
        let bad = LogFilter {
            since: "1/3/2026".into(),
            ..Default::default()
        };
        assert!(bad.request(0, 10).is_err());
    }

    #[test]
    fn the_next_page_starts_where_the_node_says_or_after_the_last_entry() {
        let page = |entries: &[u64], token: &str, next: u64| pb::ListEntriesResponse {
            entries: entries
                .iter()
                .map(|i| pb::AuditEntry {
                    index: *i,
                    ..Default::default()
                })
                .collect(),
            next_page_token: token.into(),
            tree_size: 100,
            next_index: next,
        };
        // A page cut by the node's scan bound: maybe empty, it says where to go on.
        assert_eq!(next_start(&page(&[], "t", 20_000)), Some(20_000));
        assert_eq!(next_start(&page(&[3, 9], "t", 40)), Some(40));
        // A node of an earlier version fills no next_index.
        assert_eq!(next_start(&page(&[3, 9], "t", 0)), Some(10));
        assert_eq!(next_start(&page(&[3, 9], "", 0)), None);
    }
}
