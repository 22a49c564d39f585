//! The console: a web UI for a country's officers and auditors, served on the person's
//! own workstation by `puente console`. For every page it is a gRPC client of the own
//! node with the person's certificate ([`NodeClient`]), so the node's gates, agreements,
//! protection rule and audit apply exactly as for the CLI: the console adds no new way
//! into the node. Pages are rendered on the server (maud templates, checked at compile
//! time), charts are SVG drawn on the server, and every asset is embedded in the binary.
//!
//! # Layout
//! - [`session`]: one-time login token, session cookie, CSRF, Host check, CSP.
//! - [`i18n`]: English and Spanish.
//! - [`page`]: the page shell, navigation by role, words for the contract's enums.
//! - [`ask`]: the officer's Ask page; [`terms`]: its form's query and why a match
//!   matched; [`copy`]: passport copies.
//! - [`officer`]: Agreements and Peers; [`alerts`]: early warnings and surge drafts.
//! - [`log`]: the auditor's Log (filters, paging) and Export.
//! - [`proof`]: an entry's detail with its inclusion proof, Checkpoints.
//! - [`charts`]: exchanges per day per peer, refusals by rule, anomalies.
//! - [`search`]: who asked about a person (keyed hash on the node).
//! - [`stats`]: the Statistics matrix, its SVG chart and SDMX-CSV.
//! - [`assets`]: the embedded CSS, script and icon.

#![forbid(unsafe_code)]

pub mod alerts;
pub mod ask;
pub mod assets;
pub mod charts;
pub mod copy;
pub mod i18n;
pub mod log;
pub mod officer;
pub mod page;
pub mod proof;
pub mod search;
pub mod session;
pub mod stats;
pub mod terms;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use puente_client::NodeClient;
use puente_pki::{Role, VerifyingKey};
use serde::Deserialize;

use crate::i18n::Lang;
use crate::session::{Session, Sessions, COOKIE};

/// The keys that check the node's checkpoints and its peers' cosignatures.
#[derive(Clone, Debug, Default)]
pub struct Keys {
    /// This country's signing key (checkpoints), when known.
    pub own: Option<VerifyingKey>,
    /// Peers' signing keys (cosignatures), by country code.
    pub peers: Vec<(String, VerifyingKey)>,
}

impl Keys {
    /// The key of peer `country`.
    pub fn peer(&self, country: &str) -> Option<&VerifyingKey> {
        self.peers
            .iter()
            .find(|(c, _)| c == country)
            .map(|(_, k)| k)
    }
}

/// One running console: the person's client of the own node and its sessions.
#[derive(Debug)]
pub struct Console {
    /// The person's client of the own node.
    pub client: NodeClient,
    /// The person, as their certificate names them.
    pub person: String,
    /// Keys to check checkpoints and cosignatures.
    pub keys: Keys,
    /// Sessions and the login token.
    pub sessions: Sessions,
    /// `host:port` values the Host header may carry; empty = any (remote listening).
    pub hosts: Vec<String>,
    /// The session cookie's name, with this console's port in it: browsers send a
    /// cookie of 127.0.0.1 to every port of it, so two consoles (an officer's and an
    /// auditor's) would otherwise overwrite each other's session.
    pub cookie: String,
}

impl Console {
    /// A console for `client` listening at `addr`; also returns the one-time token.
    /// With `any_host` (listening beyond loopback), the Host header is not checked.
    pub fn new(
        client: NodeClient,
        person: &str,
        keys: Keys,
        addr: SocketAddr,
        any_host: bool,
    ) -> (Self, String) {
        let (sessions, token) = Sessions::new();
        let hosts = if any_host {
            Vec::new()
        } else {
            let port = addr.port();
            let mut h = vec![addr.to_string(), format!("localhost:{port}")];
            if addr.ip().is_loopback() {
                h.push(format!("127.0.0.1:{port}"));
            }
            h
        };
        (
            Self {
                client,
                person: person.to_string(),
                keys,
                sessions,
                hosts,
                cookie: format!("{COOKIE}_{}", addr.port()),
            },
            token,
        )
    }

