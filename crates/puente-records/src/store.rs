//! The records store: sled trees holding sealed person records and passport copies, and
//! keyed-hash indexes (document; name blocking keys with the birth year) that find a
//! person without a scan and without raw names in the index.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `rec_ids` | HMAC(record_id) | internal id (u64 BE) |
//! | `rec_data` | id | sealed JSON [`PersonRecord`] |
//! | `rec_copy` | id | sealed image |
//! | `rec_keys` | id | the index keys written for it: the durable name index |
//! | `idx_doc` | HMAC(document) ‖ id | — |
//! | `rec_match` | id | sealed JSON [`MatchKey`] |
//! | `rec_meta` | name | import state, generation, name-index layout, snapshot id |
//!
//! The name index is held in memory (`store/postings.rs`), read from the checked snapshot
//! or rebuilt from `rec_keys`, and with it a copy of the document index
//! (`store/documents.rs`); sled keeps no entry per name term (it did until issue 16's
//! million-person measure: `idx_name1`, `idx_name2`, dropped when such a store opens).
//!
//! Changes while a node serves go through [`RecordStore::apply_import`] and
//! [`RecordStore::delete`] (`store/apply.rs`): prepared outside any lock, applied whole
//! under a write gate that queries hold for reading ([`RecordStore::view`]).
//!
//! A name term is a blocking key with the birth year and month (`0` when the month is
//! not recorded), so a query that knows the month reads a twelfth of what the year alone
//! would give it; see [`crate::blocks`].

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use crate::blocks::month_slot;
use crate::crypto::{DataKey, INDEX_HASH_LEN};
use crate::error::RecordsError;
pub use crate::keys::MatchKey;
use crate::keys::MatchKeys;
use crate::model::{normalize_document_number, PersonRecord};
use crate::names::{blocking_keys, normalize};

/// Index entries of a single-token block larger than this are not read: such a token is
/// too common to narrow anything down (pairs still are).
pub const SINGLE_BLOCK_CAP: usize = 250;
/// Most candidates a name query scores (the most selective block may exceed it, up to
/// [`PAIR_BLOCK_CAP`]).
pub const CANDIDATE_CAP: usize = 1000;
/// Most entries read from one pair block.
pub const PAIR_BLOCK_CAP: usize = 2000;

/// The name-index layout this code writes and reads; a store holding another is
/// re-indexed when opened. `/2`: 1 January is indexed as "month not recorded", and
/// compounds written together have keys of their own (see [`blocking_keys`]).
const NAME_INDEX_LAYOUT: &[u8] = b"year-month/2";
const NAME_INDEX_META: &str = "name_index_layout";
/// The meta entry holding [`RecordStore::generation`].
const GENERATION: &str = "generation";

/// Which index an entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Index {
    Doc = 0,
    Single = 1,
    Pair = 2,
}

/// The records of one node.
#[derive(Clone)]
pub struct RecordStore {
    key: Arc<DataKey>,
    ids: sled::Tree,
    data: sled::Tree,
    copies: sled::Tree,
    keys: sled::Tree,
    /// The document index.
    doc: sled::Tree,
    matchkeys: sled::Tree,
    /// The match keys, in memory.
    keys_mem: MatchKeys,
    /// The name index and the document index, in memory (`store/documents.rs`).
    names: NameIndex,
    meta: sled::Tree,
    db: sled::Db,
    /// Queries read under it, a change is applied under it: never half seen.
    gate: Arc<RwLock<()>>,
    /// One change is prepared and applied at a time.
    writer: Arc<Mutex<()>>,
}

mod apply;
#[cfg(test)]
mod document_timing;
mod documents;
mod name_blocks;
mod postings;
mod snapshot;
#[cfg(test)]
mod snapshot_timing;
pub use apply::{Applied, Incoming};
use postings::{NameIndex, Posting};
pub use snapshot::{Loaded, SnapshotRead, SNAPSHOT_FILE};

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore")
            .field("persons", &self.data.len())
            .finish()
    }
}

/// A stored record with its internal id.
#[derive(Clone, Debug)]
pub struct Stored {
    /// Internal id (stable across updates of the same `record_id`).
    pub id: u64,
    /// The record.
    pub record: PersonRecord,
}

