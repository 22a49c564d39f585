//! Where a node's start from the snapshot spends its time at a million persons (run by
//! hand: `cargo test --release -p puente-records --lib -- --ignored snapshot_timing
//! --nocapture`). It measures and prints; it asserts only that the snapshot is used.

use std::time::Instant;

use super::snapshot::part_aad;
use super::*;
use crate::model::{PartialDate, Sex};
use crate::names::normalize;

#[test]
#[ignore = "a measurement at a million persons, run by hand"]
fn snapshot_timing() {
    let n: u64 = std::env::var("PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (dir, store) = crate::tests::store();
    let t = Instant::now();
    let names = [
        "ROSE MARIE",
        "JEAN BAPTISTE",
        "WEI",
        "MOHAMMAD ABDUL",
        "ANA LUCIA",
    ];
    let surnames = [
        "PIERRE",
        "SAINT FLEUR",
        "WANG",
        "RAHMAN HOSSAIN",
        "PEREZ GOMEZ",
    ];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut postings = Vec::new();
    for id in 0..n {
        let i = id as usize;
        let key = MatchKey {
            name: normalize(&[names[i % 5], surnames[(i / 5) % 5]]),
            date_of_birth: PartialDate {
                year: 1950 + (i % 60) as i32,
                month: Some(1 + (i % 12) as u8),
                day: Some(1 + (i % 28) as u8),
            },
            nationality: "HTI".into(),
            sex: Sex::F,
            shielded_from: Some(Vec::new()),
        };
        store.keys_mem.insert(id, &key);
        for _ in 0..19 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            postings.push((x, id));
        }
    }
    store.names.replace(postings);
    println!("built {n} persons in {:?}", t.elapsed());
    let path = dir.path().join(SNAPSHOT_FILE);
    let t = Instant::now();
    store.save_match_key_snapshot(&path).unwrap();
    println!(
        "saved in {:?} ({} MB)",
        t.elapsed(),
        std::fs::metadata(&path).unwrap().len() / 1_000_000
    );
    let t = Instant::now();
    let mut bytes = std::fs::read(&path).unwrap();
    println!("read {:?}", t.elapsed());
    let (head, rest) = bytes.split_at_mut(32);
    let (len, rest) = rest.split_at_mut(8);
    let (keys, names) = rest.split_at_mut(u64::from_be_bytes(len.try_into().unwrap()) as usize);
    let t = Instant::now();
    let keys = store.key.open_in(&part_aad(head, "keys"), keys).unwrap();
    let names = store.key.open_in(&part_aad(head, "names"), names).unwrap();
    println!("both parts opened {:?}", t.elapsed());
    let t = Instant::now();
    let decoded = NameIndex::decode(names).unwrap();
    println!("index decoded {:?}", t.elapsed());
    let t = Instant::now();
    store.names.replace_sorted(decoded);
    println!("index installed {:?}", t.elapsed());
    let t = Instant::now();
    store.keys_mem.install(MatchKeys::parse(keys).unwrap());
    println!("keys decoded {:?}", t.elapsed());
    drop(bytes);
    let again = RecordStore {
        keys_mem: MatchKeys::default(),
        names: NameIndex::default(),
        ..store.clone()
    };
    let t = Instant::now();
    let loaded = again.load_match_keys_from(&path).unwrap();
    println!("whole load {:?}", t.elapsed());
    assert_eq!(loaded.rebuilt, None);
}
