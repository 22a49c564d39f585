//! An officer's commands: `puente query` and `puente fetch`. They talk to the officer's
//! own node (`Local`) as an operator: the person's client profile (`--profile`), or on the
//! node's host the operator certificate of the config's `[client]` section; the node
//! forwards to the peer under its own identity.

use std::fmt::Write as _;

use anyhow::{anyhow, Context, Result};
use puente_client::{Document, NodeClient};
use puente_node::LoadedNode;
use puente_pki::Role;
use puente_policy::{Field, Purpose, Term};
use puente_proto::v1 as pb;
use puente_records::model::PartialDate;
use serde_json::json;

use crate::cli::{FetchArgs, Output, PersonTerms, QueryArgs};

/// A flag combination that does not make a query.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(s: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(s.into()))
}

/// The `IdentityQuery` the flags describe.
pub fn identity_query(t: &PersonTerms) -> Result<pb::IdentityQuery> {
    use pb::identity_query::Terms;
    let kinds = [
        t.document.is_some(),
        t.mrz.is_some(),
        t.given_names.is_some() || t.surnames.is_some() || t.name.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(usage("say who to look for in exactly one way: --document N --issuer S, --mrz LINE1 LINE2, or a name (--given-names G --surnames S, or --name N) with --birth-date"));
    }
    if let (Some(number), Some(issuer)) = (&t.document, &t.issuer) {
        let dt = pb::DocumentType::from_str_name(&format!(
            "DOCUMENT_TYPE_{}",
            t.document_type.to_ascii_uppercase()
        ))
        .filter(|d| *d != pb::DocumentType::Unspecified)
        .ok_or_else(|| {
            usage(format!(
                "--document-type {:?}: use passport, identity_card, travel_document or other",
                t.document_type
            ))
        })?;
        return Ok(pb::IdentityQuery {
            terms: Some(Terms::Document(pb::DocumentTerms {
                document_number: number.clone(),
                issuing_state: issuer.to_ascii_uppercase(),
                document_type: dt as i32,
            })),
        });
    }
    if let Some(lines) = &t.mrz {
        let [l1, l2] = lines.as_slice() else {
            return Err(usage("--mrz takes the two lines"));
        };
        puente_records::mrz::parse_td3(l1, l2).map_err(|e| usage(format!("--mrz: {e}")))?;
        return Ok(pb::IdentityQuery {
            terms: Some(Terms::Mrz(pb::MrzTerms {
                line1: l1.clone(),
                line2: l2.clone(),
            })),
        });
    }
    let birth = t
        .birth_date
        .as_deref()
        .ok_or_else(|| usage("a name query needs --birth-date (YYYY-MM-DD, YYYY-MM or YYYY)"))?;
    let d = PartialDate::parse(birth).map_err(|e| usage(format!("--birth-date: {e}")))?;
    let (given, surnames) = match &t.name {
        // The split is unknown: the responder matches the name as a bag of tokens.
        Some(n) => (String::new(), n.clone()),
        None => (
            t.given_names.clone().unwrap_or_default(),
            t.surnames.clone().unwrap_or_default(),
        ),
    };
    if surnames.trim().is_empty() && given.trim().is_empty() {
        return Err(usage("give --surnames (and --given-names), or --name"));
    }
    let sex = match t.sex.as_deref() {
        None => None,
        Some(s) => Some(match s.to_ascii_uppercase().as_str() {
            "M" => pb::Sex::Male,
            "F" => pb::Sex::Female,
            "X" => pb::Sex::X,
            _ => return Err(usage(format!("--sex {s:?}: use M, F or X"))),
        } as i32),
    };
    Ok(pb::IdentityQuery {
        terms: Some(Terms::Name(pb::NameTerms {
            given_names: given,
            surnames,
            date_of_birth: Some(pb::PartialDate {
                year: u32::try_from(d.year).unwrap_or(0),
                month: d.month.map(u32::from).unwrap_or(0),
                day: d.day.map(u32::from).unwrap_or(0),
            }),
            nationality: t
                .nationality
                .clone()
                .unwrap_or_default()
                .to_ascii_uppercase(),
            sex,
        })),
    })
}

/// Parses `--purpose`.
pub fn purpose(s: &str) -> Result<Purpose> {
    Purpose::parse(s).ok_or_else(|| {
        usage(format!(
            "--purpose {s:?} is not one of {}",
            Purpose::names()
        ))
    })
}

/// Sends a query through `node`, as the operator of its `[client]` section.
pub async fn send_query(
    node: &LoadedNode,
    peer: &str,
    purpose_name: &str,
    case: &str,
    max: u32,
    terms: &PersonTerms,
) -> Result<pb::QueryResponse> {
    let client = crate::access::node_client(node, Role::Operator)?;
    query_with(&client, peer, purpose_name, case, max, terms).await
}

