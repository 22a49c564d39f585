//! Spelling and romanization knowledge as data: which written forms are the same name.
//!
//! The tables live in `data/spelling/*.txt`, one file per naming tradition, so that a
//! linguist can review and extend them without reading Rust; each file says what it
//! covers and which romanization tables its forms follow. They are embedded with
//! `include_str!` and parsed once, on first use.
//!
//! A line is `CANONICAL = VARIANT, VARIANT, ...` (upper-case A-Z and single spaces; a
//! form may have several words). [`canonicals`] and [`phrase_at`] answer from every
//! table but the Chinese syllable table, which only [`pinyin`] reads, to split glued
//! romanized Chinese given names into pinyin syllables. [`is_particle`] reads
//! `particles.txt`. A malformed line is skipped at run time (with a warning) and fails
//! the unit tests, which name the file and line.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::LazyLock;

/// Longest token [`pinyin`] segments: a bound on the work for arbitrary input.
const MAX_PINYIN_TOKEN: usize = 24;

/// Tables of families (`CANONICAL = VARIANTS`) that [`canonicals`] and [`phrase_at`]
/// read, by file name.
const FAMILY_FILES: &[(&str, &str)] = &[
    (
        "arabic_south_asian.txt",
        include_str!("../data/spelling/arabic_south_asian.txt"),
    ),
    (
        "chinese_surnames.txt",
        include_str!("../data/spelling/chinese_surnames.txt"),
    ),
    (
        "ethiopic.txt",
        include_str!("../data/spelling/ethiopic.txt"),
    ),
    (
        "haitian_creole.txt",
        include_str!("../data/spelling/haitian_creole.txt"),
    ),
    ("iberian.txt", include_str!("../data/spelling/iberian.txt")),
    (
        "abbreviations.txt",
        include_str!("../data/spelling/abbreviations.txt"),
    ),
];

/// The Chinese syllable table: pinyin syllable = Wade-Giles, Yale, other romanizations.
const CHINESE: (&str, &str) = ("chinese.txt", include_str!("../data/spelling/chinese.txt"));

/// One particle per line.
const PARTICLES: (&str, &str) = (
    "particles.txt",
    include_str!("../data/spelling/particles.txt"),
);

/// A malformed line of a data file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LineError {
    file: &'static str,
    /// 1-based.
    line: usize,
    message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "data/spelling/{}:{}: {}",
            self.file, self.line, self.message
        )
    }
}

/// One line of a family table: the canonical form first, then its variants.
type Family = Vec<&'static str>;

/// Whether `form` is one or more words of A-Z separated by single spaces.
fn valid_form(form: &str) -> bool {
    !form.is_empty()
        && form
            .split(' ')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase()))
}

