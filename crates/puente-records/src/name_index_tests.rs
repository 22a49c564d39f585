//! Tests of the name index held in memory (`store/postings.rs`, `store/name_blocks.rs`):
//! exact through every change, whether it came from the snapshot, from `rec_keys`, or
//! was loaded by the first query; rebuilt, never trusted, from a snapshot that does not
//! decode; and the sled trees of earlier versions dropped.

use std::path::Path;

use crate::crypto::DataKey;
use crate::matcher::{search, NameQuery, DEFAULT_THRESHOLD};
use crate::model::PersonRecord;
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

fn person(id: &str, given: &str, surnames: &str, dob: &str) -> PersonRecord {
    serde_json::from_value(serde_json::json!({
        "record_id": id, "given_names": given, "surnames": surnames,
        "date_of_birth": crate::model::PartialDate::parse(dob).unwrap(),
        "sex": "F", "nationality": "HTI", "document": null, "protection_status": "none",
        "protected_against": [], "vulnerabilities": [], "encounters": [],
        "passport_copy": null,
    }))
    .unwrap()
}

fn found(store: &RecordStore, given: &str, surnames: &str, dob: &str) -> Vec<String> {
    let q = NameQuery {
        given_names: given.into(),
        surnames: surnames.into(),
        full_name: None,
        date_of_birth: crate::model::PartialDate::parse(dob).unwrap(),
        nationality: None,
        sex: None,
    };
    search(store, &q, DEFAULT_THRESHOLD, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.stored.record.record_id)
        .collect()
}

/// What the store answers for the old and new names of the changed persons, and for one
/// left alone.
fn check(store: &RecordStore, when: &str) {
    assert!(
        found(store, "ROSE", "PIERRE", "1986-12-01").is_empty(),
        "{when}: renamed, found by the old name"
    );
    assert_eq!(
        found(store, "ROSE", "DUVAL", "1986-12-01"),
        ["A1"],
        "{when}: renamed, not found by the new name"
    );
    assert!(
        found(store, "JEAN", "BAPTISTE", "1990-03-04").is_empty(),
        "{when}: erased, still found"
    );
    assert!(
        found(store, "MARIE", "LOUIS", "1975-06-07").is_empty(),
        "{when}: born on another date now, found under the old one"
    );
    assert_eq!(
        found(store, "MARIE", "LOUIS", "1977-02-03"),
        ["A3"],
        "{when}: not found under the new date"
    );
    assert_eq!(
        found(store, "PAUL", "JOSEPH", "1960-01-09"),
        ["A4"],
        "{when}: unchanged, not found"
    );
}

/// Changes one way, then checks while serving, after a restart from the snapshot, after
/// one rebuilding from `rec_keys`, and from a store opened without any load (the first
/// query loads the index).
#[test]
fn a_changed_or_erased_person_is_found_only_as_they_are_now_after_restarts_too() {
    for live in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        {
            let (_db, store, _) = start(dir.path());
            store
                .apply_import(
                    "first",
                    vec![
                        (person("A1", "ROSE", "PIERRE", "1986-12-01"), None),
                        (person("A2", "JEAN", "BAPTISTE", "1990-03-04"), None),
                        (person("A3", "MARIE", "LOUIS", "1975-06-07"), None),
                        (person("A4", "PAUL", "JOSEPH", "1960-01-09"), None),
                    ],
                )
                .unwrap();
            assert_eq!(found(&store, "ROSE", "PIERRE", "1986-12-01"), ["A1"]);
            assert_eq!(found(&store, "JEAN", "BAPTISTE", "1990-03-04"), ["A2"]);
        }
        // A start that writes the snapshot, then the changes on top of it.
        let (db, store, _) = start(dir.path());
        assert_eq!(found(&store, "MARIE", "LOUIS", "1975-06-07"), ["A3"]);
        if live {
            // As a node serving does: whole changes.
            store
                .apply_import(
                    "second",
                    vec![
                        (person("A1", "ROSE", "DUVAL", "1986-12-01"), None),
                        (person("A3", "MARIE", "LOUIS", "1977-02-03"), None),
                    ],
                )
                .unwrap();
        } else {
            // One record at a time.
            store
                .put(&person("A1", "ROSE", "DUVAL", "1986-12-01"), None)
                .unwrap();
            store
                .put(&person("A3", "MARIE", "LOUIS", "1977-02-03"), None)
                .unwrap();
        }
        store.delete(&["A2".into()]).unwrap();
        check(&store, "while serving");
        drop((store, db));

        let (db, store, rebuilt) = start(dir.path());
        assert!(
            rebuilt.is_some(),
            "a changed store must not trust its snapshot"
        );
        check(&store, "after a restart rebuilding the index");
        drop((store, db));

        let (db, store, rebuilt) = start(dir.path());
        assert_eq!(rebuilt, None);
        check(&store, "after a restart from the snapshot");
        drop((store, db));

        let (_db, store) = open(dir.path());
        check(&store, "opened without loading");
    }
}

/// A store opened without loading its index takes changes before any query: the index
/// the first query loads from `rec_keys` holds them, once each.
#[test]
fn changes_before_the_first_query_are_in_the_index_it_loads() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_db, store) = open(dir.path());
        store
            .put(&person("A1", "ROSE", "PIERRE", "1986-12-01"), None)
            .unwrap();
        store
            .put(&person("A4", "PAUL", "JOSEPH", "1960-01-09"), None)
            .unwrap();
    }
    let (_db, store) = open(dir.path());
    store
        .put(&person("A1", "ROSE", "DUVAL", "1986-12-01"), None)
        .unwrap();
    store
        .apply_import(
            "later",
            vec![(person("A3", "MARIE", "LOUIS", "1977-02-03"), None)],
        )
        .unwrap();
    assert_eq!(found(&store, "ROSE", "DUVAL", "1986-12-01"), ["A1"]);
    assert!(found(&store, "ROSE", "PIERRE", "1986-12-01").is_empty());
    assert_eq!(found(&store, "MARIE", "LOUIS", "1977-02-03"), ["A3"]);
    assert_eq!(found(&store, "PAUL", "JOSEPH", "1960-01-09"), ["A4"]);
    // Nothing held twice: deleting everyone leaves the index empty.
    assert!(store.name_index_size().0 > 0);
    store
        .delete(&["A1".into(), "A3".into(), "A4".into()])
        .unwrap();
    assert_eq!(store.name_index_size().0, 0);
}

