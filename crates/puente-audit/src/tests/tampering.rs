//! Tampering of every kind that the verifier, the opening of the files or the head
//! check must catch and locate; crashes that leave a torn batch or zero-filled space.

use super::*;

/// Byte offset, in the log file, of entry `i`'s last bytes but `from_end`.
/// The file offset of byte `at` of entry `i`'s encoding (bytes 4..36 are its request
/// digest, which differs from entry to entry in these fixtures).
fn entry_byte(t: &crate::log::Trees, i: u64, at: u64) -> u64 {
    let off = t.entry_offset(i).unwrap().unwrap();
    off + 4 + at
}

fn xor_at(path: &std::path::Path, at: u64, mask: u8) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= mask;
    std::fs::write(path, b).unwrap();
}

/// Recomputes the checksum of the batch holding entry `i` (as a forger would).
fn reseal_batch_of(t: &crate::log::Trees, i: u64) {
    let batch = t
        .batches()
        .unwrap()
        .map(|b| b.unwrap())
        .find(|b| b.first <= i && i < b.first + b.entries.len() as u64)
        .unwrap();
    let path = t.dir().join("log");
    let mut raw = std::fs::read(&path).unwrap();
    let at = batch.offset as usize;
    let body_len = u32::from_be_bytes(raw[at..at + 4].try_into().unwrap()) as usize;
    let end = at + 8 + body_len;
    let sum = ring::digest::digest(&ring::digest::SHA256, &raw[at..end]);
    raw[end..end + 32].copy_from_slice(sum.as_ref());
    std::fs::write(&path, raw).unwrap();
}

/// Each kind of tampering, applied to a fresh log's files, must be caught and located.
#[tokio::test]
async fn every_tampering_is_detected_and_located() {
    type Tamper = fn(&crate::log::Trees);
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "flip a byte of entry 7",
            |t| xor_at(&t.dir().join("log"), entry_byte(t, 7, 10), 1),
            "entry 7",
        ),
        (
            "cut the last batch off the log",
            |t| {
                let last = t.batches().unwrap().last().unwrap().unwrap();
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(t.dir().join("log"))
                    .unwrap();
                f.set_len(last.offset).unwrap();
            },
            // `filled` commits entry 0 alone, then the others in one batch.
            "entries from 1 are missing",
        ),
        (
            "swap two bytes of entries 3 and 4",
            |t| {
                let path = t.dir().join("log");
                let (a, b) = (entry_byte(t, 3, 10), entry_byte(t, 4, 10));
                let mut raw = std::fs::read(&path).unwrap();
                raw.swap(a as usize, b as usize);
                std::fs::write(&path, raw).unwrap();
            },
            "entry 3",
        ),
        (
            "flip a byte of a stored leaf hash",
            |t| xor_at(&t.dir().join("hashes.00"), 9 * 32, 1),
            "entry 9",
        ),
        (
            "flip a byte of an interior hash",
            |t| xor_at(&t.dir().join("hashes.02"), 32 + 5, 0x80),
            "entries 4..7",
        ),
        (
            "flip a byte of a checkpoint",
            |t| {
                let first = t.batches().unwrap().next().unwrap().unwrap();
                xor_at(&t.dir().join("log"), first.note_offset + 4 + 3, 1);
            },
            "checkpoint at size",
        ),
        (
            "rewrite an entry and its leaf hash, and reseal its batch",
            |t| {
                xor_at(&t.dir().join("log"), entry_byte(t, 2, 10), 1);
                let leaf = crate::entry::leaf_of(&t.entry_bytes(2).unwrap().unwrap());
                let path = t.dir().join("hashes.00");
                let mut raw = std::fs::read(&path).unwrap();
                raw[64..96].copy_from_slice(&leaf);
                std::fs::write(&path, raw).unwrap();
                reseal_batch_of(t, 2);
            },
            "entries 2..3",
        ),
    ];
    for (what, tamper, needle) in cases {
        let f = fixture();
        let log = filled(&f, 16).await;
        // Closed first: an open log's writer zero-fills space after the end in its idle
        // time, which would race the tampering (a cut file grew zeros again).
        log.close();
        verify(log.trees(), &keys(&f), &mut |_, _| {}).unwrap();
        tamper(log.trees());
        let err = verify(log.trees(), &keys(&f), &mut |_, _| {})
            .expect_err(what)
            .to_string();
        assert!(err.contains(needle), "{what}: {err}");
    }
}

