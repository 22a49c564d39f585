//! `puente status`: one screen of the own node for its operator or auditor: the node and
//! what runs out when (certificates, CRLs), each peer (reachable now, round trip; a down
//! peer shows why, not what was seen of it before), agreements in force with today's quota
//! use on both sides, the statistics sync, the audit log and each peer's last
//! cosignature, free disk. `--output json` gives the same for scripts and monitors.

use std::fmt::Write as _;

use anyhow::{anyhow, Context, Result};
use puente_client::NodeClient;
use puente_pki::Role;
use puente_policy::{Service, Term};
use puente_proto::v1 as pb;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::cli::{NodeAccess, Output};
use crate::stats::when;

/// A certificate that runs out within this many days is flagged.
const SOON_DAYS: i64 = 30;
/// A CRL is re-signed more often (a 30-day CRL would always look due): flagged when the
/// node itself starts warning about it.
const CRL_SOON_DAYS: i64 = puente_node::crl::CRL_WARNING_DAYS;

/// Everything `puente status` shows. The `Local` parts are `None` for an auditor (that
/// service serves operators only).
#[derive(Debug)]
pub struct Report {
    /// The node itself.
    pub node: pb::GetStatusResponse,
    /// Peers, checked now.
    pub peers: Option<pb::ListPeersResponse>,
    /// Agreements and today's quota use.
    pub agreements: Option<pb::ListAgreementsResponse>,
    /// The statistics sync.
    pub sync: Option<pb::GetSyncStatusResponse>,
}

/// Asks the node for everything the status screen shows (the operator's parts only with
/// an operator's certificate).
pub async fn gather(client: &NodeClient) -> Result<Report> {
    let ask = |e: puente_client::CallError| anyhow!("asking {}: {e}", client.describe());
    let node = client.node_status().await.map_err(ask)?;
    if client.role() != Role::Operator {
        return Ok(Report {
            node,
            peers: None,
            agreements: None,
            sync: None,
        });
    }
    let (peers, agreements, sync) = tokio::join!(
        client.list_peers(true),
        client.list_agreements(),
        client.sync_status()
    );
    Ok(Report {
        node,
        peers: Some(peers.map_err(ask)?),
        agreements: Some(agreements.map_err(ask)?),
        sync: Some(sync.map_err(ask)?),
    })
}

/// `puente status`.
pub fn run(access: &NodeAccess, output: Output) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let _in_runtime = runtime.enter();
    // An operator sees everything; an auditor's profile gets the node's own part.
    let (_access, client) = crate::access::client(access, Role::Operator)?;
    let report = runtime.block_on(gather(&client))?;
    match output {
        Output::Table => print!("{}", render(&report)),
        Output::Json => println!("{}", serde_json::to_string_pretty(&to_json(&report))?),
    }
    Ok(())
}

fn time_of(t: &Option<prost_types::Timestamp>) -> Option<OffsetDateTime> {
    t.as_ref()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
}

