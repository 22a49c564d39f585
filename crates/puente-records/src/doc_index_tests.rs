//! Tests of the document index held in memory beside the name index
//! (`store/documents.rs`): after every change (a whole import, one record, a deletion) it
//! lists exactly what the document index in sled lists, whether it came from the
//! snapshot, from `rec_keys` or was changed live; a stale or older snapshot is rebuilt,
//! never trusted; and a store that holds no index in memory answers the same from sled.

use std::path::Path;

use crate::model::{DocumentType, PersonRecord, TravelDocument};
use crate::store::{RecordStore, SNAPSHOT_FILE};

fn open(dir: &Path) -> (sled::Db, RecordStore) {
    crate::tests::open_waiting(dir, 7)
}

/// Opens the store as a node starting does; says why the snapshot was not used.
fn start(dir: &Path) -> (sled::Db, RecordStore, Option<String>) {
    let (db, store) = open(dir);
    let loaded = store
        .load_match_keys_from(&dir.join(SNAPSHOT_FILE))
        .unwrap();
    assert_eq!(loaded.save_failed, None);
    (db, store, loaded.rebuilt)
}

fn person(id: &str, given: &str, state: &str, number: &str) -> PersonRecord {
    let mut p: PersonRecord = serde_json::from_value(serde_json::json!({
        "record_id": id, "given_names": given, "surnames": "PIERRE",
        "date_of_birth": crate::model::PartialDate::parse("1986-12-01").unwrap(),
        "sex": "F", "nationality": "HTI", "document": null, "protection_status": "none",
        "protected_against": [], "vulnerabilities": [], "encounters": [],
        "passport_copy": null,
    }))
    .unwrap();
    p.document = Some(TravelDocument {
        document_type: DocumentType::Passport,
        number: number.into(),
        issuing_state: state.into(),
        expiry: None,
        mrz: None,
    });
    p
}

/// The record ids holding the document, as the store answers.
fn holders(store: &RecordStore, state: &str, number: &str) -> Vec<String> {
    let mut ids: Vec<String> = store
        .by_document(state, number)
        .unwrap()
        .into_iter()
        .map(|s| s.record.record_id)
        .collect();
    ids.sort();
    ids
}

/// Every document ever used below: each must be answered as `want` says, and the index
/// in memory (when `held`) must list the same ids as the one in sled.
fn check(store: &RecordStore, held: bool, want: &[(&str, &str, &[&str])], when: &str) {
    for (state, number, who) in want {
        assert_eq!(
            holders(store, state, number),
            *who,
            "{when}: {state} {number}"
        );
        let (mem, disk) = store.doc_index_ids(state, number);
        match held {
            true => assert_eq!(mem, Some(disk), "{when}: {state} {number}"),
            false => assert_eq!(mem, None, "{when}: no index is held"),
        }
    }
}

/// The answers after the changes made below.
const AFTER: &[(&str, &str, &[&str])] = &[
    // A1 changed passports: the old one finds nobody, the new one A1.
    ("HTI", "OLD1", &[]),
    ("HTI", "NEW1", &["A1"]),
    // A2 deleted.
    ("HTI", "P2", &[]),
    // A3 now holds A4's passport too (two records of one document).
    ("HTI", "P4", &["A3", "A4"]),
    ("HTI", "P3", &[]),
    // Another state's passport of the same number is another document.
    ("DOM", "P4", &["A5"]),
];