/// A snapshot that opens under the data key and is named by the store, but whose name
/// index does not decode (entries out of order), is rebuilt, never trusted; so is a
/// snapshot of the earlier format (match keys only).
#[test]
fn a_snapshot_whose_index_does_not_decode_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join(SNAPSHOT_FILE);
    {
        let (_db, store) = open(dir.path());
        for (id, given, surname) in [("A1", "ROSE", "PIERRE"), ("A2", "JEAN", "BAPTISTE")] {
            store
                .put(&person(id, given, surname, "1986-12-01"), None)
                .unwrap();
        }
    }
    drop(start(dir.path()));
    let key = DataKey::from_secret(&[7; 32]).unwrap();
    // The file: head (magic, id) ‖ length of the keys' part ‖ keys' part ‖ index part.
    struct File {
        head: Vec<u8>,
        keys: Vec<u8>,
        names: Vec<u8>,
        len: Option<u64>,
    }
    let aad = |head: &[u8], part: &str| [head, part.as_bytes()].concat();
    // Each case alters the snapshot the store names now (every rebuild writes a new one).
    type Alter = fn(&DataKey, &mut File);
    let cases: [(&str, Alter, &str); 5] = [
        (
            "an index out of order, sealed again",
            |key, f| {
                let aad = [&f.head[..], b"names"].concat();
                let mut plain = key.open(&aad, &f.names).unwrap();
                assert!(plain.len() >= 8 + 32, "the index holds entries");
                let first: Vec<u8> = plain[8..24].to_vec();
                plain.copy_within(24..40, 8);
                plain[24..40].copy_from_slice(&first);
                f.names = key.seal(&aad, &plain).unwrap();
            },
            "out of order",
        ),
        (
            "a first part longer than the file",
            |_, f| f.len = Some(u64::MAX),
            "length of its first part is wrong",
        ),
        (
            "the parts swapped",
            |_, f| std::mem::swap(&mut f.keys, &mut f.names),
            "does not open under the data key",
        ),
        (
            "the index sealed as the keys' part",
            |key, f| {
                let plain = key
                    .open(&[&f.head[..], b"names"].concat(), &f.names)
                    .unwrap();
                f.keys = key.seal(&[&f.head[..], b"keys"].concat(), &plain).unwrap();
            },
            "persons cannot fit",
        ),
        (
            "the earlier format (the same id, one sealed part)",
            |_, f| f.head[..16].copy_from_slice(b"puente-mkeys/v1\n"),
            "not a match-key snapshot",
        ),
    ];
    for (what, alter, why) in cases {
        let bytes = std::fs::read(&snap).unwrap();
        let len = u64::from_be_bytes(bytes[32..40].try_into().unwrap()) as usize;
        let mut file = File {
            head: bytes[..32].to_vec(),
            keys: bytes[40..40 + len].to_vec(),
            names: bytes[40 + len..].to_vec(),
            len: None,
        };
        assert!(key.open(&aad(&file.head, "keys"), &file.keys).is_ok());
        alter(&key, &mut file);
        let len = file.len.unwrap_or(file.keys.len() as u64).to_be_bytes();
        std::fs::write(
            &snap,
            [&file.head[..], &len, &file.keys, &file.names].concat(),
        )
        .unwrap();
        let (db, store, rebuilt) = start(dir.path());
        let rebuilt = rebuilt.unwrap_or_else(|| panic!("{what}: the snapshot was trusted"));
        assert!(rebuilt.contains(why), "{what}: {rebuilt}");
        assert_eq!(
            found(&store, "ROSE", "PIERRE", "1986-12-01"),
            ["A1"],
            "{what}"
        );
        assert_eq!(
            found(&store, "JEAN", "BAPTISTE", "1986-12-01"),
            ["A2"],
            "{what}"
        );
        drop((store, db));
        let (db, store, rebuilt) = start(dir.path());
        assert_eq!(rebuilt, None, "{what}: the rebuilt snapshot is used");
        assert_eq!(
            found(&store, "ROSE", "PIERRE", "1986-12-01"),
            ["A1"],
            "{what}"
        );
        drop((store, db));
    }
}

/// A store written by a version that kept the name index in sled: its trees are dropped
/// when it opens, and names are found through `rec_keys`.
#[test]
fn the_name_trees_of_earlier_versions_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, store) = open(dir.path());
        store
            .put(&person("A1", "ROSE", "PIERRE", "1986-12-01"), None)
            .unwrap();
        db.open_tree("idx_name1")
            .unwrap()
            .insert([1u8; 24], &[])
            .unwrap();
        db.open_tree("idx_name2")
            .unwrap()
            .insert([2u8; 24], &[])
            .unwrap();
        db.flush().unwrap();
    }
    let (db, store) = open(dir.path());
    let names: Vec<_> = db.tree_names();
    assert!(
        !names.iter().any(|n| n.starts_with(b"idx_name")),
        "{names:?}"
    );
    assert_eq!(found(&store, "ROSE", "PIERRE", "1986-12-01"), ["A1"]);
}
