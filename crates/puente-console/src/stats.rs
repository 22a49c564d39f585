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
use puente_stats::table::{export, Format, Row};
use puente_stats::{CellKey, Value};
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

impl Sum {
    fn add(&mut self, v: &Value) {
        match v {
            Value::Count(n) => self.known += n,
            Value::Suppressed(_) => self.suppressed = true,
        }
    }
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

/// Nationality × reporting country.
pub fn matrix(rows: &[Row]) -> (Vec<String>, BTreeMap<String, BTreeMap<String, Sum>>) {
    let mut cols: Vec<String> = rows.iter().map(|r| r.reporting.clone()).collect();
    cols.sort();
    cols.dedup();
    let mut m: BTreeMap<String, BTreeMap<String, Sum>> = BTreeMap::new();
    for r in rows {
        m.entry(r.key.nationality.clone())
            .or_default()
            .entry(r.reporting.clone())
            .or_default()
            .add(&r.value);
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

/// The horizontal bar chart of totals by nationality, as SVG.
pub fn chart(ctx: &Ctx, totals: &[(String, Sum)]) -> Markup {
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
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(ctx.t("stats.chart")) {
            defs {
                pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                    rect width="3" height="6" fill="#9aa5b4" {}
                }
            }
            text x="8" y="18" font-size="13" font-weight="600" fill="#1b2430" { (ctx.t("stats.chart")) }
            @for (i, (nat, s)) in totals.iter().enumerate() {
                @let y = 30 + i * (bar_h + 6);
                @let len = 60 + (s.known * 440 / max);
                text x="8" y=(y + 13) font-size="12" fill="#1b2430" { (nat) }
                @if s.known > 0 {
                    rect x="60" y=(y) width=(len - 60) height=(bar_h) fill="#14506e" {}
                }
                @if s.suppressed {
                    rect.suppressed-bar x=(len) y=(y) width="24" height=(bar_h) fill="url(#hatch)" {
                        title { (ctx.t("stats.suppressed")) }
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
                (chart(&ctx, &totals))
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
