//! Changing the records while a node serves. A whole change (an import, a deletion) is
//! prepared first, outside the gate: each record sealed, its match key and index entries
//! computed, the entries of its previous version found, all of it in one sled batch per
//! tree. Only then is the gate taken for writing and the batches applied, with the
//! in-memory match keys and the generation: a query, which holds the gate for reading
//! ([`RecordStore::view`]), sees the store before the change or after it, never half.
//!
//! The in-progress mark is durable before the first batch is applied and removed with
//! the last, so a crash in between is reported by [`RecordStore::interrupted_import`]
//! until the change is made again (it converges: writes are keyed by `record_id`).

use std::collections::HashMap;

use super::*;

/// One record to store, with its passport copy (`None` removes a stored one).
pub type Incoming = (PersonRecord, Option<Vec<u8>>);

/// What a change did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Records that did not exist before.
    pub created: u64,
    /// Records replaced.
    pub updated: u64,
    /// Records deleted.
    pub deleted: u64,
    /// Record ids asked to be deleted that the store does not hold.
    pub unknown: u64,
}

/// The writes of one change, one batch per tree, and the match keys to hold after it
/// (`None`: forget).
#[derive(Default)]
struct Batches {
    ids: sled::Batch,
    data: sled::Batch,
    copies: sled::Batch,
    keys: sled::Batch,
    doc: sled::Batch,
    matchkeys: sled::Batch,
    mem: Vec<(u64, Option<MatchKey>)>,
    /// Name-index entries to remove, then to add.
    names_gone: Vec<Posting>,
    names_new: Vec<Posting>,
}

impl RecordStore {
    /// Stores `rows` (a later row of the same `record_id` wins) as one change: queries
    /// see all of them or none. `label` names the change in the in-progress mark.
    pub fn apply_import(&self, label: &str, rows: Vec<Incoming>) -> Result<Applied, RecordsError> {
        let _one = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let (batches, applied) = self.prepare_puts(rows)?;
        self.commit(Some(label), batches)?;
        Ok(applied)
    }

    /// Stores `rows` without the in-progress mark or a new generation: a part of an
    /// offline import that the caller brackets with [`RecordStore::begin_import`] and
    /// [`RecordStore::end_import`].
    pub fn apply_part(&self, rows: Vec<Incoming>) -> Result<Applied, RecordsError> {
        let _one = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let (batches, applied) = self.prepare_puts(rows)?;
        self.commit(None, batches)?;
        Ok(applied)
    }

    /// Deletes the persons of `record_ids` (with their passport copies and index
    /// entries) as one change. Ids the store does not hold are counted, not refused.
    pub fn delete(&self, record_ids: &[String]) -> Result<Applied, RecordsError> {
        let _one = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut b = Batches::default();
        let mut applied = Applied::default();
        let mut seen = BTreeSet::new();
        for record_id in record_ids {
            if !seen.insert(record_id.as_str()) {
                continue;
            }
            let rid_hash = self.key.index_hash("record_id", record_id);
            let Some(id) = self.ids.get(rid_hash)?.map(|v| be_u64(&v)) else {
                applied.unknown += 1;
                continue;
            };
            let at = id.to_be_bytes();
            b.ids.remove(&rid_hash[..]);
            b.data.remove(&at[..]);
            b.matchkeys.remove(&at[..]);
            b.copies.remove(&at[..]);
            b.keys.remove(&at[..]);
            if let Some(old) = self.keys.get(at)? {
                let old = decode_keys(&old);
                for (ix, h) in &old {
                    if *ix == Index::Doc as u8 {
                        b.doc.remove(entry(h, id));
                    }
                }
                b.names_gone.extend(index_postings(&old, id));
            }
            b.mem.push((id, None));
            applied.deleted += 1;
        }
        if applied.deleted > 0 {
            self.commit(Some("a deletion"), b)?;
        }
        Ok(applied)
    }

