//! `puente stats …`: flow statistics through the running node (as its operator).

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use puente_client::{CallError, NodeClient};
use puente_node::config::LoadedNode;
use puente_pki::Role;
use puente_proto::v1 as pb;
use puente_stats::table::{self, Format, Row};
use puente_stats::{CellKey, StatsError};
use time::OffsetDateTime;

use crate::cli::{NodeAccess, StatsCommand, StatsFormat};
use crate::officer::UsageError;

/// Cells per import message.
const CHUNK: usize = 5000;

fn operator_of(access: &NodeAccess) -> Result<NodeClient> {
    Ok(crate::access::client(access, Role::Operator)?.1)
}

/// Runs a `stats` subcommand.
pub fn run(command: &StatsCommand) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // Channels are made inside the runtime.
    let _in_runtime = runtime.enter();
    match command {
        StatsCommand::Import { access, file } => {
            let client = operator_of(access)?;
            let r = runtime.block_on(import_with(&client, file))?;
            println!(
                "imported {} cell(s) from {} into {}: {} changed (peers get them at their next sync)",
                r.cells,
                file.display(),
                client.country(),
                r.changed
            );
            Ok(())
        }
        StatsCommand::Sync { access, peer } => {
            let client = operator_of(access)?;
            let r = runtime.block_on(sync_with(&client, peer))?;
            print!("{}", render_sync(&r));
            let failed = r
                .results
                .iter()
                .filter(|p| p.outcome != pb::SyncOutcome::Ok as i32)
                .count();
            if failed > 0 {
                bail!("{failed} of {} sync(s) did not complete", r.results.len());
            }
            Ok(())
        }
        StatsCommand::Status { access } => {
            let client = operator_of(access)?;
            let r = runtime.block_on(status_with(&client))?;
            let name = client.node_name().unwrap_or_else(|| "-".into());
            print!("{}", render_status(client.country().as_str(), &name, &r));
            Ok(())
        }
        StatsCommand::Export {
            access,
            format,
            period,
            country,
            output,
        } => {
            let client = operator_of(access)?;
            let rows = runtime.block_on(rows_with(&client, period.as_deref(), country))?;
            let format = match format {
                StatsFormat::Csv => Format::Csv,
                StatsFormat::SdmxCsv => Format::SdmxCsv,
            };
            match output {
                Some(path) => {
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(path)
                        .map_err(|e| {
                            anyhow!(UsageError(format!(
                                "{}: {e} (not overwritten)",
                                path.display()
                            )))
                        })?;
                    let mut w = std::io::BufWriter::new(f);
                    table::export(&rows, format, &mut w)?;
                    w.flush()?;
                    eprintln!("wrote {} cell(s) to {}", rows.len(), path.display());
                }
                None => {
                    let stdout = std::io::stdout();
                    table::export(&rows, format, stdout.lock())?;
                }
            }
            Ok(())
        }
        StatsCommand::Show {
            access,
            period,
            top,
            country,
        } => {
            let client = operator_of(access)?;
            let mut rows = runtime.block_on(rows_with(&client, None, country))?;
            // Without --period: the last complete month (the current one is still
            // counting), or the latest reported if nothing came before this month.
            let period = match period {
                Some(p) => Some(p.clone()),
                None => default_month(&rows, OffsetDateTime::now_utc()),
            };
            if let Some(p) = &period {
                let p = puente_stats::Period::parse(p)
                    .map_err(|e| anyhow!(UsageError(format!("--period: {e}"))))?;
                if p.is_day() {
                    bail!(UsageError("--period: give a month, YYYY-MM".into()));
                }
                let prev = p.previous();
                rows.retain(|r| {
                    let m = r.key.period.month_of();
                    m == p || Some(m) == prev
                });
                let mut text = table::summary(&rows, *top);
                // Keep only the asked month's blocks (the previous month served the change).
                text = keep_month(&text, &p.to_string());
                print!("{text}");
            } else {
                print!("{}", table::summary(&rows, *top));
            }
            Ok(())
        }
    }
}

/// The month `stats show` shows when none is asked for: the latest month before `now`'s
/// that any country reported, else the latest reported at all.
fn default_month(rows: &[Row], now: OffsetDateTime) -> Option<String> {
    let current =
        puente_stats::Period::parse(&format!("{:04}-{:02}", now.year(), u8::from(now.month())))
            .ok();
    let months = rows.iter().map(|r| r.key.period.month_of());
    let complete = months.clone().filter(|m| Some(*m) < current).max();
    complete.or_else(|| months.max()).map(|m| m.to_string())
}

fn keep_month(text: &str, month: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            keep = line
                .split_whitespace()
                .nth(1)
                .map(|m| m.trim_end_matches(':'))
                == Some(month);
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out = format!("No flow counts for {month}.\n");
    }
    out
}

fn node_error(client: &NodeClient, e: CallError) -> anyhow::Error {
    anyhow!("{}: {e}", client.describe())
}

fn operator(node: &LoadedNode) -> Result<NodeClient> {
    crate::access::node_client(node, Role::Operator)
}

/// Reads `file` and imports it through the node.
pub async fn import(node: &LoadedNode, file: &Path) -> Result<pb::ImportCellsResponse> {
    import_with(&operator(node)?, file).await
}

