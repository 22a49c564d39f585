//! Daily quota counters, in memory. They are made durable by the audit entries
//! themselves: an exchange that an agreement permitted names the agreement in its entry,
//! no answer leaves before that entry is durable, and a starting node counts the units
//! again from the log ([`crate::store::Store::recount_quota`]).
//!
//! Earlier versions kept the counters in two files written in turn (`DATA/quota.0`,
//! `DATA/quota.1`) and synced with every audit batch, a second `fsync` on every
//! exchange's path (before that, a sled tree, whose flush latency was worse). Those
//! files, and a backup's copy of the counters, are still read at start and the
//! recount raises them, never lowers them. A data directory with counters in sled is
//! read once and continues in the files.
//!
//! File: `puente-quota/v1\n` ‖ length u32 ‖ sequence u64 ‖ entries u32 ‖ (key length u16
//! ‖ key ‖ count u64)* ‖ SHA-256 of everything before it; bytes after `length` are
//! ignored. The files are overwritten in place (never truncated and regrown: on ext4
//! that reallocates blocks and makes every sync a metadata write).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use time::Date;

const MAGIC: &[u8; 16] = b"puente-quota/v1\n";
/// Days of counters kept before the newest day counted.
const KEEP_DAYS: i64 = 2;

/// Why the counters could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[error("quota counters in {}: {reason}", path.display())]
pub struct QuotaError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

#[derive(Debug, Default)]
struct Counts {
    map: BTreeMap<String, u64>,
    dirty: bool,
}

/// The counters of one node.
#[derive(Debug)]
pub struct QuotaCounters {
    dir: PathBuf,
    counts: Mutex<Counts>,
    /// The sequence number of the last file written, and the two files (open once,
    /// overwritten in place).
    files: Mutex<(u64, Option<[File; 2]>)>,
}

fn path_of(dir: &Path, slot: u64) -> PathBuf {
    dir.join(format!("quota.{}", slot % 2))
}

fn encode(seq: u64, map: &BTreeMap<String, u64>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(map.len() as u32).to_be_bytes());
    for (k, v) in map {
        let k = &k.as_bytes()[..k.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(k.len() as u16).to_be_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&v.to_be_bytes());
    }
    let total = (out.len() + 32) as u32;
    out[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&total.to_be_bytes());
    let sum = ring::digest::digest(&ring::digest::SHA256, &out);
    out.extend_from_slice(sum.as_ref());
    out
}

/// Decodes a file: `None` when it is not a complete, intact one.
fn decode(b: &[u8]) -> Option<(u64, BTreeMap<String, u64>)> {
    if b.len() < MAGIC.len() + 16 + 32 || &b[..MAGIC.len()] != MAGIC {
        return None;
    }
    let total = u32::from_be_bytes(b[MAGIC.len()..MAGIC.len() + 4].try_into().ok()?) as usize;
    let b = b.get(..total)?;
    let (body, sum) = b.split_at(b.len().checked_sub(32)?);
    if ring::digest::digest(&ring::digest::SHA256, body).as_ref() != sum {
        return None;
    }
    let mut p = MAGIC.len() + 4;
    let take = |p: &mut usize, n: usize| -> Option<&[u8]> {
        let s = body.get(*p..*p + n)?;
        *p += n;
        Some(s)
    };
    let seq = u64::from_be_bytes(take(&mut p, 8)?.try_into().ok()?);
    let n = u32::from_be_bytes(take(&mut p, 4)?.try_into().ok()?);
    let mut map = BTreeMap::new();
    for _ in 0..n {
        let len = u16::from_be_bytes(take(&mut p, 2)?.try_into().ok()?) as usize;
        let key = String::from_utf8(take(&mut p, len)?.to_vec()).ok()?;
        let count = u64::from_be_bytes(take(&mut p, 8)?.try_into().ok()?);
        map.insert(key, count);
    }
    (p == body.len()).then_some((seq, map))
}

/// The day a key counts (its last field), if it parses.
fn day_of(key: &str) -> Option<Date> {
    let day = key.rsplit('\x1f').next()?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(day, &format).ok()
}