/// Tampering with the log file is also refused when the log is opened, with the place.
#[tokio::test]
async fn a_tampered_log_file_will_not_open() {
    // A flipped byte: the batch checksum fails, and the recorded leaf hash names the entry.
    let f = fixture();
    let log = filled(&f, 8).await;
    let t = log.trees().clone();
    log.close();
    xor_at(&t.dir().join("log"), entry_byte(&t, 5, 10), 4);
    let err = crate::log::Trees::open(&f.db, &f.audit)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("entry 5: its content does not match its stored leaf hash"),
        "{err}"
    );

    // A forger who also reseals the batch and fixes the derived hashes still breaks the
    // signed root.
    let f = fixture();
    let log = filled(&f, 8).await;
    let t = log.trees().clone();
    log.close();
    xor_at(&t.dir().join("log"), entry_byte(&t, 5, 10), 4);
    reseal_batch_of(&t, 5);
    std::fs::remove_file(t.dir().join("hashes.00")).unwrap();
    let err = AuditLog::open(&f.db, &f.audit, "puente/MEX/audit".into(), f.key.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("its root does not match the entries"), "{err}");
}

/// A batch cut short at the end of the file (a crash mid-write: never acknowledged) is
/// discarded at open and the log goes on; the derived files are rebuilt if they are lost
/// or damaged, and proofs from them still verify.
#[tokio::test]
async fn a_torn_tail_is_discarded_and_derived_files_are_rebuilt() {
    let f = fixture();
    let log = filled(&f, 10).await;
    let root10 = log.root(10).unwrap();
    let t = log.trees().clone();
    log.close();
    // Half a batch at the end of the log; garbage in and a cut of derived files.
    let path = t.dir().join("log");
    let (bytes, _, _) = crate::file::encode_batch(&[vec![7u8; 300]], "note");
    let mut raw = std::fs::read(&path).unwrap();
    let good_len = raw.len();
    raw.extend_from_slice(&bytes[..bytes.len() / 2]);
    std::fs::write(&path, raw).unwrap();
    xor_at(&t.dir().join("hashes.01"), 0, 0xff);
    std::fs::OpenOptions::new()
        .write(true)
        .open(t.dir().join("log.index"))
        .unwrap()
        .set_len(3 * 8)
        .unwrap();
    std::fs::remove_file(t.dir().join("checkpoints.index")).unwrap();

    let log = AuditLog::open(&f.db, &f.audit, "puente/MEX/audit".into(), f.key.clone()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, good_len);
    assert_eq!(log.root(10).unwrap(), root10);
    verify(log.trees(), &keys(&f), &mut |_, _| {}).unwrap();
    let r = log.append(entry(10)).await.unwrap();
    assert_eq!(r.entry_index, 10);
    ReceiptVerifier::default()
        .verify(&r, &f.key.verifying_key())
        .unwrap();
    for i in 0..11 {
        let leaf = crate::entry::leaf_of(&log.trees().entry_bytes(i).unwrap().unwrap());
        let proof = log.inclusion(i, 11).unwrap();
        assert!(crate::merkle::verify_inclusion(
            i,
            11,
            &leaf,
            &proof,
            &log.root(11).unwrap()
        ));
    }
    assert!(log.trees().checkpoint_at(11).unwrap().is_some());

    // A complete last batch with a bad checksum is damage, not a torn write: refused.
    let t = log.trees().clone();
    log.close();
    let last = t.batches().unwrap().last().unwrap().unwrap();
    xor_at(&path, last.note_offset + 10, 1);
    let err = crate::log::Trees::open(&f.db, &f.audit)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match its checksum"), "{err}");
}

