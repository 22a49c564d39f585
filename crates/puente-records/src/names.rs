//! Name normalization for matching: the ways the same migrant's name is written by two
//! countries' officers (transliteration, accents, ICAO transliteration, particles, token
//! order, hyphens) are folded into comparable tokens, and each token gets a phonetic
//! *skeleton* used as a blocking key so a name query reads a handful of index blocks
//! instead of scanning the store.

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;

use crate::spelling;

/// Whether a folded token is a particle (DE, DEL, AL, BIN …), not distinctive alone.
pub fn is_particle(token: &str) -> bool {
    spelling::is_particle(token)
}

/// A name folded for comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NormalizedName {
    /// Distinctive tokens, canonical spelling, particles removed, in order.
    pub tokens: Vec<String>,
    /// The same tokens as written (folded, before canonical spelling).
    pub raw: Vec<String>,
    /// The tokens' phonetic skeletons, same order.
    pub skeletons: Vec<String>,
    /// Every folded token, particles included, written together (DELACRUZ and DE LA CRUZ
    /// alike).
    #[serde(default)]
    pub compact: String,
    /// The tokens' sound keys ([`crate::phonetic::sound`]), same order; empty in names
    /// folded before they were kept (computed when needed).
    #[serde(default)]
    pub sounds: Vec<String>,
    /// Each token in pinyin when it is romanized Chinese in another system (HSIEH → XIE,
    /// HSIULAN → XIULAN), else empty; same order. Empty list in names folded before it
    /// was kept (computed when needed).
    #[serde(default)]
    pub pinyin: Vec<String>,
}

/// Upper-case ASCII with ICAO 9303 transliteration of Latin diacritics (Ü→UE, Ñ→N …)
/// and a best-effort romanization of other scripts; everything but letters becomes a
/// space.
pub fn fold(text: &str) -> String {
    let mut pre = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            'Ä' | 'ä' => pre.push_str("AE"),
            'Ö' | 'ö' | 'Ø' | 'ø' => pre.push_str("OE"),
            'Ü' | 'ü' => pre.push_str("UE"),
            'Å' | 'å' => pre.push_str("AA"),
            'Æ' | 'æ' => pre.push_str("AE"),
            'ß' => pre.push_str("SS"),
            'Þ' | 'þ' => pre.push_str("TH"),
            '\'' | '’' | '`' | '´' => {}
            c => pre.push(c),
        }
    }
    // Only letters are a name: symbols and pictographs would otherwise be romanized into
    // words (an emoji into GRINNING) that count as name tokens.
    let stripped: String = pre
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| if c.is_alphabetic() { c } else { ' ' })
        .collect();
    let ascii = deunicode::deunicode(&stripped);
    ascii
        .chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                c.to_ascii_uppercase()
            } else {
                ' '
            }
        })
        .collect()
}

/// The canonical spelling of a token within its transliteration family
/// ([`spelling::canonicals`]): the first canonical form that is one word, else the token.
pub fn canonical(token: &str) -> &str {
    spelling::canonicals(token)
        .iter()
        .find(|c| !c.contains(' '))
        .map_or(token, String::as_str)
}

/// A phonetic skeleton: first letter, then consonants with common equivalences, vowels and
/// H dropped, runs collapsed. MUHAMMAD, MOHAMED → MHMD; HOSSAIN, HUSSEIN → HSN.
pub fn skeleton(token: &str) -> String {
    let t = token
        .replace("PH", "F")
        .replace("CK", "K")
        .replace("KH", "K")
        .replace("GH", "G")
        .replace("TH", "T")
        .replace("DH", "D")
        .replace("SCH", "S")
        .replace("SH", "S")
        .replace("CH", "C")
        .replace("DJ", "J")
        .replace("DZ", "J")
        .replace("OU", "U");
    let mut out = String::with_capacity(t.len());
    let mut last: Option<char> = None;
    for (i, c) in t.chars().enumerate() {
        let mapped = match c {
            'Q' | 'C' => 'K',
            'Z' => 'S',
            'V' | 'W' => 'V',
            'Y' => 'I',
            'J' => 'J',
            c => c,
        };
        let vowel = matches!(mapped, 'A' | 'E' | 'I' | 'O' | 'U' | 'H');
        if i == 0 {
            let first = if vowel { 'A' } else { mapped };
            out.push(first);
            last = Some(first);
            continue;
        }
        if vowel {
            last = None;
            continue;
        }
        if last != Some(mapped) {
            out.push(mapped);
        }
        last = Some(mapped);
    }
    out
}

