//! The name index in memory: for each name term (a blocking key with the birth year and
//! month slot, as a keyed hash), the internal ids of the persons under it, ascending.
//! It holds each person's document term too (the keyed hash of issuing state and number,
//! in a hash domain of its own), so a document lookup reads no index page from sled
//! (`store/documents.rs`).
//!
//! At a million persons the index holds ~16 entries a person. Kept in sled, one key per
//! entry, it made loading slow (every entry a random insert into a 16-million-key tree)
//! and name queries' tails long (each block a prefix scan through sled's pages). Here it
//! is one sorted array of `(term, id)` pairs, 16 bytes an entry, with a small sorted set
//! of entries added and removed since the array was last rebuilt; a lookup is a binary
//! search and a contiguous read.
//!
//! What is durable is each record's list of index keys in the `rec_keys` tree (written in
//! the same batch as the record): the index is rebuilt from it, or read from the checked
//! snapshot (`store/snapshot.rs`) that the store names. A term is the first 8 bytes of
//! the keyed hash the store computes for the entry (never a name): two terms sharing them
//! only add a candidate, which scoring then judges like any other.
//!
//! Changes are sets: adding an entry already held or removing one not held does nothing.
//! So a change that reaches `rec_keys` before the index is loaded (and is then found
//! there) may also be applied afterwards without harm; changes made while the index is
//! not loaded are dropped, since loading reads them from `rec_keys`.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use crate::crypto::INDEX_HASH_LEN;

/// One entry: the term and a person's internal id.
pub type Posting = (u64, u64);

/// The term of an index hash: its first 8 bytes.
pub fn term(h: &[u8; INDEX_HASH_LEN]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&h[..8]);
    u64::from_be_bytes(a)
}

/// The sorted array, with a table of where each range of terms starts (terms are keyed
/// hashes, so uniform: a lookup reads one short range instead of searching the whole
/// array, which at a million persons cost two dozen cache misses per entry).
#[derive(Debug, Default)]
struct Base {
    /// Sorted, no duplicates.
    entries: Vec<Posting>,
    /// `starts[b]`: the first entry whose term's top bits are `b` or more; empty when
    /// the array is small (searched whole).
    starts: Vec<u32>,
    /// Term bits not in the table's index.
    shift: u32,
    /// The highest id held (ids are given in increasing order: a newer one is not held).
    max_id: Option<u64>,
}

impl Base {
    fn new(entries: Vec<Posting>) -> Self {
        let max_id = entries.iter().map(|p| p.1).max();
        // About eight entries a range.
        let bits = (usize::BITS - (entries.len() / 8).leading_zeros()).min(24);
        if bits < 4 || u32::try_from(entries.len()).is_err() {
            return Self {
                entries,
                starts: Vec::new(),
                shift: 64,
                max_id,
            };
        }
        let shift = 64 - bits;
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0usize;
        for b in 0..(1u64 << bits) {
            while at < entries.len() && entries[at].0 >> shift < b {
                at += 1;
            }
            starts.push(at as u32);
        }
        starts.push(entries.len() as u32);
        Self {
            entries,
            starts,
            shift,
            max_id,
        }
    }

    /// The entries whose term is `term`.
    fn of(&self, term: u64) -> &[Posting] {
        let range = match self.starts.is_empty() {
            true => &self.entries[..],
            false => {
                let b = (term >> self.shift) as usize;
                let lo = self.starts.get(b).map_or(0, |s| *s as usize);
                let hi = self.starts.get(b + 1).map_or(lo, |s| *s as usize);
                self.entries.get(lo..hi).unwrap_or_default()
            }
        };
        let from = range.partition_point(|p| p.0 < term);
        let to = from + range[from..].partition_point(|p| p.0 == term);
        &range[from..to]
    }

    fn contains(&self, p: &Posting) -> bool {
        self.max_id.is_some_and(|max| p.1 <= max) && self.of(p.0).binary_search(p).is_ok()
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Whether the index reflects `rec_keys` (else a query loads it first).
    loaded: bool,
    base: Base,
    /// Entries held that `base` does not have.
    added: BTreeSet<Posting>,
    /// Entries of `base` no longer held.
    removed: BTreeSet<Posting>,
}

impl Inner {
    /// Loaded with exactly `entries`, which ascend strictly.
    fn loaded(entries: Vec<Posting>) -> Self {
        Self {
            loaded: true,
            base: Base::new(entries),
            ..Self::default()
        }
    }
}

/// `entries` sorted, without duplicates, holding no spare capacity.
fn ascending(mut entries: Vec<Posting>) -> Vec<Posting> {
    entries.sort_unstable();
    entries.dedup();
    entries.shrink_to_fit();
    entries
}

/// Changes held beside the array before it is rebuilt with them: at least this many, or
/// an eighth of the array (so rebuilding costs O(1) amortized per change).
const MERGE_AT: usize = 1 << 16;

impl Inner {
    fn in_base(&self, p: &Posting) -> bool {
        self.base.contains(p)
    }

