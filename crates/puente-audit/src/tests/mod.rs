//! Tests of the log: receipts, group commit, reopening, cosignatures and the move out of
//! sled trees; tampering of every kind, which the verifier must catch and locate, is in
//! `tampering`.

use std::sync::Arc;

use puente_pki::{SigningKey, VerifyingKey};
use puente_proto::v1 as pb;

use crate::checkpoint;
use crate::entry::Entry;
use crate::log::AuditLog;
use crate::receipt::ReceiptVerifier;
use crate::verify::{verify, Keys};

struct K {
    own: VerifyingKey,
    gtm: VerifyingKey,
}

impl Keys for K {
    fn own(&self) -> &VerifyingKey {
        &self.own
    }
    fn peer(&self, country: &str) -> Option<VerifyingKey> {
        (country == "GTM").then(|| self.gtm.clone())
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: sled::Db,
    audit: std::path::PathBuf,
    key: Arc<SigningKey>,
    witness: SigningKey,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .open()
        .unwrap();
    let key = Arc::new(SigningKey::generate("mex-2026", &dir.path().join("k")).unwrap());
    let witness = SigningKey::generate("gtm-2026", &dir.path().join("w")).unwrap();
    Fixture {
        audit: dir.path().join("audit"),
        _dir: dir,
        db,
        key,
        witness,
    }
}

fn entry(i: u64) -> Entry {
    Entry {
        time_ms: 1_800_000_000_000 + i as i64,
        direction: 1,
        peer_country: "GTM".into(),
        actor: "urn:puente:GTM:node:gtm-1".into(),
        service: 1,
        purpose: 1,
        decision: 1,
        rule: "agreement.granted".into(),
        request_sha256: [i as u8; 32],
        ..Entry::default()
    }
}

/// A log of `n` entries in two batches that the fixture decides, whatever the timing:
/// entry 0 alone, then entries 1.. together.
async fn filled(f: &Fixture, n: u64) -> AuditLog {
    let log = AuditLog::open(&f.db, &f.audit, "puente/MEX/audit".into(), f.key.clone()).unwrap();
    append_in_batches(&log, 0, &[1, n as usize - 1]).await;
    log
}

/// Appends entries `first..` to `log` in batches of exactly `sizes` (the first of them
/// must be 1). The writer is held inside each batch's commit (through the sync hook it
/// runs after `store_written`) while the next batch's entries are queued, so the batches
/// do not depend on how fast the writer is.
async fn append_in_batches(
    log: &AuditLog,
    first: u64,
    sizes: &[usize],
) -> Vec<crate::log::Receipt> {
    use std::sync::mpsc::channel;
    use std::time::Duration;
    assert_eq!(
        sizes.first(),
        Some(&1),
        "the writer can only be held after one entry"
    );
    let (entered_tx, entered) = channel::<()>();
    let (release, release_rx) = channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    log.set_sync_hook(Arc::new(move || {
        let _ = entered_tx.send(());
        release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| "the test never released the writer".to_string())
    }));
    let mut index = first;
    let mut pending = Vec::new();
    for (k, size) in sizes.iter().enumerate() {
        let more = k + 1 < sizes.len();
        if more {
            // Read by the writer when it commits this batch (the previous one, if any,
            // is held past that point): it holds the writer in this commit too.
            log.store_written();
        }
        for _ in 0..*size {
            pending.push(log.enqueue(entry(index)).unwrap());
            index += 1;
        }
        if k > 0 {
            // This batch is queued whole: let the previous one finish.
            release.send(()).unwrap();
        }
        if more {
            entered
                .recv_timeout(Duration::from_secs(60))
                .expect("the writer reaches the sync hook");
        }
    }
    let mut receipts = Vec::new();
    for rx in pending {
        receipts.push(rx.await.unwrap().unwrap());
    }
    receipts
}

fn keys(f: &Fixture) -> K {
    K {
        own: f.key.verifying_key(),
        gtm: f.witness.verifying_key(),
    }
}

