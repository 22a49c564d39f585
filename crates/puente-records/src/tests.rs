//! Tests of the store (sealing, indexes, updates), import (all or nothing, line numbers)
//! and matching on real name variations.

use std::sync::Arc;

use crate::crypto::DataKey;
use crate::error::RecordsError;
use crate::import::{import, COLUMNS};
use crate::matcher::{search, NameQuery, DEFAULT_THRESHOLD};
use crate::model::{PartialDate, Sex};
use crate::store::RecordStore;

/// A store in a fresh temporary directory (the other test modules use it too).
pub(crate) fn store() -> (tempfile::TempDir, RecordStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .temporary(true)
        .open()
        .unwrap();
    let key = Arc::new(DataKey::from_secret(&[7u8; 32]).unwrap());
    (dir, RecordStore::open(&db, key).unwrap())
}

/// Opens the store kept at `dir` (data key from `secret`), as a restarting node does.
/// sled lets go of its file lock from its own thread after the last handle of the store
/// closed a moment ago is dropped (later on a busy machine, with the other tests
/// running): wait for it, with a deadline, rather than fail at once.
pub(crate) fn open_waiting(dir: &std::path::Path, secret: u8) -> (sled::Db, RecordStore) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let db = loop {
        match sled::open(dir.join("db")) {
            Ok(db) => break db,
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("opening the store: {e}"),
        }
    };
    let key = Arc::new(DataKey::from_secret(&[secret; 32]).unwrap());
    let store = RecordStore::open(&db, key).unwrap();
    (db, store)
}

fn csv(dir: &std::path::Path, rows: &[&str]) -> std::path::PathBuf {
    let path = dir.join("persons.csv");
    let mut text = COLUMNS.join(",");
    text.push('\n');
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

const TODAY: time::Date = time::macros::date!(2026 - 11 - 28);

#[allow(clippy::too_many_arguments)] // one CSV row, column by column
fn row(
    id: &str,
    given: &str,
    surnames: &str,
    dob: &str,
    nat: &str,
    doc: &str,
    status: &str,
    against: &str,
) -> String {
    format!("{id},{given},{surnames},{dob},M,{nat},passport,{doc},{nat},2030-01-01,,,{status},{against},,2026-03-01,Tapachula,entry,GTM,")
}

#[test]
fn import_then_find_by_document_and_name_variants() {
    let (dir, s) = store();
    let path = csv(
        dir.path(),
        &[
            &row(
                "R1",
                "MOHAMMAD ABDUL",
                "HOSSAIN",
                "1990-04-12",
                "BGD",
                "BX1234567",
                "none",
                "",
            ),
            &row(
                "R2",
                "MARÍA JOSÉ",
                "GONZÁLEZ HERNÁNDEZ",
                "1985-11-02",
                "VEN",
                "V9876543",
                "asylum_seeker",
                "",
            ),
            &row(
                "R3",
                "TESFAY",
                "GEBREMEDHIN",
                "1995",
                "ERI",
                "E0000001",
                "refugee",
                "ERI",
            ),
        ],
    );
    let report = import(&s, &path, TODAY, &mut |_, _| {}).unwrap();
    assert_eq!((report.rows, report.created, report.updated), (3, 3, 0));

    let found = s.by_document("BGD", "bx 123-4567").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].record.record_id, "R1");
    assert!(s.by_document("IND", "BX1234567").unwrap().is_empty());

    let q = |given: &str, surnames: &str, dob: &str| NameQuery {
        given_names: given.into(),
        surnames: surnames.into(),
        full_name: None,
        date_of_birth: PartialDate::parse(dob).unwrap(),
        nationality: None,
        sex: None,
    };
    for (given, surnames, dob, want) in [
        ("MUHAMMAD ABDUL", "HUSSAIN", "1990-04-12", "R1"), // transliteration
        ("MD ABDUL", "HOSSAIN", "1990-04-12", "R1"),       // abbreviation
        ("HOSSAIN", "MOHAMMAD", "1990", "R1"),             // swapped, year only
        ("MOHAMMAD", "HOSAIN", "1990-04", "R1"),           // typo, dropped middle name
        ("Maria Jose", "Gonzalez", "1985-11-02", "R2"),    // accents, dropped second surname
        ("JOSE MARIA", "GONZALEZ HERNANDEZ", "1985", "R2"), // order
        ("TESFAYE", "GHEBREMEDHIN", "1995", "R3"),
    ] {
        let m = search(&s, &q(given, surnames, dob), DEFAULT_THRESHOLD, 5).unwrap();
        assert!(!m.is_empty(), "{given} {surnames} found nothing");
        assert_eq!(
            m[0].stored.record.record_id,
            want,
            "{given} {surnames}: {:?}",
            m.iter()
                .map(|x| (&x.stored.record.record_id, x.score))
                .collect::<Vec<_>>()
        );
    }
    // A different person: same surname, other given name, other birth date.
    let m = search(
        &s,
        &q("RAHIMA", "HOSSAIN", "1990-09-30"),
        DEFAULT_THRESHOLD,
        5,
    )
    .unwrap();
    assert!(
        m.is_empty(),
        "{:?}",
        m.iter().map(|x| x.score).collect::<Vec<_>>()
    );
    // Wrong birth year: nobody.
    assert!(search(
        &s,
        &q("MOHAMMAD ABDUL", "HOSSAIN", "1991"),
        DEFAULT_THRESHOLD,
        5
    )
    .unwrap()
    .is_empty());
}