    fn prepare_puts(&self, rows: Vec<Incoming>) -> Result<(Batches, Applied), RecordsError> {
        // The last row of a record_id wins, as it would written one by one.
        let mut last: HashMap<String, usize> = HashMap::with_capacity(rows.len());
        for (i, (record, _)) in rows.iter().enumerate() {
            last.insert(record.record_id.clone(), i);
        }
        let mut b = Batches::default();
        let mut applied = Applied::default();
        for (i, (record, copy)) in rows.into_iter().enumerate() {
            if last.get(&record.record_id) != Some(&i) {
                continue;
            }
            let rid_hash = self.key.index_hash("record_id", &record.record_id);
            let (id, old) = match self.ids.get(rid_hash)? {
                Some(v) => {
                    let id = be_u64(&v);
                    applied.updated += 1;
                    let old = match self.keys.get(id.to_be_bytes())? {
                        Some(v) => decode_keys(&v),
                        None => Vec::new(),
                    };
                    (id, old)
                }
                None => {
                    let id = self.db.generate_id()?;
                    b.ids.insert(&rid_hash[..], &id.to_be_bytes()[..]);
                    applied.created += 1;
                    (id, Vec::new())
                }
            };
            let at = id.to_be_bytes();
            let json = serde_json::to_vec(&record)
                .map_err(|e| RecordsError::Store(format!("encoding a record: {e}")))?;
            b.data
                .insert(&at[..], self.key.seal(&aad("person", id), &json)?);
            let key = MatchKey::of(&record);
            let key_json = serde_json::to_vec(&key)
                .map_err(|e| RecordsError::Store(format!("encoding a match key: {e}")))?;
            b.matchkeys
                .insert(&at[..], self.key.seal(&aad("match", id), &key_json)?);
            match copy {
                Some(bytes) => b
                    .copies
                    .insert(&at[..], self.key.seal(&aad("copy", id), &bytes)?),
                None => b.copies.remove(&at[..]),
            }
            let new_keys = self.index_keys(&record);
            for (ix, h) in &new_keys {
                if *ix == Index::Doc {
                    b.doc.insert(entry(h, id), &[] as &[u8]);
                }
            }
            b.keys.insert(&at[..], encode_keys(&new_keys));
            let new_set: BTreeSet<(u8, [u8; INDEX_HASH_LEN])> =
                new_keys.iter().map(|(i, h)| (*i as u8, *h)).collect();
            for (ix, h) in &old {
                if *ix == Index::Doc as u8 && !new_set.contains(&(*ix, *h)) {
                    b.doc.remove(entry(h, id));
                }
            }
            // Old entries the new version keeps are removed and added back: a set.
            b.names_gone.extend(index_postings(&old, id));
            let new: Vec<(u8, [u8; INDEX_HASH_LEN])> = new_set.into_iter().collect();
            b.names_new.extend(index_postings(&new, id));
            b.mem.push((id, Some(key)));
        }
        Ok((b, applied))
    }

    /// Applies `b` under the write gate. With a `label`: between a durable in-progress
    /// mark and a new generation (statistics built from the records see the change).
    fn commit(&self, label: Option<&str>, b: Batches) -> Result<(), RecordsError> {
        if let Some(label) = label {
            self.begin_import(label)?;
        }
        {
            let _gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
            // Under the gate, so a snapshot being written either holds this change or
            // is no longer named when it is applied.
            self.forget_snapshot()?;
            self.ids.apply_batch(b.ids)?;
            self.data.apply_batch(b.data)?;
            self.matchkeys.apply_batch(b.matchkeys)?;
            self.copies.apply_batch(b.copies)?;
            self.keys.apply_batch(b.keys)?;
            self.doc.apply_batch(b.doc)?;
            self.names.change(&b.names_gone, &b.names_new);
            for (id, key) in b.mem {
                match key {
                    Some(k) => self.keys_mem.insert(id, &k),
                    None => self.keys_mem.remove(id),
                }
            }
            if label.is_some() {
                self.end_import()?;
            }
        }
        self.db.flush()?;
        Ok(())
    }
}
