//! Reading the name index for a query, and loading it: from the checked snapshot at a
//! node's start (`store/snapshot.rs`), else from `rec_keys` the first time a query needs
//! it (a one-shot `records search`, a store opened without its snapshot).

use super::*;
use crate::blocks::{Block, Months};

impl RecordStore {
    /// The blocks of `keys` (single-token keys with `singles`, else pairs) for persons
    /// born in `year` and `months`, each read up to its cap; [`crate::blocks::select`]
    /// chooses which to score. Persons shielded from `audience` are not counted towards
    /// any cap: they go to `aside`, and the blocks read as if they were absent.
    pub fn name_blocks(
        &self,
        keys: &BTreeSet<String>,
        singles: bool,
        year: i32,
        months: Months,
        audience: Option<&str>,
        aside: &mut Vec<u64>,
    ) -> Result<Vec<Block>, RecordsError> {
        self.load_name_index()?;
        let (ix, cap) = if singles {
            (Index::Single, SINGLE_BLOCK_CAP)
        } else {
            (Index::Pair, PAIR_BLOCK_CAP)
        };
        let slots = months.slots();
        let mut blocks = Vec::with_capacity(keys.len());
        for key in keys {
            let mut block = Block::default();
            for slot in &slots {
                let left = cap - block.ids.len();
                let term = postings::term(&self.name_hash(ix, key, year, *slot));
                let mut n = 0;
                let mut full = false;
                let mut failed = None;
                let loaded = self.names.visit(term, |id| {
                    if let Some(country) = audience {
                        match self.shields(id, country) {
                            Ok(true) => {
                                aside.push(id);
                                return true;
                            }
                            Ok(false) => {}
                            Err(e) => {
                                failed = Some(e);
                                return false;
                            }
                        }
                    }
                    if n >= left {
                        full = true;
                        return false;
                    }
                    block.ids.push(id);
                    n += 1;
                    true
                });
                if let Some(e) = failed {
                    return Err(e);
                }
                if !loaded {
                    // Unloaded meanwhile (never by this code while it serves).
                    return Err(RecordsError::Store("the name index is not loaded".into()));
                }
                if full {
                    block.truncated = true;
                    break;
                }
            }
            blocks.push(block);
        }
        Ok(blocks)
    }

    /// Loads the name index from `rec_keys` unless it is held already.
    pub(super) fn load_name_index(&self) -> Result<(), RecordsError> {
        self.names.load_with(|| self.name_postings_on_disk())
    }

    /// Every name-index entry `rec_keys` lists.
    fn name_postings_on_disk(&self) -> Result<Vec<Posting>, RecordsError> {
        let mut out = Vec::new();
        for item in self.keys.iter() {
            let (k, v) = item?;
            if k.len() != 8 || v.len() % (INDEX_HASH_LEN + 1) != 0 {
                return Err(RecordsError::Corrupt(format!(
                    "the index keys of record {}: {} bytes",
                    be_u64(&k),
                    v.len()
                )));
            }
            out.extend(index_postings(&decode_keys(&v), be_u64(&k)));
        }
        Ok(out)
    }

    /// Entries of the name index held in memory, and the bytes they take.
    pub fn name_index_size(&self) -> (usize, usize) {
        (self.names.len(), self.names.memory_bytes())
    }
}
