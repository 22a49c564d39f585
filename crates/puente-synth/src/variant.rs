//! *Variants*: how another country's officer may record the same person
//! (transliteration, accents, order, swapped fields, dropped second surname, particles, a
//! typo, abbreviations, hyphens, partial dates). A variant carries its ground truth, so a
//! matcher's recall and precision can be measured.

use crate::person::{person, SynthPerson};
use crate::rng::Rng;

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
    use crate::person::random_person;

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
