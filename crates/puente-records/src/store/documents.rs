//! Finding a person by document. The document index is a keyed hash of issuing state and
//! normalized number, never the number itself, with the ids of the persons holding it.
//!
//! It is kept twice. In memory, in the same sorted array as the name index
//! (`store/postings.rs`: a document's term is the first 8 bytes of its keyed hash, under
//! its own hash domain), so a lookup is a binary search and one sled read, the record.
//! It comes and goes with the name index: from the checked snapshot, from `rec_keys`,
//! changed under the same gate. And in sled (`idx_doc`, keyed hash ‖ id), which a lookup
//! scans when the index is not held in memory (a one-shot `records search` does not load
//! a million persons' index for one document).
//!
//! At a million persons, each step timed on its own cold persons (`document_timing`,
//! next to this file): sled's prefix scan of `idx_doc` had a p99 of 4.2 ms, the
//! in-memory index 0.003 ms, the record's sled read 0.81 ms, unsealing and decoding it
//! 0.04 ms. The scan was the tail; the record read is what is left of it. Either way the
//! answer is the same: every id found is confirmed against the record itself, so a term
//! shared by two hashes only reads one more record.

use super::*;

impl RecordStore {
    pub(super) fn doc_hash(&self, issuing_state: &str, number: &str) -> [u8; INDEX_HASH_LEN] {
        self.key.index_hash(
            "doc",
            &format!(
                "{}:{}",
                issuing_state.trim().to_ascii_uppercase(),
                normalize_document_number(number)
            ),
        )
    }

    /// Records whose document is `number` issued by `issuing_state`.
    pub fn by_document(
        &self,
        issuing_state: &str,
        number: &str,
    ) -> Result<Vec<Stored>, RecordsError> {
        Ok(self.by_document_for(issuing_state, number, None)?.0)
    }

    /// [`RecordStore::by_document`] as answered to `audience`: persons the protection
    /// rule shields from it are set aside before the cap, as if absent; also returns
    /// those of them who hold the document.
    pub fn by_document_for(
        &self,
        issuing_state: &str,
        number: &str,
        audience: Option<&str>,
    ) -> Result<(Vec<Stored>, Vec<u64>), RecordsError> {
        let wanted = normalize_document_number(number);
        let state = issuing_state.trim().to_ascii_uppercase();
        let holds = |record: &PersonRecord| {
            record
                .document
                .as_ref()
                .is_some_and(|d| d.number == wanted && d.issuing_state == state)
        };
        let mut ids = Vec::new();
        let mut aside = Vec::new();
        self.doc_ids(
            &self.doc_hash(issuing_state, number),
            CANDIDATE_CAP,
            audience,
            &mut ids,
            &mut aside,
        )?;
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::new();
        for id in ids {
            if let Some(record) = self.get(id)? {
                // The index is a hash: confirm against the record itself.
                if holds(&record) {
                    out.push(Stored { id, record });
                }
            }
        }
        let mut withheld = Vec::new();
        for id in aside.into_iter().take(CANDIDATE_CAP) {
            if self.get(id)?.is_some_and(|r| holds(&r)) {
                withheld.push(id);
            }
        }
        Ok((out, withheld))
    }

    /// Appends the ids of the document index under `h` to `out`, at most `cap` of them:
    /// from memory when the index is held, else from sled. Ids shielded from `audience`
    /// go to `aside` and count towards nothing.
    fn doc_ids(
        &self,
        h: &[u8; INDEX_HASH_LEN],
        cap: usize,
        audience: Option<&str>,
        out: &mut Vec<u64>,
        aside: &mut Vec<u64>,
    ) -> Result<(), RecordsError> {
        let mut n = 0;
        // Whether `id` is taken; false once the cap is reached.
        let mut take = |id: u64| -> Result<bool, RecordsError> {
            if let Some(country) = audience {
                if self.shields(id, country)? {
                    aside.push(id);
                    return Ok(true);
                }
            }
            if n >= cap {
                return Ok(false);
            }
            out.push(id);
            n += 1;
            Ok(true)
        };
        if self.names.is_loaded() {
            let mut failed = None;
            let held = self.names.visit(postings::term(h), |id| match take(id) {
                Ok(more) => more,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            if held {
                return Ok(());
            }
            // Unloaded meanwhile (never by this code while it serves): nothing was
            // visited, sled answers.
        }
        for item in self.doc.scan_prefix(h) {
            let (k, _) = item?;
            if k.len() != INDEX_HASH_LEN + 8 {
                continue;
            }
            if !take(be_u64(&k[INDEX_HASH_LEN..]))? {
                break;
            }
        }
        Ok(())
    }

    /// The ids the document index lists under `issuing_state` and `number`, in memory
    /// (`None` when it is not held) and in sled, before any check against the records.
    #[cfg(test)]
    pub(crate) fn doc_index_ids(
        &self,
        issuing_state: &str,
        number: &str,
    ) -> (Option<Vec<u64>>, Vec<u64>) {
        let h = self.doc_hash(issuing_state, number);
        let mut mem = Vec::new();
        let held = self.names.visit(postings::term(&h), |id| {
            mem.push(id);
            true
        });
        let disk = self
            .doc
            .scan_prefix(h)
            .map(|item| be_u64(&item.unwrap().0[INDEX_HASH_LEN..]))
            .collect();
        (held.then_some(mem), disk)
    }
}
