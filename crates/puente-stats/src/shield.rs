//! Own cells as seen by a country some persons are protected against.
//!
//! Principle 4 holds for statistics too: the cells a country pulls are what they would
//! be if the persons protected against it were not in the store. Aggregation keeps, per
//! such country, what those persons contribute to each cell (`stats_shield`). That
//! country's *view* then replaces every family (a month cell and its day cells, the unit
//! suppression works on) that such a person ever touched: each cell's count less the
//! shielded part, whether the cell exists, the month's smallest day and the days' month
//! count, all recomputed from those counts exactly as the shared cells are, each with its
//! own version, taken from the one version counter and moved only when what that country
//! sees changes. Families no such person touched are served from the shared cells, which
//! for them are the same.
//!
//! - A cell exists for the country once its count without the shielded persons has been
//!   non-zero (cells are never deleted): a cell only shielded persons filled does not
//!   exist for it, as it would not without them.
//! - When a family enters a view it starts from the shared cells as they were, which is
//!   what the country saw, with their versions: nothing is re-sent that did not change
//!   for it, and whatever changes for it is re-sent in its next incremental pull.
//! - A person who becomes protected after a country saw them counted leaves that
//!   country's view as if their records had been deleted then: the counts it sees fall,
//!   and a cell it saw stays, at 0. What it saw before cannot be recalled.
//! - Every update ends by renumbering the cells it changed, shared and viewed, in key
//!   order (`StatsStore::renumber`): the order a country receives cells in is then that
//!   of the changes it sees, never telling apart the families it sees through a view.
//! - Not hidden: version numbers come from the counter shared by all, so the size of the
//!   gaps between the versions a country receives depends on changes it does not see
//!   (gaps are ordinary: every superseded version leaves one). The cells, their values and
//!   suppression, and which cells a page after a watermark holds, are hidden.

use std::collections::{BTreeMap, BTreeSet};

use crate::cell::{CellKey, OwnCell, NO_MONTH};
use crate::error::{Result, StatsError};
use crate::store::{be_u64, StatsStore, NEXT_VERSION};
use crate::suppress::min_nonzero;

/// Per country (ISO 3166-1 alpha-3), what the persons protected against it contribute to
/// each cell.
pub type Shielded = BTreeMap<String, BTreeMap<CellKey, u64>>;

/// Per country tag, new shielded counts by encoded cell (0 = none any more).
pub(crate) type ShieldUpdates = BTreeMap<[u8; 3], BTreeMap<Vec<u8>, u64>>;

type Tag = [u8; 3];

fn country_tag(c: &str) -> Result<Tag> {
    match c.as_bytes() {
        [a, b, d] if [a, b, d].iter().all(|x| x.is_ascii_uppercase()) => Ok([*a, *b, *d]),
        _ => Err(StatsError::Invalid(format!(
            "country {c:?} is not an ISO 3166-1 alpha-3 code"
        ))),
    }
}

fn tag_of(k: &[u8]) -> Result<Tag> {
    match k {
        [a, b, c, ..] => Ok([*a, *b, *c]),
        _ => Err(StatsError::Corrupt("view key without a country".into())),
    }
}

fn prefixed(tag: &Tag, raw: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + raw.len());
    k.extend_from_slice(tag);
    k.extend_from_slice(raw);
    k
}

fn version_key(tag: &Tag, version: u64) -> Vec<u8> {
    prefixed(tag, &version.to_be_bytes())
}

/// The encoded month cell of the family an encoded cell belongs to.
fn family_of(raw: &[u8]) -> Result<Vec<u8>> {
    let k = CellKey::decode(raw)?;
    Ok(k.with_period(k.period.month_of()).encode())
}

/// One cell of a family being recomputed for a view.
struct Row {
    raw: Vec<u8>,
    old: Option<OwnCell>,
    count: u64,
    present: bool,
    is_day: bool,
}

impl StatsStore {
    /// The shielded counts to write: `shielded`, and 0 for every stored one it lacks.
    pub(crate) fn shield_updates(&self, shielded: &Shielded) -> Result<ShieldUpdates> {
        let mut out = ShieldUpdates::new();
        for item in self.shield.iter() {
            let (k, _) = item?;
            out.entry(tag_of(&k)?)
                .or_default()
                .insert(k[3..].to_vec(), 0);
        }
        for (country, cells) in shielded {
            let t = out.entry(country_tag(country)?).or_default();
            for (k, n) in cells {
                t.insert(k.encode(), *n);
            }
        }
        Ok(out)
    }

