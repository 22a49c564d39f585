//! Match keys: what a name query scores of each person (normalized name, date of birth,
//! nationality, sex), sealed in the store and also held in memory, packed, so a query
//! scores hundreds of candidates without a disk read or a decryption each. About a
//! hundred bytes a person (≈100 MB at a million), loaded from the sealed copies when a
//! node starts ([`crate::RecordStore::load_match_keys`]).

use std::sync::{Arc, RwLock};

use crate::model::{PartialDate, PersonRecord, Sex};
use crate::names::{normalize, NormalizedName};

/// What a name query needs of a record, precomputed at import and sealed apart, so a
/// query scores candidates without opening whole records.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MatchKey {
    /// Normalized name.
    pub name: NormalizedName,
    /// Date of birth.
    pub date_of_birth: PartialDate,
    /// Nationality.
    pub nationality: String,
    /// Sex.
    pub sex: Sex,
    /// Countries the protection rule never discloses this person to, so a query can set
    /// the person aside before any cap, ranking or cut-off. `None` in keys sealed before
    /// it was kept: the store fills it from the record when it reads such a key.
    #[serde(default)]
    pub shielded_from: Option<Vec<String>>,
}

impl MatchKey {
    /// The key of a record.
    pub fn of(r: &PersonRecord) -> Self {
        Self {
            name: normalize(&[&r.given_names, &r.surnames]),
            date_of_birth: r.date_of_birth,
            nationality: r.nationality.clone(),
            sex: r.sex,
            shielded_from: Some(r.shielded_from()),
        }
    }

    /// Whether the protection rule forbids disclosing this person to `country`.
    pub fn shields(&self, country: &str) -> bool {
        self.shielded_from
            .as_ref()
            .is_some_and(|s| s.iter().any(|c| c == country))
    }
}

/// A match key in one allocation: tokens, tokens as written (empty when the same),
/// skeletons, sound keys and the glued name (folded names hold only `A`-`Z` and spaces), then the
/// nationality, separated by `|`.
#[derive(Clone, Debug)]
struct Packed {
    text: Box<str>,
    date_of_birth: PartialDate,
    sex: Sex,
    /// Alpha-3 codes (empty for nearly everyone: no allocation).
    shielded: Box<[[u8; 3]]>,
}

impl Packed {
    fn pack(k: &MatchKey) -> Self {
        let n = &k.name;
        let text = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            n.tokens.join(" "),
            if n.raw == n.tokens {
                String::new()
            } else {
                n.raw.join(" ")
            },
            n.skeletons.join(" "),
            n.sounds.join(" "),
            // Empty forms as `-`, so the list keeps one entry per token.
            n.pinyin
                .iter()
                .map(|p| if p.is_empty() { "-" } else { p.as_str() })
                .collect::<Vec<_>>()
                .join(" "),
            n.compact,
            k.nationality
        );
        Self {
            text: text.into_boxed_str(),
            date_of_birth: k.date_of_birth,
            sex: k.sex,
            shielded: k
                .shielded_from
                .iter()
                .flatten()
                .filter_map(|c| <[u8; 3]>::try_from(c.as_bytes()).ok())
                .collect(),
        }
    }

    fn shields(&self, country: &str) -> bool {
        self.shielded.iter().any(|c| c == country.as_bytes())
    }

    fn unpack(&self) -> MatchKey {
        let mut fields = self.text.splitn(7, '|');
        let mut words = || -> Vec<String> {
            fields
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        let (tokens, mut raw, skeletons, sounds) = (words(), words(), words(), words());
        let pinyin: Vec<String> = words()
            .into_iter()
            .map(|p| if p == "-" { String::new() } else { p })
            .collect();
        if raw.is_empty() {
            raw.clone_from(&tokens);
        }
        let compact = fields.next().unwrap_or_default().to_string();
        MatchKey {
            name: NormalizedName {
                tokens,
                raw,
                skeletons,
                compact,
                sounds,
                pinyin,
            },
            date_of_birth: self.date_of_birth,
            nationality: fields.next().unwrap_or_default().to_string(),
            sex: self.sex,
            shielded_from: Some(
                self.shielded
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect(),
            ),
        }
    }
}

/// The match keys of every stored person, by internal id, shared by clones of a store.
/// Ids come from `sled::Db::generate_id`, so nearly every insert is an append to the
/// sorted list.
#[derive(Clone, Debug, Default)]
pub struct MatchKeys(Arc<RwLock<Vec<(u64, Packed)>>>);

impl MatchKeys {
    /// Holds (or replaces) the key of `id`.
    pub fn insert(&self, id: u64, key: &MatchKey) {
        let packed = Packed::pack(key);
        // A poisoned lock only means a panic elsewhere between whole-value writes.
        let mut list = self.0.write().unwrap_or_else(|e| e.into_inner());
        if list.last().is_none_or(|(last, _)| *last < id) {
            list.push((id, packed));
            return;
        }
        match list.binary_search_by_key(&id, |(i, _)| *i) {
            Ok(at) => list[at].1 = packed,
            Err(at) => list.insert(at, (id, packed)),
        }
    }

    /// Forgets the key of `id` (a deleted person).
    pub fn remove(&self, id: u64) {
        let mut list = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Ok(at) = list.binary_search_by_key(&id, |(i, _)| *i) {
            list.remove(at);
        }
    }

    /// The key of `id`, if held.
    pub fn get(&self, id: u64) -> Option<MatchKey> {
        let list = self.0.read().unwrap_or_else(|e| e.into_inner());
        let at = list.binary_search_by_key(&id, |(i, _)| *i).ok()?;
        Some(list[at].1.unpack())
    }

    /// Whether the person `id` is shielded from `country`; `None` when no key is held.
    pub fn shields(&self, id: u64, country: &str) -> Option<bool> {
        let list = self.0.read().unwrap_or_else(|e| e.into_inner());
        let at = list.binary_search_by_key(&id, |(i, _)| *i).ok()?;
        Some(list[at].1.shields(country))
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the keys take in memory, roughly (list slots and packed text).
    pub fn memory_bytes(&self) -> usize {
        let list = self.0.read().unwrap_or_else(|e| e.into_inner());
        list.capacity() * std::mem::size_of::<(u64, Packed)>()
            + list.iter().map(|(_, p)| p.text.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_field() {
        let key = MatchKey {
            name: normalize(&["María José", "de la Cruz Núñez"]),
            date_of_birth: PartialDate {
                year: 1990,
                month: Some(4),
                day: None,
            },
            nationality: "VEN".into(),
            sex: Sex::F,
            shielded_from: Some(vec!["VEN".into(), "COL".into()]),
        };
        assert_eq!(Packed::pack(&key).unpack(), key);
        let keys = MatchKeys::default();
        keys.insert(7, &key);
        let mut other = key.clone();
        other.name = normalize(&["Wei", "Wang"]);
        other.shielded_from = Some(Vec::new());
        keys.insert(3, &other);
        keys.insert(9, &other);
        keys.insert(7, &other);
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.get(7), Some(other));
        assert_eq!(keys.get(8), None);
        keys.insert(9, &key);
        assert_eq!(keys.shields(9, "COL"), Some(true));
        assert_eq!(keys.shields(9, "MEX"), Some(false));
        assert_eq!(keys.shields(3, "VEN"), Some(false));
        assert_eq!(keys.shields(8, "VEN"), None);
    }
}
