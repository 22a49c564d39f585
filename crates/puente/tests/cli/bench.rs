//! `puente bench start`: both nodes as processes of their own, the answering one started
//! again and again; each restart opens its audit log from the verified mark.

use crate::common::*;

#[test]
fn bench_start_times_real_restarts_that_open_the_log_from_its_mark() {
    let kept = tempfile::tempdir().unwrap();
    let keep = kept.path().join("nodes");
    let start = |persons: &str| {
        puente(&[
            "bench",
            "start",
            "--persons",
            persons,
            "--entries",
            "3000",
            "--runs",
            "2",
            "--keep",
            keep.to_str().unwrap(),
        ])
    };
    let out = start("200");
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    for row in ["| first after the import", "| restart 1 |", "| restart 2 |"] {
        assert!(said.contains(row), "{row}: {said}");
    }
    let opened: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("node opened in"))
        .collect();
    assert_eq!(opened.len(), 3, "{said}");
    // The import made the node's first start ready: flow counts aggregated and the
    // match-key snapshot written, so no start rebuilds the keys from the sealed records.
    for line in &opened {
        assert!(line.contains("match_keys_from_snapshot=true"), "{line}");
    }
    for line in &opened[1..] {
        // 3,000 entries plus the probes of the starts before; all under the mark but
        // those written in the last second before the stop, which the stop's mark covers.
        let from_mark = line
            .split("audit_entries_from_mark=")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no audit_entries_from_mark in {line}"));
        assert!(from_mark >= 3000, "{line}");
    }

    // Kept: the same nodes started again, not prepared anew.
    let again = start("200");
    let said = text(&again);
    assert!(again.status.success(), "{said}");
    assert!(said.contains("starting the nodes kept in"), "{said}");
    assert!(!said.contains("importing"), "{said}");
    assert!(said.contains("| first |"), "{said}");
    // Nodes of another size are not passed off as these.
    let other = start("300");
    let said = text(&other);
    assert!(!other.status.success(), "{said}");
    assert!(
        said.contains("holds nodes of 200 persons and 3000 audit entries"),
        "{said}"
    );
}

/// `puente bench query --rounds`: every path measured once a round, each round's ratios
/// taken from its own runs, the medians reported and written with every run's round.
#[test]
fn bench_query_in_rounds_reports_median_ratios_and_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("query.json");
    let out = puente(&[
        "bench",
        "query",
        "--persons",
        "200",
        "--seconds",
        "1",
        "--concurrency",
        "2",
        "--rounds",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("(medians of 2 rounds, ranges in brackets)"),
        "{said}"
    );
    assert!(said.contains("--rounds 2"), "{said}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["rounds"], 2);
    let runs = doc["runs"].as_array().unwrap();
    // Four paths (echo, relay, durable relay, the query path) in each of two rounds.
    assert_eq!(runs.len(), 8, "{doc}");
    for round in [1, 2] {
        let paths: Vec<&str> = runs
            .iter()
            .filter(|r| r["round"] == round)
            .map(|r| r["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths.len(), 4, "round {round}: {paths:?}");
        assert!(paths.iter().any(|p| p.starts_with("Puente")), "{paths:?}");
    }
    for r in runs {
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
        for key in ["throughput_per_s", "p50_ms", "p99_ms", "p999_ms"] {
            assert!(r[key].as_f64().is_some(), "{key}: {r}");
        }
    }
    let ratio = &doc["ratios_to_relay"][0];
    assert_eq!(ratio["concurrency"], 2);
    let per_round = ratio["rounds"].as_array().unwrap();
    assert_eq!(per_round.len(), 2);
    // The median of two rounds lies between them.
    let each: Vec<f64> = per_round
        .iter()
        .map(|r| r["durable_throughput_ratio"].as_f64().unwrap())
        .collect();
    let median = ratio["durable_throughput_ratio"].as_f64().unwrap();
    assert!(
        median >= each[0].min(each[1]) && median <= each[0].max(each[1]),
        "{median} {each:?}"
    );

    // Out of range: refused before anything is set up.
    let zero = puente(&["bench", "query", "--rounds", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{}", text(&zero));
    assert!(text(&zero).contains("--rounds"), "{}", text(&zero));
}
