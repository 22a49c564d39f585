#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use puente_proto::v1::{AgeGroup, EncounterEvent, Sex};

use crate::cell::{CellKey, OwnCell, Period, Suppression, Value, NO_MONTH};
use crate::store::{Source, StatsStore};
use crate::suppress::{disclose, min_nonzero, Policy};
use crate::table::{export, read_import, summary, Format, Row};
use crate::watermark::Watermarks;

fn key(period: &str, nat: &str, ep: &str) -> CellKey {
    CellKey::new(
        Period::parse(period).unwrap(),
        nat,
        Sex::Female,
        AgeGroup::Age1829,
        ep,
        EncounterEvent::Entry,
    )
    .unwrap()
}

fn store() -> (tempfile::TempDir, StatsStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    (dir, StatsStore::open(&db).unwrap())
}

#[test]
fn keys_round_trip_and_group_days_under_their_month() {
    let k = key("2026-11-03", "VEN", "MEX-AICM, T1");
    assert_eq!(CellKey::decode(&k.encode()).unwrap(), k);
    let m = k.with_period(k.period.month_of());
    assert_eq!(CellKey::decode(&m.encode()).unwrap(), m);
    assert!(k.encode().starts_with(&m.days_prefix()));
    let other = key("2026-12-03", "VEN", "MEX-AICM, T1");
    assert!(!other.encode().starts_with(&m.days_prefix()));
    let proto = k.to_proto("MEX", Value::Count(7), 3);
    assert_eq!(
        CellKey::from_proto(&proto).unwrap(),
        (k, Value::Count(7), 3)
    );
}

#[test]
fn a_count_beyond_any_flow_is_refused_so_totals_cannot_overflow() {
    let k = key("2026-11-03", "VEN", "MEX-AICM, T1");
    let at_most = k.to_proto("MEX", Value::Count(crate::cell::MAX_COUNT), 1);
    assert!(CellKey::from_proto(&at_most).is_ok());
    for n in [crate::cell::MAX_COUNT + 1, u64::MAX] {
        let err = CellKey::from_proto(&k.to_proto("MEX", Value::Count(n), 1)).unwrap_err();
        assert!(err.to_string().contains(&format!("count {n}")), "{err}");
    }
}

#[test]
fn bad_keys_are_refused_with_the_reason() {
    assert!(Period::parse("2026-13")
        .unwrap_err()
        .to_string()
        .contains("2026-13"));
    assert!(Period::parse("2026-02-30").is_err());
    assert!(Period::parse("26-02").is_err());
    let e = CellKey::new(
        Period::parse("2026-01").unwrap(),
        "vEN",
        Sex::Male,
        AgeGroup::Age04,
        "",
        EncounterEvent::Entry,
    )
    .unwrap_err();
    assert!(e.to_string().contains("nationality"), "{e}");
    let long = "x".repeat(129);
    assert!(CellKey::new(
        Period::parse("2026-01").unwrap(),
        "VEN",
        Sex::Male,
        AgeGroup::Age04,
        &long,
        EncounterEvent::Entry
    )
    .is_err());
    assert!(CellKey::decode(b"garbage").is_err());
}

#[test]
fn versions_move_only_on_change_and_pages_resume() {
    let (_d, s) = store();
    let mut counts = BTreeMap::new();
    for i in 0..30u64 {
        counts.insert(
            key(
                &format!("2026-11-{:02}", i % 28 + 1),
                "VEN",
                &format!("P{i}"),
            ),
            i + 1,
        );
    }
    let c = s.replace_source(Source::Records, &counts).unwrap();
    assert_eq!(c.changed, 30);
    // The same counts again change nothing.
    assert_eq!(
        s.replace_source(Source::Records, &counts).unwrap().changed,
        0
    );
    let (page, more) = s.changes_since(0, 20).unwrap();
    assert_eq!(page.len(), 20);
    assert!(more);
    let last = page.last().unwrap().1.version;
    let (rest, more) = s.changes_since(last, 20).unwrap();
    assert_eq!(rest.len(), 10);
    assert!(!more);
    // Change one count: exactly that cell comes back.
    let top = s.latest_version().unwrap();
    let k = counts.keys().next().unwrap().clone();
    counts.insert(k.clone(), 99);
    assert_eq!(
        s.replace_source(Source::Records, &counts).unwrap().changed,
        1
    );
    let (changed, _) = s.changes_since(top, 100).unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].0, k);
    assert_eq!(changed[0].1.count, 99);
    // A cell that disappears from the source falls to 0, it is not deleted.
    counts.remove(&k);
    s.replace_source(Source::Records, &counts).unwrap();
    assert_eq!(s.own_cell(&k).unwrap().unwrap().count, 0);
}