impl QuotaCounters {
    /// Loads the counters kept in `dir`; with no files yet, those of the sled tree
    /// `legacy` (an earlier version's). Refuses files that exist but are both damaged.
    pub fn open(dir: &Path, legacy: Option<&sled::Tree>) -> Result<Self, QuotaError> {
        let mut best: Option<(u64, BTreeMap<String, u64>)> = None;
        let mut damaged = Vec::new();
        for slot in 0..2 {
            let path = path_of(dir, slot);
            match std::fs::read(&path) {
                Ok(b) => match decode(&b) {
                    Some((seq, map)) => {
                        if best.as_ref().is_none_or(|(s, _)| seq > *s) {
                            best = Some((seq, map));
                        }
                    }
                    None => damaged.push(path),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(QuotaError {
                        path,
                        reason: format!("cannot be read: {e}"),
                    })
                }
            }
        }
        if best.is_none() && !damaged.is_empty() {
            return Err(QuotaError {
                path: damaged[0].clone(),
                reason: "every copy is damaged (checksum or format); restore the data directory from a backup, or remove the quota files to start today's counts from zero".into(),
            });
        }
        let (seq, map, dirty) = match best {
            Some((seq, map)) => (seq, map, false),
            None => {
                let mut map = BTreeMap::new();
                if let Some(tree) = legacy {
                    for (k, v) in tree.iter().flatten() {
                        let mut a = [0u8; 8];
                        if v.len() == 8 {
                            a.copy_from_slice(&v);
                        }
                        map.insert(
                            String::from_utf8_lossy(&k).into_owned(),
                            u64::from_be_bytes(a),
                        );
                    }
                }
                let dirty = !map.is_empty();
                (0, map, dirty)
            }
        };
        let counters = Self {
            dir: dir.to_path_buf(),
            counts: Mutex::new(Counts { map, dirty }),
            files: Mutex::new((seq, None)),
        };
        if dirty {
            counters.sync()?;
        }
        Ok(counters)
    }

    /// The counters now, as a quota file (a backup's copy; a restore writes it as
    /// `quota.0`). Units taken by exchanges still in flight are included: a restored
    /// node errs on the side of having spent them.
    pub fn snapshot(&self) -> Vec<u8> {
        let map = self
            .counts
            .lock()
            .map(|c| c.map.clone())
            .unwrap_or_default();
        encode(1, &map)
    }

    /// The file a snapshot is restored as, in data directory `dir`.
    pub fn restored_path(dir: &Path) -> PathBuf {
        path_of(dir, 0)
    }

    /// The count under `key`.
    pub fn used(&self, key: &str) -> u64 {
        self.counts
            .lock()
            .map(|c| c.map.get(key).copied().unwrap_or(0))
            .unwrap_or(u64::MAX)
    }

    /// Takes one unit under `key` if fewer than `limit` were taken; returns the count
    /// after taking, or `None` (nothing changes then).
    pub fn try_consume(&self, key: &str, limit: u64) -> Option<u64> {
        self.try_consume_n(key, limit, 1)
    }

    /// Atomically takes `units` units of the quota `key` of `limit`, all or none: the
    /// count after taking, or `None` when fewer than `units` are left.
    pub fn try_consume_n(&self, key: &str, limit: u64, units: u64) -> Option<u64> {
        let mut c = self.counts.lock().ok()?;
        let n = c.map.get(key).copied().unwrap_or(0);
        if n.saturating_add(units) > limit {
            return None;
        }
        c.map.insert(key.to_string(), n + units);
        c.dirty = true;
        Some(n + units)
    }

    /// Raises each counter to at least its count in `counts` (recounted from the audit
    /// log when the node starts); never lowers one.
    pub fn raise_to(&self, counts: BTreeMap<String, u64>) {
        let Ok(mut c) = self.counts.lock() else {
            return;
        };
        for (key, n) in counts {
            let held = c.map.entry(key).or_default();
            if *held < n {
                *held = n;
            }
        }
    }

