//! The statistics store, in the node's sled database.
//!
//! Trees:
//! - `stats_own`: this country's cells, key → [`OwnCell`] (count, version, smallest day).
//! - `stats_ver`: version → key of own cells, for "changed since" pages. An entry whose
//!   cell has since moved to a newer version is stale and skipped (and pruned).
//! - `stats_src`: per source (`records`, `import`) the counts that make up own cells;
//!   an own cell's count is the sum of its sources.
//! - `stats_recv`: cells received from peers, (reporting country, key) → [`ReceivedCell`],
//!   upserted keeping the highest version, so applying a page twice changes nothing.
//! - `stats_sync`: per peer, the watermark and the outcome of the last sync.
//! - `stats_meta`: the version counter and the records generation last aggregated.
//! - `stats_shield`, `stats_vfam`, `stats_view`, `stats_view_ver`: what persons protected
//!   against a country contribute, and the cells as that country sees them (see
//!   [`crate::shield`]).
//!
//! Writes are plain inserts (no sled batches or transactions: their global lock starves
//! under concurrent readers) under one writer lock, then one flush.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use puente_pki::CountryCode;

use crate::cell::{CellKey, OwnCell, ReceivedCell, Value, NO_MONTH};
use crate::error::{Result, StatsError};
use crate::suppress::min_nonzero;

/// Where an own cell's count comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Aggregated from the country's encounter records.
    Records,
    /// Imported aggregated counts (`puente stats import`).
    Import,
    /// Expected arrivals from carriers' manifests.
    Manifests,
}

impl Source {
    fn tag(self) -> u8 {
        match self {
            Source::Records => b'r',
            Source::Import => b'i',
            Source::Manifests => b'm',
        }
    }
}

/// What an update changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Cells whose count (or, for months, suppression input) changed and got a new version.
    pub changed: u64,
    /// Cells looked at.
    pub examined: u64,
}

/// The last sync with one peer, as the asking node keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncState {
    /// The watermark to send next (the peer's, opaque).
    pub watermark: Vec<u8>,
    /// When the last attempt started (Unix seconds; 0 = never).
    pub last_attempt: i64,
    /// When the last attempt ended.
    pub last_finished: i64,
    /// When a sync last completed (Unix seconds; 0 = never).
    pub last_success: i64,
    /// `ok`, `failed`, `not_permitted`, or empty (never ran).
    pub outcome: String,
    /// Why the last attempt failed.
    pub error: String,
    /// Pages and cells stored by the last attempt.
    pub pages: u32,
    /// Cells stored by the last attempt.
    pub cells: u64,
    /// Attempts that failed in a row.
    pub failures: u32,
}

impl SyncState {
    fn encode(&self) -> Vec<u8> {
        let mut v = vec![1u8];
        let put = |v: &mut Vec<u8>, b: &[u8]| {
            v.extend_from_slice(&(b.len() as u32).to_be_bytes());
            v.extend_from_slice(b);
        };
        put(&mut v, &self.watermark);
        for n in [self.last_attempt, self.last_finished, self.last_success] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        put(&mut v, self.outcome.as_bytes());
        put(&mut v, self.error.as_bytes());
        v.extend_from_slice(&self.pages.to_be_bytes());
        v.extend_from_slice(&self.cells.to_be_bytes());
        v.extend_from_slice(&self.failures.to_be_bytes());
        v
    }