#[test]
fn reimport_updates_and_old_index_entries_go() {
    let (dir, s) = store();
    let path = csv(
        dir.path(),
        &[&row(
            "R1",
            "AMA",
            "MENSAH",
            "1992-01-01",
            "GHA",
            "G1111111",
            "none",
            "",
        )],
    );
    import(&s, &path, TODAY, &mut |_, _| {}).unwrap();
    std::fs::remove_file(&path).unwrap();
    let path = csv(
        dir.path(),
        &[&row(
            "R1",
            "AMA",
            "BOATENG",
            "1992-01-01",
            "GHA",
            "G2222222",
            "none",
            "",
        )],
    );
    let report = import(&s, &path, TODAY, &mut |_, _| {}).unwrap();
    assert_eq!((report.created, report.updated), (0, 1));
    assert_eq!(s.len(), 1);
    assert!(s.by_document("GHA", "G1111111").unwrap().is_empty());
    assert_eq!(s.by_document("GHA", "G2222222").unwrap().len(), 1);
    let q = NameQuery {
        given_names: "AMA".into(),
        surnames: "MENSAH".into(),
        full_name: None,
        date_of_birth: PartialDate::parse("1992-01-01").unwrap(),
        nationality: None,
        sex: Some(Sex::M),
    };
    assert!(search(&s, &q, DEFAULT_THRESHOLD, 5).unwrap().is_empty());
}

#[test]
fn bad_rows_are_reported_by_line_and_nothing_is_imported() {
    let (dir, s) = store();
    let path = csv(
        dir.path(),
        &[
            &row(
                "R1",
                "AMA",
                "MENSAH",
                "1992-01-01",
                "GHA",
                "G1111111",
                "none",
                "",
            ),
            &row("R2", "KOFI", "OWUSU", "1992-13-01", "GHA", "G3", "none", ""),
            &row("R3", "KOFI", "OWUSU", "1992-01-01", "XYZ", "G4", "none", ""),
            &row("R1", "AMA", "MENSAH", "1992-01-01", "GHA", "G5", "none", ""),
            &row(
                "R5",
                "KOFI",
                "OWUSU",
                "1992-01-01",
                "GHA",
                "G6",
                "martian",
                "GTM;QQQ",
            ),
        ],
    );
    let err = import(&s, &path, TODAY, &mut |_, _| {}).unwrap_err();
    let RecordsError::BadRows { errors, .. } = &err else {
        panic!("{err}")
    };
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert!(
        lines.contains(&3) && lines.contains(&4) && lines.contains(&5) && lines.contains(&6),
        "{err}"
    );
    assert!(!lines.contains(&2), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("line 3: date_of_birth") && text.contains("month 13"),
        "{text}"
    );
    assert!(
        text.contains("line 4: nationality") && text.contains("XYZ"),
        "{text}"
    );
    assert!(
        text.contains("line 5: record_id") && text.contains("line 2"),
        "{text}"
    );
    assert!(
        text.contains("line 6: protection_status") && text.contains("QQQ"),
        "{text}"
    );
    assert_eq!(s.len(), 0, "nothing imported");
}

