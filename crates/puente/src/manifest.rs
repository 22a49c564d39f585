//! `puente manifest submit/list/show`: carriers send manifests to their own node;
//! officers read them, with what the own records know of each passenger.

use anyhow::{anyhow, Context, Result};
use puente_client::NodeClient;
use puente_pki::Role;
use puente_proto::v1 as pb;

use crate::cli::{ManifestCommand, ManifestFormatArg, Output};

/// Runs one `puente manifest …` command.
pub fn run(command: &ManifestCommand) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let _in_runtime = runtime.enter();
    match command {
        ManifestCommand::Submit {
            access,
            format,
            file,
        } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let (_access, client) = crate::access::client(access, Role::Operator)?;
            let r = runtime.block_on(submit_with(&client, bytes, *format))?;
            print!("{}", render_submitted(&r));
            Ok(())
        }
        ManifestCommand::List {
            access,
            carrier,
            max,
            output,
        } => {
            let (_access, client) = crate::access::client(access, Role::Operator)?;
            let req = pb::ListManifestsRequest {
                carrier: carrier.clone().unwrap_or_default(),
                max_results: *max,
            };
            let r = runtime.block_on(async {
                client
                    .manifest()
                    .list_manifests(req)
                    .await
                    .map(|r| r.into_inner())
                    .map_err(|s| anyhow!(client.refused(&s, Role::Operator)))
            })?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&list_json(&r))?),
                Output::Table => print!("{}", render_list(&r)),
            }
            Ok(())
        }
        ManifestCommand::Check {
            access,
            peer,
            purpose,
            case,
            id,
            format,
            file,
            output,
        } => {
            let purpose = crate::officer::purpose(purpose)?;
            let manifest = match file {
                Some(f) => Some(pb::SubmitManifestRequest {
                    format: proto_format(*format) as i32,
                    content: std::fs::read(f)
                        .with_context(|| format!("reading {}", f.display()))?,
                    file_name: String::new(),
                }),
                None => None,
            };
            let (_access, client) = crate::access::client(access, Role::Operator)?;
            let req = pb::CheckWithPeerRequest {
                peer_country: peer.to_ascii_uppercase(),
                context: Some(pb::RequestContext {
                    purpose: purpose as i32,
                    case_reference: case.clone(),
                    ..Default::default()
                }),
                manifest,
                manifest_id: id.clone().unwrap_or_default(),
            };
            let r = runtime.block_on(check_with(&client, req))?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&check_json(&r))?),
                Output::Table => print!("{}", render_check(peer, &r)),
            }
            Ok(())
        }
        ManifestCommand::Show { access, id, output } => {
            let (_access, client) = crate::access::client(access, Role::Operator)?;
            let req = pb::GetManifestRequest {
                manifest_id: id.clone(),
            };
            let r = runtime.block_on(async {
                client
                    .manifest()
                    .get_manifest(req)
                    .await
                    .map(|r| r.into_inner())
                    .map_err(|s| anyhow!(client.refused(&s, Role::Operator)))
            })?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&show_json(&r))?),
                Output::Table => print!("{}", render_show(&r)),
            }
            Ok(())
        }
    }
}

fn proto_format(f: Option<ManifestFormatArg>) -> pb::ManifestFormat {
    match f {
        None => pb::ManifestFormat::Unspecified,
        Some(ManifestFormatArg::Paxlst) => pb::ManifestFormat::Paxlst,
        Some(ManifestFormatArg::BusJson) => pb::ManifestFormat::BusJson,
        Some(ManifestFormatArg::BusCsv) => pb::ManifestFormat::BusCsv,
    }
}

/// `Manifest.Submit` of `bytes` (the demo and the tests call it too).
pub async fn submit_with(
    client: &NodeClient,
    bytes: Vec<u8>,
    format: Option<ManifestFormatArg>,
) -> Result<pb::SubmitManifestResponse> {
    let req = pb::SubmitManifestRequest {
        format: proto_format(format) as i32,
        content: bytes,
        file_name: String::new(),
    };
    client
        .manifest()
        .submit(req)
        .await
        .map(|r| r.into_inner())
        .map_err(|s| anyhow!(client.refused(&s, client.role())))
}

