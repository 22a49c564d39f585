//! Labelled variants for the independent evaluation of the name matcher
//! (`puente bench identity`, section "Independent evaluation"): how another country's
//! officer may record a synthetic person, made from first principles, never from the
//! matcher's own tables (`names.rs`, `spelling.rs` and their data files) nor from
//! `synth::variant`, so that a variant the matcher finds proves something.
//!
//! Each kind is a function `(rng, &SynthPerson) -> Option<Variant>`: `None` exactly when
//! the kind does not apply to the person (whatever the random draws), so a person can
//! be tested for a kind once and queried later. The rules and curated lists cite what
//! they follow; [`creole`](mod@creole) and [`wade_giles`] hold the two orthographies, [`compound`](mod@compound)
//! and [`particles`] the name structures.

pub mod compound;
pub mod creole;
pub mod particles;
pub mod wade_giles;

pub use compound::compound;
pub use particles::particle_abbrev;

use puente_records::model::PartialDate;
use puente_synth::{Rng, SynthPerson};

/// A kind of variation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Day and month of birth swapped (both ≤ 12 and different).
    DateSwap,
    /// The date recorded as YYYY-01-01, as YYYY-MM or as YYYY.
    DatePlaceholder,
    /// Birth year off by one in its last digit.
    YearOff,
    /// Haitian Creole spelling (IPN 1979 orthography) of French-spelled names.
    Creole,
    /// A compound name split or joined, plus a typo or a respelling.
    Compound,
    /// Chinese names in Wade-Giles, surnames maybe in Cantonese.
    Romanization,
    /// One keyboard slip.
    Typo,
    /// A particle dropped, glued or added; an abbreviation; a middle name as initial.
    ParticleAbbrev,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 8] = [
        Kind::DateSwap,
        Kind::DatePlaceholder,
        Kind::YearOff,
        Kind::Creole,
        Kind::Compound,
        Kind::Romanization,
        Kind::Typo,
        Kind::ParticleAbbrev,
    ];

    /// The kind's name in reports and in `queries.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::DateSwap => "date_swap",
            Kind::DatePlaceholder => "date_placeholder",
            Kind::YearOff => "year_off",
            Kind::Creole => "creole",
            Kind::Compound => "compound",
            Kind::Romanization => "romanization",
            Kind::Typo => "typo",
            Kind::ParticleAbbrev => "particle_abbrev",
        }
    }

    /// Whether the kind changes only the date of birth.
    pub fn is_date(self) -> bool {
        matches!(self, Kind::DateSwap | Kind::DatePlaceholder | Kind::YearOff)
    }

    /// A variant of `p` of this kind, or `None` when the kind does not apply to `p`.
    pub fn make(self, rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
        match self {
            Kind::DateSwap => date_swap(rng, p),
            Kind::DatePlaceholder => date_placeholder(rng, p),
            Kind::YearOff => year_off(rng, p),
            Kind::Creole => creole(rng, p),
            Kind::Compound => compound(rng, p),
            Kind::Romanization => romanization(rng, p),
            Kind::Typo => typo(rng, p),
            Kind::ParticleAbbrev => particle_abbrev(rng, p),
        }
    }
}

/// How another officer recorded a person, with what was changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Given names as recorded.
    pub given_names: String,
    /// Surnames as recorded.
    pub surnames: String,
    /// Birth year as recorded.
    pub birth_year: i32,
    /// Birth month, when recorded.
    pub birth_month: Option<u8>,
    /// Birth day, when recorded (never without a month).
    pub birth_day: Option<u8>,
    /// What was changed, in order.
    pub kinds: Vec<Kind>,
}

impl Variant {
    /// `p` as recorded, labelled with `kind` (the maker then changes it).
    fn of(p: &SynthPerson, kind: Kind) -> Self {
        Self {
            given_names: p.given_names.clone(),
            surnames: p.surnames.clone(),
            birth_year: p.birth_year,
            birth_month: Some(p.birth_month),
            birth_day: Some(p.birth_day),
            kinds: vec![kind],
        }
    }

    /// The recorded date of birth.
    pub fn birth_date(&self) -> PartialDate {
        PartialDate {
            year: self.birth_year,
            month: self.birth_month,
            day: self.birth_month.and(self.birth_day),
        }
    }