/// The content lines of a data file: 1-based number and text, comments and blanks left
/// out.
fn content_lines(text: &'static str) -> impl Iterator<Item = (usize, &'static str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Parses one `CANONICAL = VARIANT, ...` line.
fn parse_family(line: &'static str) -> Result<Vec<&'static str>, String> {
    let (left, right) = line
        .split_once('=')
        .ok_or_else(|| "expected `CANONICAL = VARIANT, ...`".to_string())?;
    if right.contains('=') {
        return Err("more than one `=`".to_string());
    }
    let canonical = left.trim();
    if !valid_form(canonical) {
        return Err(format!("canonical form {canonical:?} is not A-Z words"));
    }
    let mut forms = vec![canonical];
    let right = right.trim();
    if right.is_empty() {
        return Ok(forms);
    }
    for variant in right.split(',').map(str::trim) {
        if !valid_form(variant) {
            return Err(format!("variant {variant:?} is not A-Z words"));
        }
        if forms.contains(&variant) {
            return Err(format!("{variant} is listed twice"));
        }
        forms.push(variant);
    }
    Ok(forms)
}

/// Parses a family table; malformed lines become errors, the rest families.
fn parse_families(file: &'static str, text: &'static str) -> (Vec<Family>, Vec<LineError>) {
    let mut families = Vec::new();
    let mut errors = Vec::new();
    for (line, content) in content_lines(text) {
        match parse_family(content) {
            Ok(forms) => families.push(forms),
            Err(message) => errors.push(LineError {
                file,
                line,
                message,
            }),
        }
    }
    (families, errors)
}

/// Parses the particle list: one A-Z word per line.
fn parse_particles(file: &'static str, text: &'static str) -> (Vec<&'static str>, Vec<LineError>) {
    let mut particles = Vec::new();
    let mut errors = Vec::new();
    for (line, content) in content_lines(text) {
        if valid_form(content) && !content.contains(' ') {
            particles.push(content);
        } else {
            errors.push(LineError {
                file,
                line,
                message: format!("particle {content:?} is not one A-Z word"),
            });
        }
    }
    (particles, errors)
}

/// Every table, parsed and indexed.
struct Tables {
    particles: BTreeSet<&'static str>,
    /// Single-word form -> canonical forms, sorted and deduplicated.
    tokens: HashMap<&'static str, Vec<String>>,
    /// Multi-word form (words joined by one space) -> canonical forms.
    phrases: HashMap<&'static str, Vec<String>>,
    /// Canonical form -> its single-word forms (itself included when one word).
    variants: HashMap<String, Vec<&'static str>>,
    /// Most words in a multi-word form.
    longest_phrase: usize,
    /// Romanized syllable -> pinyin syllables, the syllable itself first when it is
    /// pinyin, then in the order of the table's lines.
    syllables: HashMap<&'static str, Vec<&'static str>>,
    longest_syllable: usize,
}

impl Tables {
    fn load() -> Tables {
        let mut errors = Vec::new();
        let mut families = Vec::new();
        for (file, text) in FAMILY_FILES {
            let (f, e) = parse_families(file, text);
            families.extend(f);
            errors.extend(e);
        }
        let (syllable_lines, e) = parse_families(CHINESE.0, CHINESE.1);
        errors.extend(e);
        let (particles, e) = parse_particles(PARTICLES.0, PARTICLES.1);
        errors.extend(e);
        for error in &errors {
            tracing::warn!(%error, "spelling table line skipped");
        }

        let mut tokens: HashMap<&'static str, Vec<String>> = HashMap::new();
        let mut phrases: HashMap<&'static str, Vec<String>> = HashMap::new();
        let mut variants: HashMap<String, Vec<&'static str>> = HashMap::new();
        let mut longest_phrase = 0;
        for family in &families {
            for &form in family {
                let words = form.split(' ').count();
                let index = if words > 1 {
                    longest_phrase = longest_phrase.max(words);
                    &mut phrases
                } else {
                    &mut tokens
                };
                index.entry(form).or_default().push(family[0].to_string());
                if words == 1 {
                    let forms = variants.entry(family[0].to_string()).or_default();
                    if !forms.contains(&form) {
                        forms.push(form);
                    }
                }
            }
        }
        for list in tokens.values_mut().chain(phrases.values_mut()) {
            list.sort();
            list.dedup();
        }

        let mut syllables: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for line in &syllable_lines {
            syllables.entry(line[0]).or_default().push(line[0]);
        }
        for line in &syllable_lines {
            for &variant in &line[1..] {
                let targets = syllables.entry(variant).or_default();
                if !targets.contains(&line[0]) {
                    targets.push(line[0]);
                }
            }
        }
        let longest_syllable = syllables.keys().map(|s| s.len()).max().unwrap_or(0);

        Tables {
            particles: particles.into_iter().collect(),
            tokens,
            phrases,
            variants,
            longest_phrase,
            syllables,
            longest_syllable,
        }
    }
}

static TABLES: LazyLock<Tables> = LazyLock::new(Tables::load);

/// Whether `token` (folded, A-Z) is a particle: a word such as DE, VAN or AL that says
/// little about who a person is, so the matcher does not score it on its own.
pub fn is_particle(token: &str) -> bool {
    TABLES.particles.contains(token)
}

/// The canonical forms a folded token (A-Z, one word) can stand for, from every table
/// but the Chinese syllable table: "MD" -> ["MUHAMMAD"], "LWI" -> ["LOUIS"],
/// "JANBATIS" -> ["JEAN BAPTISTE"]; a canonical form stands for itself. A multi-word
/// canonical form is returned with single spaces. A token in two families (NG is WU in
/// Cantonese and HUANG in Hokkien) returns both, sorted and deduplicated; a token in no
/// family returns an empty slice. Two tokens are spelling variants of one name when
/// their canonical forms intersect.
pub fn canonicals(token: &str) -> &'static [String] {
    TABLES.tokens.get(token).map_or(&[], Vec::as_slice)
}

/// The single-word forms of a canonical form's family (PAUL -> PAUL, POL), empty when it
/// heads none.
pub fn variants(canonical: &str) -> &'static [&'static str] {
    TABLES.variants.get(canonical).map_or(&[], Vec::as_slice)
}

