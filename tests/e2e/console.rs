//! The console (`puente console`) against a real federation on 127.0.0.1: GTM's officer
//! and auditor work through their own client profiles, as on a workstation.
//!
//! With a plain HTTP client: no session is 401, the one-time token works once, the cookie
//! is HttpOnly and SameSite=Strict, a strict CSP is on every page, a POST without the
//! session's CSRF token, with another one, or from another origin is refused, a foreign
//! Host header is refused, and listening beyond loopback needs `--allow-remote`. The
//! node's search by subject answers auditors only.
//!
//! In headless Chromium (WebDriver, [`browser`]): the officer asks by name and sees the
//! match, why it matched and the passport copy with its verified SHA-256; a purpose no
//! agreement grants is not offered; a protected person looks exactly like no match; the
//! auditor finds the query by document and sees its entry proven. Skipped loudly when
//! Chromium or chromedriver are missing, except under CI, where that fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod browser;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use puente::cli::{ClientInitArgs, ConsoleArgs, NodeAccess, PersonRole};
use puente_e2e::holdings::import_rows;
use puente_e2e::{agreement_text, grant, Federation};
use puente_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// MEX holds R1 (with a passport copy) and R2, an asylum seeker from Guatemala, whom
/// the protection rule hides from GTM. GTM may ask MEX for identification only.
pub(crate) async fn federation() -> Federation {
    let fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-C",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[
                grant(
                    "MEX",
                    "GTM",
                    &["identity_query", "passport_copy"],
                    &["identification"],
                    &[
                        "given_names",
                        "surnames",
                        "date_of_birth",
                        "nationality",
                        "document_number",
                        "issuing_state",
                        "passport_copy_available",
                    ],
                    "queries_per_day = 100\ncopies_per_day = 10",
                ),
                grant("GTM", "MEX", &["alerts"], &["early_warning"], &[], ""),
            ],
        ),
    );
    // CRI shares flow counts with GTM (small cells suppressed), and nothing else: it is
    // a peer with an agreement that Ask must not offer.
    fed.agree(
        "CRI",
        "GTM",
        "cri-gtm.toml",
        &agreement_text(
            "CRI-GTM-S",
            ["CRI", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "CRI",
                "GTM",
                &["flow_counts"],
                &["statistics"],
                &[],
                "small_cell_threshold = 5",
            )],
        ),
    );
    import_rows(
        &fed,
        "MEX",
        &[
            "R1,MOHAMMAD ABDUL,HOSSAIN,1990-04-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,none,,,2026-03-01,Tapachula,detection,GTM,copies/r1.png",
            "R2,JOSE LUIS,PEREZ GARCIA,1988-05-05,M,GTM,passport,GT5551234,GTM,2029-01-01,,,asylum_seeker,,,2026-02-10,Tapachula,asylum_claim,GTM,",
        ],
    );
    fed
}