#[test]
fn sources_add_up_and_import_upserts() {
    let (_d, s) = store();
    let k = key("2026-10", "HTI", "");
    s.replace_source(Source::Records, &BTreeMap::from([(k.clone(), 4)]))
        .unwrap();
    s.upsert_source(Source::Import, &BTreeMap::from([(k.clone(), 10)]))
        .unwrap();
    assert_eq!(s.own_cell(&k).unwrap().unwrap().count, 14);
    s.upsert_source(Source::Import, &BTreeMap::from([(k.clone(), 1)]))
        .unwrap();
    assert_eq!(s.own_cell(&k).unwrap().unwrap().count, 5);
}

#[test]
fn a_changed_day_resends_its_month_with_the_new_smallest_day() {
    let (_d, s) = store();
    let month = key("2026-11", "CUB", "A");
    let d1 = key("2026-11-01", "CUB", "A");
    let d2 = key("2026-11-02", "CUB", "A");
    let mut counts = BTreeMap::from([(month.clone(), 20), (d1.clone(), 10), (d2.clone(), 10)]);
    s.replace_source(Source::Records, &counts).unwrap();
    assert_eq!(s.own_cell(&month).unwrap().unwrap().min_day, 10);
    let top = s.latest_version().unwrap();
    // d1 10 -> 2 and d2 10 -> 18: the month count stays 20, but it must be re-sent
    // because now a day is small.
    counts.insert(d1.clone(), 2);
    counts.insert(d2.clone(), 18);
    s.replace_source(Source::Records, &counts).unwrap();
    let (changed, _) = s.changes_since(top, 100).unwrap();
    let keys: Vec<_> = changed.iter().map(|(k, _)| k.clone()).collect();
    assert!(keys.contains(&month), "{keys:?}");
    let m = s.own_cell(&month).unwrap().unwrap();
    assert_eq!((m.count, m.min_day), (20, 2));
    let p = Policy {
        threshold: 5,
        secondary: true,
    };
    assert_eq!(
        disclose(&month.period, &m, p),
        Value::Suppressed(Suppression::Secondary)
    );
    let p = Policy {
        threshold: 5,
        secondary: false,
    };
    assert_eq!(disclose(&month.period, &m, p), Value::Count(20));
}

#[test]
fn received_cells_keep_the_highest_version_and_reapplying_changes_nothing() {
    let (_d, s) = store();
    let gtm = puente_pki::CountryCode::parse("GTM").unwrap();
    let k = key("2026-11", "HND", "");
    let page = vec![(k.clone(), Value::Count(40), 7)];
    assert_eq!(s.apply_received(gtm, &page).unwrap(), 1);
    assert_eq!(s.apply_received(gtm, &page).unwrap(), 0);
    let older = vec![(k.clone(), Value::Count(1), 3)];
    assert_eq!(s.apply_received(gtm, &older).unwrap(), 0);
    let all = s.received_cells().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].2.value, Value::Count(40));
}

#[test]
fn watermarks_are_bound_to_the_country_and_the_issuer() {
    let w = Watermarks::new(&[7; 32]);
    let m = w.issue("GTM", 42);
    assert_eq!(w.check("GTM", &m).unwrap(), 42);
    assert_eq!(w.check("GTM", b"").unwrap(), 0);
    assert!(w.check("CRI", &m).is_err(), "issued to another country");
    let mut forged = m.clone();
    forged[11] ^= 1;
    assert!(w.check("GTM", &forged).is_err(), "altered version");
    assert!(
        Watermarks::new(&[8; 32]).check("GTM", &m).is_err(),
        "other issuer"
    );
    assert!(w.check("GTM", &[0; 300]).is_err());
}