/// Most tokens of a name that are kept: no person's name has more, and the work of a
/// query grows with their square.
pub const MAX_TOKENS: usize = 12;
/// Most tokens whose compounds get blocking keys.
const MAX_KEYED_TOKENS: usize = 8;
/// Longest token kept, in letters (longer ones are cut).
pub const MAX_TOKEN_LEN: usize = 40;

/// Folds a full name (one or more fields) into distinctive tokens and skeletons: at most
/// [`MAX_TOKENS`] of them, each at most [`MAX_TOKEN_LEN`] letters.
pub fn normalize(parts: &[&str]) -> NormalizedName {
    let mut n = NormalizedName::default();
    let mut written: Vec<String> = Vec::new();
    'parts: for part in parts {
        for raw in fold(part).split_whitespace() {
            if written.len() >= MAX_TOKENS || n.compact.len() >= MAX_TOKENS * MAX_TOKEN_LEN {
                break 'parts;
            }
            let raw = &raw[..raw.len().min(MAX_TOKEN_LEN)];
            n.compact.push_str(raw);
            written.push(raw.to_string());
        }
    }
    // Names of several words that the spelling tables know as one (HABIB ULLAH,
    // GEBRE MEDHIN, ABD AL RAHMAN) or in another spelling (JAN BATIS): their canonical
    // form, one token per canonical word.
    let words: Vec<&str> = written.iter().map(String::as_str).collect();
    let mut at = 0;
    while at < words.len() {
        if let Some((len, canons)) = spelling::phrase_at(&words, at) {
            let single = canons.iter().find(|c| !c.contains(' '));
            let same_count = canons.iter().find(|c| c.split(' ').count() == len);
            if let Some(one) = single {
                push(&mut n, one, &words[at..at + len].concat());
                at += len;
                continue;
            }
            if let Some(many) = same_count {
                for (canon, raw) in many.split(' ').zip(&words[at..at + len]) {
                    push(&mut n, canon, raw);
                }
                at += len;
                continue;
            }
        }
        let raw = words[at];
        at += 1;
        // A particle leads into the name after it (DE LA CRUZ, BIN LADEN): first or last,
        // the word is a name (BIN CUI, JIEFEI DU, LI DA).
        if spelling::is_particle(raw) && at > 1 && at < words.len() {
            continue;
        }
        push(&mut n, canonical(raw), raw);
    }
    n
}

/// Adds one token, in canonical and written form, with its derived forms.
fn push(n: &mut NormalizedName, canon: &str, raw: &str) {
    n.skeletons.push(skeleton(canon));
    n.sounds.push(crate::phonetic::sound(canon));
    n.pinyin.push(pinyin_form(raw));
    n.tokens.push(canon.to_string());
    n.raw.push(raw.to_string());
}

/// Most readings a romanized token keeps (a written syllable may stand for several pinyin
/// syllables; their combinations are bounded).
const MAX_READINGS: usize = 6;

/// A token's romanization keys, when it is romanized Chinese: each reading of its
/// syllables in pinyin (TSE is ZE or XIE; CHUN is ZHUN, CHUN or JUN), with the aspirated
/// and unaspirated initials made one (Q/J, CH/ZH, C/Z, P/B, T/D, K/G) as documents drop
/// Wade-Giles' apostrophes, joined by `/`. `=` first when the token is written in pinyin
/// already; empty when it is not romanized Chinese.
pub fn pinyin_form(raw: &str) -> String {
    let Some(syllables) = spelling::pinyin_readings(raw) else {
        return String::new();
    };
    let mut keys: Vec<String> = vec![String::new()];
    let mut all_pinyin = true;
    for (written, readings) in &syllables {
        all_pinyin &= readings.first() == Some(written);
        let mut next = Vec::new();
        for key in &keys {
            for r in readings.iter() {
                let k = format!("{key}{}", loose(r));
                if !next.contains(&k) && next.len() < MAX_READINGS {
                    next.push(k);
                }
            }
        }
        keys = next;
    }
    let mut form = if all_pinyin {
        "=".to_string()
    } else {
        String::new()
    };
    form.push_str(&keys.join("/"));
    form
}

/// A pinyin syllable with aspirated and unaspirated initials made one.
fn loose(s: &str) -> String {
    let (initial, rest) = match s.as_bytes() {
        [b'Z', b'H', ..] | [b'C', b'H', ..] => ("ZH", &s[2..]),
        [b'S', b'H', ..] => ("SH", &s[2..]),
        [b'Q' | b'J', ..] => ("J", &s[1..]),
        [b'C' | b'Z', ..] => ("Z", &s[1..]),
        [b'P' | b'B', ..] => ("B", &s[1..]),
        [b'T' | b'D', ..] => ("D", &s[1..]),
        [b'K' | b'G', ..] => ("G", &s[1..]),
        _ => ("", s),
    };
    format!("{initial}{rest}")
}

