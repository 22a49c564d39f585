//! Tests of the log: receipts, group commit, reopening, and tampering of every kind that
//! the verifier must catch and locate.

use std::sync::Arc;

use puente_pki::{SigningKey, VerifyingKey};

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

async fn filled(f: &Fixture, n: u64) -> AuditLog {
    let log = AuditLog::open(&f.db, "puente/MEX/audit".into(), f.key.clone()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..n {
        let log = log.clone();
        tasks.push(tokio::spawn(async move { log.append(entry(i)).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    log
}

fn keys(f: &Fixture) -> K {
    K {
        own: f.key.verifying_key(),
        gtm: f.witness.verifying_key(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_verify_and_batches_share_checkpoints() {
    let f = fixture();
    let log = AuditLog::open(&f.db, "puente/MEX/audit".into(), f.key.clone()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let log = log.clone();
        tasks.push(tokio::spawn(
            async move { log.append(entry(i)).await.unwrap() },
        ));
    }
    let mut notes = std::collections::HashSet::new();
    let verifier = ReceiptVerifier::default();
    let mut indexes = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        verifier.verify(&r, &f.key.verifying_key()).unwrap();
        notes.insert(r.checkpoint.unwrap().note);
        indexes.push(r.entry_index);
    }
    indexes.sort();
    assert_eq!(indexes, (0..300).collect::<Vec<_>>());
    assert!(
        notes.len() < 300,
        "group commit: {} checkpoints for 300 entries",
        notes.len()
    );
    // A receipt checked against another key fails.
    let r = log.append(entry(999)).await.unwrap();
    assert!(verifier.verify(&r, &f.witness.verifying_key()).is_err());
    let mut forged = r.clone();
    forged.entry_index += 1;
    assert!(verifier.verify(&forged, &f.key.verifying_key()).is_err());
    let report = verify(log.trees(), &keys(&f), &mut |_, _| {}).unwrap();
    assert_eq!(report.entries, 301);
}

#[tokio::test]
async fn reopening_continues_the_same_tree() {
    let f = fixture();
    let log = filled(&f, 20).await;
    let root20 = log.root(20).unwrap();
    log.close();
    drop(log);
    let log = AuditLog::open(&f.db, "puente/MEX/audit".into(), f.key.clone()).unwrap();
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
    let trees = crate::log::Trees::open(&f.db).unwrap();
    let before = trees.latest().unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    log.close();
    drop(log);
    // The writer thread finishes on its own; give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(trees.latest().unwrap().unwrap(), before);
    let log = AuditLog::open(&f.db, "puente/MEX/audit".into(), f.key.clone()).unwrap();
    log.close();
    drop(log);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(trees.latest().unwrap().unwrap(), before);
}

/// Each kind of tampering, applied to a fresh log, must be caught and located.
#[tokio::test]
async fn every_tampering_is_detected_and_located() {
    type Tamper = fn(&crate::log::Trees);
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "flip a byte of entry 7",
            |t| {
                let mut b = t.entries.get(7u64.to_be_bytes()).unwrap().unwrap().to_vec();
                let n = b.len() - 40;
                b[n] ^= 1;
                t.entries.insert(7u64.to_be_bytes(), b).unwrap();
            },
            "entry 7",
        ),
        (
            "delete entry 12",
            |t| {
                t.entries.remove(12u64.to_be_bytes()).unwrap();
            },
            "entry 12 is missing",
        ),
        (
            "swap entries 3 and 4",
            |t| {
                let a = t.entries.get(3u64.to_be_bytes()).unwrap().unwrap();
                let b = t.entries.get(4u64.to_be_bytes()).unwrap().unwrap();
                t.entries.insert(3u64.to_be_bytes(), b).unwrap();
                t.entries.insert(4u64.to_be_bytes(), a).unwrap();
            },
            "entry 3",
        ),
        (
            "flip a byte of a stored leaf hash",
            |t| {
                let k = [0u8, 0, 0, 0, 0, 0, 0, 0, 9];
                let mut h = t.hashes.get(k).unwrap().unwrap().to_vec();
                h[0] ^= 1;
                t.hashes.insert(k, h).unwrap();
            },
            "entry 9",
        ),
        (
            "flip a byte of an interior hash",
            |t| {
                let k = [2u8, 0, 0, 0, 0, 0, 0, 0, 1];
                let mut h = t.hashes.get(k).unwrap().unwrap().to_vec();
                h[5] ^= 0x80;
                t.hashes.insert(k, h).unwrap();
            },
            "entries 4..7",
        ),
        (
            "flip a byte of a checkpoint",
            |t| {
                let (k, v) = t.checkpoints.iter().next().unwrap().unwrap();
                let mut b = v.to_vec();
                b[3] ^= 1;
                t.checkpoints.insert(k, b).unwrap();
            },
            "checkpoint at size",
        ),
        (
            "rewrite an entry and its leaf hash",
            |t| {
                let mut b = t.entries.get(2u64.to_be_bytes()).unwrap().unwrap().to_vec();
                let n = b.len() - 40;
                b[n] ^= 1;
                let leaf = crate::merkle::leaf_hash(&b);
                t.entries.insert(2u64.to_be_bytes(), b).unwrap();
                t.hashes
                    .insert([0u8, 0, 0, 0, 0, 0, 0, 0, 2], &leaf)
                    .unwrap();
            },
            "entries 2..3",
        ),
    ];
    for (what, tamper, needle) in cases {
        let f = fixture();
        let log = filled(&f, 16).await;
        verify(log.trees(), &keys(&f), &mut |_, _| {}).unwrap();
        tamper(log.trees());
        let err = verify(log.trees(), &keys(&f), &mut |_, _| {})
            .expect_err(what)
            .to_string();
        assert!(err.contains(needle), "{what}: {err}");
    }
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

#[tokio::test]
async fn a_log_that_does_not_match_its_signed_checkpoint_will_not_open() {
    let f = fixture();
    let log = filled(&f, 8).await;
    log.close();
    let trees = log.trees().clone();
    drop(log);
    // The hash of the whole tree of 8 (level 3, index 0).
    let k = [3u8, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut h = trees.hashes.get(k).unwrap().unwrap().to_vec();
    h[0] ^= 1;
    trees.hashes.insert(k, h).unwrap();
    // Give the writer thread time to exit after close (it owns a clone of the trees).
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let err = AuditLog::open(&f.db, "puente/MEX/audit".into(), f.key.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("root of the latest signed checkpoint"),
        "{err}"
    );
}
