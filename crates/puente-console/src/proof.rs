//! An audit entry's detail with its receipt and its inclusion proof, checked here (with
//! the CLI's own verification code from `puente-audit`: `checkpoint::open`,
//! `merkle::verify_inclusion`, `checkpoint::verify_cosignature`) against the latest
//! checkpoint, signed by this country and cosigned by peers; and the Checkpoints page,
//! each peer's latest cosignature checked and proven consistent with the latest
//! checkpoint. "Proven" is shown only when every check passed with a known key.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use puente_audit::checkpoint::{self, Checkpoint};
use puente_audit::merkle::{self, Hash};
use puente_client::CallError;
use puente_proto::v1 as pb;

use crate::page::{self, node_error, problem, shell, when, Ctx};
use crate::session::Session;
use crate::Console;

/// The latest checkpoint as the node gave it, opened with this country's key when known.
pub struct Latest {
    /// The node's answer.
    pub answer: pb::GetCheckpointResponse,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Whether its signature verified with this country's key (false: no key, or bad).
    pub signed: bool,
    /// Why it did not verify, when a key was there.
    pub problem: Option<String>,
}

fn call(status: tonic::Status, c: &Console) -> CallError {
    c.client.refused(&status, puente_pki::Role::Auditor)
}

/// Fetches and checks the latest checkpoint.
pub async fn latest(c: &Console) -> Result<Result<Latest, String>, CallError> {
    let answer = c.client.get_checkpoint().await?;
    let note = answer
        .checkpoint
        .as_ref()
        .map(|n| n.note.clone())
        .unwrap_or_default();
    let opened = match &c.keys.own {
        Some(key) => checkpoint::open(&note, key).map(|cp| (cp, true, None)),
        None => checkpoint::split_note(&note)
            .and_then(|(body, _)| Checkpoint::parse_body(body))
            .map(|cp| (cp, false, None)),
    };
    let (checkpoint, signed, problem) = match opened {
        Ok(x) => x,
        Err(e) => {
            match checkpoint::split_note(&note).and_then(|(b, _)| Checkpoint::parse_body(b)) {
                Ok(cp) => (cp, false, Some(e.to_string())),
                Err(_) => return Ok(Err(e.to_string())),
            }
        }
    };
    Ok(Ok(Latest {
        answer,
        checkpoint,
        signed,
        problem,
    }))
}

/// A cosignature line's witness, checked with the keys known: (name, Some(ok)) or
/// (name, None) when no key of that name is known.
pub fn check_cosignature(c: &Console, body: &str, line: &str) -> (String, Option<bool>) {
    let name = line
        .trim_start_matches('\u{2014}')
        .trim()
        .split(' ')
        .next()
        .unwrap_or("")
        .to_string();
    match c.keys.peers.iter().find(|(_, k)| k.name() == name) {
        Some((country, key)) => (
            country.clone(),
            Some(checkpoint::verify_cosignature(body, line, key).is_ok()),
        ),
        None => (name, None),
    }
}

fn hashes(v: &[Vec<u8>]) -> Vec<Hash> {
    v.iter()
        .filter_map(|h| h.as_slice().try_into().ok())
        .collect()
}

fn tick(ctx: &Ctx, ok: Option<bool>) -> Markup {
    html! {
        @match ok {
            Some(true) => span.ok { "✓ " (ctx.t("cp.verified")) },
            Some(false) => span.bad { "✗ " (ctx.t("proof.failed")) },
            None => span.muted { (ctx.t("cp.unknown")) },
        }
    }
}

/// `GET /log/{index}`.
pub async fn entry(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Path(index): Path<u64>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/log",
    };
    let body = match detail(&c, &ctx, index).await {
        Ok(m) => m,
        Err(e) => node_error(&ctx, &e),
    };
    shell(&ctx, "entry.title", body)
}