    /// Before the shared cells change: stores the new shielded counts, and starts a view
    /// of each family a shielded person now touches from the shared cells as they are.
    /// Returns the families this update touches.
    pub(crate) fn views_before(
        &self,
        updates: &BTreeMap<Vec<u8>, u64>,
        shields: &ShieldUpdates,
    ) -> Result<BTreeSet<Vec<u8>>> {
        let mut touched = BTreeSet::new();
        for raw in updates.keys() {
            touched.insert(family_of(raw)?);
        }
        for (tag, cells) in shields {
            for (raw, n) in cells {
                let fam = family_of(raw)?;
                let marker = prefixed(tag, &fam);
                if *n > 0 && !self.view_families.contains_key(&marker)? {
                    // The entries before the marker: until it is there the country is
                    // served the shared cells, which these copy.
                    for (raw, cell) in self.family_cells(&fam)? {
                        self.set_view(tag, &raw, None, cell)?;
                    }
                    self.view_families.insert(marker, &[])?;
                }
                let sk = prefixed(tag, raw);
                if *n == 0 {
                    self.shield.remove(sk)?;
                } else {
                    self.shield.insert(sk, &n.to_be_bytes())?;
                }
                touched.insert(fam);
            }
        }
        Ok(touched)
    }

    /// After the shared cells changed: recomputes every view family among `touched`,
    /// giving versions from `next` on; returns the next free version.
    pub(crate) fn views_after(&self, touched: &BTreeSet<Vec<u8>>, mut next: u64) -> Result<u64> {
        let mut work = Vec::new();
        for item in self.view_families.iter() {
            let (k, _) = item?;
            let tag = tag_of(&k)?;
            if touched.contains(&k[3..]) {
                work.push((tag, k[3..].to_vec()));
            }
        }
        for (tag, fam) in work {
            next = self.recompute_view(&tag, &fam, next)?;
        }
        Ok(next)
    }

    /// The shared cells of a family: its month (if any), then its days.
    fn family_cells(&self, fam: &[u8]) -> Result<Vec<(Vec<u8>, OwnCell)>> {
        let month = CellKey::decode(fam)?;
        let mut cells = Vec::new();
        if let Some(v) = self.own.get(fam)? {
            cells.push((fam.to_vec(), OwnCell::decode(&v)?));
        }
        for item in self.own.scan_prefix(month.days_prefix()) {
            let (k, v) = item?;
            cells.push((k.to_vec(), OwnCell::decode(&v)?));
        }
        Ok(cells)
    }

    fn view_cell(&self, tag: &Tag, raw: &[u8]) -> Result<Option<OwnCell>> {
        self.view
            .get(prefixed(tag, raw))?
            .map(|v| OwnCell::decode(&v))
            .transpose()
    }

    fn set_view(&self, tag: &Tag, raw: &[u8], old: Option<u64>, cell: OwnCell) -> Result<()> {
        self.view_versions
            .insert(version_key(tag, cell.version), raw)?;
        self.view
            .insert(prefixed(tag, raw), cell.encode().to_vec())?;
        if let Some(v) = old.filter(|v| *v != cell.version) {
            self.view_versions.remove(version_key(tag, v))?;
        }
        Ok(())
    }

    /// Brings one family of a country's view up to the shared cells less the shielded
    /// counts, exactly as the shared cells follow their sources.
    fn recompute_view(&self, tag: &Tag, fam: &[u8], mut next: u64) -> Result<u64> {
        let mut rows = Vec::new();
        for (raw, cell) in self.family_cells(fam)? {
            let hidden = self
                .shield
                .get(prefixed(tag, &raw))?
                .and_then(|v| be_u64(&v))
                .unwrap_or(0);
            let count = cell.count.saturating_sub(hidden);
            let old = self.view_cell(tag, &raw)?;
            rows.push(Row {
                is_day: raw != fam,
                present: old.is_some() || count > 0,
                raw,
                old,
                count,
            });
        }
        let month = rows
            .iter()
            .find(|r| !r.is_day && r.present)
            .map_or(NO_MONTH, |r| r.count);
        let min_day = min_nonzero(rows.iter().filter(|r| r.is_day).map(|r| r.count));
        // Reserve the versions first, as the shared cells do.
        let reserve = next + rows.len() as u64 + 1;
        self.meta.insert(NEXT_VERSION, &reserve.to_be_bytes())?;
        for r in rows.into_iter().filter(|r| r.present) {
            let (min_day, month) = if r.is_day {
                (0, month)
            } else {
                (min_day, NO_MONTH)
            };
            if r.old
                .is_some_and(|o| (o.count, o.min_day, o.month) == (r.count, min_day, month))
            {
                continue;
            }
            let cell = OwnCell {
                count: r.count,
                version: next,
                min_day,
                month,
            };
            next += 1;
            self.set_view(tag, &r.raw, r.old.map(|o| o.version), cell)?;
        }
        Ok(next)
    }