/// Receipts from one batch share a checkpoint and, under load, the consistency links
/// their requests ask for; the verifier hashes a link's proof once and afterwards takes
/// only the very same proof bytes: a changed, shortened or missing proof for a link it
/// already knows is judged (and refused) as if it had never seen that link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_consistency_link_is_taken_again_only_with_the_same_proof() {
    let f = fixture();
    let log = AuditLog::open(&f.db, &f.audit, "puente/MEX/audit".into(), f.key.clone()).unwrap();
    // Entries 0..5 (the checkpoint of size 5 is the one "seen before"), then 5..13 in one
    // batch: their receipts share the checkpoint of size 13.
    let receipts = append_in_batches(&log, 0, &[1, 4, 8]).await;
    assert_eq!(log.trees().size().unwrap(), 13);
    let key = f.key.verifying_key();
    let stated = [(5u64, log.root(5).unwrap())];
    let proof = pb::ConsistencyProof {
        from_size: 5,
        hashes: log.consistency_bytes(5, 13).unwrap(),
    };
    assert!(proof.hashes.len() > 1, "a proof worth tampering with");
    // Kept proofs are the proofs: the same bytes again, equal to a fresh computation.
    let fresh: Vec<Vec<u8>> = log
        .consistency(5, 13)
        .unwrap()
        .iter()
        .map(|h| h.to_vec())
        .collect();
    for again in [proof.hashes.clone(), log.consistency_bytes(5, 13).unwrap()] {
        assert_eq!(again.iter().map(|h| h.to_vec()).collect::<Vec<_>>(), fresh);
    }
    assert!(
        log.consistency_bytes(5, 14).is_err(),
        "beyond the log's size"
    );
    let verifier = ReceiptVerifier::default();
    let accept = |r: &crate::log::Receipt, proofs: Vec<pb::ConsistencyProof>| {
        let i = r.entry_index;
        let mut r = r.clone();
        r.consistency_proofs = proofs;
        let e = entry(i);
        verifier.accept(
            &r,
            &key,
            crate::receipt::Expected {
                request_sha256: &e.request_sha256,
                response_sha256: Some(&e.response_sha256),
                stated: &stated,
            },
        )
    };
    let batch: Vec<_> = receipts[5..].iter().collect();
    assert!(batch.iter().all(|r| r.checkpoint == batch[0].checkpoint));
    // The link is verified with the first receipt.
    accept(batch[0], vec![proof.clone()]).unwrap();
    // A hash of the proof flipped, the proof cut short, a hash replaced by another of the
    // proof, a proof from another size only, or no proof: each refused as a split view.
    let mut flipped = proof.clone();
    let mut h = flipped.hashes[0].to_vec();
    h[0] ^= 1;
    flipped.hashes[0] = h.into();
    let mut short = proof.clone();
    short.hashes.pop();
    let mut swapped = proof.clone();
    swapped.hashes[0] = swapped.hashes[1].clone();
    let other = pb::ConsistencyProof {
        from_size: 1,
        hashes: log.consistency_bytes(1, 13).unwrap(),
    };
    for (r, bad, what) in [
        (batch[1], vec![flipped], "a flipped hash"),
        (batch[1], vec![short], "a proof cut short"),
        (batch[1], vec![swapped], "a hash swapped"),
        (batch[1], vec![other], "a proof from another size"),
        (batch[1], vec![], "no proof"),
    ] {
        let e = accept(r, bad).expect_err(what).to_string();
        assert!(e.contains("receipt.split_view"), "{what}: {e}");
    }
    // The same proof again is taken, for each receipt of the batch (once each).
    for r in &batch[1..] {
        accept(r, vec![proof.clone()]).unwrap();
    }
    assert!(accept(batch[1], vec![proof.clone()])
        .unwrap_err()
        .to_string()
        .contains("receipt.replayed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_verify_and_batches_share_checkpoints() {
    let f = fixture();
    let log = AuditLog::open(&f.db, &f.audit, "puente/MEX/audit".into(), f.key.clone()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let log = log.clone();
        tasks.push(tokio::spawn(
            async move { log.append(entry(i)).await.unwrap() },
        ));
    }
    let verifier = ReceiptVerifier::default();
    let mut indexes = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        verifier.verify(&r, &f.key.verifying_key()).unwrap();
        indexes.push(r.entry_index);
    }
    indexes.sort();
    assert_eq!(indexes, (0..300).collect::<Vec<_>>());
    // Group commit, with batches the test decides (how the 300 above were grouped
    // depends on timing): entries queued while a batch commits share one checkpoint.
    let receipts = append_in_batches(&log, 300, &[1, 150, 49]).await;
    let mut notes = Vec::new();
    for r in &receipts {
        verifier.verify(r, &f.key.verifying_key()).unwrap();
        notes.push(r.checkpoint.clone().unwrap().note);
    }
    assert_eq!(
        notes.iter().collect::<std::collections::HashSet<_>>().len(),
        3
    );
    assert!(notes[1..151].iter().all(|n| *n == notes[1]));
    assert!(notes[151..].iter().all(|n| *n == notes[151]));
    // A receipt checked against another key fails.
    let r = log.append(entry(999)).await.unwrap();
    assert_eq!(r.entry_index, 500);
    assert!(verifier.verify(&r, &f.witness.verifying_key()).is_err());
    let mut forged = r.clone();
    forged.entry_index += 1;
    assert!(verifier.verify(&forged, &f.key.verifying_key()).is_err());
    // Accepted for its own exchange only: the request and response it records, once.
    let key = f.key.verifying_key();
    let (req, resp) = (entry(999).request_sha256, entry(999).response_sha256);
    let expect = |request_sha256, response_sha256| crate::receipt::Expected {
        request_sha256,
        response_sha256,
        stated: &[],
    };
    assert!(verifier.accept(&r, &key, expect(&[1; 32], None)).is_err());
    assert!(verifier
        .accept(&r, &key, expect(&req, Some(&[1; 32])))
        .is_err());
    verifier
        .accept(&r, &key, expect(&req, Some(&resp)))
        .unwrap();
    assert!(verifier
        .accept(&r, &key, expect(&req, Some(&resp)))
        .is_err());
    // Digests that do not fit the leaf; a receipt without digests (as an old log keeps
    // them) verifies as a record but is never accepted for an exchange.
    let mut lying = r.clone();
    lying.request_sha256 = vec![1; 32];
    assert!(verifier.verify(&lying, &key).is_err());
    let mut legacy = r.clone();
    legacy.request_sha256.clear();
    legacy.response_sha256.clear();
    legacy.entry_body_sha256.clear();
    verifier.verify(&legacy, &key).unwrap();
    assert!(verifier.accept(&legacy, &key, expect(&req, None)).is_err());
    let report = verify(log.trees(), &keys(&f), &mut |_, _| {}).unwrap();
    assert_eq!(report.entries, 501);
}