#[test]
fn import_checks_every_row_and_names_the_line() {
    let good = "period,nationality,sex,age_group,entry_point,event,count\n2026-11,VEN,F,18-29,\"MEX-AICM, T1\",entry,12\n2026-11-02,XXX,X,unknown,,detection,0\n";
    let cells = read_import("a.csv", good.as_bytes()).unwrap();
    assert_eq!(cells.len(), 2);
    let bad = "period,nationality,sex,age_group,entry_point,event,count\n2026-11,VEN,F,18-29,A,entry,12\n2026-11,VEN,F,18-29,A,arrival,3\n";
    let e = read_import("b.csv", bad.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("b.csv, line 3") && e.contains("event"), "{e}");
    let dup = "period,nationality,sex,age_group,entry_point,event,count\n2026-11,VEN,F,18-29,A,entry,12\n2026-11,VEN,F,18-29,A,entry,3\n";
    let e = read_import("c.csv", dup.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 3") && e.contains("line 2"), "{e}");
    let neg = "period,nationality,sex,age_group,entry_point,event,count\n2026-11,VEN,F,18-29,A,entry,-1\n";
    assert!(read_import("d.csv", neg.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("count"));
    let header = "period,nat\n";
    assert!(read_import("e.csv", header.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("line 1"));
    // Every bad row is named, not only the first (as a records import does).
    let several = "period,nationality,sex,age_group,entry_point,event,count\n2026-11,VEN,F,18-29,A,entry,12\n2026-13,VEN,F,18-29,A,entry,3\n2026-11,VEN,Q,18-29,A,entry,3\n2026-11,VEN,F,18-29,A,entry,x\n";
    let e = read_import("f.csv", several.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("3 bad row(s)")
            && e.contains("line 3: period")
            && e.contains("line 4: sex")
            && e.contains("line 5: count"),
        "{e}"
    );
}

#[test]
fn exports_show_suppressed_cells_as_such() {
    let rows = vec![
        Row {
            reporting: "GTM".into(),
            key: key("2026-11", "HND", "GT-TECUN"),
            value: Value::Count(120),
            version: 1,
        },
        Row {
            reporting: "GTM".into(),
            key: key("2026-11-02", "HND", "GT-TECUN"),
            value: Value::Suppressed(Suppression::Primary),
            version: 2,
        },
        Row {
            reporting: "GTM".into(),
            key: key("2026-10", "NIC", ""),
            value: Value::Suppressed(Suppression::Secondary),
            version: 3,
        },
    ];
    let mut out = Vec::new();
    export(&rows, Format::SdmxCsv, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA,CITIZENSHIP,SEX,AGE,ENTRY_POINT,EVENT,TIME_PERIOD,OBS_VALUE,CONF_STATUS");
    assert_eq!(
        lines[1],
        "dataflow,PUENTE:MIGR_FLOWS(1.0),I,GTM,HND,F,Y18T29,GT-TECUN,ENTRY,2026-11,120,F"
    );
    assert!(lines[2].ends_with("2026-11-02,,A"), "{}", lines[2]);
    assert!(
        lines[3].contains(",_Z,") && lines[3].ends_with(",,D"),
        "{}",
        lines[3]
    );
    let mut out = Vec::new();
    export(&rows, Format::Csv, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("suppressed_primary") && text.contains(",120,disclosed"));
    let s = summary(&rows, 5);
    assert!(s.contains("GTM 2026-11") && s.contains("HND"), "{s}");
    assert!(
        s.contains("NIC") && s.contains("withheld") && !s.contains("≥0"),
        "a month whose only cell is withheld says so, with no bound of nothing: {s}"
    );
}

#[test]
fn the_summary_never_prints_a_bound_of_nothing_and_aligns_long_names() {
    let row = |period: &str, nat: &str, value: Value| Row {
        reporting: "GTM".into(),
        key: key(period, nat, "GT-TECUN"),
        value,
        version: 1,
    };
    let rows = vec![
        row("2026-11", "HND", Value::Count(120)),
        // Bolivia's official name is long; Nicaragua's only cell is withheld.
        row("2026-11", "BOL", Value::Count(7)),
        row("2026-11", "NIC", Value::Suppressed(Suppression::Primary)),
        Row {
            key: key("2026-11", "BOL", "GT-OTHER"),
            ..row("2026-11", "BOL", Value::Suppressed(Suppression::Primary))
        },
    ];
    let s = summary(&rows, 5);
    assert!(
        !s.contains("≥0"),
        "a withheld-only nationality is no bound: {s}"
    );
    let nic = s.lines().find(|l| l.contains("NIC")).expect("NIC listed");
    assert!(nic.contains("withheld"), "{nic}");
    // The counts end in the same column whatever the length of the country's name.
    let end_of = |nat: &str, value: &str| {
        let line = s.lines().find(|l| l.contains(nat)).expect("listed");
        line.find(&format!(" {value} "))
            .map(|i| line[..i].chars().count() + 1 + value.chars().count())
    };
    // Bolivia has a withheld cell beside its 7: a lower bound.
    let (hnd, bol) = (end_of("HND", "120"), end_of("BOL", "≥7"));
    assert!(hnd.is_some() && hnd == bol, "{s}");
}

#[test]
fn age_groups_are_unknown_only_when_the_date_of_birth_leaves_it_open() {
    use crate::aggregate::age_group_at;
    use puente_records::model::PartialDate;
    let d = |y, m, dd| PartialDate {
        year: y,
        month: m,
        day: dd,
    };
    assert_eq!(
        age_group_at(&d(2000, Some(5), Some(10)), &d(2018, Some(5), Some(10))),
        AgeGroup::Age1829
    );
    assert_eq!(
        age_group_at(&d(2000, Some(5), Some(11)), &d(2018, Some(5), Some(10))),
        AgeGroup::Age1217
    );
    // Year only, far from a boundary: known.
    assert_eq!(
        age_group_at(&d(1990, None, None), &d(2026, Some(1), None)),
        AgeGroup::Age3044
    );
    // Year only, on a boundary (17 or 18): unknown.
    assert_eq!(
        age_group_at(&d(2008, None, None), &d(2026, Some(6), None)),
        AgeGroup::AgeUnknown
    );
    assert_eq!(
        age_group_at(&d(0, None, None), &d(2026, Some(6), None)),
        AgeGroup::AgeUnknown
    );
}

/// Everything a receiver learns about one month group under `p`.
fn view(month: u64, days: &[u64], p: Policy) -> (Value, Vec<Value>) {
    let period_m = Period::parse("2026-11").unwrap();
    let period_d = Period::parse("2026-11-01").unwrap();
    let m = OwnCell {
        count: month,
        version: 1,
        min_day: min_nonzero(days.iter().copied()),
        month: NO_MONTH,
    };
    let dv = days
        .iter()
        .map(|n| {
            disclose(
                &period_d,
                &OwnCell {
                    count: *n,
                    version: 1,
                    min_day: 0,
                    month,
                },
                p,
            )
        })
        .collect();
    (disclose(&period_m, &m, p), dv)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// No disclosed count is ever a small cell, whatever the policy.
    #[test]
    fn no_small_count_is_ever_disclosed(
        days in proptest::collection::vec(0u64..30, 1..6),
        threshold in 0u32..12,
        secondary: bool,
    ) {
        let p = Policy { threshold, secondary };
        let (m, dv) = view(days.iter().sum(), &days, p);
        for v in std::iter::once(m).chain(dv) {
            if let Value::Count(n) = v {
                prop_assert!(n == 0 || n >= u64::from(threshold));
            }
        }
    }

    /// With secondary suppression, a receiver that knows the algorithm and that the month
    /// is the sum of its days still cannot pin down any suppressed day: another assignment
    /// of the withheld values gives exactly the same view but a different value for it.
    #[test]
    fn a_suppressed_day_cannot_be_recomputed_from_the_total(
        days in proptest::collection::vec(0u64..9, 1..4),
        threshold in 3u32..6,
    ) {
        let p = Policy { threshold, secondary: true };
        let seen = view(days.iter().sum(), &days, p);
        let hidden: Vec<usize> = seen.1.iter().enumerate()
            .filter(|(_, v)| matches!(v, Value::Suppressed(_)))
            .map(|(i, _)| i)
            .collect();
        for &target in &hidden {
            // Enumerate every alternative for the withheld days (0..=12 each).
            let mut alternatives = std::collections::BTreeSet::new();
            let n = hidden.len() as u32;
            for code in 0..13u64.pow(n) {
                let mut alt = days.clone();
                let mut c = code;
                for &i in &hidden {
                    alt[i] = c % 13;
                    c /= 13;
                }
                if view(alt.iter().sum(), &alt, p) == seen {
                    alternatives.insert(alt[target]);
                }
            }
            prop_assert!(alternatives.len() >= 2,
                "day {target} of {days:?} is pinned to {alternatives:?} at threshold {threshold}");
        }
    }
}

#[test]
fn a_source_adjusted_by_deltas_adds_to_the_others_and_never_goes_below_zero() {
    let (_d, s) = store();
    let k = key("2026-12-03", "HND", "Ciudad Hidalgo");
    s.replace_source(Source::Records, &BTreeMap::from([(k.clone(), 4)]))
        .unwrap();
    let add = BTreeMap::from([(k.clone(), 3i64)]);
    assert_eq!(s.adjust_source(Source::Manifests, &add).unwrap().changed, 1);
    assert_eq!(s.own_cell(&k).unwrap().unwrap().count, 7);
    s.adjust_source(Source::Manifests, &add).unwrap();
    assert_eq!(s.own_cell(&k).unwrap().unwrap().count, 10);
    // Taking away more than the source gave leaves the other sources' part.
    s.adjust_source(Source::Manifests, &BTreeMap::from([(k.clone(), -9i64)]))
        .unwrap();
    assert_eq!(s.own_cell(&k).unwrap().unwrap().count, 4);
    // A recount replaces the deltas.
    s.replace_source(Source::Manifests, &BTreeMap::from([(k.clone(), 2)]))
        .unwrap();
    assert_eq!(s.own_cell(&k).unwrap().unwrap().count, 6);
}

#[test]
fn an_entry_point_a_spreadsheet_would_run_is_refused_and_exports_neutralize_it() {
    for ep in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)"] {
        let err = crate::cell::check_entry_point(ep).unwrap_err();
        assert!(err.to_string().contains("formula"), "{ep}: {err}");
    }
    assert_eq!(
        crate::cell::check_entry_point("MEX-AICM, T1").unwrap(),
        "MEX-AICM, T1"
    );
    assert_eq!(crate::cell::spreadsheet_safe("=1+1"), "'=1+1");
    assert_eq!(crate::cell::spreadsheet_safe("Tapachula"), "Tapachula");
}
