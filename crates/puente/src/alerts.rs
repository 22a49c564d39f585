//! `puente alert …`: early warnings through the running node (as its operator).

use anyhow::{anyhow, bail, Context, Result};
use puente_client::{CallError, NodeClient};
use puente_node::config::LoadedNode;
use puente_pki::Role;
use puente_proto::v1 as pb;
use time::OffsetDateTime;

use crate::cli::{AlertCommand, AlertPublishArgs, NodeAccess, Output, SeverityArg};
use crate::officer::UsageError;

/// Runs an `alert` subcommand.
pub fn run(command: &AlertCommand) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // Channels are made inside the runtime.
    let _in_runtime = runtime.enter();
    match command {
        AlertCommand::Publish(args) => {
            let request = publish_request(args)?;
            let client = operator_of(&args.access)?;
            let r = runtime.block_on(issue_with(&client, request))?;
            let record = r.record.unwrap_or_default();
            print!("{}", render_record(&record));
            Ok(())
        }
        AlertCommand::Drafts { access, no_detect } => {
            let client = operator_of(access)?;
            let r = runtime.block_on(drafts_with(&client, !no_detect))?;
            print!("{}", render_drafts(&r));
            Ok(())
        }
        AlertCommand::List {
            access,
            all,
            country,
            output,
        } => {
            let client = operator_of(access)?;
            let r = runtime.block_on(list_with(&client, *all, country))?;
            match output {
                Output::Table => print!("{}", render_list(&r)),
                Output::Json => {
                    for rec in &r.alerts {
                        println!("{}", json_of(rec));
                    }
                }
            }
            Ok(())
        }
    }
}

fn publish_request(args: &AlertPublishArgs) -> Result<pb::IssueAlertRequest> {
    let severity = args.severity.map(|s| match s {
        SeverityArg::Info => pb::Severity::Info,
        SeverityArg::Warning => pb::Severity::Warning,
        SeverityArg::Critical => pb::Severity::Critical,
    });
    if args.draft.is_none() && (severity.is_none() || args.text.is_none()) {
        bail!(UsageError(
            "give --severity and --text for your own alert, or --draft ID to publish a draft (see `puente alert drafts`)".into()
        ));
    }
    let period = match &args.period {
        Some(p) => Some(
            puente_stats::Period::parse(p)
                .map_err(|e| anyhow!(UsageError(format!("--period: {e}"))))?
                .to_proto(),
        ),
        None => None,
    };
    Ok(pb::IssueAlertRequest {
        draft_id: args.draft.clone().unwrap_or_default(),
        severity: severity.map(|s| s as i32).unwrap_or(0),
        text: args.text.clone().unwrap_or_default(),
        nationalities: args.nationality.clone(),
        entry_points: args.entry_point.clone(),
        route_countries: args.route.clone(),
        period,
        observed_count: args.observed,
        baseline_count: args.baseline,
        expires_in_hours: args.expires_in_hours,
    })
}

fn operator_of(access: &NodeAccess) -> Result<NodeClient> {
    Ok(crate::access::client(access, Role::Operator)?.1)
}

fn operator(node: &LoadedNode) -> Result<NodeClient> {
    crate::access::node_client(node, Role::Operator)
}

fn node_error(client: &NodeClient, e: CallError) -> anyhow::Error {
    let bad_input = e.is_bad_input();
    let e = anyhow!("{}: {e}", client.describe());
    if bad_input {
        anyhow!(UsageError(e.to_string()))
    } else {
        e
    }
}

/// `Local.IssueAlert`.
pub async fn issue(node: &LoadedNode, r: pb::IssueAlertRequest) -> Result<pb::IssueAlertResponse> {
    issue_with(&operator(node)?, r).await
}

/// `Local.IssueAlert` through the node behind `client`.
pub async fn issue_with(
    client: &NodeClient,
    r: pb::IssueAlertRequest,
) -> Result<pb::IssueAlertResponse> {
    client
        .issue_alert(r)
        .await
        .map_err(|e| node_error(client, e))
}

/// `Local.ListAlertDrafts`.
pub async fn drafts(node: &LoadedNode, detect: bool) -> Result<pb::ListAlertDraftsResponse> {
    drafts_with(&operator(node)?, detect).await
}

/// `Local.ListAlertDrafts` through the node behind `client`.
pub async fn drafts_with(client: &NodeClient, detect: bool) -> Result<pb::ListAlertDraftsResponse> {
    client
        .list_alert_drafts(detect)
        .await
        .map_err(|e| node_error(client, e))
}

/// `Local.ListAlerts`.
pub async fn list(
    node: &LoadedNode,
    all: bool,
    countries: &[String],
) -> Result<pb::ListAlertsResponse> {
    list_with(&operator(node)?, all, countries).await
}

/// `Local.ListAlerts` through the node behind `client`.
pub async fn list_with(
    client: &NodeClient,
    all: bool,
    countries: &[String],
) -> Result<pb::ListAlertsResponse> {
    client
        .list_alerts(pb::ListAlertsRequest {
            include_expired: all,
            issuing_countries: countries.to_vec(),
        })
        .await
        .map_err(|e| node_error(client, e))
}

