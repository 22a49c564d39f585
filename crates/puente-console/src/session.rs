//! Who may use the console, and how requests are kept honest: the one-time login token
//! (printed by `puente console` on its first line) becomes a session cookie
//! (`HttpOnly`, `SameSite=Strict`, scoped to the session's secret path prefix, under
//! which all its pages are: [`scope`]); a request without a known session gets 401; every
//! POST carries the session's CSRF token, checked here for all forms at once; the Host
//! header must name the console (no DNS rebinding); every answer carries a strict
//! Content-Security-Policy and no-store caching.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Form;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

use crate::i18n::Lang;
use crate::Console;

/// The session cookie's name, before the console's port (`puente_session_40819`).
pub const COOKIE: &str = "puente_session";
/// Largest form body accepted (a query form is a few hundred bytes).
pub const MAX_FORM: usize = 64 * 1024;
/// How many fetched passport copies a session keeps to show and download.
pub const MAX_COPIES: usize = 8;
/// The Content-Security-Policy of every answer: only the console's own embedded assets,
/// no inline script or style, no framing, forms post only to the console.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A passport copy fetched in a session, kept to show inline and to download.
#[derive(Debug)]
pub struct HeldCopy {
    /// The media type the peer declared.
    pub media_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Whether their SHA-256 matched what the peer declared (else they are only ever
    /// served as an opaque download, never shown).
    pub verified: bool,
}

#[derive(Debug, Default)]
struct SessionData {
    csrf: String,
    scope: String,
    lang: Option<Lang>,
    copies: Vec<(String, Arc<HeldCopy>)>,
}

/// The sessions of one console, and its one-time login token.
#[derive(Debug)]
pub struct Sessions {
    login: Mutex<Option<String>>,
    map: Mutex<HashMap<String, SessionData>>,
    rng: SystemRandom,
}

/// The session of the request being served.
#[derive(Clone, Debug)]
pub struct Session {
    /// The cookie value.
    pub id: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// The secret path prefix of this session's pages (`/s/<scope>/…`), the only path
    /// its cookie is sent for.
    pub scope: String,
    /// The language the pages are in.
    pub lang: Lang,
}

/// 32 random bytes, hex.
pub fn random_token(rng: &SystemRandom) -> String {
    let mut b = [0u8; 32];
    // The system RNG failing is not recoverable; an all-zero token would be guessable, so
    // fall back to nothing usable rather than a weak token.
    if rng.fill(&mut b).is_err() {
        return String::new();
    }
    hex::encode(b)
}

/// Equality of secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// Sessions with a fresh one-time login token (returned with them).
    pub fn new() -> (Self, String) {
        let rng = SystemRandom::new();
        let token = random_token(&rng);
        (
            Self {
                login: Mutex::new(Some(token.clone())),
                map: Mutex::new(HashMap::new()),
                rng,
            },
            token,
        )
    }

    /// Trades the one-time token for a new session id and its path scope: once only.
    pub fn login(&self, token: &str) -> Option<(String, String)> {
        let mut login = self.login.lock().ok()?;
        match login.as_deref() {
            Some(t) if same_secret(t, token) => {
                *login = None;
            }
            _ => return None,
        }
        let id = random_token(&self.rng);
        let csrf = random_token(&self.rng);
        let scope = random_token(&self.rng).get(..32)?.to_string();
        if id.is_empty() || csrf.is_empty() {
            return None;
        }
        self.map.lock().ok()?.insert(
            id.clone(),
            SessionData {
                csrf,
                scope: scope.clone(),
                ..SessionData::default()
            },
        );
        Some((id, scope))
    }

    fn find(&self, id: &str, headers: &HeaderMap) -> Option<Session> {
        let map = self.map.lock().ok()?;
        let (key, data) = map.iter().find(|(k, _)| same_secret(k, id))?;
        Some(Session {
            id: key.clone(),
            csrf: data.csrf.clone(),
            scope: data.scope.clone(),
            lang: data.lang.unwrap_or_else(|| Lang::from_accept(headers)),
        })
    }

    /// Sets the session's language.
    pub fn set_lang(&self, id: &str, lang: Lang) {
        if let Ok(mut map) = self.map.lock() {
            if let Some(d) = map.get_mut(id) {
                d.lang = Some(lang);
            }
        }
    }

    /// Keeps a fetched copy in the session; returns its id.
    pub fn keep_copy(&self, id: &str, copy: HeldCopy) -> Option<String> {
        let copy_id = random_token(&self.rng).get(..16)?.to_string();
        let mut map = self.map.lock().ok()?;
        let d = map.get_mut(id)?;
        d.copies.push((copy_id.clone(), Arc::new(copy)));
        if d.copies.len() > MAX_COPIES {
            d.copies.remove(0);
        }
        Some(copy_id)
    }

    /// A copy this session fetched.
    pub fn copy(&self, id: &str, copy_id: &str) -> Option<Arc<HeldCopy>> {
        let map = self.map.lock().ok()?;
        map.get(id)?
            .copies
            .iter()
            .find(|(c, _)| c == copy_id)
            .map(|(_, c)| c.clone())
    }
}

/// The value of cookie `name` in the request's headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_string(),
    )
        .into_response()
}

