//! The commands officers and auditors use on a node's data: `records` (generate, import,
//! search), `query` flag checks, `audit` (list, search, prove, export) and `stats`.

use crate::common::node::{init_on_port_zero, LoggedNode};
use crate::common::{p, puente, text};

#[test]
fn records_generate_import_search_and_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Listening on port 0, advertising a port nothing serves: the offline commands'
    // "is a node running?" dial reaches no other process's listener.
    let config = init_on_port_zero(&dir.path().join("MEX"));
    let data = dir.path().join("synthetic");
    let out = puente(&[
        "records",
        "generate",
        "--count",
        "60",
        "--seed",
        "3",
        "--out",
        p(&data),
        "--copy-every",
        "20",
        "--config",
        p(&config),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let csv = data.join("persons.csv");
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().count(), 61);
    assert_eq!(std::fs::read_dir(data.join("copies")).unwrap().count(), 3);

    let out = puente(&["records", "import", "--config", p(&config), p(&csv)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Imported 60 rows") && text(&out).contains("3 passport copies"),
        "{}",
        text(&out)
    );

    // Search the first generated person by name, as JSON.
    let mut reader = rows.lines().nth(1).unwrap().split(',');
    let (id, given, surnames, dob) = (
        reader.next().unwrap(),
        reader.next().unwrap(),
        reader.next().unwrap(),
        reader.next().unwrap(),
    );
    let out = puente(&[
        "records",
        "search",
        "--config",
        p(&config),
        "--given-names",
        given,
        "--surnames",
        surnames,
        "--birth-date",
        dob,
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["record_id"], id, "{v}");

    // A file with bad rows: line numbers, exit 2, nothing imported.
    let bad = dir.path().join("bad.csv");
    let mut lines: Vec<String> = rows.lines().take(4).map(str::to_string).collect();
    lines[2] = lines[2].replacen(",M,", ",Q,", 1).replacen(",F,", ",Q,", 1);
    lines.push("NEW-1,ANA,SOLO,1990-02-30,F,HTI,,,,,,,,,,,,,,".into());
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out = puente(&["records", "import", "--config", p(&config), p(&bad)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("line 3: sex") && text(&out).contains("line 5: date_of_birth"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("nothing was imported"),
        "{}",
        text(&out)
    );
    let out = puente(&[
        "records",
        "search",
        "--config",
        p(&config),
        "--given-names",
        "ANA",
        "--surnames",
        "SOLO",
        "--birth-date",
        "1990",
    ]);
    assert!(
        text(&out).contains("No match in 60 persons"),
        "{}",
        text(&out)
    );
}

#[test]
fn query_flags_are_checked_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    // Listening on port 0, advertising a port nothing serves: the offline commands'
    // "is a node running?" dial reaches no other process's listener.
    let config = init_on_port_zero(&dir.path().join("MEX"));
    for (args, needle) in [
        (
            vec!["--peer", "GTM", "--purpose", "identification"],
            "exactly one way",
        ),
        (
            vec![
                "--peer",
                "GTM",
                "--purpose",
                "identification",
                "--surnames",
                "HOSSAIN",
            ],
            "--birth-date",
        ),
        (
            vec![
                "--peer",
                "GTM",
                "--purpose",
                "sightseeing",
                "--document",
                "X1",
                "--issuer",
                "BGD",
            ],
            "sightseeing",
        ),
        (
            vec![
                "--peer",
                "GTM",
                "--purpose",
                "identification",
                "--mrz",
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C37UTO7408122F1204159ZE184226B<<<<<10",
            ],
            "document number",
        ),
    ] {
        let mut full = vec!["query", "--config", p(&config), "--case", "EXP-1"];
        full.extend(args);
        let out = puente(&full);
        assert_eq!(out.status.code(), Some(2), "{needle}: {}", text(&out));
        assert!(text(&out).contains(needle), "{needle}: {}", text(&out));
    }
    // A query is made for a case file: without one, nothing is sent.
    let out = puente(&[
        "query",
        "--config",
        p(&config),
        "--peer",
        "GTM",
        "--purpose",
        "identification",
        "--document",
        "X1",
        "--issuer",
        "BGD",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--case"), "{}", text(&out));
}

#[test]
fn audit_commands_list_search_prove_export() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dir.path().join("fed");
    assert!(puente(&["demo", "--dir", p(&fed)]).status.success());
    let cfg = fed.join("MEX/puente.toml");
    let list = puente(&[
        "audit",
        "list",
        "--config",
        p(&cfg),
        "--peer",
        "GTM",
        "--decision",
        "withheld",
    ]);
    assert!(list.status.success(), "{}", text(&list));
    assert!(
        text(&list).contains("protection.country_of_nationality"),
        "{}",
        text(&list)
    );
    let search = puente(&[
        "audit",
        "search",
        "--config",
        p(&cfg),
        "--document",
        "BX1234567",
        "--issuer",
        "BGD",
    ]);
    assert!(search.status.success(), "{}", text(&search));
    assert!(
        text(&search).contains("exchange(s) concerned document BX1234567"),
        "{}",
        text(&search)
    );
    assert!(!text(&search).starts_with('0'), "{}", text(&search));
    let prove = puente(&["audit", "prove", "--config", p(&cfg), "--index", "2"]);
    assert!(prove.status.success(), "{}", text(&prove));
    assert!(
        text(&prove).contains("verifies against the signed checkpoint"),
        "{}",
        text(&prove)
    );
    let export = puente(&["audit", "export", "--config", p(&cfg), "--format", "csv"]);
    assert!(export.status.success());
    let csv = String::from_utf8_lossy(&export.stdout).to_string();
    assert!(csv.starts_with("index,time,direction"));
    assert!(
        !csv.contains("HOSSAIN") && !csv.contains("BX1234567"),
        "no personal data in the export"
    );
    let bad = puente(&["audit", "list", "--config", p(&cfg), "--decision", "maybe"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

/// `puente stats …` against a running node: cells aggregated from the records at start,
/// an import (and a bad one that names its line and changes nothing), exports in both
/// formats, the summary and the status.
#[test]
fn stats_commands_import_export_show_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_on_port_zero(&dir.path().join("MEX"));
    let data = dir.path().join("data");
    let out = puente(&[
        "records",
        "generate",
        "--count",
        "200",
        "--seed",
        "5",
        "--out",
        p(&data),
        "--config",
        p(&config),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // Without a node or a holder, nobody's records: the command says what to give.
    let out = puente(&[
        "records",
        "generate",
        "--count",
        "1",
        "--out",
        p(&dir.path().join("x")),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--holder"), "{}", text(&out));
    // A holder other than the node's country is a contradiction.
    let out = puente(&[
        "records",
        "generate",
        "--count",
        "1",
        "--out",
        p(&dir.path().join("y")),
        "--config",
        p(&config),
        "--holder",
        "GTM",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!dir.path().join("x").exists() && !dir.path().join("y").exists());
    let out = puente(&[
        "records",
        "import",
        "--config",
        p(&config),
        p(&data.join("persons.csv")),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // A bad file is refused before the node is even dialled: exit 2, the line named.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "period,nationality,sex,age_group,entry_point,event,count\n2026-10,VEN,F,18-29,Tapachula,entry,40\n2026-13,VEN,F,18-29,Tapachula,entry,4\n",
    )
    .unwrap();
    let out = puente(&["stats", "import", "--config", p(&config), p(&bad)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("line 3") && text(&out).contains("period"),
        "{}",
        text(&out)
    );

    let mut node = LoggedNode::start(&config);
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "period,nationality,sex,age_group,entry_point,event,count\n2026-10,VEN,F,18-29,\"Tapachula, gate 2\",entry,40\n2026-10-03,VEN,F,18-29,\"Tapachula, gate 2\",entry,3\n",
    )
    .unwrap();
    let import = puente(&["stats", "import", "--config", p(&config), p(&good)]);
    let csv = puente(&["stats", "export", "--config", p(&config)]);
    let out_file = dir.path().join("matrix.csv");
    let sdmx = puente(&[
        "stats",
        "export",
        "--config",
        p(&config),
        "--format",
        "sdmx-csv",
        "--period",
        "2026-10",
        "-o",
        p(&out_file),
    ]);
    let again = puente(&[
        "stats",
        "export",
        "--config",
        p(&config),
        "-o",
        p(&out_file),
    ]);
    let show = puente(&[
        "stats",
        "show",
        "--config",
        p(&config),
        "--period",
        "2026-10",
    ]);
    let status = puente(&["stats", "status", "--config", p(&config)]);
    let sync = puente(&["stats", "sync", "--config", p(&config)]);
    let bad_peer = puente(&["stats", "sync", "--config", p(&config), "--peer", "GTM"]);
    let _ = node.child.kill();
    let _ = node.child.wait();

    assert!(import.status.success(), "{}", text(&import));
    assert!(
        text(&import).contains("imported 2 cell(s)"),
        "{}",
        text(&import)
    );
    assert!(csv.status.success(), "{}", text(&csv));
    let csv = String::from_utf8_lossy(&csv.stdout).to_string();
    assert!(
        csv.starts_with("reporting_country,period,nationality"),
        "{csv}"
    );
    assert!(
        csv.contains("MEX,2026-10,VEN,F,18-29,\"Tapachula, gate 2\",entry,40,disclosed"),
        "{csv}"
    );
    // Cells from the imported records' encounters are there too (2025-2026).
    assert!(
        csv.lines().count() > 100,
        "records were not aggregated: {} lines",
        csv.lines().count()
    );
    assert!(sdmx.status.success(), "{}", text(&sdmx));
    let written = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        written.starts_with("STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA"),
        "{written}"
    );
    assert!(
        written.lines().skip(1).all(|l| l.contains(",2026-10")),
        "period filter: {written}"
    );
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        show.status.success() && text(&show).contains("MEX 2026-10"),
        "{}",
        text(&show)
    );
    assert!(status.status.success(), "{}", text(&status));
    assert!(
        text(&status).contains("next scheduled sync"),
        "{}",
        text(&status)
    );
    assert!(sync.status.success(), "{}", text(&sync));
    assert!(text(&sync).contains("nothing to sync"), "{}", text(&sync));
    assert!(!bad_peer.status.success());
    assert!(
        text(&bad_peer).contains("not a configured peer"),
        "{}",
        text(&bad_peer)
    );
}

#[test]
fn an_interrupted_offline_import_must_be_finished_before_another_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_on_port_zero(&dir.path().join("MEX"));
    let header = "record_id,given_names,surnames,date_of_birth,sex,nationality,document_type,document_number,issuing_state";
    let first = dir.path().join("first.csv");
    let second = dir.path().join("second.csv");
    std::fs::write(
        &first,
        format!("{header}\nA-1,MARIE,JOSEPH,1991-06-15,F,HTI,passport,HT1000001,HTI\n"),
    )
    .unwrap();
    std::fs::write(
        &second,
        format!("{header}\nB-1,AMA,MENSAH,1992-01-01,F,GHA,passport,G7654321,GHA\n"),
    )
    .unwrap();
    // An import of `first` that stopped part way (Ctrl-C, a crash) leaves its mark.
    {
        let (_store, records) = puente::records::open(&config).unwrap();
        let absolute = std::fs::canonicalize(&first).unwrap();
        records
            .begin_import(&absolute.display().to_string())
            .unwrap();
        records.flush().unwrap();
    }
    // Another file is refused until `first` is imported again: importing over the mark
    // would hide that part of `first` is in the store.
    let out = puente(&["records", "import", "--config", p(&config), p(&second)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("was interrupted part way"),
        "{}",
        text(&out)
    );
    // The same file, however spelled, is recognised.
    let spelled = dir.path().join(".").join("first.csv");
    let out = puente(&["records", "import", "--config", p(&config), p(&spelled)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("importing it again converges"),
        "{}",
        text(&out)
    );
    let out = puente(&["records", "import", "--config", p(&config), p(&second)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("holds 2 persons"), "{}", text(&out));
}
