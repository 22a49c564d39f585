//! The auditor's Charts and anomalies, computed here from the node's audit entries of a
//! date range (`Audit.ListEntries`): exchanges per day per peer stacked by decision,
//! refusals by rule, both drawn as SVG on the server; and the days on which a peer's
//! volume or refusal rate departs from its own baseline, by robust statistics (median
//! and MAD, modified z-score above 3.5), which a single busy day cannot skew.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use puente_proto::v1 as pb;
use serde::Deserialize;
use time::Date;

use crate::log::{entries, Failure, LogFilter, MAX_EXPORT};
use crate::page::{node_error, problem, shell, Ctx};
use crate::session::Session;
use crate::Console;

/// Days a baseline needs before a day is judged against it.
pub const MIN_BASELINE_DAYS: usize = 7;
/// Modified z-score above which a day is an anomaly (Iglewicz and Hoaglin).
pub const Z_LIMIT: f64 = 3.5;
/// Days shown when no range is given.
pub const DEFAULT_DAYS: i64 = 30;

/// One peer's exchanges on one day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Day {
    /// Allowed.
    pub allowed: u64,
    /// Refused.
    pub refused: u64,
    /// Withheld (protection rule).
    pub withheld: u64,
}

impl Anomaly {
    /// The key the node keeps its triage under: `PEER:YYYY-MM-DD:volume|refusal-rate`.
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.peer, self.day, self.what.replace(' ', "-"))
    }
}

impl Day {
    /// All exchanges.
    pub fn total(&self) -> u64 {
        self.allowed + self.refused + self.withheld
    }
}

/// Per peer, one [`Day`] for each day from `first` to `last` (days without exchanges
/// count as zero: they are part of the baseline).
pub fn daily(entries: &[pb::AuditEntry], first: Date, last: Date) -> BTreeMap<String, Vec<Day>> {
    let n = ((last - first).whole_days().max(0) + 1) as usize;
    let mut out: BTreeMap<String, Vec<Day>> = BTreeMap::new();
    for e in entries {
        let Some(t) = e.time.as_ref() else { continue };
        let Ok(at) = time::OffsetDateTime::from_unix_timestamp(t.seconds) else {
            continue;
        };
        let i = (at.date() - first).whole_days();
        if i < 0 || i as usize >= n {
            continue;
        }
        let days = out
            .entry(e.peer_country.clone())
            .or_insert_with(|| vec![Day::default(); n]);
        let d = &mut days[i as usize];
        match pb::Decision::try_from(e.decision) {
            Ok(pb::Decision::Allowed) => d.allowed += 1,
            Ok(pb::Decision::Refused) => d.refused += 1,
            Ok(pb::Decision::Withheld) => d.withheld += 1,
            _ => {}
        }
    }
    out
}

/// Quota units used on each day from `first` to `last`, by agreement, peer and service:
/// every incoming exchange an agreement permitted took one (its entry names the
/// agreement; a refused one names none), as the node counts them.
pub fn quota_use(
    entries: &[pb::AuditEntry],
    first: Date,
    last: Date,
) -> BTreeMap<(String, String, String), Vec<u64>> {
    let n = ((last - first).whole_days().max(0) + 1) as usize;
    let mut out: BTreeMap<(String, String, String), Vec<u64>> = BTreeMap::new();
    for e in entries {
        if e.direction != pb::Direction::Incoming as i32 || e.agreement_id.is_empty() {
            continue;
        }
        let Some(at) = e
            .time
            .as_ref()
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        else {
            continue;
        };
        let i = (at.date() - first).whole_days();
        if i < 0 || i as usize >= n {
            continue;
        }
        out.entry((
            e.agreement_id.clone(),
            e.peer_country.clone(),
            crate::page::service(e.service),
        ))
        .or_insert_with(|| vec![0; n])[i as usize] += 1;
    }
    out
}