    /// The kinds joined with `+` (`creole+date_swap`).
    pub fn label(&self) -> String {
        self.kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// Two kinds applied one after the other: `b` works on what `a` recorded. The date is
/// the date kind's (or the person's, when neither is one).
pub fn combine(rng: &mut Rng, p: &SynthPerson, a: Kind, b: Kind) -> Option<Variant> {
    let first = a.make(rng, p)?;
    let mut q = p.clone();
    q.given_names = first.given_names.clone();
    q.surnames = first.surnames.clone();
    let second = b.make(rng, &q)?;
    let dated = if b.is_date() { &second } else { &first };
    Some(Variant {
        given_names: second.given_names.clone(),
        surnames: second.surnames.clone(),
        birth_year: dated.birth_year,
        birth_month: dated.birth_month,
        birth_day: dated.birth_day,
        kinds: first.kinds.iter().chain(&second.kinds).copied().collect(),
    })
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> Option<T> {
    rng.pick(items)
}

// ---------------------------------------------------------------------------------
// Dates.

/// Day and month swapped, as when a US-style MM/DD form meets a DD/MM one; only when
/// both are ≤ 12 and differ, so the result is always a valid date (every month has
/// at least 12 days) and really another date.
pub fn date_swap(_rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
    if p.birth_day > 12 || p.birth_month > 12 || p.birth_day == p.birth_month {
        return None;
    }
    let mut v = Variant::of(p, Kind::DateSwap);
    v.birth_month = Some(p.birth_day);
    v.birth_day = Some(p.birth_month);
    Some(v)
}

/// The date as registries write an unknown one: the conventional 1 January (UNHCR
/// and many civil registries put 01-01 for "year only"), or honestly partial (YYYY-MM,
/// YYYY). 1 January itself is never offered for a person born on it.
pub fn date_placeholder(rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
    let mut v = Variant::of(p, Kind::DatePlaceholder);
    let first_of_january = p.birth_month == 1 && p.birth_day == 1;
    let choice = if first_of_january {
        1 + rng.below(2)
    } else {
        rng.below(3)
    };
    match choice {
        0 => {
            v.birth_month = Some(1);
            v.birth_day = Some(1);
        }
        1 => v.birth_day = None,
        _ => {
            v.birth_month = None;
            v.birth_day = None;
        }
    }
    Some(v)
}

/// The last digit of the year one off (a slip of the pen or an age-based estimate),
/// never carrying into the other digits (1999 becomes 1998, 2000 becomes 2001).
pub fn year_off(rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
    let last = p.birth_year.rem_euclid(10);
    let delta = match last {
        0 => 1,
        9 => -1,
        _ if rng.chance(0.5) => 1,
        _ => -1,
    };
    let mut v = Variant::of(p, Kind::YearOff);
    v.birth_year = p.birth_year + delta;
    // 29 February only exists in leap years.
    if p.birth_month == 2 && p.birth_day == 29 {
        v.birth_day = Some(28);
    }
    Some(v)
}

// ---------------------------------------------------------------------------------
// Typos.

/// Letters next to each key on a QWERTY keyboard (the layout of most consular and
/// border-post keyboards in the Americas; AZERTY/QWERTZ differ mostly in A/Q/Z/W/Y).
const QWERTY: &[(char, &str)] = &[
    ('Q', "WA"),
    ('W', "QESA"),
    ('E', "WRDS"),
    ('R', "ETFD"),
    ('T', "RYGF"),
    ('Y', "TUHG"),
    ('U', "YIJH"),
    ('I', "UOKJ"),
    ('O', "IPLK"),
    ('P', "OL"),
    ('A', "QWSZ"),
    ('S', "AWEDXZ"),
    ('D', "SERFCX"),
    ('F', "DRTGVC"),
    ('G', "FTYHBV"),
    ('H', "GYUJNB"),
    ('J', "HUIKMN"),
    ('K', "JIOLM"),
    ('L', "KOP"),
    ('Z', "ASX"),
    ('X', "ZSDC"),
    ('C', "XDFV"),
    ('V', "CFGB"),
    ('B', "VGHN"),
    ('N', "BHJM"),
    ('M', "NJK"),
];

fn neighbour(rng: &mut Rng, c: char) -> Option<char> {
    let near = QWERTY.iter().find(|(k, _)| *k == c)?.1;
    let chars: Vec<char> = near.chars().collect();
    pick(rng, &chars)
}

/// One slip in `token` (Damerau's four: a neighbouring key struck instead, a letter
/// missed, an extra neighbouring letter, two letters swapped), anywhere in it, also in
/// two-letter names. `None` when the token has fewer than two letters.
pub fn typo_token(rng: &mut Rng, token: &str) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    let letters: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_alphabetic())
        .collect();
    if letters.len() < 2 {
        return None;
    }
    for _ in 0..32 {
        let i = pick(rng, &letters)?;
        let mut out = chars.clone();
        match rng.below(4) {
            0 => match neighbour(rng, chars[i]) {
                Some(n) => out[i] = n,
                None => continue,
            },
            // A deletion never leaves a single letter (that would read as an initial).
            1 if letters.len() > 2 => {
                out.remove(i);
            }
            2 => match neighbour(rng, chars[i]) {
                Some(n) => out.insert(i + usize::from(rng.chance(0.5)), n),
                None => continue,
            },
            3 if i + 1 < chars.len()
                && chars[i + 1].is_alphabetic()
                && chars[i] != chars[i + 1] =>
            {
                out.swap(i, i + 1);
            }
            _ => continue,
        }
        let out: String = out.into_iter().collect();
        if out != token {
            return Some(out);
        }
    }
    None
}

/// The whitespace-separated tokens of a field.
fn tokens_of(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// One typo in one token of the name, chosen at random.
pub fn typo(rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
    let mut given = tokens_of(&p.given_names);
    let mut surnames = tokens_of(&p.surnames);
    let slots: Vec<(bool, usize)> = given
        .iter()
        .enumerate()
        .filter(|(_, t)| t.chars().filter(|c| c.is_alphabetic()).count() >= 2)
        .map(|(i, _)| (false, i))
        .chain(
            surnames
                .iter()
                .enumerate()
                .filter(|(_, t)| t.chars().filter(|c| c.is_alphabetic()).count() >= 2)
                .map(|(i, _)| (true, i)),
        )
        .collect();
    if slots.is_empty() {
        return None;
    }
    for _ in 0..8 {
        let (sur, i) = pick(rng, &slots)?;
        let field = if sur { &mut surnames } else { &mut given };
        if let Some(t) = typo_token(rng, &field[i]) {
            field[i] = t;
            let mut v = Variant::of(p, Kind::Typo);
            v.given_names = given.join(" ");
            v.surnames = surnames.join(" ");
            return Some(v);
        }
    }
    None
}

// ---------------------------------------------------------------------------------
// Orthographies.

/// The person's French-spelled names in Haitian Creole: only for Haitian persons with
/// at least one token the orthography changes (names of English or other origin are
/// copied as written, see [`creole::is_french`]).
pub fn creole(_rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
    if p.nationality != "HTI" {
        return None;
    }
    let given = creole::respell_field(&p.given_names);
    let surnames = creole::respell_field(&p.surnames);
    if given == p.given_names && surnames == p.surnames {
        return None;
    }
    let mut v = Variant::of(p, Kind::Creole);
    v.given_names = given;
    v.surnames = surnames;
    Some(v)
}

/// A Chinese person's name in Wade-Giles (Taiwan's passports until 2009 and still by
/// choice; older mainland documents), or with the surname as Hong Kong writes it in
/// Cantonese and the given names in Wade-Giles. `None` for other persons, and when
/// neither spelling differs from the pinyin (LI NA).
pub fn romanization(rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
    if p.nationality != "CHN" {
        return None;
    }
    let surname_wg = wade_giles::field(&p.surnames)?;
    let given_wg = wade_giles::field(&p.given_names)?;
    let cantonese = wade_giles::cantonese_surname(&p.surnames);
    let mut options: Vec<(String, String)> = Vec::new();
    if (&surname_wg, &given_wg) != (&p.surnames, &p.given_names) {
        options.push((given_wg.clone(), surname_wg));
    }
    if let Some(c) = cantonese {
        if c != p.surnames || given_wg != p.given_names {
            options.push((given_wg, c.to_string()));
        }
    }
    let (given, surnames) = pick_owned(rng, options)?;
    let mut v = Variant::of(p, Kind::Romanization);
    v.given_names = given;
    v.surnames = surnames;
    Some(v)
}

fn pick_owned<T>(rng: &mut Rng, mut items: Vec<T>) -> Option<T> {
    if items.is_empty() {
        return None;
    }
    let i = rng.below(items.len() as u64) as usize;
    Some(items.swap_remove(i))
}

#[cfg(test)]
mod tests;