#[tokio::test]
async fn reopening_continues_the_same_tree() {
    let f = fixture();
    let log = filled(&f, 20).await;
    let root20 = log.root(20).unwrap();
    log.close();
    drop(log);
    let log = AuditLog::open(&f.db, &f.audit, "puente/MEX/audit".into(), f.key.clone()).unwrap();
    let r = log.append(entry(20)).await.unwrap();
    assert_eq!(r.entry_index, 20);
    let proof = log.consistency(20, 21).unwrap();
    assert!(crate::merkle::verify_consistency(
        20,
        21,
        &root20,
        &log.root(21).unwrap(),
        &proof
    ));
}

/// Closing (or idling) a log that gained nothing since its last checkpoint keeps that
/// checkpoint: re-signing it with a fresh time would orphan the cosignatures peers made
/// of it (found by `puente demo --keep-running`, stopped a while after witnessing).
#[tokio::test]
async fn an_unchanged_log_keeps_its_witnessed_checkpoint() {
    let f = fixture();
    let log = filled(&f, 5).await;
    let trees = crate::log::Trees::open(&f.db, &f.audit).unwrap();
    let before = trees.latest().unwrap().unwrap();
    // Not a wait for anything: checkpoint times are in seconds, so a checkpoint signed
    // again after this would differ from `before`.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // `close` returns once the writer has finished.
    log.close();
    drop(log);
    assert_eq!(trees.latest().unwrap().unwrap(), before);
    let log = AuditLog::open(&f.db, &f.audit, "puente/MEX/audit".into(), f.key.clone()).unwrap();
    log.close();
    drop(log);
    assert_eq!(trees.latest().unwrap().unwrap(), before);
}

