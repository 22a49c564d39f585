//! `puente bench stats`: a full statistics sync of N cells between two real nodes on
//! 127.0.0.1 (mutual TLS, audit entries on both sides, receipts verified, cells and
//! watermarks stored durably), against a baseline measured in the same run: the same
//! pages pulled over the same mTLS link by a bare client that stores and audits nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use prost::Message;
use puente_node::LoadedNode;
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_stats::{CellKey, Period};

/// Two real nodes: MEX grants GTM flow counts.
async fn pair(page_size: u32) -> Result<crate::bench_fed::Running> {
    let grants = "\n[[grant]]\nprovider = \"MEX\"\nreceiver = \"GTM\"\nservices = [\"flow_counts\"]\npurposes = [\"statistics\"]\nfields = []\nlegal_basis = \"benchmark\"\nretention_days = 30\nsmall_cell_threshold = 5\nsecondary_suppression = true\n";
    let tweak = move |text: &str| {
        text.replace("sync_at = \"02:00\"", "sync_at = \"\"")
            .replace("page_size = 1000", &format!("page_size = {page_size}"))
    };
    crate::bench_fed::prepare(&["MEX", "GTM"], "BENCH-STATS", grants, &tweak)
        .await?
        .start()
        .await
}

/// `cells` synthetic cells: month totals and their days over several dimensions.
fn cells(n: u64) -> BTreeMap<CellKey, u64> {
    let nats = [
        "VEN", "HTI", "CUB", "ECU", "IND", "CHN", "SEN", "AFG", "BGD", "COL",
    ];
    let mut out = BTreeMap::new();
    let mut i = 0u64;
    'outer: for ep in 0.. {
        for nat in nats {
            for month in 1..=12u8 {
                let key = CellKey::new(
                    Period::month(2026, month).unwrap_or(Period::Month {
                        year: 2026,
                        month: 1,
                    }),
                    nat,
                    pb::Sex::Female,
                    pb::AgeGroup::Age1829,
                    &format!("EP-{ep:04}"),
                    pb::EncounterEvent::Entry,
                );
                let Ok(key) = key else { continue };
                let mut total = 0;
                for day in 1..=28u8 {
                    if i + 1 >= n {
                        break;
                    }
                    let c = 1 + (i * 7919) % 23;
                    total += c;
                    if let Ok(p) = Period::day(2026, month, day) {
                        out.insert(key.with_period(p), c);
                        i += 1;
                    }
                }
                out.insert(key, total);
                i += 1;
                if i >= n {
                    break 'outer;
                }
            }
        }
    }
    out.retain(|_, c| *c > 0);
    out
}

async fn bare_pull(node: &LoadedNode, peer: &LoadedNode, page_size: u32) -> Result<(u64, u64)> {
    let anchor = node
        .anchors()
        .into_iter()
        .find(|a| a.country == peer.country())
        .ok_or_else(|| anyhow!("no anchor for the peer"))?;
    let channel = puente_node::client::node_channel(
        &peer.advertise,
        &node.tls,
        &anchor,
        Duration::from_secs(5),
        Some(Duration::from_secs(60)),
    )
    .map_err(|e| anyhow!(e))?;
    let mut client = ExchangeClient::new(channel.channel);
    let mut watermark = Vec::new();
    let (mut cells, mut bytes) = (0u64, 0u64);
    loop {
        let page = client
            .pull_statistics(pb::PullStatisticsRequest {
                context: Some(pb::RequestContext {
                    purpose: pb::Purpose::Statistics as i32,
                    case_reference: "bench".into(),
                    operator_id: "bench".into(),
                    request_id: String::new(),
                    ..Default::default()
                }),
                since_watermark: watermark,
                page_size,
            })
            .await
            .map_err(|s| anyhow!("bare pull: {s}"))?
            .into_inner();
        bytes += page.encoded_len() as u64;
        cells += page.cells.len() as u64;
        watermark = page.next_watermark;
        if !page.has_more {
            return Ok((cells, bytes));
        }
    }
}

struct Pair {
    mex: LoadedNode,
    gtm: LoadedNode,
}

