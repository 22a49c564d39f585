//! The verified mark (`crate::file::mark`): a log reopens from it parsing only what
//! follows it, and any byte changed under it — or a mark that is not this log's — sends
//! the open back to parsing the whole log, which finds and names what it found before.

use super::*;
use crate::file::mark::MARK_FILE;
use crate::log::Trees;

fn head_path(f: &Fixture) -> std::path::PathBuf {
    f.audit.with_file_name("audit-head")
}

fn open(f: &Fixture) -> Result<AuditLog, crate::AuditError> {
    AuditLog::open_with_head(
        &f.db,
        &f.audit,
        "puente/MEX/audit".into(),
        f.key.clone(),
        Some(head_path(f)),
    )
}

async fn append(log: &AuditLog, from: u64, n: u64) {
    for i in from..from + n {
        log.append(entry(i)).await.unwrap();
    }
}

fn xor_at(path: &std::path::Path, at: u64, mask: u8) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= mask;
    std::fs::write(path, b).unwrap();
}

/// A log of `n` entries, closed (its last mark written), and its trees for reading.
async fn closed(f: &Fixture, n: u64) -> Trees {
    let log = open(f).unwrap();
    append(&log, 0, n).await;
    let t = log.trees().clone();
    log.close();
    assert!(f.audit.join(MARK_FILE).exists(), "closing writes the mark");
    t
}

#[tokio::test]
async fn a_log_reopens_from_its_mark_and_parses_only_the_batches_after_it() {
    let f = fixture();
    closed(&f, 20).await;
    let old_mark = std::fs::read(f.audit.join(MARK_FILE)).unwrap();

    let log = open(&f).unwrap();
    assert_eq!(log.trees().opened_from_mark(), 20);
    append(&log, 20, 5).await;
    log.close();

    let log = open(&f).unwrap();
    assert_eq!(log.trees().opened_from_mark(), 25);
    log.close();

    // An older mark (a crash before the head thread wrote the last one): its prefix is
    // taken, the five entries after it are parsed, and the log is whole.
    std::fs::write(f.audit.join(MARK_FILE), &old_mark).unwrap();
    let log = open(&f).unwrap();
    assert_eq!(log.trees().opened_from_mark(), 20);
    assert_eq!(log.trees().size().unwrap(), 25);
    let receipt = log.append(entry(25)).await.unwrap();
    assert_eq!(receipt.entry_index, 25);
    log.close();
    let report = verify(log.trees(), &keys(&f), &mut |_, _| {}).unwrap();
    assert_eq!(report.entries, 26);
}

#[tokio::test]
async fn an_entry_changed_under_the_mark_is_found_and_named_as_without_it() {
    let f = fixture();
    let t = closed(&f, 12).await;
    let at = t.files().entry_offset(5).unwrap().unwrap() + 10;
    xor_at(&f.audit.join("log"), at, 4);
    let err = open(&f)
        .expect_err("a changed log does not open")
        .to_string();
    assert!(
        err.contains("entry 5: its content does not match its stored leaf hash"),
        "{err}"
    );

    // The same with the mark's prefix cut short of the entry: parsed after the mark.
    let f = fixture();
    let log = open(&f).unwrap();
    append(&log, 0, 4).await;
    log.close();
    let log = open(&f).unwrap();
    let mark_at_4 = std::fs::read(f.audit.join(MARK_FILE)).unwrap();
    append(&log, 4, 8).await;
    let t = log.trees().clone();
    log.close();
    std::fs::write(f.audit.join(MARK_FILE), &mark_at_4).unwrap();
    let at = t.files().entry_offset(9).unwrap().unwrap() + 10;
    xor_at(&f.audit.join("log"), at, 4);
    let err = open(&f)
        .expect_err("a changed log does not open")
        .to_string();
    assert!(err.contains("entry 9"), "{err}");
}

#[tokio::test]
async fn a_derived_file_changed_under_the_mark_is_repaired_from_the_log() {
    let f = fixture();
    closed(&f, 12).await;
    xor_at(&f.audit.join("hashes.00"), 3 * 32 + 1, 1);
    xor_at(&f.audit.join("log.index"), 2 * 8 + 7, 1);
    let log = open(&f).unwrap();
    assert_eq!(
        log.trees().opened_from_mark(),
        0,
        "the whole log was parsed"
    );
    log.close();
    let report = verify(log.trees(), &keys(&f), &mut |_, _| {}).unwrap();
    assert_eq!(report.entries, 12);
}