/// Sends a query through the node behind `client`.
pub async fn query_with(
    client: &NodeClient,
    peer: &str,
    purpose_name: &str,
    case: &str,
    max: u32,
    terms: &PersonTerms,
) -> Result<pb::QueryResponse> {
    let query = identity_query(terms)?;
    let purpose = purpose(purpose_name)?;
    client
        .query(pb::QueryRequest {
            peer_country: peer.to_ascii_uppercase(),
            context: Some(pb::RequestContext {
                purpose: purpose as i32,
                case_reference: case.to_string(),
                operator_id: String::new(),
                request_id: String::new(),
                ..Default::default()
            }),
            query: Some(query),
            max_matches: max,
        })
        .await
        .map_err(|e| anyhow!(e))
}

fn date(d: &Option<pb::PartialDate>) -> Option<String> {
    d.as_ref().map(|d| {
        let mut s = format!("{:04}", d.year);
        if d.month != 0 {
            let _ = write!(s, "-{:02}", d.month);
            if d.day != 0 {
                let _ = write!(s, "-{:02}", d.day);
            }
        }
        s
    })
}

fn cal(d: &Option<pb::CalendarDate>) -> Option<String> {
    d.as_ref().map(|d| {
        date(&Some(pb::PartialDate {
            year: d.year,
            month: d.month,
            day: d.day,
        }))
        .unwrap_or_default()
    })
}

fn enum_name<T: Term>(n: i32) -> String {
    T::from_number(n).map(|t| t.name()).unwrap_or_default()
}