    /// Writes the counters if they changed since the last write, to the older of the two
    /// files, and waits until they are durable (`fdatasync`). Called by the audit writer.
    pub fn sync(&self) -> Result<(), QuotaError> {
        let mut files = self.files.lock().map_err(|_| QuotaError {
            path: self.dir.clone(),
            reason: "a lock is poisoned".into(),
        })?;
        let seq = files.0;
        let bytes = {
            let mut c = self.counts.lock().map_err(|_| QuotaError {
                path: self.dir.clone(),
                reason: "a lock is poisoned".into(),
            })?;
            if !c.dirty {
                return Ok(());
            }
            // Days well before the newest counted are dropped (the node's clock decides
            // the days; this never reads one of its own).
            if let Some(newest) = c.map.keys().filter_map(|k| day_of(k)).max() {
                let oldest = newest - time::Duration::days(KEEP_DAYS);
                c.map.retain(|k, _| day_of(k).is_none_or(|d| d >= oldest));
            }
            c.dirty = false;
            encode(seq + 1, &c.map)
        };
        let path = path_of(&self.dir, seq + 1);
        let written = (|| -> std::io::Result<()> {
            if files.1.is_none() {
                // Mode 0600 whatever the umask, like every file of the data directory.
                let open =
                    |slot: u64| puente_pki::files::open_private_rw(&path_of(&self.dir, slot));
                files.1 = Some([open(0)?, open(1)?]);
            }
            let f: &File = match &files.1 {
                Some(pair) => &pair[((seq + 1) % 2) as usize],
                None => return Err(std::io::Error::other("quota files not open")),
            };
            f.write_all_at(&bytes, 0)?;
            f.sync_data()
        })();
        if let Err(e) = written {
            if let Ok(mut c) = self.counts.lock() {
                c.dirty = true;
            }
            return Err(QuotaError {
                path,
                reason: format!("cannot be written: {e}"),
            });
        }
        files.0 = seq + 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_survive_reopening_and_a_damaged_copy_falls_back_to_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let q = QuotaCounters::open(dir.path(), None).unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        let key = format!("A\x1fMEX\x1fidentity_query\x1f{today}");
        assert_eq!(q.try_consume(&key, 3), Some(1));
        q.sync().unwrap();
        assert_eq!(q.try_consume(&key, 3), Some(2));
        q.sync().unwrap();
        assert_eq!(q.try_consume(&key, 3), Some(3));
        assert_eq!(q.try_consume(&key, 3), None);
        q.sync().unwrap();
        drop(q);
        let q = QuotaCounters::open(dir.path(), None).unwrap();
        assert_eq!(q.used(&key), 3);
        assert_eq!(q.try_consume(&key, 3), None);
        // The newest copy torn: the other (one sync older) is used.
        let newest = (0..2)
            .map(|s| path_of(dir.path(), s))
            .max_by_key(|p| decode(&std::fs::read(p).unwrap()).unwrap().0)
            .unwrap();
        let mut b = std::fs::read(&newest).unwrap();
        b.truncate(b.len() - 5);
        std::fs::write(&newest, b).unwrap();
        let q = QuotaCounters::open(dir.path(), None).unwrap();
        assert_eq!(q.used(&key), 2);
        drop(q);
        // Both damaged: refused, naming the file.
        for s in 0..2 {
            std::fs::write(path_of(dir.path(), s), b"garbage").unwrap();
        }
        let err = QuotaCounters::open(dir.path(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("quota.") && err.contains("damaged"), "{err}");
    }

    #[test]
    fn old_days_are_dropped_and_sled_counters_are_carried_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("quota_usage").unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        let key = format!("A\x1fMEX\x1fidentity_query\x1f{today}");
        tree.insert(key.as_bytes(), &7u64.to_be_bytes()).unwrap();
        tree.insert(
            b"A\x1fMEX\x1fidentity_query\x1f2001-01-01",
            &9u64.to_be_bytes(),
        )
        .unwrap();
        let q = QuotaCounters::open(dir.path(), Some(&tree)).unwrap();
        assert_eq!(q.used(&key), 7);
        assert_eq!(q.used("A\x1fMEX\x1fidentity_query\x1f2001-01-01"), 0);
        drop(q);
        // The files now rule; the sled tree is no longer read.
        tree.insert(key.as_bytes(), &1u64.to_be_bytes()).unwrap();
        let q = QuotaCounters::open(dir.path(), Some(&tree)).unwrap();
        assert_eq!(q.used(&key), 7);
    }
}
