//! Tests of changes made while a node serves: every bad row on its real line, an import
//! seen whole or not at all, deletions.

use std::sync::Arc;

use crate::error::RecordsError;
use crate::import::{check_rows, import_file, Apply, RowFormat, COLUMNS};

use crate::tests::store;

const TODAY: time::Date = time::macros::date!(2026 - 11 - 28);

fn row(id: &str, sex: &str, dob: &str, doc: &str) -> String {
    format!("{id},ANA,PEREZ,{dob},{sex},HND,passport,{doc},HND,2030-01-01,,,none,,,2026-03-01,Tapachula,entry,GTM,")
}

fn lines_of(err: &RecordsError) -> Vec<u64> {
    let RecordsError::BadRows { errors, .. } = err else {
        panic!("{err}")
    };
    let mut lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    lines.dedup();
    lines
}

#[test]
fn every_bad_row_is_reported_on_its_real_line() {
    let base = std::path::Path::new("/nonexistent");
    // 1 header, 2 good, 3 blank, 4 bad sex, 5-6 a quoted note over two lines (good),
    // 7 too few fields, 8 bad date, 9 good.
    let text = [
        format!("{},notes", COLUMNS.join(",")),
        format!("{},", row("R1", "F", "1990-01-02", "X1")),
        String::new(),
        format!("{},", row("R2", "Q", "1990-01-02", "X2")),
        format!("{},\"first", row("R3", "F", "1990-01-02", "X3")),
        "second\"".into(),
        "R4,ANA,PEREZ".into(),
        format!("{},", row("R5", "F", "1990-13-02", "X5")),
        format!("{},", row("R6", "F", "1990-01-02", "X6")),
    ]
    .join("\n");
    let err = check_rows("f.csv", text.as_bytes(), RowFormat::Csv, base, TODAY).unwrap_err();
    assert_eq!(lines_of(&err), vec![4, 7, 8], "{err}");
    assert!(err.to_string().contains("line 7: 3 field(s)"), "{err}");

    let json = [
        r#"{"record_id":"J1","given_names":"WEI","surnames":"WANG","date_of_birth":"1988","sex":"M","nationality":"CHN"}"#,
        "",
        "not json",
        r#"{"record_id":"J2","given_names":"WEI","surnames":"WANG","date_of_birth":"1988","sex":"Q","nationality":"CHN"}"#,
        r#"{"record_id":"J3","given_names":"WEI","surnames":"WANG","date_of_birth":"1988","sex":"M","nationality":"CHN"}"#,
    ]
    .join("\n");
    let err = check_rows(
        "f.jsonl",
        json.as_bytes(),
        RowFormat::JsonLines,
        base,
        TODAY,
    )
    .unwrap_err();
    assert_eq!(lines_of(&err), vec![3, 4], "{err}");
}

#[test]
fn a_bad_file_changes_nothing_and_a_good_one_is_seen_whole() {
    let (dir, s) = store();
    const N: usize = 400;
    let mut text = COLUMNS.join(",");
    for i in 0..N {
        text.push('\n');
        text.push_str(&row(&format!("A{i}"), "F", "1990-01-02", "SAME1"));
    }
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{text}\n{}", row("B", "Q", "1990", "SAME1"))).unwrap();
    let err = import_file(&s, &bad, TODAY, Apply::Whole, &mut |_, _| {}).unwrap_err();
    assert_eq!(lines_of(&err), vec![N as u64 + 2], "{err}");
    assert_eq!(s.len(), 0);

    let good = dir.path().join("good.csv");
    std::fs::write(&good, &text).unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (s, done) = (s.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let _view = s.view();
                seen.insert(s.by_document("HND", "SAME1").unwrap().len());
                if finished {
                    return seen;
                }
            }
        })
    };
    let report = import_file(&s, &good, TODAY, Apply::Whole, &mut |_, _| {}).unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    assert_eq!(report.created, N as u64);
    assert!(seen.iter().all(|n| *n == 0 || *n == N), "{seen:?}");
    assert!(seen.contains(&N), "{seen:?}");
    assert!(s.interrupted_import().unwrap().is_none());
}

#[test]
fn deleted_persons_are_gone_from_every_index() {
    let (dir, s) = store();
    let path = dir.path().join("p.csv");
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n{}\n",
            COLUMNS.join(","),
            row("D1", "F", "1990-01-02", "DOC1"),
            row("D2", "F", "1990-01-02", "DOC2")
        ),
    )
    .unwrap();
    import_file(&s, &path, TODAY, Apply::Whole, &mut |_, _| {}).unwrap();
    s.load_match_keys().unwrap();
    let generation = s.generation().unwrap();
    let applied = s.delete(&["D1".into(), "NOPE".into()]).unwrap();
    assert_eq!((applied.deleted, applied.unknown), (1, 1));
    assert_ne!(s.generation().unwrap(), generation);
    assert!(s.by_document("HND", "DOC1").unwrap().is_empty());
    assert_eq!(s.by_document("HND", "DOC2").unwrap().len(), 1);
    assert!(s.get_by_record_id("D1").unwrap().is_none());
    assert_eq!(s.len(), 1);
    let q = crate::matcher::NameQuery {
        given_names: "ANA".into(),
        surnames: "PEREZ".into(),
        full_name: None,
        date_of_birth: crate::model::PartialDate::parse("1990-01-02").unwrap(),
        nationality: None,
        sex: None,
    };
    let found = crate::matcher::search(&s, &q, crate::matcher::DEFAULT_THRESHOLD, 10).unwrap();
    let ids: Vec<&str> = found
        .iter()
        .map(|m| m.stored.record.record_id.as_str())
        .collect();
    assert_eq!(ids, vec!["D2"]);
}