/// The files of the log in `from`, as a crash would leave them, copied to a new directory.
fn crash_copy(from: &std::path::Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.path().join(e.file_name())).unwrap();
    }
    to
}

/// The writer keeps zero-filled space after the log, so that a batch's sync writes only
/// its own pages. A crash leaves that space behind and the next open drops it; a batch cut
/// short inside it (a power loss before its sync returned: trailer or a whole page still
/// zeros) is discarded; a complete batch that was changed is still refused, zeros after
/// it or not; a clean close leaves no zeros behind.
#[tokio::test]
async fn zero_filled_space_after_the_log_is_dropped_after_a_crash_and_trimmed_on_close() {
    let f = fixture();
    let log = filled(&f, 10).await;
    let t = log.trees().clone();
    let path = t.dir().join("log");
    let last = t.batches().unwrap().last().unwrap().unwrap();
    let end = last.note_offset + 4 + last.note.len() as u64 + 32;
    // The writer, idle now, fills space ahead of the log.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&path).unwrap().len() <= end {
        assert!(
            std::time::Instant::now() < deadline,
            "no space was zero-filled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let raw = std::fs::read(&path).unwrap();
    assert!(raw[end as usize..].iter().all(|b| *b == 0));
    let db = sled::Config::new().temporary(true).open().unwrap();

    // A crash with the zeros in place: they are dropped, nothing else is.
    let copy = crash_copy(t.dir());
    let opened = crate::log::Trees::open(&db, copy.path()).unwrap();
    assert_eq!(opened.size().unwrap(), 10);
    verify(&opened, &keys(&f), &mut |_, _| {}).unwrap();
    drop(opened);
    assert_eq!(
        std::fs::metadata(copy.path().join("log")).unwrap().len(),
        end
    );

    // A batch cut short in the zeros: its trailer never written, or a page inside it.
    let (batch, _, _) = crate::file::encode_batch(&[vec![7u8; 9000]], "note");
    let cut_trailer = |b: &mut Vec<u8>| {
        let n = b.len();
        b[n - 32..].fill(0);
    };
    let cut_page = |b: &mut Vec<u8>| {
        let page = (end.div_ceil(4096) * 4096 - end) as usize;
        b[page..page + 4096].fill(0);
    };
    for cut in [&cut_trailer as &dyn Fn(&mut Vec<u8>), &cut_page] {
        let copy = crash_copy(t.dir());
        let mut torn = batch.clone();
        cut(&mut torn);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.path().join("log"))
            .unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &torn, end).unwrap();
        let opened = crate::log::Trees::open(&db, copy.path()).unwrap();
        assert_eq!(opened.size().unwrap(), 10);
        assert_eq!(
            std::fs::metadata(copy.path().join("log")).unwrap().len(),
            end
        );
    }

    // A complete batch changed afterwards is damage, zeros after it or not.
    let copy = crash_copy(t.dir());
    xor_at(&copy.path().join("log"), last.note_offset + 10, 1);
    let err = crate::log::Trees::open(&db, copy.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match its checksum"), "{err}");

    // A clean close cuts the zeros off.
    log.close();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&path).unwrap().len() != end {
        assert!(
            std::time::Instant::now() < deadline,
            "the zeros were not cut off at close"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
/// A log file cut back by whole batches (a lost tail, an old copy restored) reopens as an
/// older, self-consistent log; the head file notices that entries the node signed for
/// are gone.
#[tokio::test]
async fn a_log_cut_back_by_whole_batches_is_refused_by_the_head_check() {
    let f = fixture();
    let head = f._dir.path().join("audit-head");
    let log = AuditLog::open_with_head(
        &f.db,
        &f.audit,
        "puente/MEX/audit".into(),
        f.key.clone(),
        Some(head.clone()),
    )
    .unwrap();
    for i in 0..6 {
        log.append(entry(i)).await.unwrap();
    }
    let t = log.trees().clone();
    log.close();
    assert!(head.exists(), "the head file is written on close");
    let first = t.batches().unwrap().nth(1).unwrap().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(t.dir().join("log"))
        .unwrap()
        .set_len(first.offset)
        .unwrap();
    let err = AuditLog::open_with_head(
        &f.db,
        &f.audit,
        "puente/MEX/audit".into(),
        f.key.clone(),
        Some(head),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("were lost"), "{err}");
}

/// A valid log file of 40 entries in batches of 1 to 7, built directly through the files.
fn template_log(key: &SigningKey) -> (Vec<u8>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let files = crate::file::LogFiles::open(dir.path()).unwrap();
    let mut frontier = crate::file::Frontier::default();
    let mut index = 0u64;
    let mut batch_len = 1u64;
    while index < 40 {
        let mut entries = Vec::new();
        let mut hashes = Vec::new();
        for _ in 0..batch_len.min(40 - index) {
            let mut e = entry(index);
            e.index = index;
            let bytes = e.encode();
            frontier
                .push(crate::entry::leaf_of(&bytes), &mut |l, i, h| {
                    hashes.push((l as u8, i, *h));
                    Ok(())
                })
                .unwrap();
            entries.push(bytes);
            index += 1;
        }
        let note = checkpoint::Checkpoint {
            origin: "puente/MEX/audit".into(),
            size: index,
            root: frontier.root(),
            time: 1_800_000_000,
        }
        .sign(key);
        files.append(&entries, &note, &hashes).unwrap();
        batch_len = batch_len % 7 + 1;
    }
    (std::fs::read(dir.path().join("log")).unwrap(), index)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 96, ..Default::default() })]

    /// Whatever happens to the log file — cut anywhere, bytes flipped anywhere — opening
    /// it never panics, and what opens is never larger than what was written; a file only
    /// cut (never flipped) opens as exactly the batches that survived whole.
    #[test]
    fn a_damaged_log_file_is_refused_or_opens_shorter_never_panics(
        cut in 0usize..20_000,
        flips in proptest::collection::vec((0usize..20_000, 1u8..=255), 0..3),
    ) {
        use std::sync::OnceLock;
        static TEMPLATE: OnceLock<(Vec<u8>, u64, Vec<u64>)> = OnceLock::new();
        let (raw, size, ends) = TEMPLATE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let key = SigningKey::generate("mex-2026", &dir.path().join("k")).unwrap();
            let (raw, size) = template_log(&key);
            // Where each batch ends, and the size there.
            let mut ends = vec![crate::file::MAGIC.len() as u64];
            let mut at = crate::file::MAGIC.len();
            while at < raw.len() {
                let body = u32::from_be_bytes(raw[at..at + 4].try_into().unwrap()) as usize;
                at += 8 + body + 32;
                ends.push(at as u64);
            }
            (raw, size, ends)
        });
        let mut bytes = raw.clone();
        bytes.truncate(cut.min(bytes.len()));
        for (at, mask) in &flips {
            if let Some(b) = bytes.get_mut(*at) {
                *b ^= mask;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log"), &bytes).unwrap();
        if let Ok(files) = crate::file::LogFiles::open(dir.path()) {
            proptest::prop_assert!(files.size() <= *size);
            if flips.is_empty() && bytes.len() >= crate::file::MAGIC.len() {
                // Only cut: exactly the whole batches before the cut remain.
                let whole = ends.iter().filter(|e| **e <= bytes.len() as u64).count() as u64 - 1;
                proptest::prop_assert_eq!(files.checkpoint_count(), whole);
            }
        }
    }
}