#[test]
fn the_document_index_in_memory_follows_every_change_and_every_start() {
    for live in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        {
            let (_db, store, _) = start(dir.path());
            store
                .apply_import(
                    "first",
                    vec![
                        (person("A1", "ROSE", "HTI", "OLD1"), None),
                        (person("A2", "JEAN", "HTI", "P2"), None),
                        (person("A3", "MARIE", "HTI", "P3"), None),
                        (person("A4", "PAUL", "HTI", "P4"), None),
                    ],
                )
                .unwrap();
            assert_eq!(holders(&store, "hti ", "old-1"), ["A1"], "normalized");
            check(&store, true, &[("HTI", "P2", &["A2"])], "after the import");
        }
        let (db, store, rebuilt) = start(dir.path());
        assert!(rebuilt.is_some(), "the first start writes the snapshot");
        let changes = [
            person("A1", "ROSE", "HTI", "NEW1"),
            person("A3", "MARIE", "HTI", "P4"),
            person("A5", "LOUIS", "DOM", "P4"),
        ];
        if live {
            store
                .apply_import("second", changes.map(|p| (p, None)).to_vec())
                .unwrap();
        } else {
            for p in &changes {
                store.put(p, None).unwrap();
            }
        }
        store.delete(&["A2".into()]).unwrap();
        check(&store, true, AFTER, "while serving");
        drop((store, db));

        let (db, store, rebuilt) = start(dir.path());
        assert!(
            rebuilt.is_some(),
            "a changed store must not trust its snapshot"
        );
        check(&store, true, AFTER, "after a restart rebuilding the index");
        drop((store, db));

        let (db, store, rebuilt) = start(dir.path());
        assert_eq!(rebuilt, None);
        check(&store, true, AFTER, "after a restart from the snapshot");
        drop((store, db));

        // A one-shot command does not load the index: sled answers, the same.
        let (_db, store) = open(dir.path());
        check(&store, false, AFTER, "opened without loading");
    }
}

/// A change made through a handle that holds no index (a one-shot command, another
/// process) after the snapshot was written: the next start does not trust the snapshot
/// (which still lists the old passport) and finds the person only by the new one. A
/// snapshot of the earlier format, whose index held no documents, is rebuilt too.
#[test]
fn a_stale_or_older_snapshot_never_answers_for_documents() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join(SNAPSHOT_FILE);
    {
        let (_db, store, _) = start(dir.path());
        store
            .apply_import("first", vec![(person("A1", "ROSE", "HTI", "OLD1"), None)])
            .unwrap();
    }
    drop(start(dir.path()));
    let written = std::fs::read(&snap).unwrap();
    {
        let (_db, store) = open(dir.path());
        store
            .put(&person("A1", "ROSE", "HTI", "NEW1"), None)
            .unwrap();
    }
    let want: &[(&str, &str, &[&str])] = &[("HTI", "OLD1", &[]), ("HTI", "NEW1", &["A1"])];
    let (db, store, rebuilt) = start(dir.path());
    let rebuilt = rebuilt.expect("the stale snapshot was trusted");
    assert!(rebuilt.contains("names no snapshot"), "{rebuilt}");
    check(&store, true, want, "after the stale snapshot");
    drop((store, db));

    // The stale file put back: not the one the store names now.
    std::fs::write(&snap, &written).unwrap();
    let (db, store, rebuilt) = start(dir.path());
    let rebuilt = rebuilt.expect("the older snapshot was trusted");
    assert!(
        rebuilt.contains("not the snapshot the store names"),
        "{rebuilt}"
    );
    check(&store, true, want, "after the older snapshot");
    drop((store, db));

    // The current snapshot relabelled as the earlier format (v2, no documents in its
    // index): refused by its header.
    let mut v2 = std::fs::read(&snap).unwrap();
    v2[..16].copy_from_slice(b"puente-mkeys/v2\n");
    std::fs::write(&snap, &v2).unwrap();
    let (db, store, rebuilt) = start(dir.path());
    let rebuilt = rebuilt.expect("a v2 snapshot was trusted");
    assert!(rebuilt.contains("not a match-key snapshot"), "{rebuilt}");
    check(&store, true, want, "after a v2 snapshot");
    drop((store, db));
    let (_db, store, rebuilt) = start(dir.path());
    assert_eq!(rebuilt, None);
    check(&store, true, want, "from the rebuilt snapshot");
}

/// The index in memory holds keyed hashes, not numbers: nothing of the document number
/// is in the snapshot written to disk (which is sealed whole, and this checks it too).
#[test]
fn no_document_number_reaches_the_snapshot_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_db, store, _) = start(dir.path());
        store
            .apply_import(
                "first",
                vec![(person("A1", "ROSE", "HTI", "ZQ98765432"), None)],
            )
            .unwrap();
    }
    drop(start(dir.path()));
    let bytes = std::fs::read(dir.path().join(SNAPSHOT_FILE)).unwrap();
    assert!(!bytes.windows(10).any(|w| w == b"ZQ98765432"));
    let (_db, store, rebuilt) = start(dir.path());
    assert_eq!(rebuilt, None);
    assert_eq!(holders(&store, "HTI", "ZQ98765432"), ["A1"]);
}