/// "in 12 days", "3 h ago", relative to `now`.
fn relative(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let d = t - now;
    let (past, d) = if d.is_negative() {
        (true, -d)
    } else {
        (false, d)
    };
    let text = if d.whole_days() >= 2 {
        format!("{} days", d.whole_days())
    } else if d.whole_hours() >= 1 {
        format!("{} h", d.whole_hours())
    } else {
        format!("{} min", d.whole_minutes())
    };
    if past {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

/// A wire duration in milliseconds.
fn millis(d: &prost_types::Duration) -> f64 {
    d.seconds as f64 * 1e3 + f64::from(d.nanos) / 1e6
}

fn bytes(n: u64) -> String {
    const GB: f64 = 1024.0 * 1024.0 * 1024.0;
    if n as f64 >= GB {
        format!("{:.1} GB", n as f64 / GB)
    } else {
        format!("{} MB", n / (1024 * 1024))
    }
}

/// The screen.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let n = &r.node;
    let now = time_of(&n.now).unwrap_or_else(OffsetDateTime::now_utc);
    let _ = writeln!(
        s,
        "{} node {} (puente {}), up since {}; {} persons held",
        n.country,
        n.node_name,
        n.software_version,
        when(&n.started_at),
        n.persons
    );
    let _ = writeln!(s, "\nRuns out");
    let width = n.material.iter().map(|m| m.what.len()).max().unwrap_or(0);
    for m in &n.material {
        let line = match time_of(&m.not_after) {
            Some(t) => {
                let soon = if m.what.starts_with("CRL") {
                    CRL_SOON_DAYS
                } else {
                    SOON_DAYS
                };
                let flag = if t < now {
                    "  EXPIRED"
                } else if t - now < time::Duration::days(soon) {
                    "  SOON"
                } else {
                    ""
                };
                let renew = if flag.is_empty() || m.renew_with.is_empty() {
                    String::new()
                } else {
                    format!(": {}", m.renew_with)
                };
                format!("{} ({}){flag}{renew}", t.date(), relative(t, now))
            }
            None if !m.problem.is_empty() => format!("unreadable: {}", m.problem),
            None => "no end".into(),
        };
        let _ = writeln!(s, "  {:<width$}  {line}", m.what);
    }
    match &r.peers {
        None => {
            let _ = writeln!(
                s,
                "\nPeers, agreements, statistics: an operator's certificate sees these"
            );
        }
        Some(p) => render_peers(&mut s, p),
    }
    if let Some(a) = &r.agreements {
        render_agreements(&mut s, a, &n.country, now);
    }
    if let Some(y) = &r.sync {
        render_sync(&mut s, y, now);
    }
    let _ = writeln!(s, "\nAudit log: {} entries", n.audit_entries);
    for w in &n.witnesses {
        let seen = if w.tree_size == 0 {
            "never cosigned it".to_string()
        } else {
            match time_of(&w.cosigned_at) {
                Some(t) => format!(
                    "cosigned it at size {}, {} ({})",
                    w.tree_size,
                    when(&w.cosigned_at),
                    relative(t, now)
                ),
                None => format!("cosigned it at size {}", w.tree_size),
            }
        };
        let _ = writeln!(s, "  {} {seen}", w.peer_country);
    }
    let _ = writeln!(
        s,
        "\nDisk: {} free (the node refuses exchanges below {})",
        if n.disk_free_bytes == 0 {
            "unknown".into()
        } else {
            bytes(n.disk_free_bytes)
        },
        bytes(n.disk_reserve_bytes)
    );
    s
}

fn render_peers(s: &mut String, p: &pb::ListPeersResponse) {
    let _ = writeln!(s, "\nPeers (checked now)");
    if p.peers.is_empty() {
        let _ = writeln!(s, "  none: add peers with `puente trust add`");
    }
    for peer in &p.peers {
        if peer.reachable {
            let rtt = peer
                .round_trip
                .as_ref()
                .map(|d| format!(", {:.1} ms", millis(d)))
                .unwrap_or_default();
            let until = time_of(&peer.certificate_not_after)
                .map(|t| format!(", certificate until {}", t.date()))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {} reachable at {} (node {}{rtt}{until})",
                peer.country, peer.address, peer.peer_node
            );
        } else {
            // What was seen of a peer before it went down is not shown as if current.
            let why = if peer.error.is_empty() {
                "not reached".to_string()
            } else {
                peer.error.clone()
            };
            let _ = writeln!(
                s,
                "  {} UNREACHABLE at {}: {why}",
                peer.country, peer.address
            );
        }
    }
}

fn quota(used: u32, limit: u32) -> String {
    if limit == 0 {
        format!("{used} (no daily cap)")
    } else {
        format!("{used}/{limit}")
    }
}

