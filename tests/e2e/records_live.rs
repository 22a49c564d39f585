//! Records changed while the node serves: `puente records import/delete/search` on the
//! node's host go through the running node (found at once), a peer finds a person as
//! soon as the import returns, an import is seen whole or not at all, a file with bad
//! rows changes nothing and names each row on its real line, only the own operators may
//! change the records, the inbox takes good and bad files, and offline audit commands
//! say in one line what to do while the node holds the log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use puente::cli::Cli;
use puente_e2e::holdings::COLUMNS;
use puente_e2e::officer::{ask, doc, name};
use puente_e2e::{agreement_text, grant, set_config, Federation};
use puente_proto::v1 as pb;
use puente_proto::v1::local_client::LocalClient;
use tonic::Code;

fn agreement(fed: &Federation) {
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-LIVE",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["identity_query"],
                &["identification"],
                &[
                    "given_names",
                    "surnames",
                    "document_number",
                    "issuing_state",
                ],
                "queries_per_day = 1000",
            )],
        ),
    );
}

/// A CSV row of a person holding passport `doc` of HTI.
fn person(id: &str, given: &str, doc: &str) -> String {
    format!("{id},{given},JOSEPH,1991-06-15,F,HTI,passport,{doc},HTI,2031-01-01,,,none,,,2026-11-20,Tapachula,entry,GTM,")
}

fn write_csv(dir: &Path, name: &str, rows: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{COLUMNS}\n{}\n", rows.join("\n"))).unwrap();
    path
}