/// Headers every answer carries.
pub fn harden(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on
    // the console's own form posts, which the Origin check must refuse.
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
}

/// The secret path prefix a request came under (`/s/<scope>/…`), taken off its path by
/// [`scope`] before routing.
#[derive(Clone, Debug)]
pub struct Scope(pub String);

/// In front of routing: takes a session's secret prefix off the path (`/s/<scope>/ask`
/// is routed as `/ask`, the scope kept for [`guard`] to check), and puts it back on
/// every path the answer names (the pages' links, forms and images, redirects), so the
/// browser only ever asks for the session's pages under it. The session cookie is sent
/// for that path only (`Path=/s/<scope>/`): browsers send a host's cookies to all of its
/// ports, and a page another local user serves on 127.0.0.1 would otherwise receive it.
pub async fn scope(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let Some(rest) = path.strip_prefix("/s/") else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let (scope, inner) = match rest.split_once('/') {
        Some((s, i)) => (s.to_string(), format!("/{i}")),
        None => (rest.to_string(), "/".to_string()),
    };
    let inner = match parts.uri.query() {
        Some(q) => format!("{inner}?{q}"),
        None => inner,
    };
    match inner.parse::<axum::http::Uri>() {
        Ok(uri) => parts.uri = uri,
        Err(_) => return plain(StatusCode::BAD_REQUEST, "400: not a path of this console"),
    }
    parts.extensions.insert(Scope(scope.clone()));
    let res = next.run(Request::from_parts(parts, body)).await;
    rescope(res, &format!("/s/{scope}")).await
}

/// Puts `prefix` on the console's own paths an answer names.
async fn rescope(res: Response, prefix: &str) -> Response {
    let (mut parts, body) = res.into_parts();
    if let Some(loc) = parts
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        if loc.starts_with('/') && !loc.starts_with("//") {
            if let Ok(v) = HeaderValue::from_str(&format!("{prefix}{loc}")) {
                parts.headers.insert(header::LOCATION, v);
            }
        }
    }
    let html = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if !html {
        return Response::from_parts(parts, body);
    }
    // Pages are a few hundred KiB at most (a page of 1,000 log entries).
    let Ok(bytes) = to_bytes(body, 64 * 1024 * 1024).await else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500: the page could not be read",
        );
    };
    let text = String::from_utf8_lossy(&bytes)
        .replace("href=\"/", &format!("href=\"{prefix}/"))
        .replace("action=\"/", &format!("action=\"{prefix}/"))
        .replace("src=\"/", &format!("src=\"{prefix}/"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

/// The guard in front of every route: Host, session, CSRF, security headers.
pub async fn guard(State(console): State<Arc<Console>>, req: Request, next: Next) -> Response {
    let mut res = check(&console, req, next).await;
    harden(res.headers_mut());
    res
}

async fn check(console: &Console, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !console.host_allowed(&host) {
        return plain(
            StatusCode::MISDIRECTED_REQUEST,
            "421: this console answers only at the address it printed",
        );
    }
    let path = req.uri().path();
    if path == "/login" || path.starts_with("/assets/") {
        return next.run(req).await;
    }
    let session = cookie(req.headers(), &console.cookie)
        .and_then(|id| console.sessions.find(id, req.headers()));
    let Some(session) = session else {
        return plain(
            StatusCode::UNAUTHORIZED,
            "401: no console session. Open the address `puente console` printed (it holds a one-time token).",
        );
    };
    // The page must be asked for under the session's own secret prefix, as the pages
    // link it: a cookie presented on any other path is not this session's.
    let in_scope = req
        .extensions()
        .get::<Scope>()
        .is_some_and(|s| same_secret(&s.0, &session.scope));
    if !in_scope {
        return plain(
            StatusCode::UNAUTHORIZED,
            "401: not a page of this console session. Open the address `puente console` printed (it holds a one-time token).",
        );
    }
    let mut req = req;
    if req.method() == Method::POST {
        // A browser sends Origin on every POST; one from elsewhere is a forged request.
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let own = format!("http://{host}");
            if origin.to_str().ok() != Some(own.as_str()) {
                return plain(StatusCode::FORBIDDEN, "403: a form from another site");
            }
        }
        let (parts, body) = req.into_parts();
        let bytes = match to_bytes(body, MAX_FORM).await {
            Ok(b) => b,
            Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "413: form too large"),
        };
        let probe = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
        let ok = match Form::<CsrfField>::from_request(probe, &()).await {
            Ok(Form(f)) => same_secret(&f.csrf, &session.csrf),
            Err(_) => false,
        };
        if !ok {
            return plain(
                StatusCode::FORBIDDEN,
                "403: the form's CSRF token is missing or wrong; reload the page and send it again",
            );
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(session);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_token_works_once() {
        let (s, token) = Sessions::new();
        assert_eq!(token.len(), 64);
        assert!(s.login("wrong").is_none());
        let (id, _scope) = s.login(&token).expect("first use");
        assert!(s.login(&token).is_none(), "a second use must fail");
        assert!(s.find(&id, &HeaderMap::new()).is_some());
        assert!(s.find("", &HeaderMap::new()).is_none());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", ""));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; puente_session=xyz; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