#[test]
fn mrz_with_a_bad_check_digit_is_named() {
    let (dir, s) = store();
    let good = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<";
    let bad2 = "L898902C37UTO7408122F1204159ZE184226B<<<<<10";
    let r = format!("R1,ANNA MARIA,ERIKSSON,1974-08-12,F,UTO,passport,L898902C3,UTO,2012-04-15,{good},{bad2},none,,,,,,,");
    let path = csv(dir.path(), &[&r]);
    let err = import(&s, &path, TODAY, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("document number"),
        "{err}"
    );
}

#[test]
fn missing_columns_and_unknown_formats_are_refused() {
    let (dir, s) = store();
    let path = dir.path().join("x.csv");
    std::fs::write(&path, "record_id,given_names,surname\nR1,A,B\n").unwrap();
    let err = import(&s, &path, TODAY, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing column") && err.contains("surnames"),
        "{err}"
    );
    // A spreadsheet's export with ';' between fields: the error says so.
    let path = dir.path().join("semi.csv");
    std::fs::write(
        &path,
        "record_id;given_names;surnames;date_of_birth;sex;nationality\nR1;A;B;1990-01-01;F;HND\n",
    )
    .unwrap();
    let err = import(&s, &path, TODAY, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("semi.csv") && err.contains("separated by ';'") && err.contains("comma"),
        "{err}"
    );
    let path = dir.path().join("x.xlsx");
    std::fs::write(&path, "x").unwrap();
    assert!(import(&s, &path, TODAY, &mut |_, _| {}).is_err());
}

