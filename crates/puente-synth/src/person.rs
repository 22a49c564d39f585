//! Synthetic persons (no real data), with names in the spellings their countries'
//! documents carry, drawn from the [`pools`](crate::pools) of their nationality.

use crate::pools::tradition_of;
use crate::rng::Rng;

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
    let n = tradition_of(nationality);
    let sex = if rng.chance(0.6) { 'M' } else { 'F' };
    let pool = if sex == 'M' { &n.male } else { &n.female };
    let first = rng.pick_common(pool).unwrap_or("ALEX");
    let mut given = first.to_string();
    if !n.syllables.is_empty() {
        // One or two syllables, combined freely (Chinese given names).
        let a = rng.pick(&n.syllables).unwrap_or("WEI");
        given = if rng.chance(0.75) {
            format!("{a}{}", rng.pick(&n.syllables).unwrap_or("MING"))
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
    let s1 = rng.pick_common(&n.surnames).unwrap_or("DOE");
    let mut surnames = s1.to_string();
    if n.double_surname {
        let s2 = rng.pick_common(&n.surnames).unwrap_or("DOE");
        if s2 != s1 {
            surnames = format!("{s1} {s2}");
        }
    }
    if sex == 'F' {
        surnames.push_str(n.female_surname_suffix);
    }
    if n.surname_from_father {
        // The father's name (and often the grandfather's) in place of a family name.
        let father = rng.pick_common(&n.male).unwrap_or("HAILE");
        surnames = if rng.chance(0.5) {
            format!(
                "{father} {}",
                rng.pick_common(&n.surnames).unwrap_or("TEKLE")
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
}
