//! The console in headless Chromium through WebDriver (fantoccini), against the
//! federation of [`super`]: one chromedriver on a free port, one browser session for
//! the officer's and the auditor's walks. Screenshots of each page go to a temporary
//! directory, or to `docs/console/` when `PUENTE_CONSOLE_SCREENSHOTS` is set (how the
//! README's images are made).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::{csrf_of, header, http, Running};

const INSTALL: &str = "apt-get install -y chromium chromium-driver";

/// Whether Chromium and chromedriver are here. Outside CI a missing one skips the
/// browser part loudly; under CI (`CI` set, `.ci/run` installs them) it fails.
pub fn ready() -> bool {
    let have = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<&str> = ["chromium", "chromedriver"]
        .into_iter()
        .filter(|c| !have(c))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let text = format!(
        "the console's browser tests need {} (Debian: `{INSTALL}`)",
        missing.join(" and ")
    );
    assert!(std::env::var_os("CI").is_none(), "{text}");
    eprintln!("\n======== SKIPPED console browser tests: {text} ========\n");
    false
}

/// chromedriver on a free loopback port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let d = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d
}

async fn browser(d: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1300", "--lang=en-US"],
            "prefs": { "intl.accept_languages": "en-US,en" }
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&d.url)
        .await
        .expect("a WebDriver session")
}

fn shots() -> PathBuf {
    match std::env::var_os("PUENTE_CONSOLE_SCREENSHOTS") {
        Some(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console"),
        None => std::env::temp_dir().join(format!("puente-console-{}", std::process::id())),
    }
}

async fn shot(b: &Client, name: &str) {
    let dir = shots();
    std::fs::create_dir_all(&dir).unwrap();
    let png = b.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn wait(b: &Client, css: &str) -> fantoccini::elements::Element {
    match b
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let page = b.source().await.unwrap_or_default();
            let page = page
                .find("<main")
                .map(|at| page[at..].to_string())
                .unwrap_or(page);
            panic!("{css} did not appear: {e}\n{page}")
        }
    }
}

async fn text(b: &Client, css: &str) -> String {
    wait(b, css).await.text().await.unwrap()
}