#[tokio::test]
async fn a_mark_that_is_not_this_logs_is_never_trusted() {
    // Damaged, cut short, emptied: the whole log is parsed, and it opens.
    for damage in [
        |b: &mut Vec<u8>| b[30] ^= 1,
        |b: &mut Vec<u8>| b.truncate(b.len() / 2),
        |b: &mut Vec<u8>| b.clear(),
    ] {
        let f = fixture();
        closed(&f, 6).await;
        let mut b = std::fs::read(f.audit.join(MARK_FILE)).unwrap();
        damage(&mut b);
        std::fs::write(f.audit.join(MARK_FILE), b).unwrap();
        let log = open(&f).unwrap();
        assert_eq!(log.trees().opened_from_mark(), 0);
        assert_eq!(log.trees().size().unwrap(), 6);
        log.close();
    }

    // Another log's mark, signed by the same key: its digests are not this log's.
    let f = fixture();
    closed(&f, 6).await;
    let g = Fixture {
        key: f.key.clone(),
        ..fixture()
    };
    // Other entries (the same ones would make the same bytes within one second).
    let log = open(&g).unwrap();
    append(&log, 100, 6).await;
    log.close();
    std::fs::copy(g.audit.join(MARK_FILE), f.audit.join(MARK_FILE)).unwrap();
    let log = open(&f).unwrap();
    assert_eq!(log.trees().opened_from_mark(), 0);
    log.close();

    // A mark signed by another key.
    let other = fixture();
    closed(&other, 6).await;
    let f = fixture();
    closed(&f, 6).await;
    std::fs::copy(other.audit.join(MARK_FILE), f.audit.join(MARK_FILE)).unwrap();
    let log = open(&f).unwrap();
    assert_eq!(log.trees().opened_from_mark(), 0);
    log.close();
}

#[tokio::test]
async fn a_log_rolled_back_behind_its_mark_is_still_refused_by_the_head_check() {
    let f = fixture();
    let log = open(&f).unwrap();
    append(&log, 0, 3).await;
    log.close();
    let short = std::fs::read(f.audit.join("log")).unwrap();
    let log = open(&f).unwrap();
    append(&log, 3, 5).await;
    log.close();
    // The log file put back as it was at 3 entries; mark and head say 8.
    std::fs::write(f.audit.join("log"), short).unwrap();
    let err = open(&f)
        .expect_err("a rolled-back log does not open")
        .to_string();
    assert!(err.contains("were lost"), "{err}");
}

#[tokio::test]
async fn entries_read_in_pieces_are_the_entries_read_one_by_one() {
    let f = fixture();
    let log = open(&f).unwrap();
    // Over a piece's 4,096 entries, in batches of every size the writer makes.
    let mut tasks = Vec::new();
    for a in 0..16u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..300u64 {
                log.append(entry(a * 300 + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let t = log.trees().clone();
    let size = t.size().unwrap();
    assert_eq!(size, 4800);
    for (from, to) in [
        (0, size),
        (4000, 4100),
        (4095, 4097),
        (4799, 9999),
        (10, 10),
    ] {
        let mut seen = Vec::new();
        t.for_each_entry(from, to, &mut |i, bytes| {
            assert_eq!(Some(bytes.to_vec()), t.entry_bytes(i).unwrap(), "entry {i}");
            seen.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (from..to.min(size)).collect::<Vec<_>>());
    }
    log.close();
    // An index that places an entry elsewhere is an error, not a panic.
    let mut index = std::fs::read(f.audit.join("log.index")).unwrap();
    index[100 * 8..100 * 8 + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    std::fs::write(f.audit.join("log.index"), index).unwrap();
    let err = t
        .for_each_entry(0, size, &mut |_, _| Ok(()))
        .expect_err("a corrupt index is refused");
    assert!(err.to_string().contains("entry 100"), "{err}");
}

/// Proofs read from the recent hashes in memory are the proofs read from the files.
#[tokio::test]
async fn proofs_from_memory_are_the_proofs_from_the_files() {
    let f = fixture();
    let log = open(&f).unwrap();
    append(&log, 0, 300).await;
    let size = log.trees().size().unwrap();
    let pairs = [(1, size), (7, 200), (128, 256), (255, size), (299, size)];
    let warm: Vec<_> = pairs
        .iter()
        .map(|(a, b)| {
            (
                log.consistency(*a, *b).unwrap(),
                log.inclusion(*a, *b).unwrap(),
            )
        })
        .collect();
    log.close();
    // Reopened: nothing in memory yet, every hash read from the files.
    let log = open(&f).unwrap();
    let cold: Vec<_> = pairs
        .iter()
        .map(|(a, b)| {
            (
                log.consistency(*a, *b).unwrap(),
                log.inclusion(*a, *b).unwrap(),
            )
        })
        .collect();
    assert_eq!(warm, cold);
    for ((a, b), (c, _)) in pairs.iter().zip(&warm) {
        assert!(crate::merkle::verify_consistency(
            *a,
            *b,
            &log.root(*a).unwrap(),
            &log.root(*b).unwrap(),
            c
        ));
    }
    log.close();
}