/// The longest phrase of two or more `tokens` starting at `at` that is a multi-word
/// form (canonical or variant) of some family, as (tokens consumed, canonical forms):
/// ["JAN", "BATIS", "PAUL"] at 0 -> Some((2, ["JEAN BAPTISTE"])), ["HABIB", "ULLAH"]
/// at 0 -> Some((2, ["HABIBULLAH"])). None when no phrase starts there; single tokens
/// are [`canonicals`]' business. Tokens are folded (A-Z), particles included: the
/// phrase tables contain forms such as ABD AL RAHMAN and ST LOUIS.
pub fn phrase_at(tokens: &[&str], at: usize) -> Option<(usize, &'static [String])> {
    let tables = &*TABLES;
    let available = tokens.len().checked_sub(at)?;
    let mut phrase = String::new();
    for len in (2..=available.min(tables.longest_phrase)).rev() {
        phrase.clear();
        for (i, token) in tokens[at..at + len].iter().enumerate() {
            if i > 0 {
                phrase.push(' ');
            }
            phrase.push_str(token);
        }
        if let Some(canonicals) = tables.phrases.get(phrase.as_str()) {
            return Some((len, canonicals.as_slice()));
        }
    }
    None
}

/// A token that splits wholly into romanized Chinese syllables (pinyin, Wade-Giles,
/// Yale, or the Cantonese/Hokkien forms of `chinese.txt`), as pinyin syllables:
/// "HSIULAN" -> ["XIU", "LAN"], "HSIEH" -> ["XIE"], "CHOW" -> ["ZHOU"]. None when it does
/// not split wholly (MOHAMMED), is empty, is not A-Z, or is longer than 24 letters.
///
/// The split has the fewest syllables; among those, the longest first syllable, then the
/// longest next (XIAN, not XI AN). The one-letter syllables A, E and O count only as a
/// whole token (ANA -> None). A form that stands for several pinyin syllables (CHI
/// is JI or QI in Wade-Giles) gives the first: itself when it is pinyin (CHI), else the
/// first line of the table that lists it.
pub fn pinyin(token: &str) -> Option<Vec<&'static str>> {
    let tables = &*TABLES;
    let mut out = Vec::new();
    let mut i = 0;
    for len in split_lengths(token)? {
        out.push(*tables.syllables.get(&token[i..i + len])?.first()?);
        i += len;
    }
    Some(out)
}

/// The lengths of the syllables [`pinyin`] splits `token` into.
fn split_lengths(token: &str) -> Option<Vec<usize>> {
    let tables = &*TABLES;
    let bytes = token.as_bytes();
    let n = bytes.len();
    if n == 0 || n > MAX_PINYIN_TOKEN || !bytes.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    // best[i]: fewest syllables that cover token[i..], and the length of the first one.
    let mut best: Vec<Option<(usize, usize)>> = vec![None; n + 1];
    best[n] = Some((0, 0));
    for i in (0..n).rev() {
        let longest = tables.longest_syllable.min(n - i);
        // One-letter syllables (A, E, O) only as the whole token: inside a word they
        // would split most names (ANA -> AN A), and pinyin would write them after an
        // apostrophe, which documents drop.
        let shortest = if n == 1 { 1 } else { 2 };
        for len in (shortest..=longest).rev() {
            let Some((rest, _)) = best[i + len] else {
                continue;
            };
            if !tables.syllables.contains_key(&token[i..i + len]) {
                continue;
            }
            // Longer candidates come first, so only a strictly better count replaces.
            if best[i].is_none_or(|(count, _)| rest + 1 < count) {
                best[i] = Some((rest + 1, len));
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let (_, len) = best[i]?;
        out.push(len);
        i += len;
    }
    Some(out)
}

/// Like [`pinyin`], but every reading of each syllable: the split of `token` into
/// romanized syllables as written, each with the pinyin syllables it can stand for (the
/// syllable itself first when it is pinyin). TSE is ZE in Wade-Giles and XIE in
/// Cantonese; CHUN is ZHUN, CHUN or JUN.
pub fn pinyin_readings(token: &str) -> Option<Vec<(&str, &'static [&'static str])>> {
    let tables = &*TABLES;
    let mut out = Vec::new();
    let mut i = 0;
    for len in split_lengths(token)? {
        let written = &token[i..i + len];
        out.push((written, tables.syllables.get(written)?.as_slice()));
        i += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