/// The disclosed fields of a person, as (field, value) pairs in contract order.
pub fn person_fields(p: &pb::DisclosedPerson) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    let mut push = |k: &'static str, val: Option<String>| {
        if let Some(val) = val {
            v.push((k, val));
        }
    };
    push("given_names", p.given_names.clone());
    push("surnames", p.surnames.clone());
    push("date_of_birth", date(&p.date_of_birth));
    push(
        "sex",
        p.sex
            .and_then(|s| pb::Sex::try_from(s).ok())
            .map(|s| s.as_str_name().trim_start_matches("SEX_").to_string()),
    );
    push("nationality", p.nationality.clone());
    push(
        "document_type",
        p.document_type
            .and_then(|s| pb::DocumentType::try_from(s).ok())
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("DOCUMENT_TYPE_")
                    .to_ascii_lowercase()
            }),
    );
    push("document_number", p.document_number.clone());
    push("issuing_state", p.issuing_state.clone());
    push("document_expiry", cal(&p.document_expiry));
    push("last_encounter_date", cal(&p.last_encounter_date));
    push("last_encounter_place", p.last_encounter_place.clone());
    push(
        "last_encounter_event",
        p.last_encounter_event
            .and_then(|s| pb::EncounterEvent::try_from(s).ok())
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("ENCOUNTER_EVENT_")
                    .to_ascii_lowercase()
            }),
    );
    if !p.route.is_empty() {
        push("route", Some(p.route.join(" → ")));
    }
    if !p.vulnerability_flags.is_empty() {
        push(
            "vulnerability_flags",
            Some(
                p.vulnerability_flags
                    .iter()
                    .filter_map(|f| pb::Vulnerability::try_from(*f).ok())
                    .map(|f| {
                        f.as_str_name()
                            .trim_start_matches("VULNERABILITY_")
                            .to_ascii_lowercase()
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        );
    }
    push(
        "passport_copy_available",
        p.passport_copy_available
            .map(|b| if b { "yes".into() } else { "no".into() }),
    );
    v
}

/// Renders a query answer for people.
pub fn render_answer(r: &pb::QueryResponse) -> String {
    let outcome = pb::MatchOutcome::try_from(r.outcome).unwrap_or(pb::MatchOutcome::Unspecified);
    let hit = pb::Mode::try_from(r.mode).ok() == Some(pb::Mode::HitNoHit);
    let mut out = match outcome {
        pb::MatchOutcome::Match => format!(
            "{}: MATCH, {} person(s){} — agreement {}, keep at most {} days\n",
            r.peer_country,
            r.matches.len(),
            if hit {
                " (hit/no-hit: no personal data under this agreement)"
            } else {
                ""
            },
            r.agreement_id,
            r.retention_days
        ),
        _ => format!(
            "{}: no match — agreement {}\n",
            r.peer_country, r.agreement_id
        ),
    };
    let hit_no_hit = r.mode == pb::Mode::HitNoHit as i32;
    for (i, m) in r.matches.iter().enumerate() {
        // A hit/no-hit answer carries no score: none is shown.
        let score = if hit_no_hit {
            String::new()
        } else {
            format!(" score {:.2}", f64::from(m.score_permille) / 1000.0)
        };
        let _ = writeln!(out, "  #{}{score}  reference {}", i + 1, m.reference);
        if let Some(p) = &m.person {
            for (k, v) in person_fields(p) {
                let _ = writeln!(out, "      {k:<22} {v}");
            }
        }
    }
    if !r.disclosed_fields.is_empty() {
        let _ = writeln!(
            out,
            "  disclosed fields: {}",
            r.disclosed_fields
                .iter()
                .map(|f| enum_name::<Field>(*f))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

/// A query answer as JSON.
pub fn answer_json(r: &pb::QueryResponse) -> serde_json::Value {
    let outcome = pb::MatchOutcome::try_from(r.outcome).unwrap_or(pb::MatchOutcome::Unspecified);
    json!({
        "peer": r.peer_country,
        "outcome": match outcome { pb::MatchOutcome::Match => "match", pb::MatchOutcome::NoMatch => "no_match", _ => "unspecified" },
        "mode": enum_name::<puente_policy::Mode>(r.mode),
        "agreement_id": r.agreement_id,
        "retention_days": r.retention_days,
        "disclosed_fields": r.disclosed_fields.iter().map(|f| enum_name::<Field>(*f)).collect::<Vec<_>>(),
        "matches": r.matches.iter().map(|m| json!({
            "reference": m.reference,
            "score": f64::from(m.score_permille) / 1000.0,
            "person": m.person.as_ref().map(|p| person_fields(p).into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()),
        })).collect::<Vec<_>>(),
    })
}

/// `puente query`
pub fn query(args: &QueryArgs) -> Result<()> {
    // The flags are checked before any file is read or any connection made.
    identity_query(&args.terms)?;
    purpose(&args.purpose)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let _in_runtime = runtime.enter();
    let (_access, client) = crate::access::client(&args.access, Role::Operator)?;
    let r = runtime.block_on(query_with(
        &client,
        &args.peer,
        &args.purpose,
        &args.case,
        args.max,
        &args.terms,
    ))?;
    match args.output {
        Output::Table => print!("{}", render_answer(&r)),
        Output::Json => println!("{}", serde_json::to_string_pretty(&answer_json(&r))?),
    }
    Ok(())
}

/// Fetches a copy through `node`; returns the header, the bytes and the trailer.
pub async fn send_fetch(
    node: &LoadedNode,
    peer: &str,
    reference: &str,
    purpose_name: &str,
    case: &str,
) -> Result<(pb::DocumentHeader, Vec<u8>, pb::FetchDocumentTrailer)> {
    let client = crate::access::node_client(node, Role::Operator)?;
    let d = fetch_with(&client, peer, reference, purpose_name, case).await?;
    Ok((d.header, d.bytes, d.trailer))
}

/// Fetches a copy through the node behind `client`.
pub async fn fetch_with(
    client: &NodeClient,
    peer: &str,
    reference: &str,
    purpose_name: &str,
    case: &str,
) -> Result<Document> {
    let purpose = purpose(purpose_name)?;
    client
        .fetch_document(pb::FetchDocumentRequest {
            peer_country: peer.to_ascii_uppercase(),
            context: Some(pb::RequestContext {
                purpose: purpose as i32,
                case_reference: case.to_string(),
                operator_id: String::new(),
                request_id: String::new(),
                ..Default::default()
            }),
            reference: reference.to_string(),
        })
        .await
        .map_err(|e| anyhow!(e))
}

/// `puente fetch`
pub fn fetch(args: &FetchArgs) -> Result<()> {
    if args.out.exists() {
        return Err(usage(format!(
            "{} already exists; refusing to overwrite it",
            args.out.display()
        )));
    }
    purpose(&args.purpose)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let _in_runtime = runtime.enter();
    let (_access, client) = crate::access::client(&args.access, Role::Operator)?;
    let Document {
        header,
        bytes,
        trailer,
    } = runtime.block_on(fetch_with(
        &client,
        &args.peer,
        &args.reference,
        &args.purpose,
        &args.case,
    ))?;
    // A passport copy is personal data: readable by its owner only.
    puente_pki::files::write_private(&args.out, &bytes)?;
    println!(
        "Wrote {} ({}, {} bytes, SHA-256 {}{}) — agreement {}, keep at most {} days.",
        args.out.display(),
        header.media_type,
        bytes.len(),
        hex::encode(&header.sha256),
        if trailer.sha256_verified {
            ", verified"
        } else {
            ""
        },
        header.agreement_id,
        header.retention_days
    );
    Ok(())
}