async fn detail(c: &Console, ctx: &Ctx<'_>, index: u64) -> Result<Markup, CallError> {
    let listed = c
        .client
        .list_entries(pb::ListEntriesRequest {
            start_index: index,
            page_size: 1,
            ..Default::default()
        })
        .await?;
    let Some(e) = listed.entries.into_iter().find(|e| e.index == index) else {
        return Ok(problem(&format!("#{index}: no such entry")));
    };
    let latest = match latest(c).await? {
        Ok(l) => l,
        Err(p) => return Ok(html! { (fields(ctx, &e)) (problem(&p)) }),
    };
    let cp = &latest.checkpoint;
    let proof = c
        .client
        .audit()
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            index,
            tree_size: cp.size,
        })
        .await
        .map_err(|s| call(s, c))?
        .into_inner();
    let leaf = puente_audit::entry::leaf_of(&e.encoded);
    let path = hashes(&proof.proof);
    let leaf_same =
        e.leaf_hash.as_slice() == leaf.as_slice() && proof.leaf_hash.as_slice() == leaf.as_slice();
    let included = leaf_same
        && proof.tree_size == cp.size
        && merkle::verify_inclusion(index, cp.size, &leaf, &path, &cp.root);
    let note = latest
        .answer
        .checkpoint
        .as_ref()
        .map(|n| n.note.as_str())
        .unwrap_or("");
    let body = checkpoint::split_note(note).map(|(b, _)| b).unwrap_or("");
    let cosigs: Vec<(String, Option<bool>)> = latest
        .answer
        .cosignature_lines
        .iter()
        .map(|l| check_cosignature(c, body, l))
        .collect();
    let cosigs_ok = cosigs.iter().all(|(_, ok)| *ok != Some(false));
    let proven = included && latest.signed && cosigs_ok;
    Ok(html! {
        (fields(ctx, &e))
        section.card #proof {
            h2 { (ctx.t("proof.title")) " "
                @if proven { span.badge.proven #proven { "✓ " (ctx.t("proof.proven")) } }
                @else { span.badge.bad #not-proven { "✗ " (ctx.t("proof.failed")) } } }
            @if proven { p { (ctx.t("proof.proven.text")) } }
            @if !latest.signed && latest.problem.is_none() { p.bad { (ctx.t("proof.nokey")) } }
            @if let Some(p) = &latest.problem { p.bad { (p) } }
            dl {
                dt { (ctx.t("proof.leaf")) } dd { code.hash { (hex::encode(leaf)) } " " (tick(ctx, Some(leaf_same))) }
                dt { (ctx.t("proof.size")) } dd { (cp.size) }
                dt { (ctx.t("proof.root")) } dd { code.hash { (hex::encode(cp.root)) } " " (tick(ctx, Some(included))) }
                dt { (ctx.t("cp.time")) } dd { (when(Some(&prost_types::Timestamp { seconds: cp.time, nanos: 0 }))) }
                @for (i, h) in path.iter().enumerate() {
                    dt { "proof[" (i) "]" } dd { code.hash { (hex::encode(h)) } }
                }
                @for (who, ok) in &cosigs {
                    dt { (ctx.t("cp.witness")) " " (who) } dd { (tick(ctx, *ok)) }
                }
            }
        }
    })
}

fn fields(ctx: &Ctx, e: &pb::AuditEntry) -> Markup {
    let receipt = e.counterpart_receipt.as_ref();
    html! {
        section.card #entry {
            h2 { "#" (e.index) " · " (ctx.t(page::decision_key(e.decision))) }
            dl {
                dt { (ctx.t("log.time")) } dd { (when(e.time.as_ref())) }
                dt { (ctx.t("log.direction")) } dd { (ctx.t(page::direction_key(e.direction))) }
                dt { (ctx.t("log.peer")) } dd { (e.peer_country) }
                dt { (ctx.t("log.actor")) } dd { (e.actor) }
                dt { (ctx.t("log.service")) } dd { (page::service(e.service)) }
                dt { (ctx.t("log.purpose")) } dd { (page::purpose(e.purpose)) }
                dt { (ctx.t("log.case")) } dd #case-ref { (e.case_reference) }
                dt { (ctx.t("entry.agreement")) } dd { (e.agreement_id) }
                dt { (ctx.t("log.rule")) } dd { code { (e.rule) } }
                dt { (ctx.t("entry.reason")) } dd { (e.reason) }
                dt { (ctx.t("entry.fields")) } dd { (e.disclosed_fields.iter().map(|f| page::field(*f)).collect::<Vec<_>>().join(", ")) }
                dt { (ctx.t("entry.request")) } dd { code.hash { (hex::encode(&e.request_sha256)) } }
                dt { (ctx.t("entry.response")) } dd { code.hash { (hex::encode(&e.response_sha256)) } }
                dt { (ctx.t("entry.terms")) } dd { @for h in &e.query_term_hashes { code.hash { (hex::encode(h)) } br; } }
                dt { (ctx.t("entry.receipt")) } dd #receipt {
                    @match receipt {
                        Some(r) => {
                            (r.origin) " #" (r.entry_index) " · " (ctx.t("proof.leaf")) " " code.hash { (hex::encode(&r.leaf_hash)) }
                        },
                        None => span.muted { (ctx.t("entry.noreceipt")) },
                    }
                }
            }
        }
    }
}