    /// Gives the cells one update changed (versions `from..to`, shared and in every view)
    /// new versions from `to` on in key order, so that the order of a page tells nothing
    /// of which cells a view holds; returns the next free version.
    pub(crate) fn renumber(&self, from: u64, to: u64) -> Result<u64> {
        let mut items: Vec<(Vec<u8>, Option<Tag>, OwnCell)> = Vec::new();
        for item in self.by_version.range(from.to_be_bytes()..to.to_be_bytes()) {
            let (v, raw) = item?;
            let version = be_u64(&v).ok_or_else(|| StatsError::Corrupt("version index".into()))?;
            if let Some(cell) = self
                .own
                .get(&raw)?
                .map(|c| OwnCell::decode(&c))
                .transpose()?
            {
                if cell.version == version {
                    items.push((raw.to_vec(), None, cell));
                }
            }
        }
        let mut tags = BTreeSet::new();
        for item in self.view_families.iter() {
            tags.insert(tag_of(&item?.0)?);
        }
        for tag in tags {
            for item in self
                .view_versions
                .range(version_key(&tag, from)..version_key(&tag, to))
            {
                let (k, raw) = item?;
                let version = be_u64(&k[3..])
                    .ok_or_else(|| StatsError::Corrupt("view version index".into()))?;
                if let Some(cell) = self.view_cell(&tag, &raw)? {
                    if cell.version == version {
                        items.push((raw.to_vec(), Some(tag), cell));
                    }
                }
            }
        }
        items.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let mut next = to;
        let reserve = next + items.len() as u64 + 1;
        self.meta.insert(NEXT_VERSION, &reserve.to_be_bytes())?;
        for (raw, tag, old) in items {
            let cell = OwnCell {
                version: next,
                ..old
            };
            next += 1;
            match tag {
                None => self.set_own(&raw, Some(old.version), cell)?,
                Some(tag) => self.set_view(&tag, &raw, Some(old.version), cell)?,
            }
        }
        Ok(next)
    }

    /// Own cells changed after version `since`, as `country` sees them (see the module
    /// documentation), ascending by version, at most `limit`; and whether more follow.
    pub fn changes_for(
        &self,
        country: &str,
        since: u64,
        limit: usize,
    ) -> Result<(Vec<(CellKey, OwnCell)>, bool)> {
        let tag = country_tag(country)?;
        if self.view_families.scan_prefix(tag).next().is_none() {
            return self.changes_since(since, limit);
        }
        let start = since.saturating_add(1);
        let mut shared = self.by_version.range(start.to_be_bytes()..);
        let mut seen = self.view_versions.range(version_key(&tag, start)..);
        let mut a = self.next_shared(&tag, &mut shared)?;
        let mut b = self.next_view(&tag, &mut seen)?;
        let mut out = Vec::with_capacity(limit.min(4096));
        loop {
            let from_shared = match (&a, &b) {
                (None, None) => return Ok((out, false)),
                (Some(x), Some(y)) => x.1.version < y.1.version,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if out.len() == limit {
                return Ok((out, true));
            }
            let item = if from_shared {
                std::mem::replace(&mut a, self.next_shared(&tag, &mut shared)?)
            } else {
                std::mem::replace(&mut b, self.next_view(&tag, &mut seen)?)
            };
            out.extend(item);
        }
    }

    /// The next current shared cell not in one of the country's view families.
    fn next_shared(&self, tag: &Tag, it: &mut sled::Iter) -> Result<Option<(CellKey, OwnCell)>> {
        for item in it {
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
            if cell.version != version
                || self
                    .view_families
                    .contains_key(prefixed(tag, &family_of(&raw)?))?
            {
                continue;
            }
            return Ok(Some((CellKey::decode(&raw)?, cell)));
        }
        Ok(None)
    }

    /// The next current cell of the country's view.
    fn next_view(&self, tag: &Tag, it: &mut sled::Iter) -> Result<Option<(CellKey, OwnCell)>> {
        for item in it {
            let (k, raw) = item?;
            if !k.starts_with(tag) {
                return Ok(None);
            }
            let version =
                be_u64(&k[3..]).ok_or_else(|| StatsError::Corrupt("view version index".into()))?;
            match self.view_cell(tag, &raw)? {
                Some(cell) if cell.version == version => {
                    return Ok(Some((CellKey::decode(&raw)?, cell)))
                }
                _ => continue,
            }
        }
        Ok(None)
    }
}