#[test]
fn jsonl_imports_like_csv() {
    let (dir, s) = store();
    let path = dir.path().join("p.jsonl");
    std::fs::write(&path, "{\"record_id\":\"J1\",\"given_names\":\"WEI\",\"surnames\":\"WANG\",\"date_of_birth\":\"1988\",\"sex\":\"M\",\"nationality\":\"CHN\",\"vulnerabilities\":[\"serious_illness\"]}\n\n{\"record_id\":\"J2\",\"given_names\":\"LI\",\"surnames\":\"ZHANG\",\"date_of_birth\":\"1988-02\",\"sex\":\"Q\",\"nationality\":\"CHN\"}\n").unwrap();
    let err = import(&s, &path, TODAY, &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 3: sex"), "{err}");
    std::fs::write(&path, "{\"record_id\":\"J1\",\"given_names\":\"WEI\",\"surnames\":\"WANG\",\"date_of_birth\":\"1988\",\"sex\":\"M\",\"nationality\":\"CHN\",\"vulnerabilities\":[\"serious_illness\"]}\n").unwrap();
    import(&s, &path, TODAY, &mut |_, _| {}).unwrap();
    let r = s.get_by_record_id("J1").unwrap().unwrap().record;
    assert_eq!(r.vulnerabilities, vec!["serious_illness"]);
}

#[test]
fn sealed_values_cannot_be_read_with_another_key_or_moved() {
    let (dir, s) = store();
    let path = csv(
        dir.path(),
        &[&row(
            "R1",
            "AMA",
            "MENSAH",
            "1992-01-01",
            "GHA",
            "G1111111",
            "none",
            "",
        )],
    );
    import(&s, &path, TODAY, &mut |_, _| {}).unwrap();
    let k1 = DataKey::from_secret(&[7u8; 32]).unwrap();
    let k2 = DataKey::from_secret(&[8u8; 32]).unwrap();
    let sealed = k1.seal(b"person\0a", b"secret").unwrap();
    assert_eq!(k1.open(b"person\0a", &sealed).unwrap(), b"secret");
    assert!(k2.open(b"person\0a", &sealed).is_err());
    assert!(k1.open(b"person\0b", &sealed).is_err());
    // The raw store files hold no plaintext name or document number.
    s.flush().unwrap();
    fn walk(p: &std::path::Path, out: &mut Vec<u8>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.extend(std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    let mut raw = Vec::new();
    walk(&dir.path().join("db"), &mut raw);
    assert!(raw.len() > 1000, "the store files were read");
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("MENSAH") && !text.contains("G1111111") && !text.contains("Tapachula"));
}

#[test]
fn check_rows_validates_from_memory_without_a_store() {
    use crate::import::{check_rows, RowFormat};
    let mut text = COLUMNS.join(",");
    text.push('\n');
    text.push_str(&row(
        "R1",
        "ANA",
        "PEREZ",
        "1990-01-02",
        "HND",
        "X1",
        "none",
        "",
    ));
    text.push('\n');
    let base = std::path::Path::new("/nonexistent");
    let report = check_rows("mem.csv", text.as_bytes(), RowFormat::Csv, base, TODAY).unwrap();
    assert_eq!(report.rows, 1);
    text.push_str(&row(
        "R1", "ANA", "PEREZ", "1990-13", "HND", "X1", "none", "",
    ));
    let err = check_rows("mem.csv", text.as_bytes(), RowFormat::Csv, base, TODAY)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mem.csv") && err.contains("line 3"), "{err}");
}

/// A passport copy must be a regular file: `/dev/zero` passed the size check (its
/// metadata says 0 bytes) and then the validation pass read it without end.
#[cfg(unix)]
#[test]
fn passport_copy_that_is_not_a_regular_file_is_refused() {
    let (dir, s) = store();
    for special in ["/dev/zero", "/dev/null", "/"] {
        let r = format!("R1,ANA,PEREZ,1990,F,HND,,,,,,,none,,,,,,,{special}");
        let path = csv(dir.path(), &[&r]);
        let err = import(&s, &path, TODAY, &mut |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{special}: {err}");
    }
    assert_eq!(s.len(), 0);
}

/// A name query of given names, surnames and a birth date, nothing else.
pub(crate) fn name_query(given: &str, surnames: &str, dob: &str) -> NameQuery {
    NameQuery {
        given_names: given.into(),
        surnames: surnames.into(),
        full_name: None,
        date_of_birth: PartialDate::parse(dob).unwrap(),
        nationality: None,
        sex: None,
    }
}

/// Hundreds of persons share the query's every token and birth month: the pair block is
/// far over the candidate cap, and the person is still found, first.
#[test]
fn a_very_common_name_still_finds_its_person() {
    let (dir, s) = store();
    let mut rows: Vec<String> = (0..1200)
        .map(|i| {
            let given = if i % 2 == 0 { "MD RUBEL" } else { "MD SUMON" };
            let day = 1 + i % 28;
            row(
                &format!("N{i}"),
                given,
                "HOSSAIN",
                &format!("1995-03-{day:02}"),
                "BGD",
                &format!("B{i:07}"),
                "none",
                "",
            )
        })
        .collect();
    rows.push(row(
        "TARGET",
        "MD RUBEL",
        "HOSSAIN MIAH",
        "1995-03-30",
        "BGD",
        "B9999999",
        "none",
        "",
    ));
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    import(&s, &csv(dir.path(), &refs), TODAY, &mut |_, _| {}).unwrap();
    for (given, surnames, dob) in [
        ("MD RUBEL", "HOSSAIN MIAH", "1995-03-30"),
        ("MOHAMMAD RUBEL", "HOSAIN MIAH", "1995-03-30"), // transliteration and typo
        ("RUBEL", "HOSSAIN MIAH", "1995-03"),
    ] {
        let mut stats = crate::blocks::BlockStats::default();
        let m = crate::matcher::search_with_stats(
            &s,
            &name_query(given, surnames, dob),
            DEFAULT_THRESHOLD,
            5,
            None,
            &mut stats,
        )
        .unwrap()
        .matches;
        assert_eq!(
            m.first().map(|x| x.stored.record.record_id.as_str()),
            Some("TARGET"),
            "{given} {surnames} {dob}: {stats:?}"
        );
        assert!(
            stats.candidates <= crate::store::PAIR_BLOCK_CAP,
            "{stats:?}"
        );
    }
}

/// Month blocks: a person recorded with the year only is found by a full-date query; a
/// namesake born in another month is not returned for one (it could not reach the
/// threshold), but is for a year-only query.
#[test]
fn birth_month_blocks_keep_partial_dates_findable() {
    let (dir, s) = store();
    let rows = [
        row("Y", "KWAME", "MENSAH", "1988", "GHA", "G1", "none", ""),
        row(
            "M",
            "KWAME",
            "MENSAH",
            "1988-07-04",
            "GHA",
            "G2",
            "none",
            "",
        ),
    ];
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    import(&s, &csv(dir.path(), &refs), TODAY, &mut |_, _| {}).unwrap();
    let ids = |dob: &str| -> Vec<String> {
        let mut v: Vec<String> = search(
            &s,
            &name_query("KWAME", "MENSAH", dob),
            DEFAULT_THRESHOLD,
            5,
        )
        .unwrap()
        .into_iter()
        .map(|m| m.stored.record.record_id)
        .collect();
        v.sort();
        v
    };
    assert_eq!(ids("1988-02-10"), vec!["Y"]);
    // Y may be the same person, recorded with less: returned, ranked below.
    assert_eq!(ids("1988-07-04"), vec!["M", "Y"]);
    assert_eq!(ids("1988"), vec!["M", "Y"]);
}

/// A store written with another name-index layout (or an interrupted rebuild) is
/// re-indexed when opened; match keys are found before and after loading them.
#[test]
fn reopening_rebuilds_an_old_name_index_and_the_match_keys() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(DataKey::from_secret(&[7u8; 32]).unwrap());
    // A dropped sled::Db releases its file lock when its flusher thread ends, which may
    // be a moment later on a busy machine: wait for the lock, as the node does.
    let open = || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match sled::Config::new().path(dir.path().join("db")).open() {
                Ok(db) => return db,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(
                        e.to_string().contains("lock")
                            || e.to_string().contains("WouldBlock")
                            || e.to_string().contains("temporarily"),
                        "{e}"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    let q = name_query("MARÍA JOSÉ", "GONZÁLEZ", "1985-11-02");
    {
        let db = open();
        let s = RecordStore::open(&db, key.clone()).unwrap();
        let rows = [row(
            "R2",
            "MARÍA JOSÉ",
            "GONZÁLEZ HERNÁNDEZ",
            "1985-11-02",
            "VEN",
            "V1",
            "none",
            "",
        )];
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        import(&s, &csv(dir.path(), &refs), TODAY, &mut |_, _| {}).unwrap();
        assert_eq!(search(&s, &q, DEFAULT_THRESHOLD, 5).unwrap().len(), 1);
        // What a store of the previous layout looks like: no marker, no entries readable
        // under the current terms.
        db.open_tree("rec_meta")
            .unwrap()
            .remove("name_index_layout")
            .unwrap();
        db.open_tree("idx_name1").unwrap().clear().unwrap();
        db.open_tree("idx_name2").unwrap().clear().unwrap();
        db.flush().unwrap();
    }
    let db = open();
    let s = RecordStore::open(&db, key).unwrap();
    // Match keys read from their sealed copies, then from memory.
    for loaded in [false, true] {
        if loaded {
            assert_eq!(s.load_match_keys().unwrap(), 1);
        }
        let m = search(&s, &q, DEFAULT_THRESHOLD, 5).unwrap();
        assert_eq!(m.len(), 1, "keys loaded: {loaded}");
        assert_eq!(m[0].stored.record.record_id, "R2");
    }
}

/// A query with a full date: the person born on it is answered, and namesakes recorded
/// with another full date that agrees only in part are not (the date tells them apart);
/// one recorded with the year alone may be the same person and stays; a person with a
/// better name stays whatever the date; a 01-01 query tells nobody apart.
#[test]
fn an_exact_birth_date_outranks_namesakes_of_other_dates() {
    let (dir, s) = store();
    let rows = [
        row(
            "EXACT",
            "YUSUF",
            "ADAN",
            "2003-05-17",
            "SOM",
            "S1",
            "none",
            "",
        ),
        row(
            "OTHER",
            "YUSUF",
            "ADAN",
            "2004-05-17",
            "SOM",
            "S2",
            "none",
            "",
        ),
        row("YEAR", "YUSUF", "ADAN", "2003", "SOM", "S3", "none", ""),
        row(
            "JAN1",
            "AMINA",
            "WARSAME",
            "1999-01-01",
            "SOM",
            "S4",
            "none",
            "",
        ),
        row(
            "AMINA",
            "AMINA",
            "WARSAME",
            "1999-06-30",
            "SOM",
            "S5",
            "none",
            "",
        ),
        row(
            "MARIE",
            "MARIE",
            "JOSEPH",
            "2003-06-03",
            "HTI",
            "H1",
            "none",
            "",
        ),
        row(
            "LONGER",
            "ROSELAURE MARIE",
            "JOSEPH",
            "2003-03-06",
            "HTI",
            "H2",
            "none",
            "",
        ),
    ];
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    import(&s, &csv(dir.path(), &refs), TODAY, &mut |_, _| {}).unwrap();
    let ids = |given: &str, surnames: &str, dob: &str| -> Vec<String> {
        let mut v: Vec<String> =
            search(&s, &name_query(given, surnames, dob), DEFAULT_THRESHOLD, 5)
                .unwrap()
                .into_iter()
                .map(|m| m.stored.record.record_id)
                .collect();
        v.sort();
        v
    };
    // OTHER (year off by one) goes; YEAR (recorded with less) stays.
    let exact = ids("YUSUF", "ADAN", "2003-05-17");
    assert!(exact.contains(&"EXACT".to_string()), "{exact:?}");
    assert!(exact.contains(&"YEAR".to_string()), "{exact:?}");
    assert!(!exact.contains(&"OTHER".to_string()), "{exact:?}");
    // Without a full date the query cannot tell them apart.
    let year_only = ids("YUSUF", "ADAN", "2003");
    assert!(
        year_only.contains(&"EXACT".to_string()) && year_only.contains(&"YEAR".to_string()),
        "{year_only:?}"
    );
    // A 01-01 query is a placeholder: the person born on 1 January does not hide the
    // namesake born another day.
    assert_eq!(ids("AMINA", "WARSAME", "1999-01-01"), ["AMINA", "JAN1"]);
    // Day and month swapped, and the better name: MARIE JOSEPH stays next to a namesake
    // born on the query's date whose name agrees less.
    let swapped = ids("MARIE", "JOSEPH", "2003-03-06");
    assert!(swapped.contains(&"MARIE".to_string()), "{swapped:?}");
}

#[test]
fn a_document_number_is_normalized_or_refused_never_changed() {
    use crate::model::document_number;
    assert_eq!(document_number("bx 123-4567<<").unwrap(), "BX1234567");
    // Characters the normalization would drop, turning the number into another one.
    for bad in [
        "BX１２３４５６７",
        "SECRET 123 !!",
        "BX\u{200b}1234567",
        "P.123/45",
    ] {
        let e = document_number(bad).unwrap_err();
        assert!(e.contains("is not a letter A-Z"), "{bad}: {e}");
    }
    // The position, never the character: the message reaches audit entries and peers.
    let e = document_number("BX１２３").unwrap_err();
    assert!(e.starts_with("character 3 "), "{e}");
    assert!(!e.contains('１'), "{e}");
    assert!(document_number("").is_err());
    assert!(document_number(&"1".repeat(21)).is_err());
    assert_eq!(document_number(&"1".repeat(20)).unwrap().len(), 20);
}

#[test]
fn an_encounter_in_the_future_is_refused_one_day_of_slack_allowed() {
    use crate::import::{check_rows, RowFormat};
    let header = crate::import::COLUMNS.join(",");
    let base = std::path::Path::new("/nonexistent");
    let with = |date: &str| {
        format!(
            "{header}\nR1,ANA,PEREZ,1990-01-01,F,HND,passport,X1,HND,2030-01-01,,,none,,,{date},Tapachula,entry,GTM,\n"
        )
    };
    // TODAY is 2026-11-28: the 29th may already be the office's day; later is not.
    for ok in ["2026-11-28", "2026-11-29", "2026-11", "2026"] {
        check_rows("mem.csv", with(ok).as_bytes(), RowFormat::Csv, base, TODAY)
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for future in ["2026-11-30", "2026-12", "2027", "2062-01-01"] {
        let err = check_rows(
            "mem.csv",
            with(future).as_bytes(),
            RowFormat::Csv,
            base,
            TODAY,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("encounter_date") && err.contains("in the future"),
            "{future}: {err}"
        );
    }
}

#[test]
fn protection_status_words_are_read_whatever_their_case() {
    let (dir, s) = store();
    let path = csv(
        dir.path(),
        &[
            &row(
                "R1",
                "AMA",
                "MENSAH",
                "1992-01-01",
                "GHA",
                "G1",
                "Refugee",
                "GTM",
            ),
            &row(
                "R2",
                "KOFI",
                "OWUSU",
                "1992-01-01",
                "GHA",
                "G2",
                " NONE ",
                "",
            ),
        ],
    );
    import(&s, &path, TODAY, &mut |_, _| {}).unwrap();
    let r1 = s.get_by_record_id("R1").unwrap().unwrap().record;
    assert_eq!(r1.protection_status, "refugee");
    assert_eq!(
        r1.protection().status,
        puente_policy::protection::ProtectionStatus::Refugee
    );
    assert_eq!(
        s.get_by_record_id("R2")
            .unwrap()
            .unwrap()
            .record
            .protection_status,
        "none"
    );
}