fn when(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .map(|t| format!("{} {:02}:{:02}Z", t.date(), t.hour(), t.minute()))
        .unwrap_or_else(|| "-".into())
}

fn severity(s: i32) -> &'static str {
    match pb::Severity::try_from(s) {
        Ok(pb::Severity::Info) => "INFO",
        Ok(pb::Severity::Warning) => "WARNING",
        Ok(pb::Severity::Critical) => "CRITICAL",
        _ => "?",
    }
}

fn state(s: i32) -> &'static str {
    match pb::DeliveryState::try_from(s) {
        Ok(pb::DeliveryState::Pending) => "pending (retrying)",
        Ok(pb::DeliveryState::Delivered) => "delivered",
        Ok(pb::DeliveryState::NotPermitted) => "not sent: no agreement grants it alerts",
        Ok(pb::DeliveryState::Refused) => "refused",
        Ok(pb::DeliveryState::Expired) => "expired before delivery",
        _ => "?",
    }
}

/// One alert, readable.
pub fn render_record(r: &pb::AlertRecord) -> String {
    let Some(a) = &r.alert else {
        return String::new();
    };
    let mut s = format!(
        "{} {} from {} (id {}){}\n  {}\n",
        severity(a.severity),
        if r.issued_here {
            "alert issued"
        } else {
            "alert received"
        },
        a.issuing_country,
        a.alert_id,
        if r.expired { ", EXPIRED" } else { "" },
        a.text
    );
    let mut facts = Vec::new();
    if !a.nationalities.is_empty() {
        facts.push(format!("nationalities {}", a.nationalities.join(", ")));
    }
    if !a.entry_points.is_empty() {
        facts.push(format!("entry points {}", a.entry_points.join(", ")));
    }
    if !a.route_countries.is_empty() {
        facts.push(format!("route {}", a.route_countries.join(" → ")));
    }
    if let Ok(p) = puente_stats::Period::from_proto(a.period.as_ref()) {
        facts.push(format!("period {p}"));
    }
    if a.observed_count > 0 || a.baseline_count > 0 {
        facts.push(format!(
            "observed {} against a baseline of {}",
            a.observed_count, a.baseline_count
        ));
    }
    if !facts.is_empty() {
        s.push_str(&format!("  {}\n", facts.join("; ")));
    }
    s.push_str(&format!(
        "  issued {}, expires {}, signed with key {}\n",
        when(&a.issued_at),
        when(&a.expires_at),
        a.key_name
    ));
    if !r.issued_here {
        s.push_str(&format!(
            "  received {} (signature verified against {}'s key in the trust bundle)\n",
            when(&r.received_at),
            a.issuing_country
        ));
    }
    for d in &r.deliveries {
        s.push_str(&format!(
            "  → {}: {}{}\n",
            d.peer_country,
            state(d.state),
            if d.error.is_empty() || d.state == pb::DeliveryState::NotPermitted as i32 {
                String::new()
            } else {
                format!(" ({})", d.error)
            }
        ));
    }
    s
}

/// The alert list, readable.
pub fn render_list(r: &pb::ListAlertsResponse) -> String {
    if r.alerts.is_empty() {
        return format!("No alerts to show ({} active in all).\n", r.active);
    }
    let mut s = format!(
        "{} alert(s) shown, {} active in all\n",
        r.alerts.len(),
        r.active
    );
    for rec in &r.alerts {
        s.push('\n');
        s.push_str(&render_record(rec));
    }
    s
}

/// The drafts, readable.
pub fn render_drafts(r: &pb::ListAlertDraftsResponse) -> String {
    let open: Vec<_> = r.drafts.iter().filter(|d| !d.published).collect();
    if open.is_empty() {
        return "No open drafts: no surge in this country's flow counts needs review.\n".into();
    }
    let mut s = String::new();
    for d in open {
        let a = d.proposed.clone().unwrap_or_default();
        s.push_str(&format!(
            "draft {}  [{}]\n  {}\n  why: {}\n  publish: puente alert publish --profile … --draft {}\n\n",
            d.draft_id,
            severity(a.severity),
            a.text,
            d.reason,
            d.draft_id
        ));
    }
    s
}

fn json_of(r: &pb::AlertRecord) -> String {
    let a = r.alert.clone().unwrap_or_default();
    serde_json::json!({
        "alert_id": a.alert_id,
        "issuing_country": a.issuing_country,
        "severity": severity(a.severity),
        "text": a.text,
        "nationalities": a.nationalities,
        "entry_points": a.entry_points,
        "route_countries": a.route_countries,
        "observed_count": a.observed_count,
        "baseline_count": a.baseline_count,
        "issued_here": r.issued_here,
        "expired": r.expired,
        "issued_at": a.issued_at.map(|t| t.seconds),
        "expires_at": a.expires_at.map(|t| t.seconds),
        "deliveries": r.deliveries.iter().map(|d| serde_json::json!({
            "peer": d.peer_country,
            "state": state(d.state),
            "attempts": d.attempts,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}