/// One agreement's units a day, as bars.
fn quota_chart(label: &str, days: &[u64], first: Date) -> Markup {
    let max = days.iter().copied().max().unwrap_or(0).max(1);
    let (w, h, top) = (640usize, 110u64, 24u64);
    let step = (w - 40) / days.len().max(1);
    let bar = step.saturating_sub(2).max(1);
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(label) {
            text x="8" y="16" font-size="13" font-weight="600" fill="#1b2430" { (label) " · max " (max) "/day" }
            @for (i, n) in days.iter().enumerate() {
                @let x = 32 + i * step;
                @let bh = n * (h - top - 18) / max;
                rect.units x=(x) y=(h - 18 - bh) width=(bar) height=(bh) fill="#2f5d8a" { title { (first + time::Duration::days(i as i64)) ": " (n) } }
            }
            text x="32" y=(h - 4) font-size="11" fill="#5b6676" { (first) }
        }
    }
}

/// Refusals by rule, most frequent first.
pub fn refusals_by_rule(entries: &[pb::AuditEntry]) -> Vec<(String, u64)> {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for e in entries {
        if e.decision == pb::Decision::Refused as i32 {
            *m.entry(e.rule.clone()).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Median and median absolute deviation.
pub fn robust(values: &[f64]) -> (f64, f64) {
    let mut v = values.to_vec();
    let m = median(&mut v);
    let mut dev: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
    (m, median(&mut dev))
}

/// Whether `x` departs from a baseline of median `m` and MAD `mad`. With a MAD of 0 (a
/// peer that is the same every day) any change of more than max(3, m) counts.
pub fn departs(x: f64, m: f64, mad: f64) -> bool {
    if mad == 0.0 {
        (x - m).abs() > m.max(3.0)
    } else {
        (0.6745 * (x - m) / mad).abs() > Z_LIMIT
    }
}

/// A day on which a peer departs from its baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// The peer.
    pub peer: String,
    /// The day.
    pub day: Date,
    /// `volume` or `refusal rate`.
    pub what: &'static str,
    /// The day's value.
    pub value: f64,
    /// The baseline's median.
    pub median: f64,
}

/// The anomalies of each peer's series from `first`; none for a peer with fewer than
/// [`MIN_BASELINE_DAYS`] days since its first exchange in the range.
pub fn anomalies(series: &BTreeMap<String, Vec<Day>>, first: Date) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for (peer, all) in series {
        // The baseline starts at the peer's first exchange in the range: the days before
        // a new peer began say nothing about its normal volume.
        let start = all.iter().position(|d| d.total() > 0).unwrap_or(all.len());
        let days = &all[start..];
        if days.len() < MIN_BASELINE_DAYS {
            continue;
        }
        let volume: Vec<f64> = days.iter().map(|d| d.total() as f64).collect();
        let rate: Vec<f64> = days
            .iter()
            .map(|d| match d.total() {
                0 => 0.0,
                t => d.refused as f64 / t as f64,
            })
            .collect();
        let (vm, vmad) = robust(&volume);
        let (rm, rmad) = robust(&rate);
        for (i, d) in days.iter().enumerate() {
            let day = first + time::Duration::days((start + i) as i64);
            if departs(volume[i], vm, vmad) {
                out.push(Anomaly {
                    peer: peer.clone(),
                    day,
                    what: "volume",
                    value: volume[i],
                    median: vm,
                });
            }
            // A rate needs exchanges to mean something, and is bounded: a departure of
            // at least 20 points, beyond the robust test.
            if d.total() >= 5 && (rate[i] - rm).abs() >= 0.2 && departs(rate[i], rm, rmad.max(0.02))
            {
                out.push(Anomaly {
                    peer: peer.clone(),
                    day,
                    what: "refusal rate",
                    value: rate[i],
                    median: rm,
                });
            }
        }
    }
    out
}

/// One peer's days as stacked bars (allowed, withheld, refused).
fn stacked(peer: &str, days: &[Day], first: Date) -> Markup {
    let max = days.iter().map(Day::total).max().unwrap_or(0).max(1);
    let (w, h, top) = (640usize, 140u64, 24u64);
    let step = (w - 40) / days.len().max(1);
    let bar = step.saturating_sub(2).max(1);
    let scale = |n: u64| n * (h - top - 18) / max;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(peer) {
            text x="8" y="16" font-size="13" font-weight="600" fill="#1b2430" { (peer) " · max " (max) "/day" }
            @for (i, d) in days.iter().enumerate() {
                @let x = 32 + i * step;
                @let base = h - 18;
                @let a = scale(d.allowed);
                @let wh = scale(d.withheld);
                @let r = scale(d.refused);
                rect.allowed x=(x) y=(base - a) width=(bar) height=(a) fill="#1d7a3e" { title { (first + time::Duration::days(i as i64)) ": " (d.allowed) " allowed" } }
                rect.withheld x=(x) y=(base - a - wh) width=(bar) height=(wh) fill="#a15c00" { title { (d.withheld) " withheld" } }
                rect.refused x=(x) y=(base - a - wh - r) width=(bar) height=(r) fill="#b3261e" { title { (d.refused) " refused" } }
            }
            text x="32" y=(h - 4) font-size="11" fill="#5b6676" { (first) }
            text x=(w - 8) y=(h - 4) font-size="11" fill="#5b6676" text-anchor="end" { (first + time::Duration::days(days.len() as i64 - 1)) }
        }
    }
}

