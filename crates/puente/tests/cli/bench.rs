//! `puente bench start`: both nodes as processes of their own, the answering one started
//! again and again; each restart opens its audit log from the verified mark.

use crate::common::*;

#[test]
fn bench_start_times_real_restarts_that_open_the_log_from_its_mark() {
    let out = puente(&[
        "bench",
        "start",
        "--persons",
        "200",
        "--entries",
        "3000",
        "--runs",
        "2",
    ]);
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
}