impl RecordStore {
    /// Opens the records trees of `db`.
    pub fn open(db: &sled::Db, key: Arc<DataKey>) -> Result<Self, RecordsError> {
        let store = Self {
            ids: db.open_tree("rec_ids")?,
            data: db.open_tree("rec_data")?,
            copies: db.open_tree("rec_copy")?,
            keys: db.open_tree("rec_keys")?,
            doc: db.open_tree("idx_doc")?,
            meta: db.open_tree("rec_meta")?,
            matchkeys: db.open_tree("rec_match")?,
            keys_mem: MatchKeys::default(),
            names: NameIndex::default(),
            db: db.clone(),
            key,
            gate: Arc::default(),
            writer: Arc::default(),
        };
        if store.meta.get(NAME_INDEX_META)?.as_deref() != Some(NAME_INDEX_LAYOUT) {
            store.rebuild_name_index()?;
        }
        // The name index in sled of earlier versions: `rec_keys` holds the same terms.
        for old in ["idx_name1", "idx_name2"] {
            if db.tree_names().iter().any(|n| n.as_ref() == old.as_bytes()) {
                db.drop_tree(old)?;
            }
        }
        if store.keys.is_empty() {
            store.names.replace(Vec::new());
        }
        Ok(store)
    }

    /// Rewrites every record's index entries in the current layout and removes those of
    /// an older one (they are listed in `rec_keys`). Converges if interrupted.
    fn rebuild_name_index(&self) -> Result<(), RecordsError> {
        if !self.data.is_empty() {
            tracing::info!(
                persons = self.data.len(),
                "rebuilding the name index in its current layout"
            );
        }
        for item in self.data.iter() {
            let (k, _) = item?;
            let id = be_u64(&k);
            if let Some(record) = self.get(id)? {
                self.write_keys(id, &self.index_keys(&record))?;
            }
        }
        self.meta.insert(NAME_INDEX_META, NAME_INDEX_LAYOUT)?;
        self.db.flush()?;
        Ok(())
    }

