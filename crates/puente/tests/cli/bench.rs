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