    fn decode(b: &[u8]) -> Result<Self> {
        let bad = || StatsError::Corrupt("sync state".into());
        let mut r = Reader { b, at: 0 };
        if r.take(1).ok_or_else(bad)? != [1] {
            return Err(bad());
        }
        let watermark = r.bytes().ok_or_else(bad)?.to_vec();
        let last_attempt = r.i64().ok_or_else(bad)?;
        let last_finished = r.i64().ok_or_else(bad)?;
        let last_success = r.i64().ok_or_else(bad)?;
        let text = |r: &mut Reader<'_>| -> Result<String> {
            let b = r.bytes().ok_or_else(bad)?;
            String::from_utf8(b.to_vec()).map_err(|_| bad())
        };
        let outcome = text(&mut r)?;
        let error = text(&mut r)?;
        let pages = u32::from_be_bytes(r.take(4).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
        let cells = r.i64().ok_or_else(bad)? as u64;
        let failures =
            u32::from_be_bytes(r.take(4).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
        Ok(Self {
            watermark,
            last_attempt,
            last_finished,
            last_success,
            outcome,
            error,
            pages,
            cells,
            failures,
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize;
        self.take(n)
    }
}

/// The statistics store.
#[derive(Clone, Debug)]
pub struct StatsStore {
    db: sled::Db,
    pub(crate) own: sled::Tree,
    pub(crate) by_version: sled::Tree,
    sources: sled::Tree,
    received: sled::Tree,
    sync: sled::Tree,
    pub(crate) meta: sled::Tree,
    /// Country + cell → count contributed by persons protected against the country.
    pub(crate) shield: sled::Tree,
    /// Country + month cell: the families (a month and its days) that country sees apart.
    pub(crate) view_families: sled::Tree,
    /// Country + cell → the cell as that country sees it, for cells of its families.
    pub(crate) view: sled::Tree,
    /// Country + version → cell, for "changed since" pages of that country's view.
    pub(crate) view_versions: sled::Tree,
    writer: Arc<Mutex<()>>,
}

pub(crate) const NEXT_VERSION: &[u8] = b"next_version";
const RECORDS_GENERATION: &[u8] = b"records_generation";

pub(crate) fn be_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

impl StatsStore {
    /// Opens the statistics trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Self> {
        Ok(Self {
            db: db.clone(),
            own: db.open_tree("stats_own")?,
            by_version: db.open_tree("stats_ver")?,
            sources: db.open_tree("stats_src")?,
            received: db.open_tree("stats_recv")?,
            sync: db.open_tree("stats_sync")?,
            meta: db.open_tree("stats_meta")?,
            shield: db.open_tree("stats_shield")?,
            view_families: db.open_tree("stats_vfam")?,
            view: db.open_tree("stats_view")?,
            view_versions: db.open_tree("stats_view_ver")?,
            writer: Arc::new(Mutex::new(())),
        })
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// The highest version given to an own cell so far (0 = none).
    pub fn latest_version(&self) -> Result<u64> {
        Ok(self
            .meta
            .get(NEXT_VERSION)?
            .and_then(|v| be_u64(&v))
            .unwrap_or(1)
            .saturating_sub(1))
    }

    /// The records generation last aggregated into the `records` source.
    pub fn records_generation(&self) -> Result<Option<u64>> {
        Ok(self.meta.get(RECORDS_GENERATION)?.and_then(|v| be_u64(&v)))
    }

    /// Remembers the records generation just aggregated.
    pub fn set_records_generation(&self, g: u64) -> Result<()> {
        self.meta.insert(RECORDS_GENERATION, &g.to_be_bytes())?;
        Ok(())
    }

    fn source_key(source: Source, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(key.len() + 1);
        k.push(source.tag());
        k.extend_from_slice(key);
        k
    }

    /// Replaces everything `source` contributes with `counts`: cells it no longer has
    /// fall to 0 (a cell is never deleted, so receivers learn it went to 0).
    pub fn replace_source(
        &self,
        source: Source,
        counts: &BTreeMap<CellKey, u64>,
    ) -> Result<Change> {
        let _w = self
            .writer
            .lock()
            .map_err(|_| StatsError::Corrupt("writer lock".into()))?;
        let mut updates: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for item in self.sources.scan_prefix([source.tag()]) {
            let (k, _) = item?;
            updates.insert(k[1..].to_vec(), 0);
        }
        for (key, n) in counts {
            updates.insert(key.encode(), *n);
        }
        self.apply_source(source, updates, BTreeMap::new())
    }

    /// Adds `deltas` (negative to take away) to what `source` contributes to each cell,
    /// never below 0: a change of one item (a manifest received or erased) without
    /// recounting the others.
    pub fn adjust_source(&self, source: Source, deltas: &BTreeMap<CellKey, i64>) -> Result<Change> {
        let _w = self
            .writer
            .lock()
            .map_err(|_| StatsError::Corrupt("writer lock".into()))?;
        let mut updates: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for (key, d) in deltas {
            let raw = key.encode();
            let now = self.source_count(source, &raw)?;
            let next = if *d >= 0 {
                now.saturating_add(d.unsigned_abs())
            } else {
                now.saturating_sub(d.unsigned_abs())
            };
            updates.insert(raw, next);
        }
        self.apply_source(source, updates, BTreeMap::new())
    }

    /// Replaces the `records` source with `counts`, and the counts contributed by
    /// persons protected against each country with `shielded` (a part of `counts`), so
    /// that each such country is served its cells without those persons.
    pub fn replace_records(
        &self,
        counts: &BTreeMap<CellKey, u64>,
        shielded: &crate::shield::Shielded,
    ) -> Result<Change> {
        let _w = self
            .writer
            .lock()
            .map_err(|_| StatsError::Corrupt("writer lock".into()))?;
        let source = Source::Records;
        let mut updates: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for item in self.sources.scan_prefix([source.tag()]) {
            let (k, _) = item?;
            updates.insert(k[1..].to_vec(), 0);
        }
        for (key, n) in counts {
            updates.insert(key.encode(), *n);
        }
        let shields = self.shield_updates(shielded)?;
        self.apply_source(source, updates, shields)
    }

    /// Sets the counts of `source` for the given cells, leaving its other cells alone.
    pub fn upsert_source(&self, source: Source, counts: &BTreeMap<CellKey, u64>) -> Result<Change> {
        let _w = self
            .writer
            .lock()
            .map_err(|_| StatsError::Corrupt("writer lock".into()))?;
        let updates = counts.iter().map(|(k, n)| (k.encode(), *n)).collect();
        self.apply_source(source, updates, BTreeMap::new())
    }

    fn source_count(&self, source: Source, key: &[u8]) -> Result<u64> {
        Ok(self
            .sources
            .get(Self::source_key(source, key))?
            .and_then(|v| be_u64(&v))
            .unwrap_or(0))
    }

    fn apply_source(
        &self,
        source: Source,
        updates: BTreeMap<Vec<u8>, u64>,
        shields: crate::shield::ShieldUpdates,
    ) -> Result<Change> {
        let mut change = Change::default();
        // Countries' views first take in what they saw so far, then follow the new counts.
        let touched = self.views_before(&updates, &shields)?;
        let first = self
            .meta
            .get(NEXT_VERSION)?
            .and_then(|v| be_u64(&v))
            .unwrap_or(1);
        let mut next = self
            .meta
            .get(NEXT_VERSION)?
            .and_then(|v| be_u64(&v))
            .unwrap_or(1);
        // Months whose smallest day may have changed, and months whose count changed.
        let mut months_of_days: BTreeSet<CellKey> = BTreeSet::new();
        let mut changed_months: BTreeSet<CellKey> = BTreeSet::new();
        // Reserve the versions this update may use before any cell carries one, so that
        // a crash half-way never lets two changes share a version: each updated cell,
        // each month re-sent, and each day of a changed month (31 at most).
        let reserve = next + 33 * updates.len() as u64 + 1;
        self.meta.insert(NEXT_VERSION, &reserve.to_be_bytes())?;
        // Keys sort a month before its days, so a day written here sees its month's new count.
        for (raw, n) in &updates {
            change.examined += 1;
            let sk = Self::source_key(source, raw);
            if *n == 0 {
                self.sources.remove(&sk)?;
            } else {
                self.sources.insert(&sk, &n.to_be_bytes())?;
            }
            let total = self.source_count(Source::Records, raw)?
                + self.source_count(Source::Import, raw)?
                + self.source_count(Source::Manifests, raw)?;
            let key = CellKey::decode(raw)?;
            let old = self
                .own
                .get(raw)?
                .map(|v| OwnCell::decode(&v))
                .transpose()?;
            let changed = match old {
                Some(o) => o.count != total,
                None => total > 0,
            };
            if !changed {
                continue;
            }
            let mut cell = OwnCell {
                count: total,
                version: next,
                min_day: 0,
                month: NO_MONTH,
            };
            if key.period.is_day() {
                let month = key.with_period(key.period.month_of());
                cell.month = self.own_cell(&month)?.map(|m| m.count).unwrap_or(NO_MONTH);
                months_of_days.insert(month);
            } else {
                cell.min_day = self.min_day(&key)?;
                changed_months.insert(key.clone());
            }
            next += 1;
            self.set_own(raw, old.map(|o| o.version), cell)?;
            change.changed += 1;
        }
        // A day that changed may change whether its month must be withheld: re-send the
        // month (new version) whenever its smallest day changes.
        for month in months_of_days {
            let raw = month.encode();
            let Some(old) = self
                .own
                .get(&raw)?
                .map(|v| OwnCell::decode(&v))
                .transpose()?
            else {
                continue;
            };
            let min_day = self.min_day(&month)?;
            if min_day != old.min_day {
                let cell = OwnCell {
                    min_day,
                    version: next,
                    ..old
                };
                next += 1;
                self.set_own(&raw, Some(old.version), cell)?;
                change.changed += 1;
            }
        }
        // A month whose count changed may change whether its days must be withheld:
        // re-send each day whose recorded month count is now out of date.
        for month in changed_months {
            let Some(m) = self.own_cell(&month)? else {
                continue;
            };
            let mut days = Vec::new();
            for item in self.own.scan_prefix(month.days_prefix()) {
                let (k, v) = item?;
                days.push((k.to_vec(), OwnCell::decode(&v)?));
            }
            for (raw, day) in days {
                if day.month != m.count {
                    let cell = OwnCell {
                        month: m.count,
                        version: next,
                        ..day
                    };
                    next += 1;
                    self.set_own(&raw, Some(day.version), cell)?;
                    change.changed += 1;
                }
            }
        }
        self.meta.insert(NEXT_VERSION, &next.max(1).to_be_bytes())?;
        let next = self.views_after(&touched, next)?;
        self.meta.insert(NEXT_VERSION, &next.max(1).to_be_bytes())?;
        let next = self.renumber(first, next)?;
        self.meta.insert(NEXT_VERSION, &next.max(1).to_be_bytes())?;
        self.db.flush()?;
        Ok(change)
    }

    pub(crate) fn min_day(&self, month: &CellKey) -> Result<u64> {
        let mut counts = Vec::new();
        for item in self.own.scan_prefix(month.days_prefix()) {
            let (_, v) = item?;
            counts.push(OwnCell::decode(&v)?.count);
        }
        Ok(min_nonzero(counts))
    }

    pub(crate) fn set_own(
        &self,
        raw: &[u8],
        old_version: Option<u64>,
        cell: OwnCell,
    ) -> Result<()> {
        self.by_version.insert(cell.version.to_be_bytes(), raw)?;
        self.own.insert(raw, cell.encode().to_vec())?;
        if let Some(v) = old_version {
            self.by_version.remove(v.to_be_bytes())?;
        }
        Ok(())
    }

    /// One own cell.
    pub fn own_cell(&self, key: &CellKey) -> Result<Option<OwnCell>> {
        self.own
            .get(key.encode())?
            .map(|v| OwnCell::decode(&v))
            .transpose()
    }

    /// Own cells changed after version `since`, ascending by version, at most `limit`;
    /// and whether more follow.
    pub fn changes_since(
        &self,
        since: u64,
        limit: usize,
    ) -> Result<(Vec<(CellKey, OwnCell)>, bool)> {
        let mut out = Vec::with_capacity(limit.min(4096));
        let start = since.saturating_add(1).to_be_bytes();
        for item in self.by_version.range(start..) {
            let (v, raw) = item?;
            let version = be_u64(&v).ok_or_else(|| StatsError::Corrupt("version index".into()))?;
            let Some(cell) = self
                .own
                .get(&raw)?
                .map(|c| OwnCell::decode(&c))
                .transpose()?
            else {
                continue;
            };
            if cell.version != version {
                // Stale: the cell moved on (a crash between the two writes left it).
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push((CellKey::decode(&raw)?, cell));
        }
        Ok((out, false))
    }

    /// Every own cell.
    pub fn own_cells(&self) -> Result<Vec<(CellKey, OwnCell)>> {
        self.own
            .iter()
            .map(|item| {
                let (k, v) = item?;
                Ok((CellKey::decode(&k)?, OwnCell::decode(&v)?))
            })
            .collect()
    }

    /// Number of own cells.
    pub fn own_len(&self) -> usize {
        self.own.len()
    }

    fn received_key(reporting: CountryCode, key: &CellKey) -> Vec<u8> {
        let mut k = reporting.as_str().as_bytes().to_vec();
        k.extend_from_slice(&key.encode());
        k
    }

    /// Stores cells received from `reporting`, keeping the highest version per cell;
    /// returns how many changed. Idempotent.
    pub fn apply_received(
        &self,
        reporting: CountryCode,
        cells: &[(CellKey, Value, u64)],
    ) -> Result<u64> {
        let _w = self
            .writer
            .lock()
            .map_err(|_| StatsError::Corrupt("writer lock".into()))?;
        let mut changed = 0;
        for (key, value, version) in cells {
            let k = Self::received_key(reporting, key);
            let old = self
                .received
                .get(&k)?
                .map(|v| ReceivedCell::decode(&v))
                .transpose()?;
            if old.is_some_and(|o| o.version >= *version) {
                continue;
            }
            let cell = ReceivedCell {
                value: *value,
                version: *version,
            };
            self.received.insert(k, cell.encode())?;
            changed += 1;
        }
        Ok(changed)
    }

    /// Every received cell, by reporting country.
    pub fn received_cells(&self) -> Result<Vec<(CountryCode, CellKey, ReceivedCell)>> {
        self.received
            .iter()
            .map(|item| {
                let (k, v) = item?;
                if k.len() < 3 {
                    return Err(StatsError::Corrupt("received cell key".into()));
                }
                let country = std::str::from_utf8(&k[..3])
                    .ok()
                    .and_then(|c| CountryCode::parse(c).ok())
                    .ok_or_else(|| StatsError::Corrupt("received cell country".into()))?;
                Ok((
                    country,
                    CellKey::decode(&k[3..])?,
                    ReceivedCell::decode(&v)?,
                ))
            })
            .collect()
    }

    /// Cells received from one country.
    pub fn received_from(&self, reporting: CountryCode) -> Result<usize> {
        Ok(self.received.scan_prefix(reporting.as_str()).count())
    }

    /// The sync state kept for `peer`.
    pub fn sync_state(&self, peer: CountryCode) -> Result<SyncState> {
        match self.sync.get(peer.as_str())? {
            Some(v) => SyncState::decode(&v),
            None => Ok(SyncState::default()),
        }
    }

    /// Stores the sync state of `peer` (not flushed: flush after the page's cells).
    pub fn set_sync_state(&self, peer: CountryCode, s: &SyncState) -> Result<()> {
        self.sync.insert(peer.as_str(), s.encode())?;
        Ok(())
    }
}