    /// A consistent view for one query: while it is held, no import or deletion is
    /// applied, so everything read under it is from before a change or after it. Take it
    /// once per query, at the top (not again inside: a waiting writer would deadlock).
    pub fn view(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// [`RecordStore::view`] if it can be had without waiting (a change being applied
    /// makes a query wait; callers on an async worker move to the blocking pool then).
    pub fn try_view(&self) -> Option<RwLockReadGuard<'_, ()>> {
        match self.gate.try_read() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The data key.
    pub fn key(&self) -> &Arc<DataKey> {
        &self.key
    }

    /// How many persons are stored.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the store holds nobody.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Flushes to disk.
    pub fn flush(&self) -> Result<(), RecordsError> {
        self.db.flush()?;
        Ok(())
    }

    fn index_keys(&self, r: &PersonRecord) -> Vec<(Index, [u8; INDEX_HASH_LEN])> {
        let mut out = Vec::new();
        if let Some(d) = &r.document {
            out.push((Index::Doc, self.doc_hash(&d.issuing_state, &d.number)));
        }
        let name = normalize(&[&r.given_names, &r.surnames]);
        let (singles, pairs) = blocking_keys(&name);
        let (year, slot) = (r.date_of_birth.year, month_slot(&r.date_of_birth));
        for s in singles {
            out.push((Index::Single, self.name_hash(Index::Single, &s, year, slot)));
        }
        for p in pairs {
            out.push((Index::Pair, self.name_hash(Index::Pair, &p, year, slot)));
        }
        out
    }

    fn name_hash(&self, ix: Index, key: &str, year: i32, slot: u8) -> [u8; INDEX_HASH_LEN] {
        let domain = if ix == Index::Single {
            "name1"
        } else {
            "name2"
        };
        self.key
            .index_hash(domain, &format!("{key}|{year}-{slot:02}"))
    }

    fn id_of(&self, record_id: &str) -> Result<Option<u64>, RecordsError> {
        let h = self.key.index_hash("record_id", record_id);
        Ok(self.ids.get(h)?.map(|v| be_u64(&v)))
    }

    /// Stores (or replaces) a record and its passport copy (`None` removes a stored one).
    pub fn put(&self, record: &PersonRecord, copy: Option<&[u8]>) -> Result<u64, RecordsError> {
        let _one = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let _view = self.view();
        self.forget_snapshot()?;
        let rid_hash = self.key.index_hash("record_id", &record.record_id);
        let id = match self.ids.get(rid_hash)? {
            Some(v) => be_u64(&v),
            None => {
                let id = self.db.generate_id()?;
                self.ids.insert(rid_hash, &id.to_be_bytes())?;
                id
            }
        };
        let json = serde_json::to_vec(record)
            .map_err(|e| RecordsError::Store(format!("encoding a record: {e}")))?;
        let sealed = self.key.seal(&aad("person", id), &json)?;
        self.data.insert(id.to_be_bytes(), sealed)?;
        let key = MatchKey::of(record);
        let key_json = serde_json::to_vec(&key)
            .map_err(|e| RecordsError::Store(format!("encoding a match key: {e}")))?;
        self.matchkeys.insert(
            id.to_be_bytes(),
            self.key.seal(&aad("match", id), &key_json)?,
        )?;
        self.keys_mem.insert(id, &key);
        match copy {
            Some(bytes) => {
                self.copies
                    .insert(id.to_be_bytes(), self.key.seal(&aad("copy", id), bytes)?)?;
            }
            None => {
                self.copies.remove(id.to_be_bytes())?;
            }
        }
        self.write_keys(id, &self.index_keys(record))?;
        Ok(id)
    }

    /// Writes a record's index entries (the document's in sled, all of them in memory and
    /// in `rec_keys`) and removes those of its previous version that the new
    /// one does not have.
    fn write_keys(
        &self,
        id: u64,
        new_keys: &[(Index, [u8; INDEX_HASH_LEN])],
    ) -> Result<(), RecordsError> {
        let old: Vec<(u8, [u8; INDEX_HASH_LEN])> = match self.keys.get(id.to_be_bytes())? {
            Some(v) => decode_keys(&v),
            None => Vec::new(),
        };
        for (ix, h) in new_keys {
            if *ix == Index::Doc {
                self.doc.insert(entry(h, id), &[])?;
            }
        }
        self.keys.insert(id.to_be_bytes(), encode_keys(new_keys))?;
        let new_set: BTreeSet<(u8, [u8; INDEX_HASH_LEN])> =
            new_keys.iter().map(|(i, h)| (*i as u8, *h)).collect();
        for (ix, h) in &old {
            if *ix == Index::Doc as u8 && !new_set.contains(&(*ix, *h)) {
                self.doc.remove(entry(h, id))?;
            }
        }
        let new: Vec<(u8, [u8; INDEX_HASH_LEN])> = new_set.into_iter().collect();
        self.names
            .change(&index_postings(&old, id), &index_postings(&new, id));
        Ok(())
    }

    /// Marks an import of `label` as in progress and moves the generation on, so that
    /// statistics built from the records before it do not stand for a store the import
    /// changed part way (were it interrupted).
    pub fn begin_import(&self, label: &str) -> Result<(), RecordsError> {
        self.next_generation()?;
        self.meta.insert("import_in_progress", label.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Clears the in-progress mark and moves the generation on (statistics built from
    /// the records see that they must be rebuilt).
    pub fn end_import(&self) -> Result<(), RecordsError> {
        self.next_generation()?;
        self.meta.remove("import_in_progress")?;
        Ok(())
    }

    fn next_generation(&self) -> Result<(), RecordsError> {
        self.meta.update_and_fetch(GENERATION, |old| {
            let n = old.map(be_u64).unwrap_or(0);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// A number that moves on with every change to the records (0 before the first):
    /// each import, deletion and live change begins and ends by moving it. Read from the
    /// store's meta tree alone: counting the records (a walk over all of them, seconds
    /// at a million) is not needed to see a change, and a start does not pay for it.
    pub fn generation(&self) -> Result<u64, RecordsError> {
        // Stores written before every change moved it kept the count in its low 32 bits
        // (`g << 32 ^ count`); a value from then is never equal to one of these (small)
        // counters for a store with records, so statistics built then are rebuilt once.
        Ok(self.meta.get(GENERATION)?.map(|v| be_u64(&v)).unwrap_or(0))
    }

    /// The import that was interrupted, if any (re-run it: it converges).
    pub fn interrupted_import(&self) -> Result<Option<String>, RecordsError> {
        Ok(self
            .meta
            .get("import_in_progress")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Loads one record by internal id.
    pub fn get(&self, id: u64) -> Result<Option<PersonRecord>, RecordsError> {
        let Some(sealed) = self.data.get(id.to_be_bytes())? else {
            return Ok(None);
        };
        self.unseal(id, &sealed).map(Some)
    }

    /// A record as `rec_data` keeps it, opened.
    fn unseal(&self, id: u64, sealed: &[u8]) -> Result<PersonRecord, RecordsError> {
        let json = self.key.open(&aad("person", id), sealed)?;
        serde_json::from_slice(&json)
            .map_err(|e| RecordsError::Corrupt(format!("record {id}: {e}")))
    }

    /// Loads a record by the country's record id.
    pub fn get_by_record_id(&self, record_id: &str) -> Result<Option<Stored>, RecordsError> {
        let Some(id) = self.id_of(record_id)? else {
            return Ok(None);
        };
        Ok(self.get(id)?.map(|record| Stored { id, record }))
    }

    /// The passport copy of a record.
    pub fn copy(&self, id: u64) -> Result<Option<Vec<u8>>, RecordsError> {
        match self.copies.get(id.to_be_bytes())? {
            Some(sealed) => Ok(Some(self.key.open(&aad("copy", id), &sealed)?)),
            None => Ok(None),
        }
    }

    /// The compact summary a name query scores: from memory when held, else from its
    /// sealed copy.
    pub fn match_key(&self, id: u64) -> Result<Option<MatchKey>, RecordsError> {
        match self.keys_mem.get(id) {
            Some(key) => Ok(Some(key)),
            None => self.sealed_match_key(id),
        }
    }

    /// Whether the protection rule shields person `id` from `country` (from memory when
    /// the match keys are held).
    pub fn shields(&self, id: u64, country: &str) -> Result<bool, RecordsError> {
        match self.keys_mem.shields(id, country) {
            Some(s) => Ok(s),
            None => Ok(self
                .sealed_match_key(id)?
                .is_some_and(|k| k.shields(country))),
        }
    }

    /// Brings every match key into memory (a node does so when it starts, so a name
    /// query reads no match key from disk; a one-shot `records search` does not need
    /// to). Returns how many.
    pub fn load_match_keys(&self) -> Result<usize, RecordsError> {
        let mut n = 0;
        for item in self.matchkeys.iter() {
            let (k, _) = item?;
            let id = be_u64(&k);
            if let Some(key) = self.sealed_match_key(id)? {
                self.keys_mem.insert(id, &key);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Bytes the in-memory match keys take, roughly.
    pub fn match_key_bytes(&self) -> usize {
        self.keys_mem.memory_bytes()
    }

    /// The sealed copy of a match key, as stored.
    fn sealed_match_key(&self, id: u64) -> Result<Option<MatchKey>, RecordsError> {
        let Some(sealed) = self.matchkeys.get(id.to_be_bytes())? else {
            return Ok(None);
        };
        let json = self.key.open(&aad("match", id), &sealed)?;
        let mut key: MatchKey = serde_json::from_slice(&json)
            .map_err(|e| RecordsError::Corrupt(format!("match key {id}: {e}")))?;
        if key.name.sounds.len() != key.name.tokens.len() {
            // Sealed before sound keys were kept.
            key.name.sounds = key
                .name
                .tokens
                .iter()
                .map(|t| crate::phonetic::sound(t))
                .collect();
        }
        if key.name.pinyin.len() != key.name.tokens.len() {
            key.name.pinyin = key
                .name
                .raw
                .iter()
                .map(|t| crate::names::pinyin_form(t))
                .collect();
        }
        if key.shielded_from.is_none() {
            // Sealed before match keys held the protection: the record says it.
            key.shielded_from = Some(self.get(id)?.map(|r| r.shielded_from()).unwrap_or_default());
        }
        Ok(Some(key))
    }

    /// Every stored record (for `records search` without an index hit, exports, tests).
    pub fn iter(&self) -> impl Iterator<Item = Result<Stored, RecordsError>> + '_ {
        self.data.iter().map(move |item| {
            let (k, sealed) = item?;
            let id = be_u64(&k);
            Ok(Stored {
                id,
                record: self.unseal(id, &sealed)?,
            })
        })
    }
}

fn aad(kind: &str, id: u64) -> Vec<u8> {
    let mut v = kind.as_bytes().to_vec();
    v.push(0);
    v.extend_from_slice(&id.to_be_bytes());
    v
}

fn entry(h: &[u8; INDEX_HASH_LEN], id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(INDEX_HASH_LEN + 8);
    k.extend_from_slice(h);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn encode_keys(keys: &[(Index, [u8; INDEX_HASH_LEN])]) -> Vec<u8> {
    let mut v = Vec::with_capacity(keys.len() * (INDEX_HASH_LEN + 1));
    for (ix, h) in keys {
        v.push(*ix as u8);
        v.extend_from_slice(h);
    }
    v
}

/// The in-memory index entries of `keys` (as `rec_keys` lists them) for person `id`:
/// name terms and the document's, each a keyed hash's first 8 bytes.
fn index_postings(keys: &[(u8, [u8; INDEX_HASH_LEN])], id: u64) -> Vec<Posting> {
    keys.iter()
        .filter(|(ix, _)| {
            [Index::Doc, Index::Single, Index::Pair]
                .map(|i| i as u8)
                .contains(ix)
        })
        .map(|(_, h)| (postings::term(h), id))
        .collect()
}

fn decode_keys(v: &[u8]) -> Vec<(u8, [u8; INDEX_HASH_LEN])> {
    v.chunks_exact(INDEX_HASH_LEN + 1)
        .map(|c| {
            let mut h = [0u8; INDEX_HASH_LEN];
            h.copy_from_slice(&c[1..]);
            (c[0], h)
        })
        .collect()
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    if b.len() >= 8 {
        a.copy_from_slice(&b[..8]);
    }
    u64::from_be_bytes(a)
}
