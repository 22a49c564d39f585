//! The Prometheus metrics of real nodes: counters move for allowed, withheld and refused
//! exchanges on both sides, latency histograms fill per service, gauges describe the audit
//! log, certificates, agreements, peers and sync lag, and no scrape ever carries a name or
//! a document number, whatever traffic ran. The listener is loopback by default.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::{agreement_text, grant, http_get, sample, Federation};
use puente_pki::CountryCode;
use puente_proto::v1 as pb;
use puente_proto::v1::local_client::LocalClient;
use tonic::Code;

const COLUMNS: &str = "record_id,given_names,surnames,date_of_birth,sex,nationality,document_type,document_number,issuing_state,document_expiry,mrz_line1,mrz_line2,protection_status,protected_against,vulnerabilities,encounter_date,encounter_place,encounter_event,previous_country,passport_copy";

fn agreements(fed: &Federation) {
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-T",
            ["MEX", "GTM"],
            "2026-01-01",
            "2099-12-31",
            &[grant(
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
                ],
                "queries_per_day = 1000\ncopies_per_day = 100\nmax_matches = 5",
            )],
        ),
    );
    fed.agree(
        "MEX",
        "CRI",
        "mex-cri.toml",
        &agreement_text(
            "MEX-CRI-T",
            ["MEX", "CRI"],
            "2026-01-01",
            "2099-12-31",
            &[grant(
                "MEX",
                "CRI",
                &["identity_query"],
                &["identification"],
                &["nationality"],
                "queries_per_day = 1000\nmodes = { identity_query = \"hit_no_hit\" }",
            )],
        ),
    );
}

fn ctx(purpose: pb::Purpose) -> Option<pb::RequestContext> {
    Some(pb::RequestContext {
        purpose: purpose as i32,
        case_reference: "CASE-METRICS-1".into(),
        operator_id: String::new(),
        request_id: String::new(),
        ..Default::default()
    })
}

fn doc(number: &str, issuer: &str) -> pb::IdentityQuery {
    pb::IdentityQuery {
        terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
            document_number: number.into(),
            issuing_state: issuer.into(),
            document_type: pb::DocumentType::Passport as i32,
        })),
    }
}

fn name(given: &str, surnames: &str, year: i32) -> pb::IdentityQuery {
    pb::IdentityQuery {
        terms: Some(pb::identity_query::Terms::Name(pb::NameTerms {
            given_names: given.into(),
            surnames: surnames.into(),
            date_of_birth: Some(pb::PartialDate {
                year: u32::try_from(year).unwrap(),
                month: 0,
                day: 0,
            }),
            nationality: String::new(),
            sex: None,
        })),
    }
}

async fn ask(
    fed: &Federation,
    from: &str,
    to: &str,
    purpose: pb::Purpose,
    query: pb::IdentityQuery,
) -> Result<pb::QueryResponse, tonic::Status> {
    let officer = fed.country(from).identity("operator-officer");
    LocalClient::new(fed.channel(from, &officer))
        .query(pb::QueryRequest {
            peer_country: to.into(),
            context: ctx(purpose),
            query: Some(query),
            max_matches: 0,
        })
        .await
        .map(|r| r.into_inner())
}

async fn fetch(
    fed: &Federation,
    from: &str,
    to: &str,
    reference: &str,
) -> Result<usize, tonic::Status> {
    let officer = fed.country(from).identity("operator-officer");
    let mut stream = LocalClient::new(fed.channel(from, &officer))
        .fetch_document(pb::FetchDocumentRequest {
            peer_country: to.into(),
            context: ctx(pb::Purpose::Identification),
            reference: reference.into(),
        })
        .await?
        .into_inner();
    let mut n = 0;
    while let Some(m) = stream.message().await? {
        if let Some(pb::fetch_document_response::Part::Chunk(c)) = m.part {
            n += c.len();
        }
    }
    Ok(n)
}

