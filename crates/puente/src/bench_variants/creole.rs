//! French-spelled names written as a Haitian Creole speaker spells them, by the rules of
//! the official orthography (IPN, 1979; made official in 1980): one letter or digraph
//! per sound, no silent letters. The rules are applied to how French pronounces the
//! name, then to what Creole does with those sounds:
//!
//! - French silent letters go: final S, X, Z, T, D and mute final E (JACQUES → JAK),
//!   H, P in -PT- (BAPTISTE → BATIS); the Latin ending -US keeps its S (DORVILUS).
//! - French digraphs become their sound: EAU/AU → O, AI/EI → E, EU → E, OU → OU (W
//!   before a vowel: LOUIS → LWI), OI → WA (FRANÇOIS → FRANSWA), PH → F, TH → T,
//!   QU/hard C → K, soft C/Ç → S, GE/GI → J, GN → NY, X → KS (EX- + vowel → EGZ),
//!   S between vowels → Z (JOSEPH → JOZEF), double consonants single, CHR → KR.
//! - Nasal vowels (a vowel before N/M not followed by a vowel): AN/EN → AN (but IEN →
//!   YEN), IN/AIN/EIN/UN → EN, ON → ON, OIN → WEN.
//! - Creole sound changes: French U and EU are unrounded (JULES → JIL); I and U before
//!   a vowel become semivowels Y and W (PIERRE → PYE, JOSUÉ → JOZWE); R before a rounded
//!   vowel becomes W (ROBERT → WOBE, ROSE → WOZ); R after a vowel, before a consonant or
//!   at the end, is not pronounced (PIERRE → PYE, CHARLES → CHAL); final consonant
//!   clusters are simplified (BATIST → BATIS, ALEKSANDR → ALEKSAND).
//! - Hyphenated compounds are written as one word (JEAN-BAPTISTE → JANBATIS).
//! - Accents are dropped, as machine-readable documents and most forms drop them.

/// Names of English, German or Spanish origin common in Haiti, which a clerk copies as
/// written rather than re-spells (besides those [`is_french`] recognises by letters
/// French does not use).
const NOT_FRENCH: &[&str] = &[
    "SMITH", "JUNIOR", "RONALD", "REYNOLD", "ERNST", "RICARDO", "EVENS", "WILFRID", "FRITZ",
    "FRANTZ", "SANDRA", "VANESSA", "JUDITH", "ESTHER", "FARAH", "DAVIDSON", "PATRICK",
];

/// Whether a token looks French-spelled: no W or K (absent from French spelling except
/// in loans), no English endings (-SON, -LEY, -Y, -SH-, -OO-, -EE-, -TZ).
pub fn is_french(token: &str) -> bool {
    let t = token.to_uppercase();
    !(t.contains('W')
        || t.contains('K')
        || t.contains("SH")
        || t.contains("OO")
        || t.contains("EE")
        || t.contains("TZ")
        || t.ends_with("SON")
        || t.ends_with('Y')
        || NOT_FRENCH.contains(&t.as_str()))
}

/// A whole field (given names or surnames), token by token.
pub fn respell_field(field: &str) -> String {
    field
        .split_whitespace()
        .map(respell_token)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One token; a hyphenated compound becomes one word.
fn respell_token(token: &str) -> String {
    let parts: Vec<&str> = token.split('-').filter(|p| !p.is_empty()).collect();
    if !parts.iter().any(|p| is_french(p)) {
        return token.to_string();
    }
    if parts.len() == 1 {
        return respell(token);
    }
    parts
        .iter()
        .map(|p| {
            if is_french(p) {
                respell(p)
            } else {
                p.to_string()
            }
        })
        .collect()
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'A' | 'E' | 'É' | 'I' | 'O' | 'U' | 'Y')
}

/// Upper case, with accented E kept apart (it is pronounced) and other accents dropped.
fn letters(word: &str) -> Vec<char> {
    word.to_uppercase()
        .chars()
        .filter_map(|c| match c {
            'É' | 'È' | 'Ê' | 'Ë' => Some('É'),
            'À' | 'Â' | 'Ä' => Some('A'),
            'Î' | 'Ï' => Some('I'),
            'Ô' | 'Ö' => Some('O'),
            'Û' | 'Ù' | 'Ü' => Some('U'),
            'Ç' => Some('Ç'),
            c if c.is_ascii_alphabetic() => Some(c),
            _ => None,
        })
        .collect()
}

/// A final E left by a silent consonant is pronounced (-ET, -ED, -EZ: CADET, CHEZ).
fn sound_final_e(w: &mut [char]) {
    if let Some(last) = w.last_mut() {
        if *last == 'E' {
            *last = 'É';
        }
    }
}

