//! The Statistics page: the regional matrix (nationality × reporting country) of the
//! flow counts the node holds — its own and those peers' agreements let it pull — as a
//! table and an SVG bar chart drawn here, and the SDMX-CSV download. A cell withheld
//! under an agreement's small-cell threshold is marked as suppressed, never shown as 0;
//! a sum that includes one is shown as "≥ n".

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};
use puente_client::CallError;
use puente_proto::v1 as pb;
use puente_stats::table::{export, month_totals, Format, Row};
use puente_stats::CellKey;
use serde::Deserialize;

use crate::page::{node_error, problem, shell, Ctx};
use crate::session::Session;
use crate::Console;

/// A sum of cells: the known counts and whether any cell was suppressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum {
    /// Sum of the counts shown.
    pub known: u64,
    /// Whether a suppressed cell is part of it.
    pub suppressed: bool,
}

/// `?period=`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatsQuery {
    period: String,
}

async fn rows(c: &Console, period: &str) -> Result<Result<Vec<Row>, String>, CallError> {
    if !period.is_empty() {
        if let Err(e) = puente_stats::Period::parse(period) {
            return Ok(Err(format!("{period:?}: {e}")));
        }
    }
    let cells = c
        .client
        .list_cells(pb::ListCellsRequest {
            period: period.to_string(),
            reporting_countries: Vec::new(),
        })
        .await?;
    let mut out = Vec::new();
    for cell in cells {
        match CellKey::from_proto(&cell) {
            Ok((key, value, version)) => out.push(Row {
                reporting: cell.reporting_country,
                key,
                value,
                version,
            }),
            Err(e) => {
                return Ok(Err(format!(
                    "the node sent a cell the console cannot read: {e}"
                )))
            }
        }
    }
    Ok(Ok(out))
}

/// Month totals (from month cells, or the days of a month a country sent only days
/// of: never both, as `puente stats show` counts) summed by `dims`.
pub fn sums<K: Ord>(
    rows: &[Row],
    dims: impl Fn(&str, &puente_stats::Period, &str) -> K,
) -> BTreeMap<K, Sum> {
    let mut out: BTreeMap<K, Sum> = BTreeMap::new();
    for ((reporting, month, nat), t) in month_totals(rows) {
        let s = out.entry(dims(&reporting, &month, &nat)).or_default();
        s.known += t.count;
        s.suppressed |= t.suppressed > 0;
    }
    out
}

/// Nationality × reporting country.
pub fn matrix(rows: &[Row]) -> (Vec<String>, BTreeMap<String, BTreeMap<String, Sum>>) {
    let mut cols: Vec<String> = rows.iter().map(|r| r.reporting.clone()).collect();
    cols.sort();
    cols.dedup();
    let mut m: BTreeMap<String, BTreeMap<String, Sum>> = BTreeMap::new();
    for ((nat, reporting), sum) in sums(rows, |r, _, n| (n.to_string(), r.to_string())) {
        m.entry(nat).or_default().insert(reporting, sum);
    }
    (cols, m)
}

fn cell(ctx: &Ctx, s: Option<&Sum>) -> Markup {
    match s {
        None => html! { td.num { "" } },
        Some(Sum {
            known: 0,
            suppressed: true,
        }) => html! {
            td.num.suppressed title=(ctx.t("stats.suppressed")) { "▒" }
        },
        Some(Sum {
            known,
            suppressed: true,
        }) => html! {
            td.num.suppressed title=(ctx.t("stats.suppressed")) { "≥ " (known) " ▒" }
        },
        Some(Sum { known, .. }) => html! { td.num { (known) } },
    }
}

/// A horizontal bar chart of totals, as SVG.
pub fn chart(id: &str, title: &str, totals: &[(String, Sum)], suppressed: &str) -> Markup {
    let max = totals
        .iter()
        .map(|(_, s)| s.known)
        .max()
        .unwrap_or(0)
        .max(1);
    let bar_h = 18;
    let h = 30 + totals.len() * (bar_h + 6);
    let w = 640u64;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(title) {
            defs {
                pattern id=(format!("hatch-{id}")) width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                    rect width="3" height="6" fill="#9aa5b4" {}
                }
            }
            text x="8" y="18" font-size="13" font-weight="600" fill="#1b2430" { (title) }
            @for (i, (nat, s)) in totals.iter().enumerate() {
                @let y = 30 + i * (bar_h + 6);
                @let len = 76 + (s.known * 440 / max);
                text x="8" y=(y + 13) font-size="12" fill="#1b2430" { (nat) }
                @if s.known > 0 {
                    rect x="76" y=(y) width=(len - 76) height=(bar_h) fill="#14506e" {}
                }
                @if s.suppressed {
                    rect.suppressed-bar x=(len) y=(y) width="24" height=(bar_h) fill=(format!("url(#hatch-{id})")) {
                        title { (suppressed) }
                    }
                }
                text x=(len + if s.suppressed { 30 } else { 6 }) y=(y + 13) font-size="12" fill="#5b6676" {
                    @if s.suppressed { "≥ " } (s.known)
                }
            }
        }
    }
}