    /// Whether a request's Host header names this console.
    pub fn host_allowed(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The person's role.
    pub fn role(&self) -> Role {
        self.client.role()
    }
}

/// The address to open: the console's root with the one-time token.
pub fn login_url(addr: SocketAddr, token: &str) -> String {
    format!("http://{addr}/login?token={token}")
}

/// Every route, behind the session guard.
pub fn router(console: Arc<Console>) -> Router {
    let routes = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/lang", post(set_lang))
        .route("/assets/{name}", get(assets::serve))
        .route("/ask", get(ask::form).post(ask::send))
        .route("/copy", post(copy::fetch))
        .route("/copy/{id}", get(copy::copy_bytes))
        .route("/agreements", get(officer::agreements))
        .route("/alerts", get(alerts::list))
        .route("/alerts/detect", post(alerts::detect))
        .route("/alerts/review", post(alerts::review))
        .route("/alerts/publish", post(alerts::publish))
        .route("/peers", get(officer::peers))
        .route("/log", get(log::page))
        .route("/log/{index}", get(proof::entry))
        .route("/export", get(log::export))
        .route("/search", get(search::form).post(search::send))
        .route("/checkpoints", get(proof::checkpoints))
        .route("/charts", get(charts::page))
        .route("/charts/triage", post(charts::triage))
        .route("/stats", get(stats::page))
        .route("/stats.csv", get(stats::sdmx))
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            session::guard,
        ))
        .with_state(console);
    // The session's path scope comes off before routing, and goes back on the answer.
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn(session::scope))
}

/// Serves the console on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    console: Arc<Console>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(console))
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    token: String,
}

async fn login(State(c): State<Arc<Console>>, Query(q): Query<LoginQuery>) -> Response {
    match c.sessions.login(&q.token) {
        Some((id, scope)) => {
            let cookie = format!(
                "{}={id}; HttpOnly; SameSite=Strict; Path=/s/{scope}/",
                c.cookie
            );
            // A page that moves on by itself, not a redirect: the browser may have come
            // here from a page outside this site (the private file `puente console`
            // opens it with), and a Strict cookie is not sent along a redirect of such
            // a navigation; a navigation this page starts is this site's own.
            let mut res = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                format!("<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url=/s/{scope}/\"><title>Puente console</title><a href=\"/s/{scope}/\">Puente console</a>\n"),
            )
                .into_response();
            if let Ok(v) = cookie.parse() {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        None => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "401: this login token is wrong or was already used. Start `puente console` again for a new one.",
        )
            .into_response(),
    }
}

async fn home(State(c): State<Arc<Console>>) -> Redirect {
    match c.role() {
        Role::Auditor => Redirect::to("/log"),
        _ => Redirect::to("/ask"),
    }
}

#[derive(Deserialize)]
struct LangForm {
    lang: String,
    #[serde(default)]
    back: String,
}

/// Whether `back` is a path of this console: one leading '/', then printable ASCII with
/// no whitespace or backslash (browsers drop tabs and newlines from a URL, so "/\t/x" is
/// "//x", another host; a newline cannot go into a Location header at all).
fn safe_back(back: &str) -> bool {
    back.starts_with('/')
        && !back.starts_with("//")
        && back.len() <= 2048
        && back.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

async fn set_lang(
    State(c): State<Arc<Console>>,
    Extension(s): Extension<Session>,
    Form(f): Form<LangForm>,
) -> Redirect {
    if let Some(l) = Lang::parse(&f.lang) {
        c.sessions.set_lang(&s.id, l);
    }
    // Only a path of this console: never an open redirect.
    let back = if safe_back(&f.back) {
        f.back
    } else {
        "/".to_string()
    };
    Redirect::to(&back)
}
