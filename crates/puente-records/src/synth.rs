//! Synthetic persons for demos, tests and benchmarks (no real data), with names in the
//! spellings their countries' documents carry, and *variants*: how another country's
//! officer may record the same person (transliteration, accents, order, swapped fields,
//! dropped second surname, particles, a typo, abbreviations, hyphens, partial dates). The
//! variants carry their ground truth, so a matcher's recall and precision can be measured.

/// A small deterministic PRNG (SplitMix64): same seed, same data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; 0 gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// One item of a slice, earlier ones more often: the item at rank `r` has weight
    /// `1 / (r + 3)`, the long-tailed shape of name frequencies (`None` only for an
    /// empty slice).
    pub fn pick_common<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        let weight = |r: usize| 1.0 / (r as f64 + 3.0);
        let total: f64 = (0..items.len()).map(weight).sum();
        let mut x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for (r, item) in items.iter().enumerate() {
            x -= weight(r);
            if x < 0.0 {
                return Some(*item);
            }
        }
        items.last().copied()
    }

    /// One item of a slice (`None` only for an empty slice).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len() as u64) as usize])
        }
    }
}

use crate::pools::{names_of, CHINESE_SYLLABLES};

/// Extra-regional nationalities seen in the Americas, with rough weights.
pub const NATIONALITIES: &[(&str, u32)] = &[
    ("HTI", 18),
    ("CUB", 14),
    ("VEN", 16),
    ("BGD", 6),
    ("NPL", 4),
    ("IND", 7),
    ("AFG", 4),
    ("CHN", 6),
    ("UZB", 2),
    ("CMR", 3),
    ("COD", 3),
    ("ERI", 2),
    ("GHA", 3),
    ("SEN", 2),
    ("GIN", 2),
    ("AGO", 2),
    ("PAK", 2),
    ("LKA", 1),
    ("SOM", 1),
    ("ETH", 2),
];

/// A synthetic person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthPerson {
    /// Given names, as the person's passport prints them.
    pub given_names: String,
    /// Surnames.
    pub surnames: String,
    /// `M` or `F`.
    pub sex: char,
    /// Alpha-3 nationality.
    pub nationality: String,
    /// Birth year.
    pub birth_year: i32,
    /// Birth month.
    pub birth_month: u8,
    /// Birth day.
    pub birth_day: u8,
}

fn days_in(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A person of `nationality`.
pub fn person(rng: &mut Rng, nationality: &str) -> SynthPerson {
    let n = names_of(nationality);
    let sex = if rng.chance(0.6) { 'M' } else { 'F' };
    let pool = if sex == 'M' { n.male } else { n.female };
    let first = rng.pick_common(pool).unwrap_or("ALEX");
    let mut given = first.to_string();
    if nationality == "CHN" {
        // Chinese given names are one or two syllables, combined freely.
        let a = rng.pick(CHINESE_SYLLABLES).unwrap_or("WEI");
        given = if rng.chance(0.75) {
            format!("{a}{}", rng.pick(CHINESE_SYLLABLES).unwrap_or("MING"))
        } else {
            a.to_string()
        };
    }
    if n.double_given && rng.chance(0.6) {
        let second = rng.pick_common(pool).unwrap_or("ALEX");
        if second != first {
            given = format!("{first} {second}");
        }
    }
    let s1 = rng.pick_common(n.surnames).unwrap_or("DOE");
    let mut surnames = s1.to_string();
    if n.double_surname {
        let s2 = rng.pick_common(n.surnames).unwrap_or("DOE");
        if s2 != s1 {
            surnames = format!("{s1} {s2}");
        }
    }
    if nationality == "UZB" && sex == 'F' {
        surnames.push('A');
    }
    if nationality == "ERI" || nationality == "ETH" {
        // Father's name (and often grandfather's) in place of a family name.
        let father = rng.pick_common(n.male).unwrap_or("HAILE");
        surnames = if rng.chance(0.5) {
            format!(
                "{father} {}",
                rng.pick_common(n.surnames).unwrap_or("TEKLE")
            )
        } else {
            father.to_string()
        };
    }
    // Ages 0-75, most between 18 and 40.
    let age = match rng.below(10) {
        0 => rng.below(18),
        1..=7 => 18 + rng.below(23),
        _ => 41 + rng.below(35),
    } as i32;
    let birth_year = 2026 - age;
    let birth_month = 1 + rng.below(12) as u8;
    let birth_day = 1 + rng.below(u64::from(days_in(birth_year, birth_month))) as u8;
    SynthPerson {
        given_names: given,
        surnames,
        sex,
        nationality: nationality.to_string(),
        birth_year,
        birth_month,
        birth_day,
    }
}

/// A person of a nationality drawn by weight.
pub fn random_person(rng: &mut Rng) -> SynthPerson {
    let total: u32 = NATIONALITIES.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(u64::from(total)) as u32;
    let mut nat = "HTI";
    for (code, w) in NATIONALITIES {
        if x < *w {
            nat = code;
            break;
        }
        x -= w;
    }
    person(rng, nat)
}

/// Kinds of variation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantKind {
    /// Another transliteration of a token.
    Transliteration,
    /// Accents dropped.
    Accents,
    /// Given names in another order.
    TokenOrder,
    /// Given names and surnames swapped.
    GivenSurnameSwap,
    /// Second surname dropped.
    DroppedSecondSurname,
    /// A particle removed, or glued to the next word.
    Particle,
    /// One typo.
    Typo,
    /// A middle name reduced to its initial, or dropped.
    Abbreviation,
    /// Hyphen written as a space or the other way round.
    Hyphenation,
    /// Day (and maybe month) of birth unknown.
    PartialDate,
}