/// `GET /stats`.
pub async fn page(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Query(q): Query<StatsQuery>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/stats",
    };
    let period = q.period.trim().to_string();
    let form = html! {
        form #period method="get" action="/stats" { div.row {
            label { (ctx.t("stats.period")) input name="period" value=(period); }
            button type="submit" { (ctx.t("stats.show")) }
            a.button.secondary #sdmx href=(format!("/stats.csv?period={}", crate::log::encode(&period))) { (ctx.t("stats.sdmx")) }
        } }
    };
    let body = match rows(&c, &period).await {
        Err(e) => node_error(&ctx, &e),
        Ok(Err(p)) => problem(&p),
        Ok(Ok(rows)) if rows.is_empty() => html! { p { (ctx.t("stats.empty")) } },
        Ok(Ok(rows)) => {
            let (cols, m) = matrix(&rows);
            let totals: Vec<(String, Sum)> = m
                .iter()
                .map(|(nat, row)| {
                    let mut t = Sum::default();
                    for s in row.values() {
                        t.known += s.known;
                        t.suppressed |= s.suppressed;
                    }
                    (nat.clone(), t)
                })
                .collect();
            html! {
                p.muted { (ctx.t("stats.legend")) }
                table #matrix {
                    tr { th { (ctx.t("field.nationality")) } @for c in &cols { th.num { (c) } } th.num { (ctx.t("stats.total")) } }
                    @for ((nat, row), (_, total)) in m.iter().zip(&totals) {
                        tr { td { (nat) } @for c in &cols { (cell(&ctx, row.get(c))) } (cell(&ctx, Some(total))) }
                    }
                }
                @let marked = ctx.t("stats.suppressed");
                (chart("nat", ctx.t("stats.chart"), &totals, marked))
                (chart("country", ctx.t("stats.chart.country"), &sums(&rows, |r, _, _| r.to_string()).into_iter().collect::<Vec<_>>(), marked))
                (chart("month", ctx.t("stats.chart.month"), &sums(&rows, |_, m, _| m.to_string()).into_iter().collect::<Vec<_>>(), marked))
            }
        }
    };
    shell(&ctx, "stats.title", html! { (form) (body) })
}

/// `GET /stats.csv?period=`: SDMX-CSV of the cells, as `puente stats export` writes it.
pub async fn sdmx(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Query(q): Query<StatsQuery>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/stats",
    };
    let rows = match rows(&c, q.period.trim()).await {
        Err(e) => return shell(&ctx, "stats.title", node_error(&ctx, &e)),
        Ok(Err(p)) => return shell(&ctx, "stats.title", problem(&p)),
        Ok(Ok(r)) => r,
    };
    let mut out = Vec::new();
    if let Err(e) = export(&rows, Format::SdmxCsv, &mut out) {
        return shell(&ctx, "stats.title", problem(&e.to_string()));
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"puente-flows.sdmx.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use puente_stats::{Period, Value};

    fn row(reporting: &str, period: Period, nat: &str, value: Value) -> Row {
        Row {
            reporting: reporting.into(),
            key: CellKey::new(
                period,
                nat,
                pb::Sex::Female,
                pb::AgeGroup::Age1829,
                "EP1",
                pb::EncounterEvent::Entry,
            )
            .unwrap_or_else(|e| panic!("{e}")),
            value,
            version: 1,
        }
    }

    #[test]
    fn a_month_is_counted_once_and_suppression_is_never_zero() {
        let m = |y, mo| Period::month(y, mo).unwrap_or_else(|e| panic!("{e}"));
        let d = |y, mo, da| Period::day(y, mo, da).unwrap_or_else(|e| panic!("{e}"));
        let rows = vec![
            // CRI sent March's total and its days: the total counts, the days do not.
            row("CRI", m(2026, 3), "VEN", Value::Count(12)),
            row("CRI", d(2026, 3, 1), "VEN", Value::Count(5)),
            row("CRI", d(2026, 3, 2), "VEN", Value::Count(7)),
            // GTM sent only days: they add up.
            row("GTM", d(2026, 3, 1), "VEN", Value::Count(2)),
            row("GTM", d(2026, 3, 9), "VEN", Value::Count(3)),
            row(
                "CRI",
                m(2026, 3),
                "HTI",
                Value::Suppressed(puente_stats::Suppression::Primary),
            ),
        ];
        let (cols, mx) = matrix(&rows);
        assert_eq!(cols, ["CRI", "GTM"]);
        assert_eq!(
            mx["VEN"]["CRI"],
            Sum {
                known: 12,
                suppressed: false
            }
        );
        assert_eq!(
            mx["VEN"]["GTM"],
            Sum {
                known: 5,
                suppressed: false
            }
        );
        assert_eq!(
            mx["HTI"]["CRI"],
            Sum {
                known: 0,
                suppressed: true
            }
        );
        let by_country = sums(&rows, |r, _, _| r.to_string());
        assert_eq!(
            by_country["CRI"],
            Sum {
                known: 12,
                suppressed: true
            }
        );
    }
}
