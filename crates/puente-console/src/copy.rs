//! Passport copies: fetched through the own node on the officer's request (an audited
//! exchange that counts against the copy quota), checked against the SHA-256 the peer
//! declared, shown inline and offered as a download from the session's memory.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::html;
use puente_proto::v1 as pb;
use serde::Deserialize;

use crate::page::{node_error, shell, Ctx};
use crate::session::{HeldCopy, Session};
use crate::Console;

/// The fetch form's fields.
#[derive(Debug, Deserialize)]
pub struct CopyForm {
    peer: String,
    purpose: i32,
    #[serde(default)]
    case: String,
    reference: String,
}

/// `POST /copy`: fetches a passport copy through the own node, checks its SHA-256 and
/// shows it.
pub async fn fetch(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Form(f): Form<CopyForm>,
) -> Response {
    let ctx = Ctx {
        console: &c,
        session: &s,
        path: "/ask",
    };
    let r = c
        .client
        .fetch_document(pb::FetchDocumentRequest {
            peer_country: f.peer.clone(),
            context: Some(pb::RequestContext {
                purpose: f.purpose,
                case_reference: f.case.clone(),
                ..Default::default()
            }),
            reference: f.reference.clone(),
        })
        .await;
    let doc = match r {
        Ok(d) => d,
        Err(e) => return shell(&ctx, "copy.title", node_error(&ctx, &e)),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, &doc.bytes);
    let verified = doc.trailer.sha256_verified && digest.as_ref() == doc.header.sha256.as_slice();
    let size = doc.bytes.len();
    let media = doc.header.media_type.clone();
    let id = c.sessions.keep_copy(
        &s.id,
        HeldCopy {
            media_type: media.clone(),
            bytes: doc.bytes,
            verified,
        },
    );
    let body = html! {
        section.result {
            p { (f.peer) " · " (doc.header.agreement_id) " · " (media) " · " (size) " bytes" }
            p #sha {
                @if verified { span.badge.ok { "SHA-256 ✓" } " " (ctx.t("copy.verified")) }
                @else { span.badge.bad { "SHA-256 ✗" } " " (ctx.t("copy.bad")) }
            }
            p { code.hash #digest { (hex::encode(digest.as_ref())) } }
            @if let Some(id) = &id {
                @if verified { p { img.copy #copy src=(format!("/copy/{id}")) alt=(ctx.t("copy.title")); } }
                p { a.button #download href=(format!("/copy/{id}?download=1")) { (ctx.t("copy.download")) } }
            }
            p.muted { (ctx.t("ask.audit")) " #" (doc.trailer.audit_index)
                @if doc.header.retention_days > 0 { " · " (ctx.t("ask.retention")) ": " (doc.header.retention_days) } }
        }
    };
    shell(&ctx, "copy.title", body)
}

/// `?download=1`.
#[derive(Debug, Default, Deserialize)]
pub struct Download {
    #[serde(default)]
    download: Option<String>,
}

/// `GET /copy/{id}`: the bytes of a copy this session fetched.
pub async fn copy_bytes(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Path(id): Path<String>,
    Query(q): Query<Download>,
) -> Response {
    let Some(copy) = c.sessions.copy(&s.id, &id) else {
        return (StatusCode::NOT_FOUND, s.lang.t("copy.gone")).into_response();
    };
    // Only image types the browser shows inline, and only bytes whose SHA-256 held;
    // anything else is an opaque download.
    let (media, ext) = match copy.media_type.as_str() {
        _ if !copy.verified => ("application/octet-stream", "bin"),
        "image/png" => ("image/png", "png"),
        "image/jpeg" => ("image/jpeg", "jpg"),
        _ => ("application/octet-stream", "bin"),
    };
    let disposition = if q.download.is_some() || media == "application/octet-stream" {
        format!("attachment; filename=\"passport-copy.{ext}\"")
    } else {
        "inline".to_string()
    };
    (
        [
            (header::CONTENT_TYPE, media.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        copy.bytes.clone(),
    )
        .into_response()
}