/// A log kept in sled trees by an earlier version is moved into the files with its
/// checkpoints intact.
#[tokio::test]
async fn a_log_in_sled_trees_is_moved_into_files() {
    let f = fixture();
    let key = f.key.clone();
    let entries = f.db.open_tree("audit_entries").unwrap();
    let cps = f.db.open_tree("audit_checkpoints").unwrap();
    let mut leaves = Vec::new();
    for i in 0..5u64 {
        let mut e = entry(i);
        e.index = i;
        let b = e.encode();
        leaves.push(crate::entry::leaf_of(&b));
        entries.insert(i.to_be_bytes(), b).unwrap();
        if i == 2 || i == 4 {
            let cp = crate::checkpoint::Checkpoint {
                origin: "puente/MEX/audit".into(),
                size: i + 1,
                root: crate::merkle::mth(&leaves),
                time: 1_800_000_000,
            };
            cps.insert((i + 1).to_be_bytes(), cp.sign(&key).as_bytes())
                .unwrap();
        }
    }
    let log = AuditLog::open(&f.db, &f.audit, "puente/MEX/audit".into(), key).unwrap();
    assert_eq!(log.trees().size().unwrap(), 5);
    assert_eq!(log.trees().checkpoint_count(), 2);
    assert!(f.db.open_tree("audit_entries").unwrap().is_empty());
    verify(log.trees(), &keys(&f), &mut |_, _| {}).unwrap();
    assert_eq!(log.append(entry(5)).await.unwrap().entry_index, 5);
}

#[tokio::test]
async fn cosignatures_are_verified() {
    let f = fixture();
    let log = filled(&f, 5).await;
    let note = log.trees().latest().unwrap().unwrap();
    let body = checkpoint::split_note(&note).unwrap().0.to_string();
    let line = checkpoint::cosign(&body, &f.witness, 1_800_000_000);
    log.trees().add_cosignature(5, "GTM", &line).unwrap();
    let report = verify(log.trees(), &keys(&f), &mut |_, _| {}).unwrap();
    assert_eq!(report.cosignatures, 1);
    let forged = line.replace('A', "B");
    log.trees().add_cosignature(5, "GTM", &forged).unwrap();
    let err = verify(log.trees(), &keys(&f), &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checkpoint at size 5") && err.contains("cosignature"),
        "{err}"
    );
}

mod mark;
mod tampering;

#[tokio::test]
async fn a_listing_examines_at_most_its_scan_bound_and_says_where_to_go_on() {
    use crate::view::{list_within, Filter};
    let f = fixture();
    let log = filled(&f, 30).await;
    let trees = log.trees();
    // Every entry is GTM's: a CRI filter with a bound of 8 examines 0..8, finds
    // nothing, and says to go on at 8 (not "done"), and so on to the end.
    let only_cri = Filter {
        peer_country: Some("CRI".into()),
        ..Filter::default()
    };
    let mut start = 0;
    let mut found = Vec::new();
    let mut calls = 0;
    loop {
        let (page, next) = list_within(trees, &only_cri, start..30, 100, 8).unwrap();
        calls += 1;
        found.extend(page.iter().map(|l| l.entry.index));
        match next {
            Some(n) => {
                assert_eq!(n, start + 8, "each call examines exactly its bound");
                start = n;
            }
            None => break,
        }
    }
    assert_eq!(found, Vec::<u64>::new(), "no CRI entries in this log");
    assert_eq!(calls, 4);
    // The page fills before the bound: it ends there; the range's end is respected.
    let all = Filter::default();
    let (page, next) = list_within(trees, &all, 3..30, 5, 1000).unwrap();
    assert_eq!(
        page.iter().map(|l| l.entry.index).collect::<Vec<_>>(),
        [3, 4, 5, 6, 7]
    );
    assert_eq!(next, Some(8));
    let (page, next) = list_within(trees, &all, 25..27, 100, 1000).unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(next, None, "a listing of a smaller tree ends at its size");
    log.close();
}