/// One French word in Creole spelling.
pub fn respell(word: &str) -> String {
    let mut w = letters(word);
    // Silent final consonants. -ET, -ED, -EZ keep their vowel pronounced (CADET).
    let n = w.len();
    if n > 3 && w[n - 2] == 'U' && w[n - 1] == 'S' {
        // Latin -US: the S is pronounced.
    } else if n > 2 && matches!(w[n - 1], 'S' | 'X' | 'Z') {
        let z = w[n - 1] == 'Z';
        w.pop();
        if z {
            sound_final_e(&mut w);
        }
    }
    let n = w.len();
    if n > 2 && matches!(w[n - 1], 'T' | 'D') {
        w.pop();
        sound_final_e(&mut w);
    }
    let n = w.len();
    let at = |k: usize| w.get(k).copied();
    let mute_e = |k: usize| k + 1 == n && w[k] == 'E' && n > 2;
    let sounded_vowel = |k: usize| at(k).is_some_and(is_vowel) && !mute_e(k);
    // A vowel before N/M at `k` is nasal when no vowel (or N/M) follows the N/M.
    let nasal = |k: usize| {
        matches!(at(k), Some('N' | 'M'))
            && match at(k + 1) {
                None => true,
                Some(c) => !is_vowel(c) && c != 'N' && c != 'M',
            }
    };
    let mut o = String::new();
    let mut i = 0;
    while i < n {
        let c = w[i];
        let prev = if i > 0 { at(i - 1) } else { None };
        let next = at(i + 1);
        // Double consonants are written once.
        if !is_vowel(c) && prev == Some(c) {
            i += 1;
            continue;
        }
        let (out, used): (&str, usize) = match c {
            'A' => match next {
                Some('U') => ("O", 2),
                Some('I') if nasal(i + 2) => ("EN", 3),
                Some('I') => ("E", 2),
                _ if nasal(i + 1) => ("AN", 2),
                _ => ("A", 1),
            },
            'E' => {
                if next == Some('A') && at(i + 2) == Some('U') {
                    ("O", 3)
                } else if matches!(prev, Some('J' | 'G')) && matches!(next, Some('A' | 'O' | 'U')) {
                    ("", 1)
                } else if next == Some('U') {
                    ("E", 2)
                } else if next == Some('I') && nasal(i + 2) {
                    ("EN", 3)
                } else if next == Some('I') {
                    ("E", 2)
                } else if nasal(i + 1) {
                    if matches!(prev, Some('I' | 'Y')) {
                        ("EN", 2)
                    } else {
                        ("AN", 2)
                    }
                } else if mute_e(i) {
                    ("", 1)
                } else {
                    ("E", 1)
                }
            }
            'É' => ("E", 1),
            'I' | 'Y' => {
                if nasal(i + 1) {
                    ("EN", 2)
                } else if prev.is_some_and(is_vowel) && next == Some('L') && at(i + 2) == Some('L')
                {
                    ("Y", 3)
                } else if i > 0 && sounded_vowel(i + 1) {
                    ("Y", 1)
                } else {
                    ("I", 1)
                }
            }
            'O' => match next {
                Some('U') if sounded_vowel(i + 2) => ("W", 2),
                Some('U') => ("OU", 2),
                Some('I') if nasal(i + 2) => ("WEN", 3),
                Some('I') => ("WA", 2),
                _ if nasal(i + 1) => ("ON", 2),
                _ => ("O", 1),
            },
            'U' => {
                if nasal(i + 1) {
                    ("EN", 2)
                } else if sounded_vowel(i + 1) {
                    ("W", 1)
                } else {
                    ("I", 1)
                }
            }
            'C' => match next {
                Some('H') if matches!(at(i + 2), Some('R' | 'L')) => ("K", 2),
                Some('H') => ("CH", 2),
                Some('K' | 'Q') => ("", 1),
                Some('E' | 'É' | 'I' | 'Y') => ("S", 1),
                // FRANCOIS as documents write FRANÇOIS, without its cedilla: -NÇOI-
                // is the only French spelling of that sequence.
                Some('O') if prev == Some('N') && at(i + 2) == Some('I') => ("S", 1),
                _ => ("K", 1),
            },
            'Ç' => ("S", 1),
            'G' => match next {
                Some('N') => ("NY", 2),
                Some('U') if matches!(at(i + 2), Some('E' | 'É' | 'I' | 'Y')) => ("G", 2),
                Some('E' | 'É' | 'I' | 'Y') => ("J", 1),
                _ => ("G", 1),
            },
            'Q' if next == Some('U') => ("K", 2),
            'Q' => ("K", 1),
            'P' => match next {
                Some('H') => ("F", 2),
                Some('T') if i > 0 => ("", 1),
                _ => ("P", 1),
            },
            'T' if next == Some('H') => ("T", 2),
            'T' => ("T", 1),
            'H' => ("", 1),
            'S' => {
                if prev.is_some_and(is_vowel) && next.is_some_and(is_vowel) {
                    ("Z", 1)
                } else {
                    ("S", 1)
                }
            }
            'X' => {
                if i == 1 && w[0] == 'E' && next.is_some_and(is_vowel) {
                    ("GZ", 1)
                } else {
                    ("KS", 1)
                }
            }
            'R' => {
                let rounded =
                    matches!(next, Some('O')) || (next == Some('A') && at(i + 2) == Some('U'));
                if prev.is_some_and(is_vowel) && !sounded_vowel(i + 1) {
                    ("", 1)
                } else if rounded {
                    ("W", 1)
                } else {
                    ("R", 1)
                }
            }
            _ => {
                o.push(c);
                i += 1;
                continue;
            }
        };
        o.push_str(out);
        i += used;
    }
    simplify_final_cluster(o)
}

/// Creole drops the liquid of a final consonant + R/L cluster and the T of final -ST
/// (ministre → minis, table → tab).
fn simplify_final_cluster(mut o: String) -> String {
    let b = o.as_bytes();
    let n = b.len();
    if n > 2 && matches!(b[n - 1], b'R' | b'L') && !is_vowel(b[n - 2] as char) {
        o.pop();
    }
    if o.len() > 3 && o.ends_with("ST") {
        o.pop();
    }
    o
}