/// `GET /checkpoints`.
pub async fn checkpoints(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/checkpoints",
    };
    let body = match checkpoints_body(&c, &ctx).await {
        Ok(m) => m,
        Err(e) => node_error(&ctx, &e),
    };
    shell(&ctx, "cp.title", body)
}

async fn checkpoints_body(c: &Console, ctx: &Ctx<'_>) -> Result<Markup, CallError> {
    let latest = match latest(c).await? {
        Ok(l) => l,
        Err(p) => return Ok(problem(&p)),
    };
    let cp = &latest.checkpoint;
    let mut rows = Vec::new();
    for w in &latest.answer.witnessed {
        let note = w.checkpoint.as_ref().map(|n| n.note.as_str()).unwrap_or("");
        let body = checkpoint::split_note(note).map(|(b, _)| b).unwrap_or("");
        let (_, ok) = check_cosignature(c, body, &w.cosignature_line);
        let old = Checkpoint::parse_body(body).ok();
        let consistent = match &old {
            Some(o) if o.size <= cp.size && o.size > 0 => {
                let p = c
                    .client
                    .audit()
                    .get_consistency_proof(pb::GetConsistencyProofRequest {
                        old_size: o.size,
                        new_size: cp.size,
                    })
                    .await
                    .map_err(|s| call(s, c))?
                    .into_inner();
                Some(merkle::verify_consistency(
                    o.size,
                    cp.size,
                    &o.root,
                    &cp.root,
                    &hashes(&p.proof),
                ))
            }
            _ => Some(false),
        };
        rows.push((w, old.map(|o| o.size).unwrap_or(0), ok, consistent));
    }
    Ok(html! {
        section.card #latest {
            h2 { (ctx.t("cp.latest")) }
            dl {
                dt { (ctx.t("proof.size")) } dd #size { (cp.size) }
                dt { (ctx.t("proof.root")) } dd { code.hash { (hex::encode(cp.root)) } }
                dt { (ctx.t("cp.time")) } dd { (when(Some(&prost_types::Timestamp { seconds: cp.time, nanos: 0 }))) }
            }
            @if latest.signed { p.ok { "✓ " (ctx.t("cp.signed")) } }
            @else if let Some(p) = &latest.problem { p.bad { (p) } }
            @else { p.bad { (ctx.t("proof.nokey")) } }
        }
        h2 { (ctx.t("cp.cosig")) }
        @if rows.is_empty() { p { (ctx.t("cp.none")) } } @else {
            table #cosignatures {
                tr { th { (ctx.t("cp.witness")) } th.num { (ctx.t("cp.at.size")) } th { (ctx.t("cp.time")) } th { "" } th { (ctx.t("cp.consistent")) } }
                @for (w, size, ok, consistent) in &rows {
                    tr { td { (w.witness_country) } td.num { (size) } td { (when(w.witnessed_at.as_ref())) }
                         td { (tick(ctx, *ok)) } td { (tick(ctx, *consistent)) } }
                }
            }
        }
    })
}