/// How another officer recorded a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Given names as recorded.
    pub given_names: String,
    /// Surnames as recorded.
    pub surnames: String,
    /// Birth year (never changed).
    pub birth_year: i32,
    /// Birth month, when recorded.
    pub birth_month: Option<u8>,
    /// Birth day, when recorded.
    pub birth_day: Option<u8>,
    /// What was changed.
    pub kinds: Vec<VariantKind>,
}

const TRANSLITERATIONS: &[&[&str]] = &[
    &["MOHAMMAD", "MUHAMMAD", "MOHAMED", "MOHAMMED", "MOHD", "MD"],
    &["HOSSAIN", "HOSSEIN", "HUSSAIN", "HUSAIN", "HOSEN"],
    &["AHMED", "AHMAD"],
    &["ABDUL", "ABDEL", "ABDOUL"],
    &["YUSUF", "YOUSSEF", "JUSUF"],
    &["GEBREMEDHIN", "GHEBREMEDHIN"],
    &["TESFAY", "TESFAYE", "TESFAI"],
    &["CHOWDHURY", "CHOUDHURY", "CHAUDHARY"],
    &["MOHAMED", "MAXAMED", "MOHAMMED"],
    &["FATEMA", "FATIMA"],
    &["ALIEV", "ALIYEV"],
    &["JOSEPH", "JOSEF"],
    &["HAILE", "HAILU"],
    &["KHAN", "KHAAN"],
    &["ALI", "ALY"],
    &["OSMAN", "USMAN"],
];

fn strip_accents(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'Á' | 'À' | 'Â' | 'Ã' => 'A',
            'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
            'Ó' | 'Ò' | 'Ô' | 'Õ' => 'O',
            'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
            'Ñ' => 'N',
            'Ç' => 'C',
            c => c,
        })
        .collect()
}

fn typo(rng: &mut Rng, token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < 4 {
        return token.to_string();
    }
    let i = 1 + rng.below(chars.len() as u64 - 2) as usize;
    let mut out = chars.clone();
    match rng.below(4) {
        0 => {
            out.remove(i);
        }
        1 => out.insert(i, chars[i]),
        2 => out.swap(i, i + 1),
        _ => {
            const NEAR: &[(char, char)] = &[
                ('A', 'S'),
                ('E', 'R'),
                ('I', 'O'),
                ('O', 'P'),
                ('U', 'Y'),
                ('N', 'M'),
                ('S', 'D'),
                ('R', 'T'),
                ('H', 'J'),
                ('L', 'K'),
                ('M', 'N'),
                ('T', 'Y'),
                ('D', 'F'),
            ];
            let c = out[i];
            out[i] = NEAR
                .iter()
                .find(|(a, _)| *a == c)
                .map(|(_, b)| *b)
                .unwrap_or('E');
        }
    }
    out.into_iter().collect()
}