fn rules_chart(rules: &[(String, u64)]) -> Markup {
    let max = rules.first().map(|r| r.1).unwrap_or(1).max(1);
    let h = 12 + rules.len() * 22;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width="640" height=(h) viewBox=(format!("0 0 640 {h}")) role="img" {
            @for (i, (rule, n)) in rules.iter().enumerate() {
                @let y = 8 + i * 22;
                text x="8" y=(y + 13) font-size="12" fill="#1b2430" { (rule) }
                rect x="300" y=(y) width=(1 + n * 300 / max) height="16" fill="#b3261e" {}
                text x=(306 + n * 300 / max) y=(y + 13) font-size="12" fill="#5b6676" { (n) }
            }
        }
    }
}

/// `?since=&until=` (`YYYY-MM-DD`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Range {
    since: String,
    until: String,
}

fn parse(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &fmt)
        .ok()
        .filter(|d| (1..=9999).contains(&d.year()))
}

/// `GET /charts`.
pub async fn page(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Query(q): Query<Range>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/charts",
    };
    let today = time::OffsetDateTime::now_utc().date();
    let last = parse(&q.until).unwrap_or(today);
    let first = parse(&q.since)
        .or_else(|| last.checked_sub(time::Duration::days(DEFAULT_DAYS - 1)))
        .unwrap_or(last);
    let form = html! {
        form #range method="get" action="/charts" { div.row {
            label { (ctx.t("log.since")) input name="since" value=(first); }
            label { (ctx.t("log.until")) input name="until" value=(last); }
            button type="submit" { (ctx.t("stats.show")) }
        } }
    };
    if first > last || (last - first).whole_days() > 366 {
        return shell(
            &ctx,
            "charts.title",
            html! { (form) (problem(ctx.t("charts.range"))) },
        );
    }
    let filter = LogFilter {
        since: first.to_string(),
        until: last.to_string(),
        ..LogFilter::default()
    };
    let all = match entries(&c, &filter, 0, MAX_EXPORT, usize::MAX).await {
        Ok((list, _, _)) => list,
        Err(Failure::Input(p)) => return shell(&ctx, "charts.title", problem(&p)),
        Err(Failure::Node(e)) => return shell(&ctx, "charts.title", node_error(&ctx, &e)),
    };
    let series = daily(&all, first, last);
    let rules = refusals_by_rule(&all);
    let quota = quota_use(&all, first, last);
    let found = anomalies(&series, first);
    let triage: BTreeMap<String, pb::AnomalyTriage> = match c.client.list_triage().await {
        Ok(r) => r
            .triage
            .into_iter()
            .map(|t| (t.anomaly.clone(), t))
            .collect(),
        Err(e) => return shell(&ctx, "charts.title", node_error(&ctx, &e)),
    };
    let body = html! {
        (form)
        p.muted { (ctx.t("charts.legend")) }
        h2 { (ctx.t("charts.per.day")) }
        @if series.is_empty() { p { (ctx.t("log.empty")) } }
        @for (peer, days) in &series { div.peer-chart { (stacked(peer, days, first)) } }
        h2 { (ctx.t("charts.quota")) }
        @if quota.is_empty() { p { "—" } }
        @for ((agreement, peer, service), days) in &quota {
            div.quota-chart { (quota_chart(&format!("{agreement} · {peer} · {service}"), days, first)) }
        }
        h2 { (ctx.t("charts.rules")) }
        @if rules.is_empty() { p { "—" } } @else { (rules_chart(&rules)) }
        h2 { (ctx.t("charts.anomalies")) }
        p.muted { (ctx.t("charts.anomalies.help")) }
        @if found.is_empty() { p #no-anomalies { (ctx.t("charts.none")) } } @else {
            table #anomalies {
                tr { th { (ctx.t("log.peer")) } th { (ctx.t("log.time")) } th { "" } th.num { "value" } th.num { "median" } th { (ctx.t("charts.triage")) } }
                @for a in &found {
                    tr.anomaly { td { (a.peer) } td { a href=(format!("/log?peer={}&since={}&until={}", a.peer, a.day, a.day)) { (a.day) } }
                         td { (a.what) } td.num { (format!("{:.2}", a.value)) } td.num { (format!("{:.2}", a.median)) }
                         td { (triage_cell(&ctx, &a.key(), triage.get(&a.key()), first, last)) } }
                }
            }
        }
    };
    shell(&ctx, "charts.title", body)
}

