//! Tests of which answers a name query keeps when several score above the threshold
//! (`matcher/rank.rs`): with a partial date the name decides, namesakes the query cannot
//! tell apart all stay, an exact full date is never dropped for a better name elsewhere,
//! and a person whose date agrees only in part is found whenever nobody agrees better.

use crate::matcher::{search, DEFAULT_THRESHOLD};
use crate::model::{PartialDate, PersonRecord};
use crate::store::RecordStore;

fn person(id: &str, given: &str, surnames: &str, dob: &str) -> PersonRecord {
    serde_json::from_value(serde_json::json!({
        "record_id": id, "given_names": given, "surnames": surnames,
        "date_of_birth": PartialDate::parse(dob).unwrap(),
        "sex": "F", "nationality": "NPL", "document": null, "protection_status": "none",
        "protected_against": [], "vulnerabilities": [], "encounters": [],
        "passport_copy": null,
    }))
    .unwrap()
}

fn load(s: &RecordStore, rows: &[(&str, &str, &str, &str)]) {
    let rows = rows
        .iter()
        .map(|(id, g, sn, dob)| (person(id, g, sn, dob), None))
        .collect();
    s.apply_import("t", rows).unwrap();
}

/// The record ids answered, sorted, with each answer's explanation.
fn answers(s: &RecordStore, given: &str, surnames: &str, dob: &str) -> Vec<(String, String)> {
    let q = crate::tests::name_query(given, surnames, dob);
    let mut v: Vec<(String, String)> = search(s, &q, DEFAULT_THRESHOLD, 5)
        .unwrap()
        .into_iter()
        .map(|m| (m.stored.record.record_id, m.explanation))
        .collect();
    v.sort();
    v
}

fn ids(s: &RecordStore, given: &str, surnames: &str, dob: &str) -> Vec<String> {
    answers(s, given, surnames, dob)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// A query giving the year alone, a 01-01 placeholder or the year and month, or a date
/// a year off: the namesake whose name agrees a step less goes next to the person whose
/// name agrees fully; each way round, and the one left is found when alone.
#[test]
fn with_a_partial_date_the_better_name_decides() {
    let (_dir, s) = crate::tests::store();
    load(
        &s,
        &[
            ("SHANTI", "SHANTI", "GURUNG", "1997-12-12"),
            ("SUNITA", "SUNITA", "GURUNG", "1997-02-25"),
            ("ROSE", "ROSE", "PIERRE", "1987-12-01"),
            ("ROSA", "ROSA", "PIERRE", "1987-12-01"),
        ],
    );
    // Before the rule, each of these queries answered both namesakes.
    for dob in ["1997", "1997-01-01", "1997-12"] {
        let found = answers(&s, "SHANTI", "GURUNG", dob);
        assert_eq!(found.len(), 1, "{dob}: {found:?}");
        assert_eq!(found[0].0, "SHANTI", "{dob}");
        // The answer still says which parts agreed, and how.
        assert!(found[0].1.contains("SHANTI exact"), "{found:?}");
        assert!(found[0].1.contains("GURUNG exact"), "{found:?}");
        assert!(found[0].1.contains("birth year"), "{found:?}");
    }
    for dob in ["1997", "1997-01-01"] {
        assert_eq!(ids(&s, "SUNITA", "GURUNG", dob), ["SUNITA"], "{dob}");
    }
    // The year off by one, month and day agreeing: the same.
    assert_eq!(ids(&s, "ROSE", "PIERRE", "1986-12-01"), ["ROSE"]);
    assert_eq!(ids(&s, "ROSA", "PIERRE", "1986-12-01"), ["ROSA"]);

    // Negatives: with the better-named person gone, the namesake is found as before.
    s.delete(&["SHANTI".into(), "ROSE".into()]).unwrap();
    for dob in ["1997", "1997-01-01", "1997-12"] {
        if dob == "1997-12" {
            // SUNITA was born in February: the month tells her apart.
            assert!(ids(&s, "SHANTI", "GURUNG", dob).is_empty(), "{dob}");
            continue;
        }
        let found = answers(&s, "SHANTI", "GURUNG", dob);
        assert_eq!(found.len(), 1, "{dob}: {found:?}");
        assert_eq!(found[0].0, "SUNITA", "{dob}");
        assert!(found[0].1.contains("SHANTI~SUNITA"), "{found:?}");
    }
    assert_eq!(ids(&s, "ROSE", "PIERRE", "1986-12-01"), ["ROSA"]);
}

/// Namesakes the query cannot tell apart (the same name, dates that agree alike with
/// its partial date) all stay: the officer sees every one of them.
#[test]
fn namesakes_the_query_cannot_tell_apart_all_stay() {
    let (_dir, s) = crate::tests::store();
    load(
        &s,
        &[
            ("M1", "MARIE", "JEAN", "2003-05-26"),
            ("M2", "MARIE", "JEAN", "2003-09-16"),
            ("M3", "MARIE", "JEAN", "2003-01-01"),
            ("M4", "MARIE", "JEAN", "2003"),
        ],
    );
    for dob in ["2003", "2003-01-01"] {
        assert_eq!(
            ids(&s, "MARIE", "JEAN", dob),
            ["M1", "M2", "M3", "M4"],
            "{dob}"
        );
    }
}

/// Given name and surname in the query's order outrank the same tokens swapped when
/// the date cannot tell them apart; the swapped record is found when alone, and an
/// answer born on the query's exact full date is never dropped, whatever the name of
/// another.
#[test]
fn the_name_as_written_decides_but_an_exact_date_always_stays() {
    let (_dir, s) = crate::tests::store();
    load(
        &s,
        &[
            ("LJ", "LOUIS", "JEAN", "2008-06-13"),
            ("JL", "JEAN", "LOUIS", "2008-11-17"),
            ("SUNITA", "SUNITA", "GURUNG", "1997-02-25"),
            ("SHANTI_Y", "SHANTI", "GURUNG", "1997"),
        ],
    );
    assert_eq!(ids(&s, "LOUIS", "JEAN", "2008"), ["LJ"]);
    assert_eq!(ids(&s, "JEAN", "LOUIS", "2008-01-01"), ["JL"]);
    // With a full date each is told apart by it, as before.
    assert_eq!(ids(&s, "LOUIS", "JEAN", "2008-11-17"), ["JL"]);
    // SUNITA born on the query's date (a name a step off) and SHANTI recorded with the
    // year alone (the exact name): neither is better on every count, both stay.
    assert_eq!(
        ids(&s, "SHANTI", "GURUNG", "1997-02-25"),
        ["SHANTI_Y", "SUNITA"]
    );
    s.delete(&["LJ".into()]).unwrap();
    assert_eq!(ids(&s, "LOUIS", "JEAN", "2008"), ["JL"]);
}
