//! Tests of the match-key snapshot (`store/snapshot.rs`): used only when it reflects the
//! store; a change, an altered or cut file, another store's file or an older one is
//! rebuilt from the sealed keys, never trusted.

use std::collections::BTreeMap;
use std::path::Path;

use crate::import::{import_bytes, RowFormat, COLUMNS};
use crate::matcher::{search, NameQuery, DEFAULT_THRESHOLD};
use crate::model::PartialDate;
use crate::store::{RecordStore, SNAPSHOT_FILE};

const TODAY: time::Date = time::macros::date!(2026 - 11 - 28);

fn open(dir: &Path, secret: u8) -> (sled::Db, RecordStore) {
    crate::tests::open_waiting(dir, secret)
}

fn import(store: &RecordStore, rows: &[(&str, &str, &str)]) {
    let mut csv = COLUMNS.join(",") + "\n";
    for (id, given, surname) in rows {
        csv += &format!("{id},{given},{surname},1986-12-01,F,HTI,passport,{id}X,HTI,2030-01-01,,,none,,,2026-03-01,Tapachula,entry,GTM,\n");
    }
    import_bytes(
        store,
        "t.csv",
        RowFormat::Csv,
        csv.as_bytes(),
        &BTreeMap::new(),
        TODAY,
    )
    .unwrap();
}

fn found(store: &RecordStore, given: &str, surnames: &str) -> Vec<String> {
    let q = NameQuery {
        given_names: given.into(),
        surnames: surnames.into(),
        full_name: None,
        date_of_birth: PartialDate::parse("1986-12-01").unwrap(),
        nationality: None,
        sex: None,
    };
    search(store, &q, DEFAULT_THRESHOLD, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.stored.record.record_id)
        .collect()
}

/// Opens the store at `dir` as a node starting does; says whether the snapshot was used.
fn start(dir: &Path) -> (sled::Db, RecordStore, Option<String>) {
    let (db, store) = open(dir, 7);
    let loaded = store
        .load_match_keys_from(&dir.join(SNAPSHOT_FILE))
        .unwrap();
    assert_eq!(loaded.save_failed, None);
    (db, store, loaded.rebuilt)
}

#[test]
fn a_snapshot_that_reflects_the_store_is_used_and_holds_every_key() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_db, store) = open(dir.path(), 7);
        import(
            &store,
            &[("A1", "ROSE", "PIERRE"), ("A2", "JEAN", "BAPTISTE")],
        );
    }
    let (db, store, rebuilt) = start(dir.path());
    assert!(rebuilt.unwrap().contains("names no snapshot"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(SNAPSHOT_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the snapshot is private to the node's user"
    );
    let before: Vec<_> = (0..64).map(|id| store.match_key(id).unwrap()).collect();
    drop((store, db));
    let (_db, store, rebuilt) = start(dir.path());
    assert_eq!(rebuilt, None, "the second start reads the snapshot");
    let after: Vec<_> = (0..64).map(|id| store.match_key(id).unwrap()).collect();
    assert_eq!(before, after);
    assert_eq!(found(&store, "WOZ", "PYE"), ["A1"]);
}

#[test]
fn a_change_after_the_snapshot_makes_the_next_start_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_db, store) = open(dir.path(), 7);
        import(&store, &[("A1", "ROSE", "PIERRE")]);
    }
    drop(start(dir.path()));
    {
        // Changed after the snapshot was written: one added, one deleted.
        let (_db, store) = open(dir.path(), 7);
        import(&store, &[("A2", "JEAN", "BAPTISTE")]);
        store.delete(&["A1".into()]).unwrap();
    }
    let (db, store, rebuilt) = start(dir.path());
    assert!(rebuilt.unwrap().contains("names no snapshot"));
    assert_eq!(found(&store, "JAN", "BATIS"), ["A2"]);
    assert!(found(&store, "ROSE", "PIERRE").is_empty());
    drop((store, db));
    // The snapshot written by that start holds the change.
    let (_db, store, rebuilt) = start(dir.path());
    assert_eq!(rebuilt, None);
    assert_eq!(found(&store, "JAN", "BATIS"), ["A2"]);
    assert!(found(&store, "ROSE", "PIERRE").is_empty());
}

#[test]
fn an_altered_cut_foreign_or_older_snapshot_is_rebuilt_never_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join(SNAPSHOT_FILE);
    {
        let (_db, store) = open(dir.path(), 7);
        import(&store, &[("A1", "ROSE", "PIERRE")]);
    }
    drop(start(dir.path()));
    // Each start that rebuilds writes a new snapshot: every case alters the current one.
    type Alter = fn(Vec<u8>) -> Vec<u8>;
    let cases: [(&str, Alter, &str); 4] = [
        (
            "a flipped byte",
            |mut b| {
                let at = b.len() - 40;
                b[at] ^= 1;
                b
            },
            "altered or cut short",
        ),
        (
            "cut short",
            |mut b| {
                b.pop();
                b
            },
            "altered or cut short",
        ),
        (
            "garbage",
            |_| b"not a snapshot".to_vec(),
            "not a match-key snapshot",
        ),
        (
            "another id",
            |mut b| {
                b[20] ^= 1;
                b
            },
            "not the snapshot the store names",
        ),
    ];
    for (what, alter, why) in cases {
        let bytes = alter(std::fs::read(&snap).unwrap());
        std::fs::write(&snap, &bytes).unwrap();
        let (db, store, rebuilt) = start(dir.path());
        let rebuilt = rebuilt.unwrap_or_else(|| panic!("{what}: the snapshot was trusted"));
        assert!(rebuilt.contains(why), "{what}: {rebuilt}");
        assert_eq!(found(&store, "ROSE", "PIERRE"), ["A1"], "{what}");
        drop((store, db));
    }
    std::fs::remove_file(&snap).unwrap();
    let (db, store, rebuilt) = start(dir.path());
    assert!(rebuilt.unwrap().contains("missing"));
    drop((store, db));

    // An older snapshot of this same store, put back after a change: its id is no
    // longer the one named.
    let older = std::fs::read(&snap).unwrap();
    {
        let (_db, store) = open(dir.path(), 7);
        import(&store, &[("A2", "JEAN", "BAPTISTE")]);
    }
    drop(start(dir.path()));
    std::fs::write(&snap, &older).unwrap();
    let (db, store, rebuilt) = start(dir.path());
    assert!(rebuilt
        .unwrap()
        .contains("not the snapshot the store names"));
    assert_eq!(found(&store, "JAN", "BATIS"), ["A2"]);
    drop((store, db));

    // Another store's snapshot (another data key), even with this store's id copied in.
    let other = tempfile::tempdir().unwrap();
    {
        let (_db, store) = open(other.path(), 9);
        import(&store, &[("B1", "LOUIS", "PAUL")]);
        store
            .load_match_keys_from(&other.path().join(SNAPSHOT_FILE))
            .unwrap();
    }
    let mut foreign = std::fs::read(other.path().join(SNAPSHOT_FILE)).unwrap();
    let own = std::fs::read(&snap).unwrap();
    foreign[..32].copy_from_slice(&own[..32]);
    std::fs::write(&snap, &foreign).unwrap();
    let (_db, store, rebuilt) = start(dir.path());
    assert!(rebuilt
        .unwrap()
        .contains("does not open under the data key"));
    assert!(found(&store, "LWI", "POL").is_empty());
    assert_eq!(found(&store, "JAN", "BATIS"), ["A2"]);
}