/// The romanization keys of a [`pinyin_form`].
pub fn pinyin_keys(form: &str) -> impl Iterator<Item = &str> {
    form.strip_prefix('=')
        .unwrap_or(form)
        .split('/')
        .filter(|k| !k.is_empty())
}

/// Adds the pair key of two skeletons (in sorted order, as the pairs of single keys
/// are), unless either is empty or they are the same.
fn insert_pair(pairs: &mut BTreeSet<String>, x: &str, y: &str) {
    if x.is_empty() || y.is_empty() || x == y {
        return;
    }
    let (a, b) = if x < y { (x, y) } else { (y, x) };
    pairs.insert(format!("{a}+{b}"));
}

/// Blocking keys of a name: each token's skeleton, and each unordered pair of skeletons.
/// Pairs are selective even for very common names; singles rescue names where one token
/// carries a typo.
pub fn blocking_keys(n: &NormalizedName) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut singles: BTreeSet<String> = n
        .skeletons
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    let list: Vec<&String> = singles.iter().collect();
    let mut pairs = BTreeSet::new();
    for (i, a) in list.iter().enumerate() {
        for b in &list[i + 1..] {
            pairs.insert(format!("{a}+{b}"));
        }
    }
    // Joined particles or split compounds (DELACRUZ / DE LA CRUZ, JEANBAPTISTE / JEAN
    // BAPTISTE): the skeleton of all tokens glued together is also a single key.
    if n.tokens.len() > 1 {
        let glued: String = n.tokens.concat();
        let s = skeleton(&glued);
        if !s.is_empty() {
            pairs.insert(format!("={s}"));
        }
    }
    if !n.compact.is_empty() {
        pairs.insert(format!("=={}", skeleton(&n.compact)));
    }
    // Compounds written together in one record and apart in another (GUI YING / GUIYING,
    // HABIB ULLAH / HABIBULLAH) next to another change: two adjacent tokens glued, paired
    // with each other token. A name written apart has the keys of the one written
    // together, so either side finds the other whatever else differs.
    for i in 1..n.tokens.len().min(MAX_KEYED_TOKENS) {
        let glued = skeleton(&format!("{}{}", n.tokens[i - 1], n.tokens[i]));
        // Alone too: the other tokens may all be changed (JIE ZHI JIWNG / JIEZHI JIANG).
        if !glued.is_empty() {
            singles.insert(glued.clone());
        }
        for (k, other) in n.skeletons.iter().enumerate() {
            if k + 1 == i || k == i {
                continue;
            }
            insert_pair(&mut pairs, &glued, other);
        }
    }
    // Spellings of one name in two orthographies (JEAN / JAN, LOUIS / LWI) and in two
    // romanizations (HSIEH / XIE): the skeletons of each token's sound key and pinyin
    // form are keys too, alone and paired with the other tokens' forms.
    let sounds: Vec<String> = if n.sounds.len() == n.tokens.len() {
        n.sounds.clone()
    } else {
        n.tokens.iter().map(|t| crate::phonetic::sound(t)).collect()
    };
    let pinyins: Vec<String> = if n.pinyin.len() == n.tokens.len() {
        n.pinyin.clone()
    } else {
        n.raw.iter().map(|t| pinyin_form(t)).collect()
    };
    let alts: Vec<Vec<String>> = n
        .skeletons
        .iter()
        .zip(sounds.iter().zip(&pinyins))
        .take(MAX_KEYED_TOKENS)
        .map(|(plain, (sound, py))| {
            let mut v = vec![plain.clone()];
            let readings = pinyin_keys(py).map(skeleton);
            for other in std::iter::once(skeleton(sound)).chain(readings) {
                if !other.is_empty() && !v.contains(&other) {
                    v.push(other);
                }
            }
            v
        })
        .collect();
    for (i, alt) in alts.iter().enumerate() {
        for s in alt.iter().skip(1) {
            singles.insert(s.clone());
            for (k, others) in alts.iter().enumerate() {
                if k == i {
                    continue;
                }
                for other in others {
                    insert_pair(&mut pairs, s, other);
                }
            }
        }
    }
    // Two adjacent tokens written in pinyin together (HSIU LAN / XIULAN).
    for i in 1..n.raw.len().min(MAX_KEYED_TOKENS) {
        let py = pinyin_form(&format!("{}{}", n.raw[i - 1], n.raw[i]));
        if py.is_empty() {
            continue;
        }
        for glued in pinyin_keys(&py).map(skeleton) {
            for (k, others) in alts.iter().enumerate() {
                if k + 1 == i || k == i {
                    continue;
                }
                for other in others {
                    insert_pair(&mut pairs, &glued, other);
                }
            }
        }
    }
    (singles, pairs)
}