/// Month cells of CRI (HTI 3 is below CRI's threshold of 5 for GTM) and of GTM, and
/// GTM's pull of CRI's.
async fn flows(fed: &Federation) {
    use puente_stats::{CellKey, Period, Value};
    let cells = |code: &str, counts: &[(&str, u64)]| -> Vec<pb::FlowCell> {
        counts
            .iter()
            .map(|(nat, n)| {
                CellKey::new(
                    Period::month(2026, 3).unwrap(),
                    nat,
                    pb::Sex::Female,
                    pb::AgeGroup::Age1829,
                    &format!("{code}-EP001"),
                    pb::EncounterEvent::Entry,
                )
                .unwrap()
                .to_proto(code, Value::Count(*n), 1)
            })
            .collect()
    };
    for (code, counts) in [
        ("CRI", vec![("VEN", 12), ("HTI", 3), ("CUB", 40)]),
        ("GTM", vec![("VEN", 7), ("HTI", 9)]),
    ] {
        fed.operator(code)
            .import_cells(tokio_stream::iter(vec![pb::ImportCellsRequest {
                cells: cells(code, &counts),
            }]))
            .await
            .unwrap();
    }
    // GTM's daily HTI entries: four times the usual over the last week (a surge).
    let today = time::OffsetDateTime::now_utc().date();
    let surge: Vec<pb::FlowCell> = (1..=63i64)
        .map(|back| {
            let d = today - time::Duration::days(back);
            let n = (10 + (back as u64 * 7) % 5) * if back <= 7 { 4 } else { 1 };
            CellKey::new(
                Period::day(d.year(), d.month() as u8, d.day()).unwrap(),
                "HTI",
                pb::Sex::Male,
                pb::AgeGroup::Age1829,
                "GTM-EP002",
                pb::EncounterEvent::Entry,
            )
            .unwrap()
            .to_proto("GTM", Value::Count(n), 1)
        })
        .collect();
    fed.operator("GTM")
        .import_cells(tokio_stream::iter(vec![pb::ImportCellsRequest {
            cells: surge,
        }]))
        .await
        .unwrap();
    let r = fed
        .operator("GTM")
        .sync_now(pb::SyncNowRequest {
            peer_countries: vec!["CRI".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results[0].outcome, pb::SyncOutcome::Ok as i32, "{r:?}");
}

/// `puente client init` of `code` into `dir/name`.
pub(crate) fn profile(fed: &Federation, role: PersonRole, name: &str, dir: &Path) -> PathBuf {
    puente::workstation::init(&ClientInitArgs {
        config: fed.country("GTM").config.clone(),
        role,
        name: name.into(),
        out: dir.join(name),
    })
    .unwrap_or_else(|e| panic!("client init: {e:#}"))
    .profile
}

/// GTM's public bundle (this country's signing key, to check checkpoints).
fn bundle(fed: &Federation, dir: &Path) -> PathBuf {
    let out = dir.join("GTM.bundle");
    let cli = puente::cli::Cli::try_parse_from([
        "puente",
        "trust",
        "export",
        "--config",
        fed.country("GTM").config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    puente::commands::run(cli).unwrap();
    out
}

/// A running console: its login URL and address.
pub(crate) struct Running {
    pub url: String,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub(crate) fn args(profile: &Path, bundles: Vec<PathBuf>, listen: &str) -> ConsoleArgs {
    ConsoleArgs {
        access: NodeAccess {
            profile: Some(profile.to_path_buf()),
            config: None,
        },
        role: PersonRole::Operator,
        listen: listen.into(),
        no_open: true,
        allow_remote: false,
        bundles,
    }
}

/// Starts `puente console` in-process, as the command does.
pub(crate) async fn console(args: ConsoleArgs) -> Running {
    let prepared = puente::console::prepare(&args)
        .await
        .unwrap_or_else(|e| panic!("console: {e:#}"));
    let (url, addr) = (prepared.url.clone(), prepared.addr);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(prepared.serve(async {
        let _ = rx.await;
    }));
    Running {
        url,
        addr,
        stop: Some(tx),
    }
}

/// One plain HTTP/1.1 exchange: (status, head, body).
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Vec<u8>) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), tcp.read_to_end(&mut raw))
        .await
        .expect("the console answers")
        .unwrap();
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..at]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[at + 4..].to_vec())
}

/// Header `name` of a response head.
pub(crate) fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The value of the hidden CSRF field in a page.
/// From the login page's body, the paths of its session: `/s/<scope>` + path.
pub(crate) fn scoped(login_page: &[u8]) -> impl Fn(&str) -> String {
    let page = String::from_utf8_lossy(login_page);
    let scope = page
        .split_once("url=/s/")
        .and_then(|(_, r)| r.split_once('/'))
        .map(|(s, _)| s.to_string())
        .expect("the login page names the session's prefix");
    move |path: &str| format!("/s/{scope}{path}")
}

pub(crate) fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_string()
}

#[tokio::test]
async fn the_console_serves_officers_and_auditors_and_refuses_forgeries() {
    let mut fed = federation().await;
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let _cri = fed.start("CRI").await;
    flows(&fed).await;
    let dir = tempfile::tempdir().unwrap();
    let officer = profile(&fed, PersonRole::Operator, "ana.lopez", dir.path());
    let auditor = profile(&fed, PersonRole::Auditor, "aud.ruiz", dir.path());
    let gtm_bundle = bundle(&fed, dir.path());

    // Beyond loopback only with --allow-remote, and then with a warning.
    let mut remote = args(&officer, vec![], "0.0.0.0:0");
    let refused = puente::console::prepare(&remote).await.err().unwrap();
    assert!(
        format!("{refused:#}").contains("--allow-remote"),
        "{refused:#}"
    );
    remote.allow_remote = true;
    let allowed = puente::console::prepare(&remote).await.unwrap();
    assert!(allowed.warning.as_deref().unwrap().contains("WARNING"));
    drop(allowed);

    forgeries_are_refused(&officer).await;
    subject_search_is_for_auditors(&officer, &auditor).await;
    triage_is_kept_by_the_node_for_auditors(&officer, &auditor).await;
    statistics_are_for_officers_and_auditors(&officer, &auditor).await;

    if !browser::ready() {
        return;
    }
    let officer_console = console(args(&officer, vec![], "127.0.0.1:0")).await;
    let auditor_console = console(args(&auditor, vec![gtm_bundle], "127.0.0.1:0")).await;
    browser::walk(&officer_console, &auditor_console).await;
}

