//! Principle 4 for statistics, as a property: what a country pulls from a store holding
//! persons protected against it is what it would pull from a store that never held them,
//! step after step (records changing, persons becoming protected, imports), in full and
//! from its watermark, page by page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use puente_proto::v1::{AgeGroup, EncounterEvent, Sex};
use puente_records::model::{Encounter, PartialDate, PersonRecord, Sex as RecordSex};

use crate::aggregate::{add_record, Aggregated};
use crate::cell::{CellKey, OwnCell, Period, Value};
use crate::store::{Source, StatsStore};
use crate::suppress::{disclose, Policy};

const STEPS: usize = 3;
/// VEN: persons of that nationality with a protecting status, or protected against it.
/// COL: persons protected against it. MEX: nobody is protected against it.
const ASKERS: [&str; 3] = ["VEN", "COL", "MEX"];

#[derive(Clone, Debug)]
struct Person {
    nationality: &'static str,
    /// Per step: 0 none, 1 refugee (from the nationality), 2 against VEN, 3 against COL.
    protection: [u8; STEPS],
    /// Per step: whether the record is in the store.
    present: [bool; STEPS],
    /// (month, day, place, event).
    encounters: Vec<(u8, Option<u8>, u8, u8)>,
}

fn person() -> impl Strategy<Value = Person> {
    (
        prop_oneof![Just("VEN"), Just("HTI")],
        proptest::array::uniform3(0u8..4),
        proptest::array::uniform3(proptest::bool::weighted(0.8)),
        proptest::collection::vec((1u8..3, proptest::option::of(1u8..4), 0u8..2, 0u8..2), 1..4),
    )
        .prop_map(|(nationality, protection, present, encounters)| Person {
            nationality,
            protection,
            present,
            encounters,
        })
}

fn record(i: usize, p: &Person, step: usize) -> PersonRecord {
    let (status, against) = match p.protection[step] {
        1 => ("refugee", vec![]),
        2 => ("none", vec!["VEN".to_string()]),
        3 => ("none", vec!["COL".to_string()]),
        _ => ("none", vec![]),
    };
    PersonRecord {
        record_id: format!("R{i}"),
        given_names: "A".into(),
        surnames: "B".into(),
        date_of_birth: PartialDate {
            year: 1990,
            month: Some(1),
            day: Some(1),
        },
        sex: RecordSex::F,
        nationality: p.nationality.into(),
        document: None,
        protection_status: status.into(),
        protected_against: against,
        vulnerabilities: vec![],
        encounters: p
            .encounters
            .iter()
            .map(|(m, d, place, event)| Encounter {
                date: PartialDate {
                    year: 2026,
                    month: Some(*m),
                    day: *d,
                },
                place: ["MEX-A", "MEX-B"][usize::from(*place)].into(),
                event: ["entry", "detection"][usize::from(*event)].into(),
                previous_country: None,
            })
            .collect(),
        passport_copy: None,
    }
}

/// An import: (month, day, nationality, count).
fn import() -> impl Strategy<Value = Vec<(u8, Option<u8>, bool, u64)>> {
    proptest::collection::vec(
        (1u8..3, proptest::option::of(1u8..4), any::<bool>(), 0u64..4),
        0..3,
    )
}

fn import_cells(rows: &[(u8, Option<u8>, bool, u64)]) -> BTreeMap<CellKey, u64> {
    rows.iter()
        .map(|(m, d, ven, n)| {
            let period = match d {
                Some(d) => Period::day(2026, *m, *d).unwrap(),
                None => Period::month(2026, *m).unwrap(),
            };
            let nat = if *ven { "VEN" } else { "HTI" };
            let key = CellKey::new(
                period,
                nat,
                Sex::Female,
                AgeGroup::Age1829,
                "MEX-A",
                EncounterEvent::Entry,
            )
            .unwrap();
            (key, *n)
        })
        .collect()
}

fn temp_store() -> StatsStore {
    let db = sled::Config::new().temporary(true).open().unwrap();
    StatsStore::open(&db).unwrap()
}

/// What a country observes of a pull: each cell and everything it carries but its
/// version number, in the order received.
type Seen = Vec<(CellKey, u64, u64, u64, Value)>;

/// Pulls everything after `since` in pages of `page`, as `country` (None: the shared
/// cells, as the store served before views existed); returns what was seen and the
/// last version.
fn pull(s: &StatsStore, country: Option<&str>, since: u64, page: usize, p: Policy) -> (Seen, u64) {
    let mut seen = Vec::new();
    let mut at = since;
    loop {
        let (cells, more) = match country {
            Some(c) => s.changes_for(c, at, page).unwrap(),
            None => s.changes_since(at, page).unwrap(),
        };
        for (k, c) in &cells {
            let OwnCell {
                count,
                min_day,
                month,
                ..
            } = *c;
            seen.push((k.clone(), count, min_day, month, disclose(&k.period, c, p)));
        }
        if let Some((_, c)) = cells.last() {
            assert!(c.version > at, "versions must ascend");
            at = c.version;
        }
        if !more {
            return (seen, at);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn a_country_pulls_the_cells_it_would_pull_without_the_persons_protected_against_it(
        people in proptest::collection::vec(person(), 1..7),
        imports in proptest::array::uniform3(import()),
        page in 1usize..6,
        threshold in 1u32..5,
        secondary in any::<bool>(),
    ) {
        let policy = Policy { threshold, secondary };
        let store = temp_store();
        // Per asker, the store as it would be without the persons protected against it.
        let without: Vec<StatsStore> = ASKERS.iter().map(|_| temp_store()).collect();
        let mut marks = [0u64; 3];
        let mut marks_without = [0u64; 3];
        for (step, import) in imports.iter().enumerate() {
            let mut all = Aggregated::default();
            let mut apart: Vec<Aggregated> = ASKERS.iter().map(|_| Aggregated::default()).collect();
            for (i, p) in people.iter().enumerate().filter(|(_, p)| p.present[step]) {
                let r = record(i, p, step);
                add_record(&mut all, &r);
                let shielded = r.shielded_from();
                for (a, agg) in ASKERS.iter().zip(apart.iter_mut()) {
                    if !shielded.iter().any(|c| c == a) {
                        add_record(agg, &r);
                    }
                }
            }
            store.replace_records(&all.counts, &all.shielded).unwrap();
            for (s, agg) in without.iter().zip(&apart) {
                s.replace_source(Source::Records, &agg.counts).unwrap();
            }
            let imported = import_cells(import);
            if !imported.is_empty() {
                store.upsert_source(Source::Import, &imported).unwrap();
                for s in &without {
                    s.upsert_source(Source::Import, &imported).unwrap();
                }
            }
            for (a, asker) in ASKERS.iter().enumerate() {
                let (full, _) = pull(&store, Some(asker), 0, page, policy);
                let (full_without, _) = pull(&without[a], None, 0, 10_000, policy);
                prop_assert_eq!(&full, &full_without, "{} at step {}, full pull", asker, step);
                let (inc, m) = pull(&store, Some(asker), marks[a], page, policy);
                let (inc_without, mw) = pull(&without[a], None, marks_without[a], 10_000, policy);
                prop_assert_eq!(&inc, &inc_without, "{} at step {}, from its watermark", asker, step);
                marks[a] = m;
                marks_without[a] = mw;
            }
            // MEX, against whom nobody is protected, sees everyone counted.
            let (mex, _) = pull(&store, Some("MEX"), 0, page, policy);
            let (shared, _) = pull(&store, None, 0, 10_000, policy);
            prop_assert_eq!(mex, shared);
        }
    }
}
