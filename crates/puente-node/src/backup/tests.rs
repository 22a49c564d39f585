//! The archive format on its own: a round trip, and every truncation and every flipped
//! byte refused before the manifest is returned.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use super::archive::{self, ArchiveWriter, Manifest};
use crate::error::BackupError;

fn sample() -> Vec<u8> {
    let mut w = ArchiveWriter::new(Vec::new()).unwrap();
    w.begin("audit/log").unwrap();
    for i in 0..300u32 {
        w.data(&i.to_be_bytes().repeat(100)).unwrap();
    }
    w.section("audit-head", b"").unwrap();
    w.section("quota", b"counters").unwrap();
    w.finish(Manifest {
        country: "MEX".into(),
        ..Manifest::default()
    })
    .unwrap()
}

fn read(bytes: &[u8]) -> Result<(Manifest, Vec<(String, usize)>), BackupError> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    let m = archive::read(bytes, "test", |name, chunk| {
        match seen.last_mut() {
            Some((n, len)) if n == name => *len += chunk.len(),
            _ => seen.push((name.to_string(), chunk.len())),
        }
        Ok(())
    })?;
    Ok((m, seen))
}

#[test]
fn a_round_trip_lists_every_section_even_an_empty_one() {
    let (m, seen) = read(&sample()).unwrap();
    assert_eq!(m.country, "MEX");
    assert_eq!(m.format, "puente-backup/1");
    let names: Vec<&str> = m.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["audit/log", "audit-head", "quota"]);
    assert_eq!(m.sections[0].bytes, 120_000);
    assert_eq!(
        seen,
        [
            ("audit/log".to_string(), 120_000),
            ("audit-head".to_string(), 0),
            ("quota".to_string(), 8)
        ]
    );
}

#[test]
fn every_truncation_is_refused() {
    let full = sample();
    for cut in (0..full.len())
        .step_by(97)
        .chain(full.len() - 40..full.len())
    {
        match read(&full[..cut]) {
            Err(BackupError::Damaged { problem, .. }) => {
                assert!(problem.contains("truncated"), "cut at {cut}: {problem}")
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn every_flipped_byte_and_trailing_garbage_is_refused() {
    let full = sample();
    for at in (0..full.len()).step_by(53) {
        let mut bad = full.clone();
        bad[at] ^= 0x20;
        assert!(
            matches!(read(&bad), Err(BackupError::Damaged { .. })),
            "byte {at} flipped was accepted"
        );
    }
    let mut longer = full.clone();
    longer.push(0);
    let e = read(&longer).unwrap_err().to_string();
    assert!(e.contains("bytes follow its end"), "{e}");
    let e = read(b"not a backup at all, clearly")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a Puente backup"), "{e}");
}