fn triage_cell(
    ctx: &Ctx,
    key: &str,
    kept: Option<&pb::AnomalyTriage>,
    first: Date,
    last: Date,
) -> Markup {
    let current = kept.map(|t| t.triage).unwrap_or(0);
    html! {
        @if let Some(t) = kept {
            p.triage { strong { (ctx.t(triage_key(t.triage))) } " · " (t.auditor) ": " (t.comment) }
        }
        form.triage method="post" action="/charts/triage" {
            (ctx.csrf())
            input type="hidden" name="anomaly" value=(key);
            input type="hidden" name="since" value=(first);
            input type="hidden" name="until" value=(last);
            select name="triage" {
                @for n in 1..=3 { option value=(n) selected[n == current] { (ctx.t(triage_key(n))) } }
            }
            input name="comment" maxlength="500" placeholder=(ctx.t("charts.comment"));
            button type="submit" { (ctx.t("charts.keep")) }
        }
    }
}

fn triage_key(n: i32) -> &'static str {
    match pb::Triage::try_from(n) {
        Ok(pb::Triage::Normal) => "triage.normal",
        Ok(pb::Triage::Incident) => "triage.incident",
        _ => "triage.seen",
    }
}

/// The triage form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TriageForm {
    anomaly: String,
    triage: i32,
    comment: String,
    since: String,
    until: String,
}

