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

impl MatchKeys {
    /// Every key held, in one buffer ([`MatchKeys::decode`] reads it back): per person,
    /// id u64 ‖ year i32 ‖ month u8 ‖ day u8 (0: not recorded) ‖ sex u8 ‖ shielded
    /// count u8 ‖ alpha-3 codes ‖ text length u32 ‖ packed text; all big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let list = self.0.read().unwrap_or_else(|e| e.into_inner());
        let text: usize = list.iter().map(|(_, p)| p.text.len()).sum();
        let mut out = Vec::with_capacity(8 + list.len() * 24 + text);
        out.extend_from_slice(&(list.len() as u64).to_be_bytes());
        for (id, p) in list.iter() {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&p.date_of_birth.year.to_be_bytes());
            out.push(p.date_of_birth.month.unwrap_or(0));
            out.push(p.date_of_birth.day.unwrap_or(0));
            out.push(match p.sex {
                Sex::M => b'M',
                Sex::F => b'F',
                Sex::X => b'X',
            });
            // A person is shielded from a few countries at most; more cannot be encoded
            // and is refused when the snapshot is read back (the keys are then rebuilt).
            out.push(u8::try_from(p.shielded.len()).unwrap_or(u8::MAX));
            for c in p.shielded.iter().take(usize::from(u8::MAX)) {
                out.extend_from_slice(c);
            }
            out.extend_from_slice(&(p.text.len() as u32).to_be_bytes());
            out.extend_from_slice(p.text.as_bytes());
        }
        out
    }

    /// Keys read from [`MatchKeys::encode`]'s buffer, replacing those held. Checks every
    /// length and that ids ascend; on any fault nothing is replaced.
    pub fn decode(&self, b: &[u8]) -> Result<usize, String> {
        Ok(self.install(Self::parse(b)?))
    }

    /// Holds exactly the keys of `parsed` from now on; returns how many.
    pub fn install(&self, parsed: Parsed) -> usize {
        let count = parsed.0.len();
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = parsed.0;
        count
    }

    /// The keys of [`MatchKeys::encode`]'s buffer, checked (every length, ids ascending)
    /// and not yet held.
    pub fn parse(b: &[u8]) -> Result<Parsed, String> {
        let mut r = Reader { b, at: 0 };
        let n = r.u64()?;
        // Each person takes 21 bytes at least: a count beyond that is a lie.
        if n > (b.len() / 21) as u64 {
            return Err(format!("{n} persons cannot fit in {} bytes", b.len()));
        }
        let mut list: Vec<(u64, Packed)> = Vec::with_capacity(n as usize);
        for i in 0..n {
            let id = r.u64()?;
            if list.last().is_some_and(|(last, _)| *last >= id) {
                return Err(format!("person {i}: ids out of order"));
            }
            let year = i32::from_be_bytes(r.take(4)?.try_into().map_err(|_| "year")?);
            let (month, day) = (r.u8()?, r.u8()?);
            let sex = match r.u8()? {
                b'M' => Sex::M,
                b'F' => Sex::F,
                b'X' => Sex::X,
                other => return Err(format!("person {i}: sex byte {other}")),
            };
            let shielded: Box<[[u8; 3]]> = (0..r.u8()?)
                .map(|_| r.take(3).map(|c| [c[0], c[1], c[2]]))
                .collect::<Result<_, _>>()?;
            let len = u32::from_be_bytes(r.take(4)?.try_into().map_err(|_| "length")?);
            let text = std::str::from_utf8(r.take(len as usize)?)
                .map_err(|_| format!("person {i}: the text is not UTF-8"))?;
            let date_of_birth = PartialDate {
                year,
                month: (month != 0).then_some(month),
                day: (day != 0).then_some(day),
            };
            list.push((
                id,
                Packed {
                    text: text.into(),
                    date_of_birth,
                    sex,
                    shielded,
                },
            ));
        }
        if r.at != b.len() {
            return Err(format!("{} bytes after the last person", b.len() - r.at));
        }
        Ok(Parsed(list))
    }
}

/// Keys read by [`MatchKeys::parse`], to be held by [`MatchKeys::install`].
#[derive(Debug)]
pub struct Parsed(Vec<(u64, Packed)>);

/// Bounds-checked reads of [`MatchKeys::decode`].
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| format!("cut short at byte {}", self.at))?;
        let out = &self.b[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
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

    #[test]
    fn encoded_keys_read_back_and_faults_are_refused() {
        let keys = MatchKeys::default();
        let mut key = MatchKey {
            name: normalize(&["Jean-Baptiste", "Saint-Fleur"]),
            date_of_birth: PartialDate {
                year: 1986,
                month: Some(12),
                day: Some(1),
            },
            nationality: "HTI".into(),
            sex: Sex::M,
            shielded_from: Some(vec!["HTI".into()]),
        };
        keys.insert(4, &key);
        key.date_of_birth.day = None;
        key.sex = Sex::X;
        key.shielded_from = Some(Vec::new());
        keys.insert(11, &key);
        let bytes = keys.encode();
        let back = MatchKeys::default();
        assert_eq!(back.decode(&bytes), Ok(2));
        assert_eq!(back.get(11), Some(key));
        assert_eq!(back.get(4), keys.get(4));
        assert_eq!(back.shields(4, "HTI"), Some(true));
        // Every cut is refused, and a refused buffer leaves the held keys as they were.
        for cut in 0..bytes.len() {
            assert!(back.decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(back.len(), 2);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(back.decode(&longer).is_err());
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(back.decode(&huge).is_err());
        // Ids must ascend: the second person given the first one's id.
        let mut twice = bytes;
        let second = 8 + 8 + 4 + 4 + 3 + 4 + keys.get(4).map_or(0, |k| Packed::pack(&k).text.len());
        twice[second..second + 8].copy_from_slice(&4u64.to_be_bytes());
        assert!(back.decode(&twice).unwrap_err().contains("out of order"));
    }
}