fn tokens(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// How another country's officer may have recorded `p`: one to three realistic changes.
pub fn variant(rng: &mut Rng, p: &SynthPerson) -> Variant {
    let mut given = tokens(&p.given_names);
    let mut surnames = tokens(&p.surnames);
    let mut v = Variant {
        given_names: String::new(),
        surnames: String::new(),
        birth_year: p.birth_year,
        birth_month: Some(p.birth_month),
        birth_day: Some(p.birth_day),
        kinds: Vec::new(),
    };
    let changes = 1 + rng.below(3);
    let mut typo_done = false;
    for _ in 0..changes * 3 {
        if v.kinds.len() as u64 >= changes {
            break;
        }
        let kind = match rng.below(10) {
            0 => VariantKind::Transliteration,
            1 => VariantKind::Accents,
            2 => VariantKind::TokenOrder,
            3 => VariantKind::GivenSurnameSwap,
            4 => VariantKind::DroppedSecondSurname,
            5 => VariantKind::Particle,
            6 => VariantKind::Typo,
            7 => VariantKind::Abbreviation,
            8 => VariantKind::Hyphenation,
            _ => VariantKind::PartialDate,
        };
        if v.kinds.contains(&kind) {
            continue;
        }
        let applied = match kind {
            VariantKind::Transliteration => {
                let mut done = false;
                for t in given.iter_mut().chain(surnames.iter_mut()) {
                    if let Some(family) = TRANSLITERATIONS.iter().find(|f| f.contains(&t.as_str()))
                    {
                        let others: Vec<&str> = family
                            .iter()
                            .copied()
                            .filter(|x| *x != t.as_str())
                            .collect();
                        if let Some(o) = rng.pick(&others) {
                            *t = o.to_string();
                            done = true;
                            break;
                        }
                    }
                }
                done
            }
            VariantKind::Accents => {
                let before = (given.clone(), surnames.clone());
                given = given.iter().map(|t| strip_accents(t)).collect();
                surnames = surnames.iter().map(|t| strip_accents(t)).collect();
                before != (given.clone(), surnames.clone())
            }
            VariantKind::TokenOrder if given.len() > 1 => {
                given.reverse();
                true
            }
            VariantKind::GivenSurnameSwap if !given.is_empty() => {
                std::mem::swap(&mut given, &mut surnames);
                true
            }
            VariantKind::DroppedSecondSurname
                if surnames.len() > 1
                    && !["DE", "DEL", "LA", "DA", "DOS"].contains(&surnames[0].as_str()) =>
            {
                surnames.truncate(1);
                true
            }
            VariantKind::Particle => {
                let all: Vec<String> = surnames.clone();
                if let Some(i) = all
                    .iter()
                    .position(|t| ["DE", "DEL", "LA", "DA", "DOS"].contains(&t.as_str()))
                {
                    if rng.chance(0.5) {
                        surnames
                            .retain(|t| !["DE", "DEL", "LA", "DA", "DOS"].contains(&t.as_str()));
                    } else {
                        let glued: String = surnames[i..].concat();
                        surnames.truncate(i);
                        surnames.push(glued);
                    }
                    true
                } else {
                    false
                }
            }
            VariantKind::Typo if !typo_done => {
                let pool_len = given.len() + surnames.len();
                let k = rng.below(pool_len as u64) as usize;
                let t = if k < given.len() {
                    &mut given[k]
                } else {
                    &mut surnames[k - given.len()]
                };
                let changed = typo(rng, t);
                let ok = changed != *t;
                *t = changed;
                typo_done = ok;
                ok
            }
            VariantKind::Abbreviation if given.len() > 1 => {
                if rng.chance(0.5) {
                    given[1] = given[1]
                        .chars()
                        .next()
                        .map(String::from)
                        .unwrap_or_default();
                } else {
                    given.truncate(1);
                }
                true
            }
            VariantKind::Hyphenation => {
                let mut done = false;
                for t in given.iter_mut().chain(surnames.iter_mut()) {
                    if t.contains('-') {
                        *t = t.replace('-', " ");
                        done = true;
                    }
                }
                done
            }
            VariantKind::PartialDate => {
                v.birth_day = None;
                if rng.chance(0.4) {
                    v.birth_month = None;
                }
                true
            }
            _ => false,
        };
        if applied {
            v.kinds.push(kind);
        }
    }
    if v.kinds.is_empty() {
        v.birth_day = None;
        v.kinds.push(VariantKind::PartialDate);
    }
    v.given_names = given.join(" ");
    v.surnames = surnames.join(" ");
    v
}

/// A different person who shares surname, nationality and birth year (a namesake).
pub fn distinct_but_similar(rng: &mut Rng, p: &SynthPerson) -> SynthPerson {
    let mut other = person(rng, &p.nationality);
    other.surnames = p.surnames.clone();
    other.birth_year = p.birth_year;
    other.birth_month = p.birth_month;
    other.birth_day = if p.birth_day == 1 { 2 } else { p.birth_day - 1 };
    for _ in 0..10 {
        if other.given_names != p.given_names {
            break;
        }
        other.given_names = person(rng, &p.nationality).given_names;
    }
    other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        let a: Vec<_> = {
            let mut r = Rng::new(5);
            (0..50).map(|_| random_person(&mut r)).collect()
        };
        let b: Vec<_> = {
            let mut r = Rng::new(5);
            (0..50).map(|_| random_person(&mut r)).collect()
        };
        assert_eq!(a, b);
        let mut r = Rng::new(1);
        for (nat, _) in NATIONALITIES {
            for _ in 0..50 {
                let p = person(&mut r, nat);
                assert!(!p.given_names.is_empty() && !p.surnames.is_empty());
                assert!(p.sex == 'M' || p.sex == 'F');
                assert!(p.birth_day >= 1 && p.birth_day <= days_in(p.birth_year, p.birth_month));
            }
        }
    }

    #[test]
    fn variants_keep_the_year_and_cover_every_kind() {
        let mut r = Rng::new(9);
        let mut seen = Vec::new();
        for _ in 0..5000 {
            let p = random_person(&mut r);
            let v = variant(&mut r, &p);
            assert_eq!(v.birth_year, p.birth_year);
            assert!(!v.kinds.is_empty());
            for k in &v.kinds {
                if !seen.contains(k) {
                    seen.push(*k);
                }
            }
            assert!(v
                .given_names
                .chars()
                .chain(v.surnames.chars())
                .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\''));
        }
        assert_eq!(seen.len(), 10, "{seen:?}");
    }
}