/// Runs the benchmark.
pub fn run(n: u64, page_size: u32) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let running = pair(page_size).await?;
        let (mex, gtm) = (running.nodes[0].clone(), running.nodes[1].clone());
        let p = Pair { mex, gtm };
        let own = cells(n);
        let file = running.dir.path().join("cells.csv");
        let mut text = String::from("period,nationality,sex,age_group,entry_point,event,count\n");
        for (k, c) in &own {
            text.push_str(&format!(
                "{},{},F,18-29,{},entry,{c}\n",
                k.period, k.nationality, k.entry_point
            ));
        }
        std::fs::write(&file, text)?;
        let t = Instant::now();
        let imported = crate::stats::import(&p.mex, &file).await?;
        let import_time = t.elapsed();
        println!(
            "Statistics sync benchmark: {} cells at MEX (imported in {:.2} s), pages of {page_size}, two nodes over mutual TLS on 127.0.0.1",
            imported.cells,
            import_time.as_secs_f64()
        );

        // Baseline: the same pages over the same kind of link, nothing stored or audited
        // on the receiving side.
        let t = Instant::now();
        let (bare_cells, bare_bytes) = bare_pull(&p.gtm, &p.mex, page_size).await?;
        let bare = t.elapsed();

        let t = Instant::now();
        let first = crate::stats::sync(&p.gtm, &["MEX".into()]).await?;
        let full = t.elapsed();
        let r = first.results.first().ok_or_else(|| anyhow!("no result"))?;
        if r.outcome != pb::SyncOutcome::Ok as i32 {
            bail!("the sync failed: {}", r.error);
        }
        if r.cells_received != bare_cells {
            bail!("the sync stored {} cells, the bare pull saw {bare_cells}", r.cells_received);
        }

        let t = Instant::now();
        let again = crate::stats::sync(&p.gtm, &["MEX".into()]).await?;
        let idle = t.elapsed();
        let a = again.results.first().ok_or_else(|| anyhow!("no result"))?;

        // Change 1 % of the cells, then sync incrementally.
        let mut update = String::from("period,nationality,sex,age_group,entry_point,event,count\n");
        for (k, c) in own.iter().step_by(100) {
            update.push_str(&format!(
                "{},{},F,18-29,{},entry,{}\n",
                k.period,
                k.nationality,
                k.entry_point,
                c + 50
            ));
        }
        let file2 = running.dir.path().join("update.csv");
        std::fs::write(&file2, update)?;
        let changed = crate::stats::import(&p.mex, &file2).await?;
        let t = Instant::now();
        let inc = crate::stats::sync(&p.gtm, &["MEX".into()]).await?;
        let inc_time = t.elapsed();
        let i = inc.results.first().ok_or_else(|| anyhow!("no result"))?;

        let per_s = |c: u64, d: Duration| c as f64 / d.as_secs_f64().max(1e-9);
        println!();
        println!("  {:<48} {:>10} {:>8} {:>12} {:>12}", "", "time", "pages", "cells", "bytes");
        println!(
            "  {:<48} {:>8.3} s {:>8} {:>12} {:>12}",
            "baseline: bare mTLS pull, nothing stored",
            bare.as_secs_f64(),
            bare_cells.div_ceil(u64::from(page_size)),
            bare_cells,
            bare_bytes
        );
        println!(
            "  {:<48} {:>8.3} s {:>8} {:>12} {:>12}",
            "full sync (audit both sides, receipts, durable)",
            full.as_secs_f64(),
            r.pages,
            r.cells_received,
            r.bytes_received
        );
        println!(
            "  {:<48} {:>8.3} s {:>8} {:>12} {:>12}",
            "incremental sync, nothing changed",
            idle.as_secs_f64(),
            a.pages,
            a.cells_received,
            a.bytes_received
        );
        println!(
            "  {:<48} {:>8.3} s {:>8} {:>12} {:>12}",
            format!("incremental sync, {} cells changed", changed.changed),
            inc_time.as_secs_f64(),
            i.pages,
            i.cells_received,
            i.bytes_received
        );
        println!();
        println!(
            "  full sync: {:.0} cells/s, {:.1} bytes/cell on the wire (protobuf), {:.2}x the bare pull's time",
            per_s(r.cells_received, full),
            r.bytes_received as f64 / r.cells_received.max(1) as f64,
            full.as_secs_f64() / bare.as_secs_f64().max(1e-9)
        );
        println!(
            "  reproduce: cargo run --release -- bench stats --cells {n} --page-size {page_size}"
        );
        running.stop().await.map(|_| ())
    })
}