/// Runs `puente` with `args` in-process on a blocking thread, as the binary would; the
/// error as the binary prints it, and its exit code.
async fn puente(args: Vec<String>) -> Result<(), (String, u8)> {
    tokio::task::spawn_blocking(move || {
        let mut argv = vec!["puente".to_string()];
        argv.extend(args);
        let cli = Cli::try_parse_from(&argv).map_err(|e| (e.to_string(), 2))?;
        puente::commands::run(cli).map_err(|e| {
            (
                puente::commands::describe(&e),
                puente::commands::exit_code(&e),
            )
        })
    })
    .await
    .unwrap()
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn operator(fed: &Federation, code: &str) -> LocalClient<tonic::transport::Channel> {
    LocalClient::new(fed.channel(code, &fed.country(code).identity("operator-officer")))
}

fn import_messages(name: &str, bytes: &[u8]) -> Vec<pb::ImportRecordsRequest> {
    use pb::import_records_request::Part;
    vec![
        pb::ImportRecordsRequest {
            part: Some(Part::Header(pb::ImportRecordsHeader {
                file_name: name.into(),
                format: pb::RecordsFormat::Csv as i32,
            })),
        },
        pb::ImportRecordsRequest {
            part: Some(Part::Rows(bytes.to_vec())),
        },
    ]
}

async fn found(fed: &Federation, number: &str) -> i32 {
    ask(fed, "GTM", "MEX", doc(number, "HTI"))
        .await
        .unwrap()
        .outcome
}

#[tokio::test]
async fn a_peer_finds_a_person_as_soon_as_the_import_through_the_running_node_returns() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreement(&fed);
    let mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let config = s(&fed.country("MEX").config);
    assert_eq!(
        found(&fed, "HT1000001").await,
        pb::MatchOutcome::NoMatch as i32
    );
    let cells_before = operator(&fed, "MEX")
        .get_sync_status(pb::GetSyncStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .own_version;

    // With a passport copy beside the file: the command sends it with the rows.
    let png = puente_synth::specimen::specimen_png(7).unwrap();
    std::fs::create_dir_all(fed.temp.path().join("copies")).unwrap();
    std::fs::write(fed.temp.path().join("copies/live-1.png"), &png).unwrap();
    let file = write_csv(
        fed.temp.path(),
        "feed.csv",
        &[person("LIVE-1", "MARIE", "HT1000001") + "copies/live-1.png"],
    );
    // Through the node: no restart.
    puente(vec![
        "records".into(),
        "import".into(),
        "--config".into(),
        config.clone(),
        s(&file),
    ])
    .await
    .unwrap();
    assert_eq!(
        found(&fed, "HT1000001").await,
        pb::MatchOutcome::Match as i32
    );
    // The statistics cells are aggregated again once the import is answered.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = operator(&fed, "MEX")
            .get_sync_status(pb::GetSyncStatusRequest {})
            .await
            .unwrap()
            .into_inner();
        if status.own_version > cells_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cells never aggregated: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Searched through the node, as this country sees its own records.
    puente(
        [
            "records",
            "search",
            "--config",
            &config,
            "--document",
            "HT1000001",
            "--issuer",
            "HTI",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await
    .unwrap();
    let r = operator(&fed, "MEX")
        .search_records(pb::SearchRecordsRequest {
            query: Some(doc("HT1000001", "HTI")),
            max_results: 5,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.matches.len(), 1);
    assert_eq!(r.matches[0].record_id, "LIVE-1");
    let stored = mex
        .state
        .records()
        .get_by_record_id("LIVE-1")
        .unwrap()
        .unwrap();
    assert_eq!(mex.state.records().copy(stored.id).unwrap(), Some(png));

    // Deleted through the node: gone for the peer at once.
    puente(
        [
            "records",
            "delete",
            "--config",
            &config,
            "--record-id",
            "LIVE-1",
            "NOPE-9",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(
        found(&fed, "HT1000001").await,
        pb::MatchOutcome::NoMatch as i32
    );
    assert_eq!(mex.state.records().len(), 0);
}

#[tokio::test]
async fn only_the_own_operators_may_import_and_bad_rows_change_nothing() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreement(&fed);
    let mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let good = format!("{COLUMNS}\n{}\n", person("OK-1", "ANNE", "HT2000001"));

    for (who, stem) in [("MEX", "auditor-auditor"), ("GTM", "node-gtm-1")] {
        let id = fed.country(who).identity(stem);
        let err = LocalClient::new(fed.channel("MEX", &id))
            .import_records(tokio_stream::iter(import_messages(
                "x.csv",
                good.as_bytes(),
            )))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{stem}: {err:?}");
    }
    assert_eq!(mex.state.records().len(), 0);

    // Line 1 header, 2 good, 3 blank, 4 bad sex, 5 good, 6 too few fields, 7 bad date.
    let bad = [
        COLUMNS.to_string(),
        person("B-1", "ANNE", "HT2000002"),
        String::new(),
        person("B-2", "ANNE", "HT2000003").replacen(",F,", ",Q,", 1),
        person("B-3", "ANNE", "HT2000004"),
        "B-4,ANNE,JOSEPH".into(),
        person("B-5", "ANNE", "HT2000005").replace("1991-06-15", "1991-13-15"),
    ]
    .join("\n");
    let r = operator(&fed, "MEX")
        .import_records(tokio_stream::iter(import_messages(
            "bad.csv",
            bad.as_bytes(),
        )))
        .await
        .unwrap()
        .into_inner();
    let lines: Vec<u64> = r.bad_rows.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![4, 6, 7], "{r:?}");
    assert_eq!((r.created, r.persons), (0, 0));
    assert_eq!(
        found(&fed, "HT2000002").await,
        pb::MatchOutcome::NoMatch as i32
    );

    // The command says the same, every row, and exits 2.
    let file = fed.temp.path().join("bad.csv");
    std::fs::write(&file, &bad).unwrap();
    let config = s(&fed.country("MEX").config);
    let (text, code) = puente(vec![
        "records".into(),
        "import".into(),
        "--config".into(),
        config,
        s(&file),
    ])
    .await
    .unwrap_err();
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("line 4: sex")
            && text.contains("line 6: 3 field(s)")
            && text.contains("line 7: date_of_birth")
            && text.contains("nothing was imported"),
        "{text}"
    );
    assert_eq!(mex.state.records().len(), 0);
}

#[tokio::test]
async fn a_query_in_flight_sees_an_import_whole_or_not_at_all() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreement(&fed);
    let _mex = fed.start("MEX").await;
    // 300 persons share one document (records of one passport), among 3000 others.
    const SHARED: usize = 300;
    let mut rows: Vec<String> = (0..SHARED)
        .map(|i| person(&format!("S-{i}"), "ROSE", "HT3000000"))
        .collect();
    rows.extend((0..3000).map(|i| person(&format!("O-{i}"), "LUCIE", &format!("HT4{i:06}"))));
    let text = format!("{COLUMNS}\n{}\n", rows.join("\n"));

    let importer = {
        let client = operator(&fed, "MEX");
        tokio::spawn(async move {
            let mut client = client;
            client
                .import_records(tokio_stream::iter(import_messages(
                    "big.csv",
                    text.as_bytes(),
                )))
                .await
                .map(|r| r.into_inner())
        })
    };
    let mut client = operator(&fed, "MEX");
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let finished = importer.is_finished();
        let n = client
            .search_records(pb::SearchRecordsRequest {
                query: Some(doc("HT3000000", "HTI")),
                max_results: 1000,
            })
            .await
            .unwrap()
            .into_inner()
            .matches
            .len();
        seen.insert(n);
        if finished || Instant::now() > deadline {
            break;
        }
    }
    let r = importer.await.unwrap().unwrap();
    assert!(r.bad_rows.is_empty(), "{r:?}");
    assert_eq!(r.created, SHARED as u64 + 3000);
    assert!(seen.iter().all(|n| *n == 0 || *n == SHARED), "{seen:?}");
    assert!(seen.contains(&SHARED), "{seen:?}");
}

/// Waits until `path` exists.
async fn appears(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_inbox_imports_a_good_file_and_fails_a_bad_one_with_a_report() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreement(&fed);
    let inbox = fed.temp.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    set_config(
        &fed,
        "MEX",
        "records",
        &[
            ("inbox", &format!("\"{}\"", inbox.display())),
            ("inbox_poll_ms", "100"),
        ],
    );
    let mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;

    // Written as .part and renamed when complete, as a feed should.
    let part = write_csv(
        &inbox,
        "good.csv.part",
        &[person("IN-1", "JUDITH", "HT5000001")],
    );
    std::fs::rename(&part, inbox.join("good.csv")).unwrap();
    write_csv(
        &inbox,
        "bad.csv",
        &[
            person("IN-2", "JUDITH", "HT5000002"),
            person("IN-3", "JUDITH", "HT5000003").replacen(",F,", ",Q,", 1),
        ],
    );
    appears(&inbox.join("done/good.csv.report.txt")).await;
    appears(&inbox.join("failed/bad.csv.report.txt")).await;
    assert!(inbox.join("done/good.csv").exists() && !inbox.join("good.csv").exists());
    assert!(inbox.join("failed/bad.csv").exists() && !inbox.join("bad.csv").exists());
    let report = std::fs::read_to_string(inbox.join("failed/bad.csv.report.txt")).unwrap();
    assert!(
        report.contains("nothing was imported") && report.contains("line 3: sex"),
        "{report}"
    );
    let report = std::fs::read_to_string(inbox.join("done/good.csv.report.txt")).unwrap();
    assert!(report.contains("1 new"), "{report}");
    assert_eq!(
        found(&fed, "HT5000001").await,
        pb::MatchOutcome::Match as i32
    );
    assert_eq!(
        found(&fed, "HT5000002").await,
        pb::MatchOutcome::NoMatch as i32
    );
    assert_eq!(mex.state.records().len(), 1);
}

#[tokio::test]
async fn offline_audit_commands_say_at_once_what_to_do_while_the_node_runs() {
    let mut fed = Federation::new(&["MEX"]).await;
    let _mex = fed.start("MEX").await;
    let config = s(&fed.country("MEX").config);
    for args in [
        vec!["audit", "list", "--config", &config],
        vec!["audit", "verify", "--config", &config],
        vec!["audit", "export", "--config", &config],
    ] {
        let (text, _) = puente(args.iter().map(|a| a.to_string()).collect())
            .await
            .unwrap_err();
        // The one line of a command that found the node at once (after sled's 3 s lock
        // wait it would report the lock instead); no timing is asserted.
        assert!(
            text.contains("the node is running") && text.lines().count() == 1,
            "{args:?}: {text}"
        );
    }
}

/// The outcome of GTM asking MEX by name about MARIE JOSEPH born 1991-06-15.
async fn found_by_name(fed: &Federation, given: &str) -> i32 {
    ask(fed, "GTM", "MEX", name(given, "JOSEPH", 1991, 6, 15))
        .await
        .unwrap()
        .outcome
}

#[tokio::test]
async fn a_restarted_node_finds_by_name_what_changed_while_it_served() {
    // A node reads its match keys back from a checked snapshot when it starts; a change
    // made while it served must make the next start rebuild them or read a snapshot
    // written after the change (the node writes one once the change is answered), or a
    // restarted node would answer from the records as they were.
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreement(&fed);
    let file = write_csv(
        fed.temp.path(),
        "first.csv",
        &[person("LIVE-1", "MARIE", "HT1000001")],
    );
    let config = s(&fed.country("MEX").config);
    let import = |file: &Path| {
        vec![
            "records".into(),
            "import".into(),
            "--config".into(),
            config.clone(),
            s(file),
        ]
    };
    // Offline, before the first start: the import itself writes the snapshot (and
    // aggregates the flow counts), so the first start reads it.
    puente(import(&file)).await.unwrap();
    let snapshot = puente_node::NodeConfig::load(&fed.country("MEX").config)
        .unwrap()
        .config
        .node
        .data_dir
        .join("matchkeys.snapshot");
    assert!(snapshot.exists(), "the offline import writes the snapshot");
    // GTM reaches MEX through a proxy, which follows MEX when it comes back on a new port.
    let proxy = puente_e2e::fault_proxy::FaultProxy::start(fed.country("MEX").addr).await;
    puente_e2e::set_peer_address(&fed, "GTM", "MEX", &proxy.addr.to_string());
    let mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    assert_eq!(
        found_by_name(&fed, "MARIE").await,
        pb::MatchOutcome::Match as i32
    );

    // While it serves: the person renamed (a correction of the record), one added.
    let second = write_csv(
        fed.temp.path(),
        "second.csv",
        &[
            person("LIVE-1", "NADEGE", "HT1000001"),
            person("LIVE-2", "ROSE", "HT1000002"),
        ],
    );
    let before = std::fs::read(&snapshot).unwrap();
    puente(import(&second)).await.unwrap();
    // Once the change is answered, the node writes a snapshot of the changed keys in the
    // background (a new id: the bytes differ), so the next start need not rebuild them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let now = std::fs::read(&snapshot).unwrap_or_default();
        if !now.is_empty() && now != before {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "no new snapshot after the live import"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    mex.stop().await;
    let mex = fed.start_on_new_port("MEX").await;
    proxy.retarget(fed.country("MEX").addr);
    // The restart read that snapshot (a rebuild would have written another).
    assert_eq!(std::fs::read(&snapshot).unwrap(), after);
    for (given, outcome) in [
        ("NADEJ", pb::MatchOutcome::Match),
        ("WOZ", pb::MatchOutcome::Match),
        ("MARIE", pb::MatchOutcome::NoMatch),
    ] {
        assert_eq!(
            found_by_name(&fed, given).await,
            outcome as i32,
            "{given} after a restart"
        );
    }
    let written = std::fs::read(&snapshot).unwrap();
    mex.stop().await;

    // Nothing changed since: the next start reads that snapshot (and writes none).
    let _mex = fed.start_on_new_port("MEX").await;
    proxy.retarget(fed.country("MEX").addr);
    assert_eq!(std::fs::read(&snapshot).unwrap(), written);
    for (given, outcome) in [
        ("NADEJ", pb::MatchOutcome::Match),
        ("WOZ", pb::MatchOutcome::Match),
        ("MARIE", pb::MatchOutcome::NoMatch),
    ] {
        assert_eq!(
            found_by_name(&fed, given).await,
            outcome as i32,
            "{given} from the snapshot"
        );
    }
}

#[tokio::test]
async fn an_import_message_over_4_mib_is_refused_and_nothing_is_imported() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreement(&fed);
    let mex = fed.start("MEX").await;
    // Valid rows, sent as one 5 MiB message (the contract allows 4 MiB a message; the
    // CLI sends 1 MiB chunks).
    let row = person("BIG-1", "ROSE", "HT3000001");
    let mut text = format!("{COLUMNS}\n");
    while text.len() < 5 * 1024 * 1024 {
        text.push_str(&row);
        text.push('\n');
    }
    let err = operator(&fed, "MEX")
        .import_records(tokio_stream::iter(import_messages(
            "big.csv",
            text.as_bytes(),
        )))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(err.message().contains("at most 4 MiB"), "{}", err.message());
    assert_eq!(mex.state.records().len(), 0);
}

#[tokio::test]
async fn an_auditor_exports_and_searches_the_log_of_the_running_node_online() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreement(&fed);
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    assert_eq!(
        found(&fed, "HT1000001").await,
        pb::MatchOutcome::NoMatch as i32
    );
    let config = s(&fed.country("MEX").config);
    let out = fed.temp.path().join("mex-log.csv");
    let args = [
        "audit", "export", "--config", &config, "--online", "--format", "csv", "--out",
    ];
    let mut argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    argv.push(s(&out));
    puente(argv).await.unwrap();
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("index,time,direction"), "{csv}");
    assert!(
        lines[1..]
            .iter()
            .any(|l| l.contains(",in,GTM,") || l.contains(",incoming,GTM,")),
        "{csv}"
    );
    // The node computes the keyed hash of the document with its data key.
    puente(
        [
            "audit",
            "search",
            "--config",
            &config,
            "--online",
            "--document",
            "HT1000001",
            "--issuer",
            "HTI",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect(),
    )
    .await
    .unwrap();
}
