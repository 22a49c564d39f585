//! A checked snapshot of the in-memory match keys and name index, so a node starts in
//! seconds at a million persons instead of opening a million sealed keys one by one and
//! reading every record's index keys.
//!
//! File `DATA/matchkeys.snapshot`: `puente-mkeys/v3\n` ‖ snapshot id (16 random bytes) ‖
//! length of the first part (u64 BE) ‖ the keys ([`MatchKeys::encode`]) sealed with the
//! data key ‖ the name and document index ([`NameIndex::encode`]) sealed with it; each part's
//! associated data is the magic, the id and the part's name, so neither part can stand
//! for the other. Two parts so that a start opens and decodes them on two threads. A
//! `v1` file (keys only) or `v2` (an index without the documents) is not used: rebuilt. The store's meta tree holds the id of the snapshot that reflects its
//! match keys; the first change to them after a snapshot removes that id, durably, before
//! it is applied. A snapshot is used only when its id is the one the store names, it
//! opens under the data key (so it is neither altered, cut short, nor another node's)
//! and it decodes whole; anything else is rebuilt from the sealed keys, never trusted,
//! and the reason logged.

use std::path::Path;

use ring::rand::SecureRandom;

use super::*;

/// Where a node keeps the snapshot, in its data directory.
pub const SNAPSHOT_FILE: &str = "matchkeys.snapshot";
const MAGIC: &[u8; 16] = b"puente-mkeys/v3\n";
/// The meta entry naming the snapshot that reflects the match keys.
pub(super) const SNAPSHOT_META: &str = "matchkeys_snapshot";
const ID_LEN: usize = 16;

/// How the match keys came into memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// Persons whose keys are held.
    pub persons: usize,
    /// Read from the snapshot (`None`) or rebuilt from the sealed keys, and why.
    pub rebuilt: Option<String>,
    /// A problem writing the new snapshot (the keys are loaded all the same; the next
    /// start rebuilds again).
    pub save_failed: Option<String>,
}

/// A snapshot file opened and decoded, not yet checked against a store: read before
/// the store is opened (on a thread of its own while sled recovers), then given to
/// [`RecordStore::load_match_keys_read`], which uses it only if the store names it.
#[derive(Debug)]
pub struct SnapshotRead {
    path: std::path::PathBuf,
    /// The id in the file's head, when it has one.
    id: Option<[u8; ID_LEN]>,
    /// The keys and the index, or why they cannot be used.
    parts: Result<(crate::keys::Parsed, Vec<Posting>), String>,
}

impl SnapshotRead {
    /// Reads, opens under `key` and decodes the snapshot at `path`; what cannot be used
    /// is kept as the reason (the keys are then rebuilt).
    pub fn read(key: &DataKey, path: &Path) -> Self {
        let (id, parts) = match std::fs::read(path) {
            Ok(bytes) => decode_file(key, path, bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (None, Err(format!("{} is missing", path.display())))
            }
            Err(e) => (None, Err(format!("reading {}: {e}", path.display()))),
        };
        Self {
            path: path.to_path_buf(),
            id,
            parts,
        }
    }
}

type Parts = Result<(crate::keys::Parsed, Vec<Posting>), String>;

/// The id in the head of the snapshot `bytes` (read from `path`), and its parts opened
/// and decoded, or why not.
fn decode_file(key: &DataKey, path: &Path, mut bytes: Vec<u8>) -> (Option<[u8; ID_LEN]>, Parts) {
    let head = MAGIC.len() + ID_LEN;
    if bytes.len() < head || &bytes[..MAGIC.len()] != MAGIC {
        let not = format!("{} is not a match-key snapshot", path.display());
        return (None, Err(not));
    }
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&bytes[MAGIC.len()..head]);
    let fault = |e: String| format!("{}: {e}", path.display());
    let (head, rest) = bytes.split_at_mut(head);
    let Some((len, rest)) = rest.split_first_chunk_mut::<8>() else {
        return (Some(id), Err(fault("cut short".into())));
    };
    let Some((keys, names)) = usize::try_from(u64::from_be_bytes(*len))
        .ok()
        .filter(|n| *n <= rest.len())
        .map(|n| rest.split_at_mut(n))
    else {
        return (
            Some(id),
            Err(fault("the length of its first part is wrong".into())),
        );
    };
    let head: &[u8] = head;
    let open = |part: &str, sealed| open_part(key, head, part, sealed, path);
    // The index on a thread of its own while this one does the keys: each half of the
    // work of a start.
    let (names, keys) = std::thread::scope(|scope| {
        let names = scope.spawn(|| -> Result<_, String> {
            NameIndex::decode(open("names", names)?).map_err(fault)
        });
        let keys = open("keys", keys).and_then(|k| MatchKeys::parse(k).map_err(fault));
        let names = names
            .join()
            .unwrap_or_else(|_| Err(fault("decoding the name index failed".into())));
        (names, keys)
    });
    (Some(id), keys.and_then(|k| Ok((k, names?))))
}