/// Reads `file` and imports it, as the node's own country's cells, through the node
/// behind `client`.
pub async fn import_with(client: &NodeClient, file: &Path) -> Result<pb::ImportCellsResponse> {
    let f = std::fs::File::open(file).map_err(|e| StatsError::Io {
        path: file.display().to_string(),
        source: e,
    })?;
    let cells = table::read_import(&file.display().to_string(), std::io::BufReader::new(f))?;
    let own = client.country().to_string();
    let cells: Vec<pb::FlowCell> = cells
        .into_iter()
        .map(|(k, n)| k.to_proto(&own, puente_stats::Value::Count(n), 1))
        .collect();
    let chunks: Vec<pb::ImportCellsRequest> = cells
        .chunks(CHUNK)
        .map(|c| pb::ImportCellsRequest { cells: c.to_vec() })
        .collect();
    client
        .import_cells(chunks)
        .await
        .map_err(|e| node_error(client, e))
}

/// `Local.SyncNow`.
pub async fn sync(node: &LoadedNode, peers: &[String]) -> Result<pb::SyncNowResponse> {
    sync_with(&operator(node)?, peers).await
}

/// `Local.SyncNow` through the node behind `client`.
pub async fn sync_with(client: &NodeClient, peers: &[String]) -> Result<pb::SyncNowResponse> {
    client
        .sync_now(peers)
        .await
        .map_err(|e| node_error(client, e))
}

/// `Local.GetSyncStatus` through the node behind `client`.
pub async fn status_with(client: &NodeClient) -> Result<pb::GetSyncStatusResponse> {
    client
        .sync_status()
        .await
        .map_err(|e| node_error(client, e))
}

/// Every cell the node holds (own and received), as table rows.
pub async fn rows(
    node: &LoadedNode,
    period: Option<&str>,
    countries: &[String],
) -> Result<Vec<Row>> {
    rows_with(&operator(node)?, period, countries).await
}

/// Every cell the node behind `client` holds (own and received), as table rows.
pub async fn rows_with(
    client: &NodeClient,
    period: Option<&str>,
    countries: &[String],
) -> Result<Vec<Row>> {
    if let Some(p) = period {
        puente_stats::Period::parse(p)
            .map_err(|e| anyhow!(UsageError(format!("--period: {e}"))))?;
    }
    let cells = client
        .list_cells(pb::ListCellsRequest {
            period: period.unwrap_or_default().to_string(),
            reporting_countries: countries.to_vec(),
        })
        .await
        .map_err(|e| node_error(client, e))?;
    let mut rows = Vec::new();
    for c in cells {
        let (key, value, version) = CellKey::from_proto(&c)
            .map_err(|e| anyhow!("the node sent a cell this client cannot read: {e}"))?;
        rows.push(Row {
            reporting: c.reporting_country,
            key,
            value,
            version,
        });
    }
    Ok(rows)
}

pub(crate) fn when(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .map(|t| {
            format!(
                "{} {:02}:{:02}:{:02}Z",
                t.date(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_else(|| "never".into())
}

fn outcome(o: i32) -> &'static str {
    match puente_node::stats::outcome_label(o) {
        "" => "-",
        s => s,
    }
}

/// Renders a `SyncNow` answer.
pub fn render_sync(r: &pb::SyncNowResponse) -> String {
    if r.results.is_empty() {
        return "No peer grants this country flow_counts under an agreement in force: nothing to sync.\n".into();
    }
    let mut s = String::new();
    for p in &r.results {
        s.push_str(&format!(
            "{}: {}, {} page(s), {} cell(s) stored{}{}\n",
            p.peer_country,
            outcome(p.outcome),
            p.pages,
            p.cells_received,
            if p.cosigned_size > 0 {
                format!(", audit log cosigned at size {}", p.cosigned_size)
            } else {
                String::new()
            },
            if p.error.is_empty() {
                String::new()
            } else {
                format!("\n  why: {}", p.error)
            }
        ));
    }
    s
}

/// Renders a `GetSyncStatus` answer of `country`'s node `name`.
pub fn render_status(country: &str, name: &str, r: &pb::GetSyncStatusResponse) -> String {
    let mut s = format!(
        "{} node {}: {} own cell(s), latest version {}; next scheduled sync: {}\n",
        country,
        name,
        r.own_cells,
        r.own_version,
        r.next_scheduled
            .as_ref()
            .map(|_| when(&r.next_scheduled))
            .unwrap_or_else(|| "none (stats.sync_at is empty)".into())
    );
    s.push_str(&format!(
        "  {:<6} {:<9} {:<14} {:<21} {:<21} {:>8} {:>9} {}\n",
        "PEER", "PERMITTED", "LAST OUTCOME", "LAST ATTEMPT", "LAST SUCCESS", "LAG", "CELLS", "NOTE"
    ));
    for p in &r.peers {
        let lag = if p.last_success.is_some() {
            let h = p.lag_seconds / 3600;
            let m = (p.lag_seconds % 3600) / 60;
            format!("{h}h{m:02}m")
        } else {
            "-".into()
        };
        let note = if p.running {
            "running now".to_string()
        } else if !p.error.is_empty() {
            format!(
                "{} failure(s) in a row: {}",
                p.consecutive_failures, p.error
            )
        } else {
            String::new()
        };
        s.push_str(&format!(
            "  {:<6} {:<9} {:<14} {:<21} {:<21} {:>8} {:>9} {}\n",
            p.peer_country,
            if p.permitted { "yes" } else { "no" },
            outcome(p.last_outcome),
            when(&p.last_attempt),
            when(&p.last_success),
            lag,
            p.cells_stored,
            note
        ));
    }
    s
}