fn render_agreements(
    s: &mut String,
    a: &pb::ListAgreementsResponse,
    own: &str,
    now: OffsetDateTime,
) {
    let in_force: Vec<&pb::AgreementSummary> = a
        .agreements
        .iter()
        .filter(|x| x.state == pb::AgreementState::InForce as i32)
        .collect();
    let _ = writeln!(
        s,
        "\nAgreements in force ({}), quotas used today (UTC)",
        in_force.len()
    );
    for x in &in_force {
        // valid_until on the wire is the exclusive end: the last day is the one before.
        let until = time_of(&x.valid_until)
            .map(|t| {
                format!(
                    ", last day {} ({})",
                    (t - time::Duration::days(1)).date(),
                    relative(t, now)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(s, "  {}{until}", x.agreement_id);
        for g in &x.grants {
            let has = |svc: Service| g.services.contains(&(svc as i32));
            let mut parts = Vec::new();
            if has(Service::IdentityQuery) {
                parts.push(format!(
                    "queries {}",
                    quota(g.queries_used_today, g.queries_per_day)
                ));
            }
            if has(Service::PassportCopy) {
                parts.push(format!(
                    "copies {}",
                    quota(g.copies_used_today, g.copies_per_day)
                ));
            }
            if parts.is_empty() {
                continue;
            }
            let whose = if g.provider_country == own {
                format!("{} asks us", g.receiver_country)
            } else {
                format!(
                    "we ask {} (our count; {} counts what it enforces)",
                    g.provider_country, g.provider_country
                )
            };
            let _ = writeln!(s, "    {whose}: {}", parts.join(", "));
        }
    }
    let other = a.agreements.len() - in_force.len();
    if other > 0 {
        let _ = writeln!(s, "  {other} more not in force (see `puente agreements`)");
    }
}

fn render_sync(s: &mut String, y: &pb::GetSyncStatusResponse, now: OffsetDateTime) {
    let next = match time_of(&y.next_scheduled) {
        Some(t) => format!(
            "next run {} ({})",
            when(&y.next_scheduled),
            relative(t, now)
        ),
        None => "no schedule configured".into(),
    };
    let _ = writeln!(s, "\nStatistics sync: {next}; {} own cells", y.own_cells);
    for p in y.peers.iter().filter(|p| p.permitted) {
        let last = match time_of(&p.last_success) {
            Some(t) => format!(
                "last completed {} ({})",
                when(&p.last_success),
                relative(t, now)
            ),
            None => "never completed".into(),
        };
        let failing = if p.consecutive_failures > 0 {
            format!(
                "; {} failure(s) in a row: {}",
                p.consecutive_failures, p.error
            )
        } else {
            String::new()
        };
        let _ = writeln!(s, "  {} {last}{failing}", p.peer_country);
    }
}

fn ts(t: &Option<prost_types::Timestamp>) -> Value {
    match time_of(t) {
        Some(t) => json!(t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()),
        None => Value::Null,
    }
}

/// The report as JSON (times in RFC 3339, absent ones `null`).
pub fn to_json(r: &Report) -> Value {
    let n = &r.node;
    let mut v = json!({
        "country": n.country,
        "node": n.node_name,
        "version": n.software_version,
        "started_at": ts(&n.started_at),
        "now": ts(&n.now),
        "persons": n.persons,
        "material": n.material.iter().map(|m| json!({
            "what": m.what,
            "not_after": ts(&m.not_after),
            "problem": m.problem,
            "renew_with": m.renew_with,
        })).collect::<Vec<_>>(),
        "audit": {
            "entries": n.audit_entries,
            "witnesses": n.witnesses.iter().map(|w| json!({
                "peer": w.peer_country,
                "tree_size": w.tree_size,
                "cosigned_at": ts(&w.cosigned_at),
            })).collect::<Vec<_>>(),
        },
        "disk": { "free_bytes": n.disk_free_bytes, "reserve_bytes": n.disk_reserve_bytes },
    });
    if let Some(p) = &r.peers {
        v["peers"] = json!(p
            .peers
            .iter()
            .map(|p| if p.reachable {
                json!({
                    "country": p.country,
                    "address": p.address,
                    "reachable": true,
                    "node": p.peer_node,
                    "round_trip_ms": p.round_trip.as_ref().map(millis),
                    "certificate_not_after": ts(&p.certificate_not_after),
                })
            } else {
                json!({
                    "country": p.country,
                    "address": p.address,
                    "reachable": false,
                    "error": p.error,
                })
            })
            .collect::<Vec<_>>());
    }
    if let Some(a) = &r.agreements {
        v["agreements"] = json!(a
            .agreements
            .iter()
            .filter(|x| x.state == pb::AgreementState::InForce as i32)
            .map(|x| json!({
                "id": x.agreement_id,
                "valid_until": ts(&x.valid_until),
                "grants": x.grants.iter().map(|g| json!({
                    "provider": g.provider_country,
                    "receiver": g.receiver_country,
                    "services": g.services.iter().filter_map(|s| Service::from_number(*s)).map(|s| s.name()).collect::<Vec<_>>(),
                    "queries_used_today": g.queries_used_today,
                    "queries_per_day": g.queries_per_day,
                    "copies_used_today": g.copies_used_today,
                    "copies_per_day": g.copies_per_day,
                })).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>());
    }
    if let Some(y) = &r.sync {
        v["statistics"] = json!({
            "next_scheduled": ts(&y.next_scheduled),
            "own_cells": y.own_cells,
            "peers": y.peers.iter().filter(|p| p.permitted).map(|p| json!({
                "peer": p.peer_country,
                "last_success": ts(&p.last_success),
                "consecutive_failures": p.consecutive_failures,
                "error": p.error,
            })).collect::<Vec<_>>(),
        });
    }
    v
}
