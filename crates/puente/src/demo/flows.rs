//! The demo's flow statistics: each country adds aggregated daily counts (as a country
//! holding only aggregates would, `puente stats import`), the nodes run the nightly sync
//! (`puente stats sync`), and MEX shows the regional matrix with suppressed cells.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use puente_node::LoadedNode;
use puente_proto::v1 as pb;
use puente_stats::table::{self, Format};
use puente_stats::{Suppression, Value};
use time::Date;

/// Nationalities of the synthetic aggregates, with a base daily volume.
const NATIONALITIES: [(&str, u64); 6] = [
    ("VEN", 9),
    ("HTI", 6),
    ("CUB", 4),
    ("ECU", 3),
    ("IND", 2),
    ("CHN", 1),
];

/// Entry points per country (each a busy, a medium and a quiet one).
fn entry_points(country: &str) -> [(&'static str, u64); 3] {
    match country {
        "MEX" => [
            ("Tapachula", 3),
            ("Ciudad Hidalgo", 2),
            ("AICM Mexico City", 1),
        ],
        "GTM" => [("Tecún Umán", 3), ("El Ceibo", 2), ("La Aurora airport", 1)],
        _ => [
            ("Paso Canoas", 3),
            ("Peñas Blancas", 2),
            ("Juan Santamaría airport", 1),
        ],
    }
}

/// Days of synthetic history.
pub const DAYS: i64 = 84;

/// A deterministic pseudo-random number in 0..n from a key.
fn noise(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % n.max(1)
}

/// Daily counts for the `DAYS` days before `today` (and their month totals), as an
/// import file. If `surge` names a (nationality, entry point), its counts rise fourfold
/// over the last 14 days.
pub fn aggregates_csv(country: &str, today: Date, surge: Option<(&str, &str)>) -> String {
    let mut days: BTreeMap<(String, &str, &str, &str, &str, &str), u64> = BTreeMap::new();
    let mut s = String::from("period,nationality,sex,age_group,entry_point,event,count\n");
    let mut months: BTreeMap<(String, &str, &str, &str, &str, &str), u64> = BTreeMap::new();
    for back in 1..=DAYS {
        let day = today - time::Duration::days(back);
        for (ni, (nat, base)) in NATIONALITIES.iter().enumerate() {
            for (ei, (ep, weight)) in entry_points(country).iter().enumerate() {
                for (vi, event) in ["entry", "detection"].iter().enumerate() {
                    for (si, sex) in ["F", "M"].iter().enumerate() {
                        for (ai, age) in ["18-29", "30-44"].iter().enumerate() {
                            let seed = (back as u64) << 20
                                | (ni as u64) << 12
                                | (ei as u64) << 8
                                | (vi as u64) << 4
                                | (si as u64) << 2
                                | ai as u64;
                            let mean = base * weight / (1 + vi as u64 + ai as u64);
                            let mut n = mean + noise(seed ^ country.len() as u64, mean + 2);
                            if surge == Some((nat, ep)) && back <= 14 {
                                n = n * 4 + 6;
                            }
                            let key = (day.to_string(), *nat, *sex, *age, *ep, *event);
                            days.insert(key, n);
                            let month = format!("{}-{:02}", day.year(), day.month() as u8);
                            *months
                                .entry((month, *nat, *sex, *age, *ep, *event))
                                .or_default() += n;
                        }
                    }
                }
            }
        }
    }
    for map in [&months, &days] {
        for ((p, nat, sex, age, ep, event), n) in map {
            let _ = writeln!(s, "{p},{nat},{sex},{age},{ep},{event},{n}");
        }
    }
    s
}

/// Imports each country's aggregates through its node, syncs every node with its peers,
/// and shows MEX's regional matrix.
pub async fn story(base: &Path, loaded: &[LoadedNode], failures: &mut Vec<String>) -> Result<()> {
    let today = time::OffsetDateTime::now_utc().date();
    for node in loaded {
        let country = node.country().to_string();
        let surge = (country == "MEX").then_some(("HTI", "Tapachula"));
        let file = base.join(&country).join("flow-aggregates.csv");
        std::fs::write(&file, aggregates_csv(&country, today, surge))
            .with_context(|| format!("writing {}", file.display()))?;
        let r = crate::stats::import(node, &file).await?;
        println!(
            "  {country}: puente stats import {} -> {} cells (plus the cells its node aggregated from its own encounter records)",
            file.file_name().unwrap_or_default().to_string_lossy(),
            r.cells
        );
    }
    println!();
    println!("  The nightly sync, run now (puente stats sync): each node pulls from every peer whose agreement grants it flow_counts.");
    for node in loaded {
        let r = crate::stats::sync(node, &[]).await?;
        for line in crate::stats::render_sync(&r).lines() {
            println!("  {} <- {line}", node.country());
        }
        for p in &r.results {
            if p.outcome != pb::SyncOutcome::Ok as i32 {
                failures.push(format!(
                    "{} syncing {}: {}",
                    node.country(),
                    p.peer_country,
                    p.error
                ));
            }
        }
    }
    // CRI grants MEX no flow counts: MEX's node does not even ask.
    let refused = crate::stats::sync(&loaded[0], &["CRI".to_string()]).await?;
    for p in &refused.results {
        println!(
            "  MEX <- CRI asked by name: {} ({})",
            crate::stats::render_sync(&refused)
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("CRI: "),
            if p.outcome == pb::SyncOutcome::NotPermitted as i32 {
                "as the MEX-CRI agreement says"
            } else {
                "UNEXPECTED"
            }
        );
        if p.outcome != pb::SyncOutcome::NotPermitted as i32 {
            failures.push("MEX synced from CRI without a grant".into());
        }
    }

    println!();
    println!("  The regional matrix at MEX (puente stats show): own cells exact, received cells as disclosed.");
    let rows = crate::stats::rows(&loaded[0], None, &[]).await?;
    let last_month = (today - time::Duration::days(1)).month_of_year();
    let text = table::summary(&rows, 3);
    // Only the latest month's blocks, to keep the demo short.
    let mut show = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            show = line.contains(&last_month);
        }
        if show {
            println!("  {line}");
        }
    }
    let mut by_country: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for r in &rows {
        let e = by_country.entry(r.reporting.as_str()).or_default();
        match r.value {
            Value::Count(_) => e.0 += 1,
            Value::Suppressed(Suppression::Primary) => e.1 += 1,
            Value::Suppressed(Suppression::Secondary) => e.2 += 1,
        }
    }
    println!();
    for (c, (open, primary, secondary)) in &by_country {
        println!("  cells reported by {c}: {open} disclosed, {primary} suppressed as small cells, {secondary} suppressed as complements");
    }
    if by_country.get("GTM").is_none_or(|v| v.1 == 0) {
        failures.push("MEX received no suppressed cell from GTM".into());
    }
    if by_country.contains_key("CRI") {
        failures.push("MEX holds cells from CRI, which grants it none".into());
    } else {
        println!("  cells reported by CRI: none (CRI grants MEX no flow counts)");
    }
    let path = base.join("MEX").join("regional-matrix.sdmx.csv");
    let mut out = Vec::new();
    table::export(&rows, Format::SdmxCsv, &mut out)?;
    std::fs::write(&path, &out).with_context(|| format!("writing {}", path.display()))?;
    let text = String::from_utf8_lossy(&out);
    let mut lines = text.lines();
    println!();
    println!(
        "  puente stats export --format sdmx-csv wrote {} rows to {}; for example:",
        rows.len(),
        path.display()
    );
    if let Some(h) = lines.next() {
        println!("    {h}");
    }
    let open = text
        .lines()
        .find(|l| l.contains(",GTM,") && l.ends_with(",F"));
    let small = text
        .lines()
        .find(|l| l.contains(",GTM,") && l.ends_with(",,A"));
    let comp = text.lines().find(|l| l.ends_with(",,D"));
    for l in [open, small, comp].into_iter().flatten() {
        println!("    {l}");
    }
    Ok(())
}