/// The token, session, CSRF, Origin and Host checks, with a plain HTTP client.
async fn forgeries_are_refused(officer: &Path) {
    let c = console(args(officer, vec![], "127.0.0.1:0")).await;
    assert!(c
        .url
        .starts_with(&format!("http://{}/login?token=", c.addr)));
    let token = c.url.rsplit('=').next().unwrap().to_string();

    let (status, head, _) = http(c.addr, "GET", "/ask", &[], "").await;
    assert_eq!(status, 401, "no session: {head}");
    assert!(header(&head, "content-security-policy").is_some());
    let (status, _, _) = http(c.addr, "GET", "/login?token=00ff", &[], "").await;
    assert_eq!(status, 401, "a wrong token");
    let forged = format!("puente_session_{}={token}", c.addr.port());
    let (status, _, _) = http(c.addr, "GET", "/ask", &[("Cookie", &forged)], "").await;
    assert_eq!(status, 401, "the token is not a session id");

    let (status, head, body) = http(c.addr, "GET", &format!("/login?token={token}"), &[], "").await;
    assert_eq!(status, 200, "{head}");
    // The page moves on to the session's pages by itself (a same-site navigation, so
    // the Strict cookie goes along whatever page opened the login address), under a
    // secret prefix that the cookie is scoped to.
    let page = String::from_utf8_lossy(&body).to_string();
    let scope = page
        .split_once("content=\"0;url=/s/")
        .and_then(|(_, r)| r.split_once('/'))
        .map(|(s, _)| s.to_string())
        .expect(&page);
    assert_eq!(scope.len(), 32, "{page}");
    let at = |path: &str| format!("/s/{scope}{path}");
    let set = header(&head, "set-cookie").unwrap().to_string();
    assert!(
        set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains(&format!("Path=/s/{scope}/")),
        "{set}"
    );
    // Named after this console's port: another console on 127.0.0.1 (whose cookies
    // the browser also sends here) keeps its own session.
    assert!(
        set.starts_with(&format!("puente_session_{}=", c.addr.port())),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let (status, _, _) = http(c.addr, "GET", &format!("/login?token={token}"), &[], "").await;
    assert_eq!(status, 401, "the token works once");

    // The cookie alone opens nothing: a page is asked for under the session's prefix
    // (a browser sends the cookie for nothing else, so a page another local user serves
    // on 127.0.0.1 never receives it).
    for path in ["/ask".to_string(), format!("/s/{}/ask", "0".repeat(32))] {
        let (status, _, _) = http(c.addr, "GET", &path, &[("Cookie", &cookie)], "").await;
        assert_eq!(status, 401, "{path}");
    }
    let (status, head, body) = http(c.addr, "GET", &at("/ask"), &[("Cookie", &cookie)], "").await;
    assert_eq!(status, 200, "{head}");
    // Every link, form and image of the page is under the prefix.
    let html_text = String::from_utf8_lossy(&body);
    for attr in ["href=\"/", "action=\"/", "src=\"/"] {
        for (i, _) in html_text.match_indices(attr) {
            assert!(
                html_text[i + attr.len() - 1..].starts_with(&format!("/s/{scope}/")),
                "{}",
                &html_text[i..(i + 60).min(html_text.len())]
            );
        }
    }
    let csp = header(&head, "content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let html = String::from_utf8(body).unwrap();
    assert!(!html.contains("style=\""), "no inline style");
    assert!(html.contains(&format!(
        "<script src=\"/s/{scope}/assets/console.js\" defer></script>"
    )));
    assert_eq!(html.matches("<script").count(), 1, "no inline script");
    let csrf = csrf_of(&html);

    let query = "offer=MEX%7C1&given=MOHAMMAD&surnames=HOSSAIN&birth=1990-04-12&case=HTTP-1";
    let with = |csrf: &str| format!("csrf={csrf}&{query}");
    let ck = [("Cookie", cookie.as_str())];
    let (status, _, _) = http(c.addr, "POST", &at("/ask"), &ck, query).await;
    assert_eq!(status, 403, "no CSRF token");
    let other = "a".repeat(64);
    let (status, _, _) = http(c.addr, "POST", &at("/ask"), &ck, &with(&other)).await;
    assert_eq!(status, 403, "a wrong CSRF token");
    let evil = [
        ("Cookie", cookie.as_str()),
        ("Origin", "http://evil.example"),
    ];
    let (status, _, _) = http(c.addr, "POST", &at("/ask"), &evil, &with(&csrf)).await;
    assert_eq!(status, 403, "a form from another origin");
    let rebound = [("Cookie", cookie.as_str()), ("Host", "evil.example:80")];
    let (status, _, _) = http(c.addr, "GET", &at("/ask"), &rebound, "").await;
    assert_eq!(status, 421, "a foreign Host (DNS rebinding)");
    let (status, _, body) = http(c.addr, "POST", &at("/ask"), &ck, &with(&csrf)).await;
    let html = String::from_utf8(body).unwrap();
    assert_eq!(status, 200);
    assert!(
        html.contains("HOSSAIN") && html.contains("id=\"outcome\""),
        "{html}"
    );
    // A redirect after the language switch stays on the console.
    // So does one a browser would read as another host once it drops a tab or a
    // newline ("/\t/evil.example" is "//evil.example"); none is a server error.
    for back in [
        "//evil.example/",
        "/%09/evil.example/",
        "/%0A",
        "/%0B",
        "/\\evil",
    ] {
        let lang = format!("csrf={csrf}&lang=es&back={back}");
        let (status, head, _) = http(c.addr, "POST", &at("/lang"), &ck, &lang).await;
        assert_eq!(status, 303, "{back}: {head}");
        assert_eq!(header(&head, "location"), Some(at("/").as_str()), "{back}");
    }
    let lang = format!("csrf={csrf}&lang=en&back=/log%3Fcase%3DX");
    let (_, head, _) = http(c.addr, "POST", &at("/lang"), &ck, &lang).await;
    assert_eq!(header(&head, "location"), Some(at("/log?case=X").as_str()));
}

/// `ListEntries.subject` finds the exchanges about a person for an auditor; an officer's
/// certificate is refused by the node, and a malformed subject is a clear error.
async fn subject_search_is_for_auditors(officer: &Path, auditor: &Path) {
    let subject = pb::IdentityQuery {
        terms: Some(pb::identity_query::Terms::Name(pb::NameTerms {
            given_names: "MOHAMMAD".into(),
            surnames: "HOSSAIN".into(),
            date_of_birth: Some(pb::PartialDate {
                year: 1990,
                month: 4,
                day: 12,
            }),
            ..Default::default()
        })),
    };
    let request = |s: pb::IdentityQuery| pb::ListEntriesRequest {
        subject: Some(s),
        ..Default::default()
    };
    let aud =
        puente_client::NodeClient::from_profile(&puente_client::Profile::load(auditor).unwrap())
            .unwrap();
    let found = aud.list_entries(request(subject.clone())).await.unwrap();
    assert_eq!(found.entries.len(), 1, "the HTTP test's query, by name");
    assert_eq!(found.entries[0].case_reference, "HTTP-1");
    let mut other = subject.clone();
    if let Some(pb::identity_query::Terms::Name(n)) = other.terms.as_mut() {
        n.surnames = "SOMEONE ELSE".into();
    }
    assert!(aud
        .list_entries(request(other))
        .await
        .unwrap()
        .entries
        .is_empty());
    let bad = pb::IdentityQuery {
        terms: Some(pb::identity_query::Terms::Document(
            pb::DocumentTerms::default(),
        )),
    };
    let e = aud.list_entries(request(bad)).await.unwrap_err();
    assert_eq!(e.code, tonic::Code::InvalidArgument, "{e}");
    assert!(e.to_string().contains("subject"), "{e}");

    let off =
        puente_client::NodeClient::from_profile(&puente_client::Profile::load(officer).unwrap())
            .unwrap();
    let e = off.list_entries(request(subject)).await.unwrap_err();
    assert_eq!(e.code, tonic::Code::PermissionDenied, "{e}");
}

/// The regional statistics are both roles' to read: an operator through
/// `Local.ListCells`, an auditor through `Audit.ListCells`, the same cells; each service
/// still admits only its own role.
async fn statistics_are_for_officers_and_auditors(officer: &Path, auditor: &Path) {
    let client = |p: &Path| {
        puente_client::NodeClient::from_profile(&puente_client::Profile::load(p).unwrap()).unwrap()
    };
    let (off, aud) = (client(officer), client(auditor));
    let req = || pb::ListCellsRequest {
        period: "2026-03".into(),
        reporting_countries: Vec::new(),
    };
    let seen_by_officer = off.list_cells(req()).await.unwrap();
    assert!(!seen_by_officer.is_empty());
    assert_eq!(aud.list_cells(req()).await.unwrap(), seen_by_officer);
    let e = off.audit().list_cells(req()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
    let e = aud.local().list_cells(req()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
}

/// An auditor's triage of an anomaly is kept by the node (through the console's form
/// too); a malformed one is refused with the field named; an officer is refused.
async fn triage_is_kept_by_the_node_for_auditors(officer: &Path, auditor: &Path) {
    let client = |p: &Path| {
        puente_client::NodeClient::from_profile(&puente_client::Profile::load(p).unwrap()).unwrap()
    };
    let aud = client(auditor);
    let req = |anomaly: &str, triage: pb::Triage, comment: &str| pb::TriageAnomalyRequest {
        anomaly: anomaly.into(),
        triage: triage as i32,
        comment: comment.into(),
    };
    let kept = aud
        .triage_anomaly(req(
            "MEX:2026-12-01:volume",
            pb::Triage::Incident,
            "asked MEX's liaison",
        ))
        .await
        .unwrap()
        .triage
        .unwrap();
    assert_eq!(kept.auditor, "aud.ruiz");
    for (bad, field) in [
        (
            req("MEX:2026-13-01:volume", pb::Triage::Seen, ""),
            "anomaly",
        ),
        (
            req("mex:2026-12-01:volume", pb::Triage::Seen, ""),
            "anomaly",
        ),
        (
            req("MEX:2026-12-01:volume:x", pb::Triage::Seen, ""),
            "anomaly",
        ),
        (
            req("MEX:2026-12-01:volume", pb::Triage::Unspecified, ""),
            "triage",
        ),
        (
            req("MEX:2026-12-01:volume", pb::Triage::Seen, "a\nb"),
            "comment",
        ),
        (
            req("MEX:2026-12-01:volume", pb::Triage::Seen, &"x".repeat(501)),
            "comment",
        ),
    ] {
        let e = aud.triage_anomaly(bad).await.unwrap_err();
        assert_eq!(e.code, tonic::Code::InvalidArgument, "{e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    let e = client(officer).list_triage().await.unwrap_err();
    assert_eq!(e.code, tonic::Code::PermissionDenied, "{e}");

    // Through the console's form.
    let c = console(args(auditor, vec![], "127.0.0.1:0")).await;
    let token = c.url.rsplit('=').next().unwrap().to_string();
    let (_, head, body) = http(c.addr, "GET", &format!("/login?token={token}"), &[], "").await;
    let cookie = header(&head, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let ck = [("Cookie", cookie.as_str())];
    let at = scoped(&body);
    // Dates past what a calendar holds are a page that says so, not a dropped connection.
    for q in [
        "until=-9999-01-01",
        "since=-9999-01-01&until=-9999-01-05",
        "until=9999-12-31",
    ] {
        let (status, head, _) = http(c.addr, "GET", &at(&format!("/charts?{q}")), &ck, "").await;
        assert_eq!(status, 200, "{q}: {head}");
    }
    let (status, _, page) = http(c.addr, "GET", &at("/charts"), &ck, "").await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&String::from_utf8(page).unwrap());
    let form = format!(
        "csrf={csrf}&anomaly=GTM%3A2026-12-02%3Arefusal-rate&triage=3&comment=looked&since=2026-11-01&until=2026-12-02"
    );
    let (status, head, _) = http(c.addr, "POST", &at("/charts/triage"), &ck, &form).await;
    assert_eq!(status, 303, "{head}");
    assert_eq!(
        header(&head, "location"),
        Some(at("/charts?since=2026-11-01&until=2026-12-02").as_str())
    );
    let all = aud.list_triage().await.unwrap().triage;
    let keys: Vec<(&str, i32)> = all.iter().map(|t| (t.anomaly.as_str(), t.triage)).collect();
    assert_eq!(
        keys,
        [
            ("GTM:2026-12-02:refusal-rate", pb::Triage::Seen as i32),
            ("MEX:2026-12-01:volume", pb::Triage::Incident as i32)
        ]
    );
}
