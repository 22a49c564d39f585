//! Where a document lookup spends its time at a million persons (run by hand:
//! `PERSONS=1000000 cargo test --release -p puente-records --lib -- --ignored
//! document_timing --nocapture`). Loads synthetic persons with documents as an import
//! does, flushes, then times each step of 2,000 lookups spread over the whole store, in
//! the order a lookup takes them, each on its own cold set of persons: the index (sled's
//! prefix scan, or memory), the record's sled read, its unsealing and decoding. It
//! prints; it asserts only that every lookup finds its person.

use std::time::{Duration, Instant};

use super::*;
use crate::model::{DocumentType, TravelDocument};

fn p99(mut t: Vec<Duration>) -> String {
    t.sort();
    let at = |q: f64| t[((t.len() as f64 * q) as usize).min(t.len() - 1)].as_secs_f64() * 1e3;
    format!(
        "p50 {:.4} ms, p99 {:.4} ms, max {:.4} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

#[test]
#[ignore = "a measurement at a million persons, run by hand"]
fn document_timing() {
    let n: u64 = std::env::var("PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (_dir, store) = crate::tests::store();
    let t = Instant::now();
    let mut rows = Vec::new();
    for i in 0..n {
        let mut p: PersonRecord = serde_json::from_value(serde_json::json!({
            "record_id": format!("R{i}"), "given_names": format!("ROSE {}", i % 977),
            "surnames": format!("PIERRE {}", i % 1013),
            "date_of_birth": crate::model::PartialDate::parse("1986-12-01").unwrap(),
            "sex": "F", "nationality": "HTI", "document": null, "protection_status": "none",
            "protected_against": [], "vulnerabilities": [],
            "encounters": [{"date": crate::model::PartialDate::parse("2026-03-01").unwrap(),
                            "place": "Tapachula", "event": "entry",
                            "previous_country": "GTM"}],
            "passport_copy": null,
        }))
        .unwrap();
        p.document = Some(TravelDocument {
            document_type: DocumentType::Passport,
            number: format!("HP{i:08}"),
            issuing_state: "HTI".into(),
            expiry: None,
            mrz: None,
        });
        rows.push((p, None));
        if rows.len() == 10_000 {
            store.apply_part(std::mem::take(&mut rows)).unwrap();
        }
    }
    store.apply_part(rows).unwrap();
    store.flush().unwrap();
    println!("loaded {n} persons in {:?}", t.elapsed());
    // Four disjoint sets of 2,000 persons spread over the store, one per step, so each
    // step reads pages no earlier step warmed.
    let set = |k: u64| (0..2000u64).map(move |j| (j * 4 + k) * (n / 8000).max(1) % n);
    let (mut scan, mut mem, mut read, mut unseal, mut whole) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in set(0) {
        let h = store.doc_hash("HTI", &format!("HP{i:08}"));
        let t = Instant::now();
        let found = store.doc.scan_prefix(h).count();
        scan.push(t.elapsed());
        assert_eq!(found, 1);
    }
    for i in set(1) {
        let h = store.doc_hash("HTI", &format!("HP{i:08}"));
        let t = Instant::now();
        let mut found = 0;
        store.names.visit(postings::term(&h), |_| {
            found += 1;
            true
        });
        mem.push(t.elapsed());
        assert_eq!(found, 1);
    }
    let id_of = |i: u64| store.id_of(&format!("R{i}")).unwrap().unwrap();
    for i in set(2) {
        let id = id_of(i);
        let t = Instant::now();
        let sealed = store.data.get(id.to_be_bytes()).unwrap().unwrap();
        read.push(t.elapsed());
        let t = Instant::now();
        let json = store.key.open(&aad("person", id), &sealed).unwrap();
        let r: PersonRecord = serde_json::from_slice(&json).unwrap();
        unseal.push(t.elapsed());
        assert_eq!(r.record_id, format!("R{i}"));
    }
    for i in set(3) {
        let t = Instant::now();
        let found = store.by_document("HTI", &format!("HP{i:08}")).unwrap();
        whole.push(t.elapsed());
        assert_eq!(found.len(), 1);
    }
    println!("sled prefix scan of idx_doc: {}", p99(scan));
    println!("in-memory index: {}", p99(mem));
    println!("record read from rec_data: {}", p99(read));
    println!("unseal and decode: {}", p99(unseal));
    println!("whole lookup (memory index): {}", p99(whole));
}
