//! The manifests store and the expected-arrival cells, without a server: sealed values
//! that are altered or moved do not open, erasure removes both trees' entries, due
//! manifests are found by time, and the cells count each passenger once in its day and
//! month at the entry point.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use puente_manifest::{Format, Manifest};
use puente_proto::v1::{AgeGroup, EncounterEvent, Sex};
use puente_records::DataKey;

use super::cells::expected_arrivals;
use super::store::{ManifestStore, StoredManifest};

const BUS: &str = include_str!("../../../puente-manifest/testdata/bus.json");

fn bus() -> Manifest {
    puente_manifest::parse(
        BUS.as_bytes(),
        Format::BusJson,
        time::macros::date!(2026 - 12 - 03),
    )
    .unwrap()
}

fn stored(id: &str, received_ms: i64, erase_after_ms: i64) -> StoredManifest {
    StoredManifest {
        id: id.into(),
        submitted_by: "urn:puente:MEX:carrier:tfs".into(),
        received_ms,
        erase_after_ms,
        entry_point: "Ciudad Hidalgo".into(),
        manifest: bus(),
    }
}

fn store() -> (tempfile::TempDir, sled::Db, ManifestStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let key = Arc::new(DataKey::from_secret(&[9u8; 32]).unwrap());
    let s = ManifestStore::open(&db, key).unwrap();
    (dir, db, s)
}

#[test]
fn sealed_manifests_open_only_where_they_were_sealed() {
    let (_dir, db, s) = store();
    s.insert(&stored("m1", 1_000, 5_000)).unwrap();
    s.insert(&stored("m2", 2_000, 9_000)).unwrap();
    assert_eq!(s.get("m1").unwrap().unwrap().manifest.trip, "TFS-0412");
    assert_eq!(
        s.newest(10, None)
            .unwrap()
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        ["m2", "m1"]
    );
    let tree = db.open_tree("manifests").unwrap();
    let raw = tree.get("m1").unwrap().unwrap();
    assert!(
        !raw.windows(8)
            .any(|w| w == b"Okafor\"," || w == b"F1234567"),
        "sealed, not plain"
    );
    // Moved under another id: does not open.
    tree.insert("m3", raw.clone()).unwrap();
    assert!(s.get("m3").unwrap_err().contains("does not open"));
    // A flipped byte: does not open.
    let mut bad = raw.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    tree.insert("m1", bad).unwrap();
    assert!(s.get("m1").is_err());
}

#[test]
fn due_manifests_are_found_by_time_and_erased_from_both_trees() {
    let (_dir, db, s) = store();
    s.insert(&stored("m1", 1_000, 5_000)).unwrap();
    s.insert(&stored("m2", 2_000, 9_000)).unwrap();
    assert!(s.due(4_999).unwrap().is_empty());
    assert_eq!(s.due(5_000).unwrap(), [("m1".to_string(), 5_000)]);
    assert!(s.erase("m1", 5_000).unwrap());
    assert!(!s.erase("m1", 5_000).unwrap(), "once");
    assert!(s.get("m1").unwrap().is_none());
    assert_eq!(s.len(), 1);
    assert_eq!(db.open_tree("manifest_expiry").unwrap().len(), 1);
    assert_eq!(s.due(10_000).unwrap(), [("m2".to_string(), 9_000)]);
}

#[test]
fn each_passenger_counts_once_in_the_day_and_the_month_of_arrival() {
    let counts = expected_arrivals(&[stored("m1", 0, 0), stored("m2", 0, 0)]);
    // 3 passengers, each in a day cell and a month cell; the two copies add up.
    assert_eq!(counts.values().sum::<u64>(), 2 * 2 * 3);
    let days: Vec<_> = counts.keys().filter(|k| k.period.is_day()).collect();
    assert_eq!(days.len(), 3);
    for k in &days {
        assert_eq!(k.event, EncounterEvent::ExpectedArrival);
        assert_eq!(k.entry_point, "Ciudad Hidalgo");
        assert_eq!(k.period.to_string(), "2026-12-03");
    }
    let carlos = days
        .iter()
        .find(|k| k.nationality == "HND")
        .expect("the Honduran passenger");
    assert_eq!((carlos.sex, carlos.age), (Sex::Male, AgeGroup::Age3044));
    // Rose is known only by her birth year: her age group is unknown unless both
    // readings agree (30 or 31 at the end of 2026: 30-44).
    let rose = days.iter().find(|k| k.nationality == "HTI").unwrap();
    assert_eq!(rose.age, AgeGroup::Age3044);
    // Without a date, a manifest counts nowhere.
    let mut undated = stored("m3", 0, 0);
    undated.manifest.arrival = None;
    undated.manifest.departure = None;
    assert!(expected_arrivals(&[undated]).is_empty());
}