/// Most other canonical forms of one token a query reads keys for.
const MAX_OTHER_CANONICALS: usize = 3;
/// Most split keys a query reads.
const MAX_SPLIT_KEYS: usize = 24;

/// Keys only a query reads, beyond [`blocking_keys`] (the index holds nothing new, so
/// a store needs no re-indexing): `(singles, pairs, splits)`.
///
/// - A token of several families has a key for each family's canonical form, not only
///   the first one's (MAK is MAI in Cantonese and MARC in Creole; a record of MARC is
///   keyed by MARC): singles, and pairs with the other tokens' skeletons.
/// - A long token may be two names written together by their sound (JANBATIS for JEAN
///   BAPTISTE, JANLWI for JEAN LOUIS) while the record holds them apart, keyed by each
///   part's sound: the pair keys of its sound key cut in two (JAN + BATI), `splits`,
///   worth reading only when nothing better was found (they are many).
pub fn query_keys(n: &NormalizedName) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let (mut singles, mut pairs, mut splits) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let sounds: Vec<String> = if n.sounds.len() == n.tokens.len() {
        n.sounds.clone()
    } else {
        n.tokens.iter().map(|t| crate::phonetic::sound(t)).collect()
    };
    let forms: Vec<[String; 2]> = n
        .skeletons
        .iter()
        .zip(&sounds)
        .take(MAX_KEYED_TOKENS)
        .map(|(plain, sound)| [plain.clone(), skeleton(sound)])
        .collect();
    for (i, raw) in n.raw.iter().enumerate().take(MAX_KEYED_TOKENS) {
        let others = spelling::canonicals(raw)
            .iter()
            .filter(|c| !c.contains(' ') && **c != n.tokens[i])
            .take(MAX_OTHER_CANONICALS);
        for c in others {
            for key in [skeleton(c), skeleton(&crate::phonetic::sound(c))] {
                if key.is_empty() {
                    continue;
                }
                for (k, other) in forms.iter().enumerate() {
                    if k != i {
                        other.iter().for_each(|o| insert_pair(&mut pairs, &key, o));
                    }
                }
                singles.insert(key);
            }
        }
    }
    'tokens: for sound in sounds.iter().take(MAX_KEYED_TOKENS) {
        if sound.len() < 5 || !sound.is_ascii() {
            continue;
        }
        for cut in 2..=sound.len() - 2 {
            if splits.len() >= MAX_SPLIT_KEYS {
                break 'tokens;
            }
            insert_pair(
                &mut splits,
                &skeleton(&sound[..cut]),
                &skeleton(&sound[cut..]),
            );
        }
    }
    (singles, pairs, splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transliterations_share_a_skeleton() {
        for (a, b) in [
            ("MUHAMMAD", "MOHAMED"),
            ("HOSSAIN", "HUSSEIN"),
            ("TESFAY", "TESFAYE"),
            ("CHOWDHURY", "CHAUDHARY"),
            ("KHAN", "KAN"),
        ] {
            assert_eq!(skeleton(canonical(a)), skeleton(canonical(b)), "{a} {b}");
        }
        assert_eq!(canonical("MD"), "MUHAMMAD");
    }

    #[test]
    fn folding_handles_accents_icao_and_scripts() {
        assert_eq!(fold("José María Núñez"), "JOSE MARIA NUNEZ");
        assert_eq!(fold("Müller"), "MUELLER");
        assert_eq!(fold("O'Brien-Smith"), "OBRIEN SMITH");
        assert_eq!(fold("Ñandú"), "NANDU");
        assert!(!fold("Мухаммад").trim().is_empty());
    }

    #[test]
    fn particles_are_dropped() {
        let n = normalize(&["María", "de la Cruz"]);
        assert_eq!(n.tokens, vec!["MARIA", "CRUZ"]);
        let n = normalize(&["Hassan", "Al-Bashir"]);
        assert_eq!(n.tokens, vec!["HASSAN", "BASHIR"]);
    }
}