fn exchanges(dir: &str, service: &str, peer: &str, decision: &str, code: &str) -> String {
    format!("puente_exchanges_total{{direction=\"{dir}\",service=\"{service}\",peer=\"{peer}\",decision=\"{decision}\",code=\"{code}\"}}")
}

#[tokio::test]
async fn counters_move_for_allowed_withheld_and_refused_exchanges() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    agreements(&fed);
    let dir = fed.temp.path().join("mex-data");
    std::fs::create_dir_all(&dir).unwrap();
    let rows = [
        "R1,MOHAMMAD ABDUL,HOSSAIN,1990-04-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,none,,,2026-03-01,Tapachula,detection,GTM,",
        "R2,JOSÉ LUIS,PÉREZ GARCÍA,1988-05-05,M,GTM,passport,GT5551234,GTM,2029-01-01,,,asylum_seeker,,,2026-02-10,Tapachula,asylum_claim,GTM,",
    ];
    let csv = dir.join("persons.csv");
    std::fs::write(&csv, format!("{COLUMNS}\n{}\n", rows.join("\n"))).unwrap();
    import(&fed, "MEX", &csv);
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let cri = fed.start("CRI").await;

    let before = mex.scrape().await;
    assert_eq!(
        sample(&before, "puente_audit_log_entries"),
        Some(0.0),
        "{before}"
    );

    // Allowed, twice.
    for _ in 0..2 {
        let r = ask(
            &fed,
            "GTM",
            "MEX",
            pb::Purpose::Identification,
            doc("BX1234567", "BGD"),
        )
        .await
        .unwrap();
        assert_eq!(r.outcome, pb::MatchOutcome::Match as i32);
    }
    // Withheld: a Guatemalan asylum seeker, asked about by Guatemala.
    let r = ask(
        &fed,
        "GTM",
        "MEX",
        pb::Purpose::Identification,
        doc("GT5551234", "GTM"),
    )
    .await
    .unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::NoMatch as i32);
    // Refused by the agreement: a purpose CRI was not granted.
    let e = ask(
        &fed,
        "CRI",
        "MEX",
        pb::Purpose::Return,
        doc("BX1234567", "BGD"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // Refused at the gate: GTM's operator calling MEX's Local service.
    let officer = fed.country("GTM").identity("operator-officer");
    let e = LocalClient::new(fed.channel("MEX", &officer))
        .list_peers(pb::ListPeersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    let s = mex.scrape().await;
    let at = |series: &str| sample(&s, series).unwrap_or_else(|| panic!("no {series} in\n{s}"));
    assert_eq!(
        at(&exchanges(
            "incoming",
            "identity_query",
            "GTM",
            "allowed",
            "OK"
        )),
        2.0
    );
    assert_eq!(
        at(&exchanges(
            "incoming",
            "identity_query",
            "GTM",
            "withheld",
            "OK"
        )),
        1.0
    );
    assert_eq!(
        at(&exchanges(
            "incoming",
            "identity_query",
            "CRI",
            "refused",
            "PERMISSION_DENIED"
        )),
        1.0
    );
    assert_eq!(at("puente_refusals_total{stage=\"role_gate\"}"), 1.0);
    assert_eq!(at("puente_audit_log_entries"), 4.0);
    assert!(at("puente_audit_checkpoint_age_seconds") < 120.0);
    assert!(
        at("puente_grpc_request_duration_seconds_count{service=\"puente.v1.Exchange\",method=\"QueryIdentity\"}") >= 4.0
    );
    assert!(at("puente_grpc_request_duration_seconds_bucket{service=\"puente.v1.Exchange\",method=\"QueryIdentity\",le=\"+Inf\"}") >= 4.0);
    let cert_days = at("puente_certificate_expiry_days{certificate=\"node\"}");
    assert!(cert_days > 30.0, "{cert_days}");
    assert!(at("puente_agreement_expiry_days{agreement=\"MEX-GTM-T\"}") > 365.0);
    assert!(at("puente_agreement_expiry_days{agreement=\"MEX-CRI-T\"}") > 365.0);
    assert_eq!(at("puente_peers_configured"), 2.0);
    assert_eq!(at("puente_peers_active"), 2.0, "GTM and CRI both called");
    assert_eq!(
        at(&format!(
            "puente_build_info{{version=\"{}\",country=\"MEX\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );

    // The asking side counts what its peers answered.
    let g = gtm.scrape().await;
    assert_eq!(
        sample(
            &g,
            &exchanges("outgoing", "identity_query", "MEX", "allowed", "OK")
        ),
        Some(3.0),
        "a withheld answer looks allowed to the asker\n{g}"
    );
    let c = cri.scrape().await;
    assert_eq!(
        sample(
            &c,
            &exchanges(
                "outgoing",
                "identity_query",
                "MEX",
                "refused",
                "PERMISSION_DENIED"
            )
        ),
        Some(1.0),
        "{c}"
    );
    assert!(
        sample(&g, "puente_grpc_request_duration_seconds_count{service=\"puente.v1.Local\",method=\"Query\"}") >= Some(3.0),
        "{g}"
    );

    // The statistics sync reports its lag through the node's metrics object.
    let gtm_code = CountryCode::parse("GTM").unwrap();
    assert!(!s.contains("puente_sync_lag_seconds{"));
    mex.metrics.set_sync_lag(gtm_code, 42.5);
    let s = mex.scrape().await;
    assert_eq!(
        sample(&s, "puente_sync_lag_seconds{peer=\"GTM\"}"),
        Some(42.5),
        "{s}"
    );

    // Only /metrics is served, and only read.
    assert_eq!(http_get(mex.metrics_addr, "/").await.0, 404);
    assert_eq!(http_get(mex.metrics_addr, "/metrics/../admin").await.0, 404);

    mex.stop().await;
    gtm.stop().await;
    cri.stop().await;
}

fn import(fed: &Federation, code: &str, csv: &std::path::Path) {
    let (_store, records) = puente::records::open(&fed.country(code).config).unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    puente_records::import::import(&records, csv, today, &mut |_, _| {}).unwrap();
    records.flush().unwrap();
}

/// Every given name, surname and document number imported, as the store holds them.
fn imported(fed: &Federation, code: &str) -> Vec<puente_records::PersonRecord> {
    let (_store, records) = puente::records::open(&fed.country(code).config).unwrap();
    records.iter().map(|s| s.unwrap().record).collect()
}

#[tokio::test]
async fn no_scrape_carries_a_name_or_document_number() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    agreements(&fed);
    let out = fed.temp.path().join("synthetic");
    puente_synth::generate::write(&out, 150, 11, 3, "MEX", &mut |_| {}).unwrap();
    import(&fed, "MEX", &out.join("persons.csv"));
    let people = imported(&fed, "MEX");
    assert_eq!(people.len(), 150);
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let cri = fed.start("CRI").await;

    let (mut matched, mut fetched, mut refused) = (0, 0, 0);
    for p in people.iter().take(40) {
        let d = p.document.as_ref().unwrap();
        // Full disclosure to GTM, by document and by name; then the copy when there is one.
        for q in [
            doc(&d.number, &d.issuing_state),
            name(&p.given_names, &p.surnames, p.date_of_birth.year),
        ] {
            let Ok(r) = ask(&fed, "GTM", "MEX", pb::Purpose::Identification, q).await else {
                continue;
            };
            for m in &r.matches {
                matched += 1;
                if fetch(&fed, "GTM", "MEX", &m.reference).await.is_ok() {
                    fetched += 1;
                }
            }
        }
        // Hit/no-hit for CRI, and a refusal for a purpose it was not granted.
        ask(
            &fed,
            "CRI",
            "MEX",
            pb::Purpose::Identification,
            doc(&d.number, &d.issuing_state),
        )
        .await
        .unwrap();
        if ask(
            &fed,
            "CRI",
            "MEX",
            pb::Purpose::Return,
            name(&p.given_names, &p.surnames, p.date_of_birth.year),
        )
        .await
        .is_err()
        {
            refused += 1;
        }
    }
    // A copy CRI may not have, by a reference it made up from a document number.
    let e = fetch(
        &fed,
        "CRI",
        "MEX",
        &people[0].document.as_ref().unwrap().number,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        matched >= 40 && fetched >= 5 && refused == 40,
        "{matched} {fetched} {refused}"
    );
    mex.metrics
        .set_sync_lag(CountryCode::parse("GTM").unwrap(), 3.0);

    let scrapes = [mex.scrape().await, gtm.scrape().await, cri.scrape().await];
    let all = scrapes.join("\n");
    assert!(all.contains("puente_exchanges_total{"), "{all}");
    // Whole words, as `grep -w` would find them (a two-letter surname such as HE is
    // inside "HELP"), plus every whole value of six characters or more as a substring.
    let words: std::collections::BTreeSet<&str> = all
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut checked = 0;
    for p in &people {
        let d = p.document.as_ref().unwrap();
        // The record id holds the country code ("MEX-11-…"): whole value only.
        assert!(!all.contains(&p.record_id), "{}", p.record_id);
        for value in [&p.given_names, &p.surnames, &d.number] {
            for form in [value.clone(), value.to_uppercase(), value.to_lowercase()] {
                if form.chars().count() >= 6 {
                    assert!(
                        !all.contains(&form),
                        "the metrics carry {form:?} (of record {}):\n{all}",
                        p.record_id
                    );
                }
                for word in form.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                    assert!(
                        word.is_empty() || !words.contains(word),
                        "the metrics carry the word {word:?} of {form:?} (record {}):\n{all}",
                        p.record_id
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 450);

    mex.stop().await;
    gtm.stop().await;
    cri.stop().await;
}

#[tokio::test]
async fn the_metrics_listener_is_loopback_by_default() {
    let fed = Federation::new(&["MEX"]).await;
    // A config that does not mention [metrics] at all…
    let config = &fed.country("MEX").config;
    let text = std::fs::read_to_string(config).unwrap();
    let (before, _) = text
        .split_once("[metrics]")
        .expect("init writes a [metrics] section");
    std::fs::write(config, before).unwrap();
    let loaded = fed.country("MEX").load();
    let addr = loaded.metrics_listen.expect("metrics on by default");
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_eq!(
        addr.to_string(),
        puente_node::config::DEFAULT_METRICS_LISTEN
    );

    // …and `puente init` without --metrics-listen writes the same loopback address.
    let dir = fed.temp.path().join("fresh");
    let cli = <puente::cli::Cli as clap::Parser>::try_parse_from([
        "puente",
        "init",
        "--country",
        "GTM",
        "--dir",
        dir.to_str().unwrap(),
        "--listen",
        "0.0.0.0:7400",
        "--advertise",
        "puente.gtm.example:7400",
    ])
    .unwrap();
    let puente::cli::Command::Init(args) = cli.command else {
        panic!("not init")
    };
    let outcome = puente::setup::init(&args).unwrap();
    let loaded = puente_node::NodeConfig::load(&outcome.config).unwrap();
    let addr = loaded.metrics_listen.unwrap();
    assert!(
        addr.ip().is_loopback(),
        "a node listening on 0.0.0.0 still serves metrics on loopback only: {addr}"
    );

    // Turning metrics off, and a bad address, are both said plainly.
    std::fs::write(config, format!("{before}[metrics]\nenabled = false\n")).unwrap();
    assert!(fed.country("MEX").load().metrics_listen.is_none());
    std::fs::write(
        config,
        format!("{before}[metrics]\nlisten = \"localhost\"\n"),
    )
    .unwrap();
    let e = puente_node::NodeConfig::load(config)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("metrics.listen") && e.contains("localhost"),
        "{e}"
    );
    let listen = fed.country("MEX").addr;
    std::fs::write(
        config,
        format!("{before}[metrics]\nlisten = \"{listen}\"\n"),
    )
    .unwrap();
    let e = puente_node::NodeConfig::load(config)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("metrics.listen") && e.contains("node.listen"),
        "{e}"
    );
}
