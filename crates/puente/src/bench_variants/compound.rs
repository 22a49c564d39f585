//! Compound names split or joined at their morpheme boundaries (pinyin syllables,
//! Ge'ez theophoric names, Arabic constructs, French hyphenated names), with a second
//! change on top: a respelling of a part, or a typo.

use puente_synth::{Rng, SynthPerson};

use super::{pick_owned, tokens_of, typo, wade_giles, Kind, Variant};

/// First elements of Ge'ez theophoric compound names (Ethiopia, Eritrea): "servant of",
/// "son of", "power of", "plant of", "covenant of", "hope of", "gift of", "seed of",
/// "one of" (…-MARIAM, …-MEDHIN "the Saviour", …-MICHAEL, …-YESUS, …-GIORGIS, …-HIWET
/// "life", …-SELASSIE "Trinity", …-KIDAN "covenant"); written joined or apart.
const GEEZ_FIRST: &[&str] = &[
    "GEBRE", "GHEBRE", "WELDE", "WOLDE", "HAILE", "TEKLE", "KIDANE", "TESFA", "HABTE", "ZERE",
    "ZE", "ANDE", "LETE", "BERHANE", "AMDE", "FIKRE", "MEHRET",
];
const GEEZ_SECOND: &[&str] = &[
    "MARIAM",
    "MARYAM",
    "MEDHIN",
    "MICHAEL",
    "MIKAEL",
    "YESUS",
    "IYESUS",
    "GIORGIS",
    "HIWET",
    "SELASSIE",
    "KIDAN",
    "EGZIABHER",
    "AMLAK",
    "KRISTOS",
    "TSION",
    "GABRIEL",
    "AB",
];

/// Arabic name stems that South Asian and Afghan names join with the article as
/// `-UL`/`-UR` ("…-ul-Islam", "…-ur-Rahman") or with `-ULLAH` ("…of God"); a curated
/// list so that RAHUL, PAUL, KAUR or THAKUR are never cut.
const ARABIC_STEMS: &[&str] = &[
    "RAFIQ", "NUR", "SHAHID", "SAIF", "AMIN", "ARIF", "MONIR", "SHAFIQ", "ZAHID", "JAHID",
    "ASHRAF", "SIRAJ", "TARIQ", "ENAM", "NAZR", "ROBI", "JANNAT", "HABIB", "MIZAN", "ANIS",
    "MAHBUB", "ATIQ", "MOSTAFIZ", "KAMR", "NAJIB", "ZABIH", "ROH", "SAMI", "ASAD", "RAHMAT",
    "WAHID", "NOOR", "HEKMAT", "NAQIB", "AZIZ", "KHALIL", "FAZL", "ZIA", "IKRAM", "AMAN",
];

/// Compound name parts: how a token may be split (`Some(parts)`).
fn split_compound(nationality: &str, token: &str) -> Option<Vec<String>> {
    if token.contains('-') {
        // Haitian (French) hyphenated compounds: JEAN-BAPTISTE, MARIE-CLAUDE, SAINT-FLEUR.
        return Some(token.split('-').map(str::to_string).collect());
    }
    match nationality {
        "CHN" => {
            let syllables = wade_giles::syllables(token)?;
            (syllables.len() > 1)
                .then(|| syllables.iter().map(|(i, f)| format!("{i}{f}")).collect())
        }
        "ETH" | "ERI" => GEEZ_FIRST.iter().find_map(|first| {
            let rest = token.strip_prefix(first)?;
            GEEZ_SECOND
                .contains(&rest)
                .then(|| vec![first.to_string(), rest.to_string()])
        }),
        "BGD" | "PAK" | "AFG" | "IND" => {
            for tail in ["ULLAH", "UDDIN", "UL", "UR"] {
                if let Some(stem) = token.strip_suffix(tail) {
                    if ARABIC_STEMS.contains(&stem) {
                        return Some(vec![stem.to_string(), tail.to_string()]);
                    }
                }
            }
            None
        }
        _ => None,
    }
}