impl RecordStore {
    /// Brings every match key into memory from the snapshot at `path` when it reflects
    /// the store, else from the sealed keys, then writes a new snapshot there.
    pub fn load_match_keys_from(&self, path: &Path) -> Result<Loaded, RecordsError> {
        self.load_match_keys_read(path, SnapshotRead::read(&self.key, path))
    }

    /// [`RecordStore::load_match_keys_from`] with the snapshot at `path` already read:
    /// used when the store names it, else the keys are rebuilt and a new one written.
    pub fn load_match_keys_read(
        &self,
        path: &Path,
        read: SnapshotRead,
    ) -> Result<Loaded, RecordsError> {
        let why = match self.install_snapshot(read) {
            Ok(persons) => {
                return Ok(Loaded {
                    persons,
                    rebuilt: None,
                    save_failed: None,
                })
            }
            Err(why) => why,
        };
        let persons = self.load_match_keys()?;
        self.load_name_index()?;
        let save_failed = self
            .save_match_key_snapshot(path)
            .err()
            .map(|e| e.to_string());
        Ok(Loaded {
            persons,
            rebuilt: Some(why),
            save_failed,
        })
    }

    /// Why the snapshot `read` cannot be used, or the keys it held (now in memory).
    fn install_snapshot(&self, read: SnapshotRead) -> Result<usize, String> {
        let named = self
            .meta
            .get(SNAPSHOT_META)
            .map_err(|e| format!("reading which snapshot the store names: {e}"))?
            .ok_or(
                "the store names no snapshot (none written yet, or the records changed since)",
            )?;
        if read.id.is_some_and(|id| id[..] != named[..]) {
            return Err(format!(
                "{} is not the snapshot the store names (an older one, or another store's)",
                read.path.display()
            ));
        }
        let (keys, names) = read.parts?;
        let persons = self.keys_mem.install(keys);
        self.names.replace_sorted(names);
        Ok(persons)
    }

    /// Writes the match keys held in memory as the snapshot at `path` (a temporary file,
    /// synced, renamed over it), then names it in the store.
    pub fn save_match_key_snapshot(&self, path: &Path) -> Result<(), RecordsError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            RecordsError::Store(format!("{what} {}: {e}", path.display()))
        };
        // Before the gate: a change applied meanwhile is applied to it (once loaded).
        self.load_name_index()?;
        let mut id = [0u8; ID_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut id)
            .map_err(|_| RecordsError::Crypto("no randomness for a snapshot id".into()))?;
        // Taken as the one writer: no change is prepared or applied until the id below
        // is named, so the keys written are the store's. Queries go on meanwhile (the
        // gate is only read): a node writes its snapshot while it serves.
        let _one = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let _gate = self.view();
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&id);
        let keys = self
            .key
            .seal(&part_aad(&head, "keys"), &self.keys_mem.encode())?;
        let names = self
            .key
            .seal(&part_aad(&head, "names"), &self.names.encode())?;
        let tmp = path.with_extension("snapshot.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            // 0600 like every file of the data directory (sealed, but names all the same).
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&head)?;
            f.write_all(&(keys.len() as u64).to_be_bytes())?;
            f.write_all(&keys)?;
            f.write_all(&names)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| fail("writing", &e))?;
        self.meta.insert(SNAPSHOT_META, &id[..])?;
        self.db.flush()?;
        Ok(())
    }

    /// Whether the store names a snapshot (it stops at the first change after one).
    pub fn names_a_snapshot(&self) -> Result<bool, RecordsError> {
        Ok(self.meta.get(SNAPSHOT_META)?.is_some())
    }

    /// Called before any change to the match keys: the snapshot stops being named,
    /// durably, before the change can reach the disk. Read from the store each time (not
    /// remembered), so every handle on it, in this process or another, sees the same.
    pub(super) fn forget_snapshot(&self) -> Result<(), RecordsError> {
        if self.meta.remove(SNAPSHOT_META)?.is_some() {
            self.db.flush()?;
        }
        Ok(())
    }
}

/// The associated data of one part of the snapshot.
pub(super) fn part_aad(head: &[u8], part: &str) -> Vec<u8> {
    [head, part.as_bytes()].concat()
}

/// One part of the snapshot at `path`, opened in place.
fn open_part<'a>(
    key: &DataKey,
    head: &[u8],
    part: &str,
    sealed: &'a mut [u8],
    path: &Path,
) -> Result<&'a [u8], String> {
    key.open_in(&part_aad(head, part), sealed).map_err(|_| {
        format!(
            "{} does not open under the data key: altered or cut short ({part})",
            path.display()
        )
    })
}