/// `POST /charts/triage`: the node keeps the auditor's verdict; back to the same range.
pub async fn triage(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Form(f): Form<TriageForm>,
) -> Response {
    let r = c
        .client
        .triage_anomaly(pb::TriageAnomalyRequest {
            anomaly: f.anomaly.clone(),
            triage: f.triage,
            comment: f.comment.trim().to_string(),
        })
        .await;
    match r {
        Ok(_) => {
            let (since, until) = (parse(&f.since), parse(&f.until));
            let q = match (since, until) {
                (Some(a), Some(b)) => format!("?since={a}&until={b}"),
                _ => String::new(),
            };
            Redirect::to(&format!("/charts{q}")).into_response()
        }
        Err(e) => {
            let ctx = Ctx {
                console: &c,
                session: &s,
                path: "/charts",
            };
            shell(&ctx, "charts.title", node_error(&ctx, &e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(allowed: u64, refused: u64) -> Day {
        Day {
            allowed,
            refused,
            withheld: 0,
        }
    }

    #[test]
    fn robust_statistics_ignore_one_wild_day() {
        let (m, mad) = robust(&[10.0, 11.0, 9.0, 10.0, 12.0, 10.0, 300.0]);
        assert_eq!((m, mad), (10.0, 1.0));
        assert!(departs(300.0, m, mad));
        assert!(!departs(12.0, m, mad));
        // A flat peer: only a real change counts.
        assert!(!departs(3.0, 0.0, 0.0));
        assert!(departs(4.0, 0.0, 0.0));
    }

    #[test]
    fn a_surge_and_a_refusal_spike_are_found_on_their_days() {
        let first = time::macros::date!(2026 - 03 - 01);
        let mut days = vec![day(10, 0); 14];
        days[5] = day(80, 0);
        days[9] = day(4, 6);
        let series = BTreeMap::from([("MEX".to_string(), days)]);
        let found = anomalies(&series, first);
        let got: Vec<(Date, &str)> = found.iter().map(|a| (a.day, a.what)).collect();
        assert_eq!(
            got,
            [
                (time::macros::date!(2026 - 03 - 06), "volume"),
                (time::macros::date!(2026 - 03 - 10), "refusal rate")
            ]
        );
        assert_eq!(found[1].key(), "MEX:2026-03-10:refusal-rate");
        // Too short a history judges nothing, and empty days before a peer's first
        // exchange are no history.
        let mut short = vec![Day::default(); 20];
        short.extend([day(1, 0), day(50, 0)]);
        let short = BTreeMap::from([("GTM".to_string(), short)]);
        assert!(anomalies(&short, first).is_empty());
    }

    #[test]
    fn quota_units_are_the_permitted_incoming_exchanges() {
        let first = time::macros::date!(2026 - 03 - 01);
        let entry = |day: i64, direction: pb::Direction, agreement: &str| pb::AuditEntry {
            time: Some(prost_types::Timestamp {
                seconds: (first + time::Duration::days(day))
                    .midnight()
                    .assume_utc()
                    .unix_timestamp()
                    + 3600,
                nanos: 0,
            }),
            direction: direction as i32,
            agreement_id: agreement.into(),
            peer_country: "GTM".into(),
            service: pb::Service::IdentityQuery as i32,
            ..Default::default()
        };
        let entries = [
            entry(0, pb::Direction::Incoming, "A"),
            entry(0, pb::Direction::Incoming, "A"),
            entry(2, pb::Direction::Incoming, "A"),
            // Refused (no agreement named), outgoing, or outside the range: no unit.
            entry(1, pb::Direction::Incoming, ""),
            entry(1, pb::Direction::Outgoing, "A"),
            entry(9, pb::Direction::Incoming, "A"),
        ];
        let q = quota_use(&entries, first, first + time::Duration::days(2));
        assert_eq!(q.len(), 1);
        let ((agreement, peer, service), days) = q.into_iter().next().unwrap();
        assert_eq!((agreement.as_str(), peer.as_str()), ("A", "GTM"));
        assert_eq!(
            service,
            crate::page::service(pb::Service::IdentityQuery as i32)
        );
        assert_eq!(days, vec![2, 0, 1]);
    }

    #[test]
    fn entries_fall_on_their_days_with_empty_days_kept() {
        let first = time::macros::date!(2026 - 03 - 01);
        let at = |d: i64, decision: pb::Decision, peer: &str| pb::AuditEntry {
            time: Some(prost_types::Timestamp {
                seconds: (first + time::Duration::days(d))
                    .midnight()
                    .assume_utc()
                    .unix_timestamp()
                    + 3600,
                nanos: 0,
            }),
            decision: decision as i32,
            peer_country: peer.into(),
            rule: if decision == pb::Decision::Refused {
                "agreement.purpose".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        let e = vec![
            at(0, pb::Decision::Allowed, "MEX"),
            at(2, pb::Decision::Refused, "MEX"),
            at(2, pb::Decision::Withheld, "MEX"),
            at(9, pb::Decision::Allowed, "MEX"),
        ];
        let s = daily(&e, first, time::macros::date!(2026 - 03 - 03));
        assert_eq!(
            s["MEX"],
            [
                day(1, 0),
                Day::default(),
                Day {
                    allowed: 0,
                    refused: 1,
                    withheld: 1
                }
            ]
        );
        assert_eq!(refusals_by_rule(&e), [("agreement.purpose".to_string(), 1)]);
    }
}