fn route(s: &pb::ManifestSummary) -> String {
    s.route
        .iter()
        .map(|r| {
            let mark = if r.border_crossing { "⟂ " } else { "" };
            if r.country.is_empty() {
                format!("{mark}{}", r.place)
            } else {
                format!("{mark}{} ({})", r.place, r.country)
            }
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

fn format_name(f: i32) -> &'static str {
    match pb::ManifestFormat::try_from(f) {
        Ok(pb::ManifestFormat::Paxlst) => "PAXLST",
        Ok(pb::ManifestFormat::BusJson) => "bus JSON",
        Ok(pb::ManifestFormat::BusCsv) => "bus CSV",
        _ => "?",
    }
}

fn date(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// What `manifest submit` prints.
pub fn render_submitted(r: &pb::SubmitManifestResponse) -> String {
    let s = r.summary.clone().unwrap_or_default();
    format!(
        "Manifest {} stored: {} {} of {}, {} passengers.\n  Route: {}\n  Departure {}, arrival {}; enters at {}.\n  Kept until {}, then erased. Audit entry {}.\n",
        r.manifest_id,
        format_name(s.format),
        s.trip,
        s.carrier,
        s.passengers,
        route(&s),
        if s.departure.is_empty() { "-" } else { &s.departure },
        if s.arrival.is_empty() { "-" } else { &s.arrival },
        if s.entry_point.is_empty() { "-" } else { &s.entry_point },
        date(&s.erase_after),
        r.audit_entry,
    )
}

fn render_list(r: &pb::ListManifestsResponse) -> String {
    if r.manifests.is_empty() {
        return "No manifests held.\n".into();
    }
    let mut out = format!(
        "{:<30} {:<9} {:<12} {:<22} {:>5}  {:<17} {}\n",
        "ID", "FORMAT", "TRIP", "CARRIER", "PAX", "ARRIVAL", "ENTRY POINT"
    );
    for s in &r.manifests {
        out.push_str(&format!(
            "{:<30} {:<9} {:<12} {:<22} {:>5}  {:<17} {}\n",
            s.manifest_id,
            format_name(s.format),
            s.trip,
            s.carrier.chars().take(22).collect::<String>(),
            s.passengers,
            s.arrival,
            s.entry_point
        ));
    }
    out
}

fn pdate(d: &Option<pb::PartialDate>) -> String {
    match d {
        Some(d) if d.year > 0 => {
            let mut s = format!("{:04}", d.year);
            if d.month > 0 {
                s.push_str(&format!("-{:02}", d.month));
                if d.day > 0 {
                    s.push_str(&format!("-{:02}", d.day));
                }
            }
            s
        }
        _ => String::new(),
    }
}

fn sex(n: i32) -> &'static str {
    match pb::Sex::try_from(n) {
        Ok(pb::Sex::Male) => "M",
        Ok(pb::Sex::Female) => "F",
        Ok(pb::Sex::X) => "X",
        _ => "?",
    }
}

fn render_show(r: &pb::GetManifestResponse) -> String {
    let s = r.summary.clone().unwrap_or_default();
    let known = r.passengers.iter().filter(|p| !p.known.is_empty()).count();
    let mut out = format!(
        "{} {} of {} (submitted by {})\n  Route: {}\n  Departure {}, arrival {}; enters at {}.\n  {} passengers, {} known to the own records.\n\n",
        format_name(s.format),
        s.trip,
        s.carrier,
        s.submitted_by,
        route(&s),
        if s.departure.is_empty() { "-" } else { &s.departure },
        if s.arrival.is_empty() { "-" } else { &s.arrival },
        s.entry_point,
        s.passengers,
        known
    );
    out.push_str(&format!(
        "{:>4}  {:<36} {:<10} {:<3} {:<4} {:<22} {}\n",
        "#", "NAME", "BORN", "SEX", "NAT", "DOCUMENT", "KNOWN"
    ));
    for (i, p) in r.passengers.iter().enumerate() {
        let known = p
            .known
            .iter()
            .map(|k| format!("{} by {} ({:.2})", k.record_id, k.matched_by, k.score))
            .collect::<Vec<_>>()
            .join("; ");
        let doc = if p.document_number.is_empty() {
            String::new()
        } else {
            format!("{} {}", p.issuing_state, p.document_number)
        };
        out.push_str(&format!(
            "{:>4}  {:<36} {:<10} {:<3} {:<4} {:<22} {}\n",
            i + 1,
            format!("{}, {}", p.surnames, p.given_names)
                .chars()
                .take(36)
                .collect::<String>(),
            pdate(&p.date_of_birth),
            sex(p.sex),
            p.nationality,
            doc,
            if known.is_empty() { "-".into() } else { known }
        ));
    }
    out
}

fn summary_json(s: &pb::ManifestSummary) -> serde_json::Value {
    serde_json::json!({
        "manifest_id": s.manifest_id,
        "submitted_by": s.submitted_by,
        "carrier": s.carrier,
        "trip": s.trip,
        "format": format_name(s.format),
        "route": s.route.iter().map(|r| serde_json::json!({
            "place": r.place, "country": r.country, "border_crossing": r.border_crossing
        })).collect::<Vec<_>>(),
        "departure": s.departure,
        "arrival": s.arrival,
        "entry_point": s.entry_point,
        "passengers": s.passengers,
        "erase_after": date(&s.erase_after),
    })
}

fn list_json(r: &pb::ListManifestsResponse) -> serde_json::Value {
    serde_json::Value::Array(r.manifests.iter().map(summary_json).collect())
}

fn show_json(r: &pb::GetManifestResponse) -> serde_json::Value {
    serde_json::json!({
        "summary": r.summary.as_ref().map(summary_json),
        "passengers": r.passengers.iter().map(|p| serde_json::json!({
            "given_names": p.given_names,
            "surnames": p.surnames,
            "date_of_birth": pdate(&p.date_of_birth),
            "sex": sex(p.sex),
            "nationality": p.nationality,
            "document_number": p.document_number,
            "issuing_state": p.issuing_state,
            "known": p.known.iter().map(|k| serde_json::json!({
                "record_id": k.record_id, "matched_by": k.matched_by, "score": k.score
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// `Manifest.CheckWithPeer` (the demo, the bench and the tests call it too).
pub async fn check_with(
    client: &NodeClient,
    req: pb::CheckWithPeerRequest,
) -> Result<pb::CheckWithPeerResponse> {
    client
        .manifest()
        .check_with_peer(req)
        .await
        .map(|r| r.into_inner())
        .map_err(|s| anyhow!(client.refused(&s, Role::Operator)))
}

fn outcome(n: i32) -> &'static str {
    match pb::MatchOutcome::try_from(n) {
        Ok(pb::MatchOutcome::Match) => "match",
        Ok(pb::MatchOutcome::NoMatch) => "no match",
        _ => "not sent",
    }
}

/// What `manifest check` prints.
pub fn render_check(peer: &str, r: &pb::CheckWithPeerResponse) -> String {
    let fields: Vec<String> = r
        .fields_sent
        .iter()
        .filter_map(|f| pb::DisclosableField::try_from(*f).ok())
        .map(|f| {
            f.as_str_name()
                .trim_start_matches("DISCLOSABLE_FIELD_")
                .to_ascii_lowercase()
        })
        .collect();
    let hits = r
        .travellers
        .iter()
        .filter(|t| t.outcome == pb::MatchOutcome::Match as i32)
        .count();
    let mut out = format!(
        "{} travellers checked with {} under agreement {} (sent: {}); {hits} known there. Keep at most {} days. Audit entry {}.\n",
        r.travellers.len(),
        peer.to_ascii_uppercase(),
        r.agreement_id,
        fields.join(", "),
        r.retention_days,
        r.audit_index
    );
    for t in &r.travellers {
        out.push_str(&format!(
            "{:>4}  {:<36} {:<9} {}\n",
            t.position,
            t.name.chars().take(36).collect::<String>(),
            outcome(t.outcome),
            t.reference
        ));
    }
    out
}

fn check_json(r: &pb::CheckWithPeerResponse) -> serde_json::Value {
    serde_json::json!({
        "agreement_id": r.agreement_id,
        "retention_days": r.retention_days,
        "audit_index": r.audit_index,
        "travellers": r.travellers.iter().map(|t| serde_json::json!({
            "position": t.position, "name": t.name, "outcome": outcome(t.outcome),
            "reference": t.reference,
        })).collect::<Vec<_>>(),
    })
}