    fn merge(&mut self) {
        if self.added.is_empty() && self.removed.is_empty() {
            return;
        }
        let removed = std::mem::take(&mut self.removed);
        let added = std::mem::take(&mut self.added);
        let old = std::mem::take(&mut self.base).entries;
        let mut out = Vec::with_capacity(old.len() + added.len() - removed.len().min(old.len()));
        let mut add = added.into_iter().peekable();
        let mut gone = removed.into_iter().peekable();
        for p in old {
            while gone.next_if(|r| *r < p).is_some() {}
            if gone.next_if_eq(&p).is_some() {
                continue;
            }
            while let Some(a) = add.next_if(|a| *a < p) {
                out.push(a);
            }
            out.push(p);
        }
        out.extend(add);
        self.base = Base::new(out);
    }
}

/// The in-memory name index, shared by clones of a store.
#[derive(Clone, Debug, Default)]
pub struct NameIndex(Arc<RwLock<Inner>>);

impl NameIndex {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere between whole-value writes.
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the index reflects the store.
    pub fn is_loaded(&self) -> bool {
        self.read().loaded
    }

    /// Holds exactly `entries` (any order, duplicates allowed) from now on.
    pub fn replace(&self, entries: Vec<Posting>) {
        *self.write() = Inner::loaded(ascending(entries));
    }

    /// [`NameIndex::replace`] with entries known to ascend strictly (as
    /// [`NameIndex::decode`] checks): not sorted again.
    pub fn replace_sorted(&self, entries: Vec<Posting>) {
        debug_assert!(entries.windows(2).all(|w| w[0] < w[1]));
        *self.write() = Inner::loaded(entries);
    }

    /// Loads the index with `load` unless it is loaded already; under the index's lock,
    /// so no change is applied (nor dropped) while `load` runs.
    pub fn load_with<E>(&self, load: impl FnOnce() -> Result<Vec<Posting>, E>) -> Result<(), E> {
        if self.is_loaded() {
            return Ok(());
        }
        let mut inner = self.write();
        if inner.loaded {
            return Ok(());
        }
        *inner = Inner::loaded(ascending(load()?));
        Ok(())
    }

    /// Removes `remove`, then adds `add` (a changed person's old and new entries). Does
    /// nothing while the index is not loaded.
    pub fn change(&self, remove: &[Posting], add: &[Posting]) {
        let mut inner = self.write();
        if !inner.loaded {
            return;
        }
        for p in remove {
            if inner.in_base(p) {
                inner.removed.insert(*p);
            } else {
                inner.added.remove(p);
            }
        }
        for p in add {
            if inner.in_base(p) {
                inner.removed.remove(p);
            } else {
                inner.added.insert(*p);
            }
        }
        if inner.added.len() + inner.removed.len() > MERGE_AT.max(inner.base.entries.len() / 8) {
            inner.merge();
        }
    }

    /// Calls `visit` with the ids under `term`, ascending, until it returns false.
    /// Returns false when the index is not loaded (nothing is visited).
    pub fn visit(&self, term: u64, mut visit: impl FnMut(u64) -> bool) -> bool {
        let inner = self.read();
        if !inner.loaded {
            return false;
        }
        let base = inner
            .base
            .of(term)
            .iter()
            .filter(|p| inner.removed.is_empty() || !inner.removed.contains(p))
            .map(|p| p.1);
        let mut added = inner
            .added
            .range((term, 0)..=(term, u64::MAX))
            .map(|p| p.1)
            .peekable();
        for id in base {
            while let Some(a) = added.next_if(|a| *a < id) {
                if !visit(a) {
                    return true;
                }
            }
            if !visit(id) {
                return true;
            }
        }
        for a in added {
            if !visit(a) {
                return true;
            }
        }
        true
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        let inner = self.read();
        inner.base.entries.len() + inner.added.len() - inner.removed.len()
    }

    /// Bytes the index takes in memory, roughly (a set entry counted at 32 bytes).
    pub fn memory_bytes(&self) -> usize {
        let inner = self.read();
        inner.base.entries.capacity() * std::mem::size_of::<Posting>()
            + inner.base.starts.capacity() * 4
            + (inner.added.len() + inner.removed.len()) * 32
    }

    /// Every entry, in one buffer ([`NameIndex::decode`] reads it back): count u64 ‖
    /// (term u64 ‖ id u64) ascending; big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut inner = self.write();
        inner.merge();
        let base = &inner.base.entries;
        let mut out = Vec::with_capacity(8 + base.len() * 16);
        out.extend_from_slice(&(base.len() as u64).to_be_bytes());
        for (t, id) in base {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
        }
        out
    }