trait MonthOfYear {
    fn month_of_year(&self) -> String;
}

impl MonthOfYear for Date {
    fn month_of_year(&self) -> String {
        format!("{}-{:02}", self.year(), self.month() as u8)
    }
}

/// MEX's node drafts an alert from the surge in its counts; an operator reviews and
/// publishes it; it reaches GTM (granted alerts) and not CRI (not granted).
pub async fn alert_story(loaded: &[LoadedNode], failures: &mut Vec<String>) -> Result<()> {
    let mex = &loaded[0];
    let drafts = crate::alerts::drafts(mex, true).await?;
    let Some(draft) = drafts.drafts.iter().find(|d| !d.published) else {
        failures.push("MEX's node drafted no alert from the surge in its counts".into());
        return Ok(());
    };
    println!("  MEX's node found a surge in its own flow counts and drafted an alert (puente alert drafts):");
    for line in crate::alerts::render_drafts(&drafts)
        .lines()
        .filter(|l| !l.is_empty())
    {
        println!("    {line}");
    }
    println!("  Nothing has been sent. MEX's duty officer reviews it and publishes it (puente alert publish --draft …):");
    let issued = crate::alerts::issue(
        mex,
        pb::IssueAlertRequest {
            draft_id: draft.draft_id.clone(),
            ..Default::default()
        },
    )
    .await?;
    let record = issued.record.unwrap_or_default();
    for line in crate::alerts::render_record(&record).lines() {
        println!("    {line}");
    }
    for node in &loaded[1..] {
        let list = crate::alerts::list(node, false, &[]).await?;
        let got = list.alerts.iter().any(|r| {
            !r.issued_here
                && r.alert
                    .as_ref()
                    .is_some_and(|a| a.alert_id == draft.draft_id)
        });
        println!(
            "  {} (puente alert list): {}",
            node.country(),
            if got {
                "received it, signature verified against MEX's key"
            } else {
                "has not received it"
            }
        );
        let expected = node.country().as_str() == "GTM";
        if got != expected {
            failures.push(format!(
                "the alert {} {} but should {}",
                if got { "reached" } else { "did not reach" },
                node.country(),
                if expected { "have" } else { "not have" }
            ));
        }
    }
    Ok(())
}