/// Respellings a compound's parts commonly get, by rule: Ge'ez first-order vowel ä
/// written E or A and ገ written G or GH (GEBRE → GABRE, GHEBRE); Arabic long vowels
/// doubled in South Asian English spelling and Q as K (NUR → NOOR, RAFIQ → RAFEEQ,
/// RAFIK); Chinese syllables in Wade-Giles.
fn respell_part(nationality: &str, part: &str) -> Option<String> {
    let out = match nationality {
        "ETH" | "ERI" if GEEZ_FIRST.contains(&part) => {
            if let Some(rest) = part.strip_prefix("GH") {
                format!("G{rest}")
            } else if let Some(rest) = part.strip_prefix('G') {
                format!("GH{rest}")
            } else {
                part.replacen('E', "A", 1)
            }
        }
        "BGD" | "PAK" | "AFG" | "IND" => {
            if part == "ULLAH" {
                "ULLA".to_string()
            } else if part == "UDDIN" {
                "UDDEEN".to_string()
            } else if part == "UL" || part == "UR" {
                return None;
            } else if part.contains('Q') {
                part.replace('Q', "K")
            } else if let Some(i) = long_vowel(part, 'U') {
                format!("{}OO{}", &part[..i], &part[i + 1..])
            } else if let Some(i) = long_vowel(part, 'I') {
                format!("{}EE{}", &part[..i], &part[i + 1..])
            } else {
                return None;
            }
        }
        "CHN" => wade_giles::field(part)?,
        _ => return None,
    };
    (out != part).then_some(out)
}

/// Where `v` stands alone between consonants (a long vowel in these stems: NUR,
/// MUNIR), not in a diphthong (SAIF, NAUSHAD).
fn long_vowel(part: &str, v: char) -> Option<usize> {
    let b = part.as_bytes();
    let vowel = |i: usize| matches!(b.get(i), Some(b'A' | b'E' | b'I' | b'O' | b'U'));
    (1..b.len()).find(|&i| b[i] == v as u8 && !vowel(i - 1) && !vowel(i + 1))
}

/// Ways to split or join one person's names: `(surnames?, new tokens of that field)`.
pub(super) fn compound_options(p: &SynthPerson) -> Vec<(bool, Vec<String>, Option<usize>)> {
    let mut options = Vec::new();
    for sur in [false, true] {
        let field = tokens_of(if sur { &p.surnames } else { &p.given_names });
        for (i, t) in field.iter().enumerate() {
            if let Some(parts) = split_compound(&p.nationality, t) {
                // Split apart, or (hyphenated ones) written as one word.
                let mut apart = field.clone();
                apart.splice(i..=i, parts.clone());
                options.push((sur, apart, Some(i)));
                if t.contains('-') {
                    let mut joined = field.clone();
                    joined[i] = parts.concat();
                    options.push((sur, joined, Some(i)));
                }
            }
        }
        // Joined: ABDUL + next given name (ABDUL KARIM → ABDULKARIM), the Arabic
        // construct "servant of" that Bengali and Afghan documents write either way.
        if !sur {
            for i in 0..field.len().saturating_sub(1) {
                if field[i] == "ABDUL" || field[i] == "ABU" {
                    let mut joined = field.clone();
                    let next = joined.remove(i + 1);
                    joined[i] = format!("{}{next}", field[i]);
                    options.push((sur, joined, Some(i)));
                }
            }
        }
    }
    options
}

/// A compound given name or surname split or joined, combined with a respelling of
/// one of its parts or, when none applies, a typo anywhere in the name.
pub fn compound(rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
    let options = compound_options(p);
    let (sur, tokens, at) = pick_owned(rng, options)?;
    let mut v = Variant::of(p, Kind::Compound);
    if sur {
        v.surnames = tokens.join(" ");
    } else {
        v.given_names = tokens.join(" ");
    }
    // The second change: a respelling of a changed part, else a typo.
    let mut respelled = false;
    if rng.chance(0.5) {
        if let Some(i) = at {
            let mut t = tokens.clone();
            for j in i..(i + 2).min(t.len()) {
                if let Some(r) = respell_part(&p.nationality, &t[j]) {
                    t[j] = r;
                    respelled = true;
                    break;
                }
            }
            if respelled {
                if sur {
                    v.surnames = t.join(" ");
                } else {
                    v.given_names = t.join(" ");
                }
            }
        }
    }
    if !respelled {
        let mut q = p.clone();
        q.given_names = v.given_names.clone();
        q.surnames = v.surnames.clone();
        let t = typo(rng, &q)?;
        v.given_names = t.given_names;
        v.surnames = t.surnames;
    }
    Some(v)
}