    /// Entries read from [`NameIndex::encode`]'s buffer, in order; checks the length and
    /// that entries strictly ascend. Nothing held changes.
    pub fn decode(b: &[u8]) -> Result<Vec<Posting>, String> {
        let (count, rest) = b
            .split_first_chunk::<8>()
            .ok_or("the name index is cut short")?;
        let n = u64::from_be_bytes(*count);
        if Some(rest.len() as u64) != n.checked_mul(16) {
            return Err(format!(
                "the name index says {n} entries in {} bytes",
                rest.len()
            ));
        }
        let mut out: Vec<Posting> = Vec::with_capacity(rest.len() / 16);
        for c in rest.chunks_exact(16) {
            let (t, id) = c.split_at(8);
            let p = (
                u64::from_be_bytes(t.try_into().map_err(|_| "term")?),
                u64::from_be_bytes(id.try_into().map_err(|_| "id")?),
            );
            if out.last().is_some_and(|last| *last >= p) {
                return Err(format!("name index entry {}: out of order", out.len()));
            }
            out.push(p);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(ix: &NameIndex, t: u64) -> Vec<u64> {
        let mut out = Vec::new();
        assert!(ix.visit(t, |id| {
            out.push(id);
            true
        }));
        out
    }

    #[test]
    fn an_index_not_loaded_answers_nothing_and_drops_changes() {
        let ix = NameIndex::default();
        ix.change(&[], &[(1, 1)]);
        assert!(!ix.visit(1, |_| true));
        ix.replace(vec![(1, 2), (1, 2), (0, 9)]);
        assert_eq!(ids(&ix, 1), [2]);
        assert_eq!(ix.len(), 2);
        assert!(ix.is_loaded());
    }

    #[test]
    fn encoded_entries_read_back_and_faults_are_refused() {
        let ix = NameIndex::default();
        ix.replace(vec![(5, 1), (5, 3), (7, 2)]);
        ix.change(&[(5, 1)], &[(5, 2), (9, 9)]);
        let bytes = ix.encode();
        assert_eq!(
            NameIndex::decode(&bytes).unwrap(),
            [(5, 2), (5, 3), (7, 2), (9, 9)]
        );
        for cut in 0..bytes.len() {
            assert!(NameIndex::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut swapped = bytes.clone();
        swapped[8..24].copy_from_slice(&bytes[24..40]);
        swapped[24..40].copy_from_slice(&bytes[8..24]);
        assert!(NameIndex::decode(&swapped)
            .unwrap_err()
            .contains("out of order"));
        let mut twice = bytes.clone();
        twice[24..40].copy_from_slice(&bytes[8..24]);
        assert!(NameIndex::decode(&twice).is_err());
        let mut huge = bytes;
        huge[..8].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(NameIndex::decode(&huge).is_err());
    }

    #[test]
    fn the_table_of_ranges_finds_every_term_of_a_large_array() {
        // Spread terms (as keyed hashes are), some shared by several ids.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut entries = Vec::new();
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for id in 0..=(i % 3) {
                entries.push((x, i * 4 + id));
            }
        }
        entries.extend([(0, 1), (u64::MAX, 2), (u64::MAX, 3)]);
        let ix = NameIndex::default();
        ix.replace(entries.clone());
        assert!(!ix.read().base.starts.is_empty(), "the table is built");
        let model: BTreeSet<Posting> = entries.into_iter().collect();
        for t in model.iter().map(|p| p.0).chain([1, 2, u64::MAX - 1]) {
            let want: Vec<u64> = model.range((t, 0)..=(t, u64::MAX)).map(|p| p.1).collect();
            assert_eq!(ids(&ix, t), want, "term {t}");
        }
        // Changes on top, then merged into a new array and table.
        let (gone, new) = ((u64::MAX, 2), (u64::MAX, 1_000_000));
        ix.change(&[gone], &[new]);
        assert_eq!(ids(&ix, u64::MAX), [3, 1_000_000]);
        ix.write().merge();
        assert_eq!(ids(&ix, u64::MAX), [3, 1_000_000]);
        assert_eq!(ids(&ix, 0), [1]);
    }

    proptest! {
        /// Whatever the changes and however often the array is rebuilt, every lookup
        /// answers what a plain set of the same entries holds, ids ascending, and a
        /// visit stops where it is told to.
        #[test]
        fn lookups_answer_what_a_plain_set_holds(
            start in proptest::collection::vec((0u64..6, 0u64..40), 0..60),
            changes in proptest::collection::vec(
                (proptest::collection::vec((0u64..6, 0u64..40), 0..8),
                 proptest::collection::vec((0u64..6, 0u64..40), 0..8),
                 any::<bool>()),
                0..30),
        ) {
            let ix = NameIndex::default();
            ix.replace(start.clone());
            let mut model: BTreeSet<Posting> = start.into_iter().collect();
            for (remove, add, merge) in changes {
                ix.change(&remove, &add);
                for p in &remove { model.remove(p); }
                model.extend(add.iter().copied());
                if merge { ix.write().merge(); }
                prop_assert_eq!(ix.len(), model.len());
                for t in 0..6 {
                    let want: Vec<u64> = model.range((t, 0)..=(t, u64::MAX)).map(|p| p.1).collect();
                    prop_assert_eq!(ids(&ix, t), want.clone());
                    let mut first = Vec::new();
                    ix.visit(t, |id| { first.push(id); first.len() < 2 });
                    prop_assert_eq!(first, want.into_iter().take(2).collect::<Vec<_>>());
                }
            }
            let back = NameIndex::decode(&ix.encode()).unwrap();
            prop_assert_eq!(back, model.into_iter().collect::<Vec<_>>());
        }
    }
}