async fn texts(b: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in b.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

/// Clicks what `at` finds and waits until the page it leads to replaced this one (the
/// old document's root goes stale), so nothing is read from the page being left.
async fn click_nav(b: &Client, at: Locator<'_>) {
    let old = b.find(Locator::Css("html")).await.unwrap();
    b.find(at).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "the click did not load a page");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The address of the console session the browser is in: `http://HOST:PORT/s/<scope>`,
/// under which every page of that session is.
async fn scoped_base(b: &Client) -> String {
    let url = b.current_url().await.unwrap().to_string();
    let (origin, rest) = url.split_once("/s/").expect("a page of a session");
    let scope = rest.split('/').next().unwrap();
    format!("{origin}/s/{scope}")
}

/// Fills the Ask form's fields by id and sends it.
async fn ask(b: &Client, base: &str, fields: &[(&str, &str)]) {
    b.goto(&format!("{base}/ask")).await.unwrap();
    wait(b, "#ask").await;
    for (id, v) in fields {
        b.find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(v)
            .await
            .unwrap();
    }
    click_nav(b, Locator::Id("send")).await;
    wait(b, ".result").await;
}

pub async fn walk(officer: &Running, auditor: &Running) {
    let d = driver().await;
    let b = browser(&d).await;
    let result = tokio::time::timeout(Duration::from_secs(600), steps(&b, officer, auditor)).await;
    b.close().await.unwrap();
    result.expect("the browser walk finished in time");
}

async fn steps(b: &Client, officer: &Running, auditor: &Running) {
    b.goto(&officer.url).await.unwrap();
    wait(b, "#ask").await;
    let base = scoped_base(b).await;
    assert!(
        base.starts_with(&format!("http://{}/s/", officer.addr)),
        "{base}"
    );
    assert_eq!(
        texts(b, "nav a").await,
        ["Ask", "Agreements", "Peers", "Alerts", "Statistics"]
    );
    // Only what an agreement in force grants: MEX for identification, not return.
    assert_eq!(texts(b, "#offer option").await, ["MEX · identification"]);

    // By name: the match, its score, why it matched.
    ask(
        b,
        &base,
        &[
            ("given", "MOHAMMAD ABDUL"),
            ("surnames", "HOSSAIN"),
            ("birth", "1990-04-12"),
            ("case", "CASE-NAME-1"),
        ],
    )
    .await;
    let outcome = text(b, "#outcome").await;
    assert!(
        outcome.contains("Match") && outcome.contains("HOSSAIN"),
        "{outcome}"
    );
    assert!(outcome.contains("BX1234567"), "{outcome}");
    let why = text(b, ".why").await;
    assert!(
        why.contains("same surnames") && why.contains("same birth date"),
        "{why}"
    );
    assert!(text(b, ".score").await.ends_with('%'));
    shot(b, "ask").await;

    // The passport copy, inline, its SHA-256 verified here and by the node.
    click_nav(b, Locator::Css("button.fetch")).await;
    wait(b, "#copy").await;
    assert!(text(b, "#sha").await.contains("SHA-256 ✓"));
    let specimen = puente_synth::specimen::specimen_png(42).unwrap();
    let want = hex::encode(ring::digest::digest(&ring::digest::SHA256, &specimen));
    assert_eq!(text(b, "#digest").await, want);
    let width = b
        .execute(
            "return document.getElementById('copy').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(width.as_u64().unwrap_or(0) > 0, "the image shows: {width}");
    let href = wait(b, "#download")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let cookie = b
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name() == format!("puente_session_{}", officer.addr.port()))
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    let ck = format!("{}={}", cookie.name(), cookie.value());
    let (status, head, bytes) = http(officer.addr, "GET", &href, &[("Cookie", &ck)], "").await;
    assert_eq!(status, 200);
    assert!(header(&head, "content-disposition")
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(bytes, specimen, "the download is the copy");
    shot(b, "copy").await;

    // A protected person looks exactly like nobody at all.
    ask(
        b,
        &base,
        &[
            ("given", "JOSE LUIS"),
            ("case", "CASE-PROT-1"),
            ("surnames", "PEREZ GARCIA"),
            ("birth", "1988-05-05"),
        ],
    )
    .await;
    let protected = wait(b, "#outcome").await.html(true).await.unwrap();
    ask(
        b,
        &base,
        &[
            ("given", "NADIE"),
            ("case", "CASE-PROT-1"),
            ("surnames", "DESCONOCIDO"),
            ("birth", "1988-05-05"),
        ],
    )
    .await;
    let nobody = wait(b, "#outcome").await.html(true).await.unwrap();
    assert_eq!(protected, nobody);
    assert!(nobody.contains("No match"), "{nobody}");

    // By document, for the auditor to find.
    ask(
        b,
        &base,
        &[
            ("document", "BX1234567"),
            ("issuer", "BGD"),
            ("case", "CASE-DOC-1"),
        ],
    )
    .await;
    assert!(text(b, "#outcome").await.contains("HOSSAIN"));

    b.goto(&format!("{base}/agreements")).await.unwrap();
    wait(b, ".agreement").await;
    let agreement = texts(b, ".agreement").await.join("\n");
    assert!(
        agreement.contains("MEX-GTM-C") && agreement.contains("in force"),
        "{agreement}"
    );
    assert!(
        agreement.contains("queries used today") && agreement.contains("/ 100"),
        "{agreement}"
    );
    shot(b, "agreements").await;
    b.goto(&format!("{base}/peers")).await.unwrap();
    let peers = text(b, "#peers").await;
    assert!(peers.contains("MEX") && peers.contains("yes"), "{peers}");
    shot(b, "peers").await;
    // Statistics: CRI's small cell is marked, never 0; the SDMX-CSV download.
    b.goto(&format!("{base}/stats?period=2026-03"))
        .await
        .unwrap();
    wait(b, "#matrix").await;
    let cells = b
        .execute(
            "return Array.from(document.querySelectorAll('#matrix tr')).map(r => Array.from(r.cells).map(c => c.textContent))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        cells,
        json!([
            ["Nationality", "CRI", "GTM", "Total"],
            ["CUB", "40", "", "40"],
            ["HTI", "▒", "9", "≥ 9 ▒"],
            ["VEN", "12", "7", "19"]
        ])
    );
    assert_eq!(
        b.find_all(Locator::Css("svg.chart rect.suppressed-bar"))
            .await
            .unwrap()
            .len(),
        3,
        "HTI by nationality, CRI by country, 2026-03 by month"
    );
    shot(b, "stats").await;
    let (status, _, sdmx) = http(
        officer.addr,
        "GET",
        &format!(
            "{}/stats.csv?period=2026-03",
            base.split_once(&officer.addr.to_string()).unwrap().1
        ),
        &[("Cookie", &ck)],
        "",
    )
    .await;
    assert_eq!(status, 200);
    let sdmx = String::from_utf8(sdmx).unwrap();
    assert!(sdmx.starts_with("STRUCTURE"), "{sdmx}");
    assert_eq!(sdmx.lines().count(), 6, "a header and five cells: {sdmx}");

    alerts(b, &base, &ck).await;

    // Spanish, with the switch.
    click_nav(b, Locator::Css("button[value=es]")).await;
    wait(b, "html[lang=es]").await;
    assert_eq!(texts(b, "nav a").await[0], "Consultar");
    click_nav(b, Locator::Css("button[value=en]")).await;
    wait(b, "html[lang=en]").await;

    auditor_steps(b, auditor).await;
}

async fn auditor_steps(b: &Client, auditor: &Running) {
    b.goto(&auditor.url).await.unwrap();
    wait(b, "#filter").await;
    let base = scoped_base(b).await;
    assert_eq!(
        texts(b, "nav a").await,
        ["Log", "Search", "Charts", "Checkpoints", "Statistics"]
    );
    shot(b, "log").await;

    // Who asked about document BX1234567 of BGD: the officer's query, by keyed hash.
    b.goto(&format!("{base}/search")).await.unwrap();
    wait(b, "#search").await;
    b.find(Locator::Id("document"))
        .await
        .unwrap()
        .send_keys("BX1234567")
        .await
        .unwrap();
    b.find(Locator::Id("issuer"))
        .await
        .unwrap()
        .send_keys("BGD")
        .await
        .unwrap();
    click_nav(b, Locator::Id("send")).await;
    assert!(text(b, "#found").await.starts_with("1 "), "one exchange");
    let row = text(b, "tr.entry").await;
    assert!(
        row.contains("CASE-DOC-1") && row.contains("ana.lopez"),
        "{row}"
    );
    shot(b, "search").await;

    // Its entry, proven against the signed checkpoint.
    click_nav(b, Locator::Css("tr.entry a")).await;
    wait(b, "#proven").await;
    assert_eq!(text(b, "#case-ref").await, "CASE-DOC-1");
    shot(b, "entry").await;

    // The log filtered by case reference, and its export.
    b.goto(&format!("{base}/log?case=CASE-DOC-1"))
        .await
        .unwrap();
    wait(b, "#filter").await;
    assert_eq!(texts(b, "tr.entry").await.len(), 1);
    let cookie = b
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name() == format!("puente_session_{}", auditor.addr.port()))
        .unwrap();
    let ck = format!("{}={}", cookie.name(), cookie.value());
    let (status, _, csv) = http(
        auditor.addr,
        "GET",
        &format!(
            "{}/export?case=CASE-DOC-1&format=csv",
            base.split_once(&auditor.addr.to_string()).unwrap().1
        ),
        &[("Cookie", &ck)],
        "",
    )
    .await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        !csv.contains("BX1234567"),
        "no document number in the log: {csv}"
    );

    // Today's exchanges with MEX, stacked by decision; a day of history judges nothing.
    b.goto(&format!("{base}/charts")).await.unwrap();
    wait(b, ".peer-chart").await;
    let charts = texts(b, ".peer-chart").await;
    assert!(charts.iter().any(|c| c.starts_with("MEX")), "{charts:?}");
    let allowed = b
        .find_all(Locator::Css(".peer-chart rect.allowed"))
        .await
        .unwrap();
    assert_eq!(
        allowed.len(),
        30 * charts.len(),
        "one bar a day for 30 days"
    );
    wait(b, "#no-anomalies").await;
    shot(b, "charts").await;

    b.goto(&format!("{base}/checkpoints")).await.unwrap();
    assert!(text(b, "#latest").await.contains("signature verified"));
    shot(b, "checkpoints").await;

    // The statistics are offered to auditors too (through Audit.ListCells).
    assert!(texts(b, "nav a").await.iter().any(|t| t == "Statistics"));
    b.goto(&format!("{base}/stats?period=2026-03"))
        .await
        .unwrap();
    wait(b, "#matrix").await;

    // Officer pages are not offered to an auditor, and the node refuses them anyway.
    b.goto(&format!("{base}/ask")).await.unwrap();
    let refused = text(b, ".error").await;
    assert!(refused.contains("The node said"), "{refused}");
}

/// A surge drafted by the node on request, reviewed, refused without the confirmation,
/// then published and delivered to MEX.
async fn alerts(b: &Client, base: &str, ck: &str) {
    // The node drafts a surge when the counts come in; looking again drafts it once.
    b.goto(&format!("{base}/alerts")).await.unwrap();
    click_nav(b, Locator::Css("#detect button")).await;
    assert_eq!(texts(b, ".draft").await.len(), 1);
    let draft = text(b, ".draft").await;
    assert!(
        draft.contains("HTI") && draft.contains("GTM-EP002"),
        "{draft}"
    );
    click_nav(b, Locator::Css("button.review")).await;
    wait(b, "#review").await;
    shot(b, "alerts-review").await;
    // The server refuses a publication without the confirmation (the box is only
    // `required` in the browser).
    let page = b.source().await.unwrap();
    let csrf = csrf_of(&page);
    let at = page.find("name=\"draft\" value=\"").unwrap() + 20;
    let draft_id = &page[at..at + page[at..].find('"').unwrap()];
    let form = format!("csrf={csrf}&draft={draft_id}");
    let (origin, scope) = base.split_once("/s/").unwrap();
    let addr: std::net::SocketAddr = origin.trim_start_matches("http://").parse().unwrap();
    let (status, _, body) = http(
        addr,
        "POST",
        &format!("/s/{scope}/alerts/publish"),
        &[("Cookie", ck)],
        &form,
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(body).unwrap().contains("not ticked"));
    b.find(Locator::Id("confirm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_nav(b, Locator::Id("publish")).await;
    wait(b, "#published").await;
    let issued = text(b, ".issued").await;
    assert!(
        issued.contains("HTI") && issued.contains("MEX: delivered"),
        "{issued}"
    );
    wait(b, "#no-drafts").await;
    shot(b, "alerts").await;
}
