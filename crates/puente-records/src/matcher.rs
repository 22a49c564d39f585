//! Ranking candidates for an identity query by name and date of birth: token-bag name
//! similarity that tolerates transliteration, typos, order, swapped fields, dropped
//! second surnames and abbreviated middle names, combined with how well the (possibly
//! partial) dates of birth agree, nationality and sex. Every match carries its score and
//! an explanation of what matched.

use std::fmt::Write as _;

use strsim::{jaro_winkler, osa_distance};

use crate::blocks::{self, BlockStats, Months};
use crate::error::RecordsError;
use crate::model::{PartialDate, PersonRecord, Sex};
use crate::names::{
    blocking_keys, is_particle, normalize, pinyin_form, pinyin_keys, skeleton, NormalizedName,
};
use crate::phonetic::sound;
use crate::spelling;
use crate::store::{MatchKey, RecordStore, Stored, CANDIDATE_CAP};

/// Score at or above which a candidate is a match, by default. 0.85, not 0.80: at a
/// million persons it keeps recall at 0.98 while precision rises above 0.90 (a wrong
/// person returned discloses someone else's data; `puente bench identity` prints the
/// recall/precision table by threshold).
pub const DEFAULT_THRESHOLD: f64 = 0.85;

/// A candidate this good from the pair index makes reading single-token blocks pointless.
const STRONG: f64 = 0.9;

/// Longest name field a query may give, in characters (a name is not a document).
pub const MAX_NAME_CHARS: usize = 256;

/// Candidates scoring more than this below the best one are not returned.
pub const RELATIVE_CUTOFF: f64 = 0.05;

/// A query by name and date of birth.
#[derive(Clone, Debug)]
pub struct NameQuery {
    /// Given names (may be empty when only `full_name` is known).
    pub given_names: String,
    /// Surnames (may be empty when only `full_name` is known).
    pub surnames: String,
    /// The whole name when the split into given names and surnames is unknown.
    pub full_name: Option<String>,
    /// Date of birth: at least the year.
    pub date_of_birth: PartialDate,
    /// Nationality, when known.
    pub nationality: Option<String>,
    /// Sex, when known.
    pub sex: Option<Sex>,
}

/// A ranked candidate.
#[derive(Clone, Debug)]
pub struct Match {
    /// The stored record.
    pub stored: Stored,
    /// 0.0-1.0.
    pub score: f64,
    /// What matched, in words.
    pub explanation: String,
}

/// A token in its canonical and written forms, with the canonical form's skeleton and
/// sound key.
#[derive(Clone, Copy)]
struct Tok<'a> {
    canon: &'a str,
    raw: &'a str,
    skel: &'a str,
    sound: &'a str,
    /// Pinyin when romanized Chinese written otherwise, else empty.
    py: &'a str,
}

/// How alike two romanization keys ([`pinyin_form`]) say two tokens are: one Chinese
/// name written in two systems (HSIEH / XIE) scores [`ROMANIZED`]; two tokens that are
/// both valid pinyin and differ only in aspiration (PO / BO, CHANG / ZHANG: Wade-Giles
/// without its apostrophes writes both alike) score less, as they may be two names.
fn romanized(a: &str, b: &str) -> f64 {
    if a.is_empty() || b.is_empty() || !pinyin_keys(a).any(|k| pinyin_keys(b).any(|l| l == k)) {
        return 0.0;
    }
    if a.starts_with('=') && b.starts_with('=') {
        0.9
    } else {
        ROMANIZED
    }
}

/// Score of a token one slip away from a known spelling of the other.
const SPELLING_SLIP: f64 = 0.85;

/// Score of two tokens whose sound keys are one slip apart.
const SOUND_TYPO: f64 = 0.85;

/// Whether the spelling tables hold two written tokens for one name (WONG is HUANG or
/// WANG; WANG is WANG): a family in common, or one the canonical form of the other.
fn same_family(a: &str, b: &str) -> bool {
    let (fa, fb) = (spelling::canonicals(a), spelling::canonicals(b));
    fa.iter().any(|c| fb.contains(c) || c == b) || fb.iter().any(|c| c == a)
}

/// Score of two tokens that are one Chinese name in two romanizations (HSIEH / XIE).
const ROMANIZED: f64 = 0.95;

/// Score of two tokens that only sound alike (JEAN / JAN, LOUIS / LWI).
const SOUNDS_ALIKE: f64 = 0.92;

/// Whether two tokens sound alike by their keys: a key of one letter says too little,
/// and neither does a token of two letters (LUIS and LI).
fn sound_alike(a: Tok<'_>, b: Tok<'_>) -> bool {
    a.sound.len() >= 2 && a.sound == b.sound && a.raw.len() >= 3 && b.raw.len() >= 3
}

/// Similarity of two tokens given in canonical and written form.
fn pair_sim(q: Tok<'_>, r: Tok<'_>) -> (f64, &'static str) {
    let (c, how_c) = token_sim(q.canon, r.canon, Some((q.skel, r.skel)));
    if c >= 1.0 {
        return (
            c,
            if q.raw == r.raw {
                how_c
            } else {
                "spelling variant"
            },
        );
    }
    let (mut best, mut how) = (c, how_c);
    // Written as their canonical forms: comparing them again would say the same.
    if q.canon != q.raw || r.canon != r.raw {
        let (w, how_w) = token_sim(q.raw, r.raw, None);
        if w > best {
            (best, how) = (w, how_w);
        }
    }
    if best < 1.0 && same_family(q.raw, r.raw) {
        return (1.0, "spelling variant");
    }
    let rom = romanized(q.py, r.py);
    if best < rom {
        (best, how) = (rom, "another romanization");
    }
    if best < SOUNDS_ALIKE && sound_alike(q, r) {
        (best, how) = (SOUNDS_ALIKE, "sounds alike");
    }
    // A slip in another known spelling of the name (POK for POL, which is PAUL; WONY for
    // WONG, which is WANG): one letter, the first kept.
    if best < SPELLING_SLIP && q.raw.len() >= 3 {
        let slipped = |forms: &[&str], written: &str| {
            forms.iter().any(|f| {
                f.len() >= 3
                    && f.as_bytes().first() == written.as_bytes().first()
                    && osa_distance(f, written) == 1
            })
        };
        if slipped(spelling::variants(r.canon), q.raw)
            || slipped(spelling::variants(q.canon), r.raw)
        {
            (best, how) = (SPELLING_SLIP, "a slip in a known spelling");
        }
    }
    // A slip in a name written by its sound (NARI for MARI, SELETEN for CELESTIN).
    if best < SOUND_TYPO
        && q.sound.len().min(r.sound.len()) >= 4
        && q.sound.as_bytes()[0] == r.sound.as_bytes()[0]
        && osa_distance(q.sound, r.sound) == 1
    {
        (best, how) = (SOUND_TYPO, "sounds alike but for a slip");
    }
    (best, how)
}

/// Similarity of two tokens; `skeletons` are theirs when already known.
fn token_sim(a: &str, b: &str, skeletons: Option<(&str, &str)>) -> (f64, &'static str) {
    if a == b {
        return (1.0, "exact");
    }
    if a.len() == 1 || b.len() == 1 {
        let (short, long) = if a.len() == 1 { (a, b) } else { (b, a) };
        return if long.starts_with(short) {
            (0.85, "initial")
        } else {
            (0.0, "")
        };
    }
    // A skeleton of one letter (LI, LIU, LU, YU, HUAHUA) says nothing about spelling.
    let same_skeleton = match skeletons {
        Some((x, y)) => x == y && x.len() > 1,
        None => {
            let x = skeleton(a);
            x.len() > 1 && x == skeleton(b)
        }
    };
    if same_skeleton {
        return (0.95, "spelling variant");
    }
    // One typo (a letter wrong, missing, doubled or two letters swapped) in a word that
    // is long enough for that to be a slip rather than another name.
    if a.len().min(b.len()) >= 4 && osa_distance(a, b) == 1 {
        return (0.9, "typo");
    }
    // In a three-letter name, one slip after the first letter (SOW / SOH, BAH / BAHG):
    // less sure.
    if a.len().min(b.len()) == 3 && a.as_bytes()[0] == b.as_bytes()[0] && osa_distance(a, b) == 1 {
        return (0.8, "typo");
    }
    // A two-letter contraction: first and last letter (MA for MARIA, JN for JEAN, MD for
    // MUHAMMAD, ST for SAINT).
    if let ([s0, s1], [l0, .., ll]) = (
        (if a.len() < b.len() { a } else { b }).as_bytes(),
        (if a.len() < b.len() { b } else { a }).as_bytes(),
    ) {
        if s0 == l0 && s1 == ll && a.len().max(b.len()) >= 4 {
            return (0.85, "contraction");
        }
    }
    // A particle written onto the name (DELVALLE / VALLE, ALHASSAN / HASSAN).
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if short.len() >= 4 && long.ends_with(short) && is_particle(&long[..long.len() - short.len()]) {
        return (0.95, "particle written together");
    }
    // Below this, two tokens are different words: a different surname must cost as much
    // as a missing one, not count half. Short tokens (LI / LIU, MA / MAO) are different
    // names, not near spellings.
    let jw = if a.len().min(b.len()) >= 4 {
        jaro_winkler(a, b)
    } else {
        0.0
    };
    if jw >= 0.88 {
        (jw, "similar")
    } else {
        (0.0, "")
    }
}

/// The tokens of a name with their skeletons and sound keys (computed here if the name
/// lacks them).
fn toks<'a>(
    n: &'a NormalizedName,
    computed: &'a mut (Vec<String>, Vec<String>, Vec<String>),
) -> Vec<Tok<'a>> {
    if n.skeletons.len() != n.tokens.len() {
        computed.0 = n.tokens.iter().map(|t| skeleton(t)).collect();
    }
    if n.sounds.len() != n.tokens.len() {
        computed.1 = n.tokens.iter().map(|t| sound(t)).collect();
    }
    if n.pinyin.len() != n.tokens.len() {
        computed.2 = n.raw.iter().map(|t| pinyin_form(t)).collect();
    }
    let pys: &'a [String] = if n.pinyin.len() == n.tokens.len() {
        &n.pinyin
    } else {
        &computed.2
    };
    let skels: &'a [String] = if n.skeletons.len() == n.tokens.len() {
        &n.skeletons
    } else {
        &computed.0
    };
    let sounds: &'a [String] = if n.sounds.len() == n.tokens.len() {
        &n.sounds
    } else {
        &computed.1
    };
    n.tokens
        .iter()
        .zip(&n.raw)
        .zip(skels)
        .zip(sounds)
        .zip(pys)
        .map(|((((canon, raw), skel), sound), py)| Tok {
            canon,
            raw,
            skel,
            sound,
            py,
        })
        .collect()
}

/// Similarity of two adjacent tokens written together (`pair`) with one token of the
/// other name (GUI YING / GUIYING, HABIB ULLAH / HABIBULLAH), when it is a match at all.
/// Cheap refusals first: a query compares each candidate's pairs.
fn glued_sim(pair: [Tok<'_>; 2], one: Tok<'_>) -> Option<(f64, &'static str)> {
    let len = pair[0].raw.len() + pair[1].raw.len();
    // One Chinese name in two romanizations, written apart and together (HSIU LAN /
    // XIULAN): compared by romanization key.
    if !one.py.is_empty() && !pair[0].py.is_empty() && !pair[1].py.is_empty() {
        if pair[0].raw.len() + pair[1].raw.len() == one.raw.len()
            && one.raw.starts_with(pair[0].raw)
            && one.raw.ends_with(pair[1].raw)
        {
            return Some((1.0, "written together"));
        }
        // Each part's readings, one after the other (I-CHING / YIJING: I alone is YI).
        let glued = pinyin_keys(pair[0].py).any(|a| {
            pinyin_keys(pair[1].py).any(|b| {
                pinyin_keys(one.py)
                    .any(|k| k.len() == a.len() + b.len() && k.starts_with(a) && k.ends_with(b))
            })
        });
        if glued {
            let both_pinyin = one.py.starts_with('=')
                && pair[0].py.starts_with('=')
                && pair[1].py.starts_with('=');
            return Some((
                if both_pinyin { 0.9 } else { ROMANIZED },
                "another romanization",
            ));
        }
    }
    let first = |t: &str| t.as_bytes().first().copied();
    let same_start =
        first(pair[0].raw) == first(one.raw) || first(pair[0].canon) == first(one.canon);
    // Spellings differ in length by a few letters at most; sounds by a few more
    // (JEAN BAPTISTE / JANBATIS).
    let diff = len.abs_diff(one.raw.len());
    if !same_start || diff > 6 {
        return None;
    }
    let (mut s, mut how) = (0.0, "");
    if diff <= 3 {
        let canon = format!("{}{}", pair[0].canon, pair[1].canon);
        (s, how) = token_sim(&canon, one.canon, None);
        if s < 1.0
            && (pair[0].raw != pair[0].canon
                || pair[1].raw != pair[1].canon
                || one.raw != one.canon)
        {
            let raw = format!("{}{}", pair[0].raw, pair[1].raw);
            let (w, how_w) = token_sim(&raw, one.raw, None);
            if w > s {
                (s, how) = (w, how_w);
            }
        }
    }
    if s < SOUNDS_ALIKE && one.sound.len() >= 4 {
        let glued = format!("{}{}", pair[0].canon, pair[1].canon);
        let parts = format!("{}{}", pair[0].sound, pair[1].sound);
        if sound(&glued) == one.sound || parts == one.sound {
            (s, how) = (SOUNDS_ALIKE, "sounds alike");
        }
    }
    // Only a close match: two short tokens glued resemble many longer ones.
    (s >= 0.9).then_some((
        s,
        if how == "exact" {
            "written together"
        } else {
            how
        },
    ))
}

/// One pairing of a name's part with a part of the other name: a token, or two adjacent
/// tokens written together, on each side.
#[derive(Clone, Copy)]
struct Pairing {
    score: f64,
    how: &'static str,
    /// First query token and how many (1 or 2).
    q: (usize, usize),
    /// First record token and how many (1 or 2).
    r: (usize, usize),
}

/// Pairs tokens greedily in the order of `pairs`, each token at most once: the total
/// score on the query's side and on the record's, and the pairings made.
fn assign(pairs: &[Pairing], q_len: usize, r_len: usize) -> (f64, f64, Vec<Pairing>) {
    let mut q_used = vec![false; q_len];
    let mut r_used = vec![false; r_len];
    let (mut q_total, mut r_total) = (0.0, 0.0);
    let mut chosen: Vec<Pairing> = Vec::new();
    for p in pairs {
        let (qs, rs) = (p.q.0..p.q.0 + p.q.1, p.r.0..p.r.0 + p.r.1);
        if q_used[qs.clone()].iter().any(|u| *u) || r_used[rs.clone()].iter().any(|u| *u) {
            continue;
        }
        q_used[qs].iter_mut().for_each(|u| *u = true);
        r_used[rs].iter_mut().for_each(|u| *u = true);
        q_total += p.score * p.q.1 as f64;
        r_total += p.score * p.r.1 as f64;
        chosen.push(*p);
    }
    (q_total, r_total, chosen)
}

/// Name similarity of two token lists, both ways, with a per-query-token explanation
/// when `explain`. Tokens pair one to one (or two written together with one), best
/// pairs first.
fn name_score(qn: &NormalizedName, rn: &NormalizedName, explain: bool) -> (f64, String) {
    let (q, r) = (&qn.tokens, &rn.tokens);
    if q.is_empty() || r.is_empty() {
        return (0.0, String::new());
    }
    let (mut q_computed, mut r_computed) = Default::default();
    let qp = toks(qn, &mut q_computed);
    let rp = toks(rn, &mut r_computed);
    // Each token of one name pairs with at most one of the other, best pairs first: a
    // query token cannot stand for two of the record's (FERNANDA for both FERNANDEZ and
    // HERNANDEZ), nor one record token answer for two of the query's.
    let mut pairs: Vec<Pairing> = Vec::with_capacity(q.len() * r.len() + 4);
    for (i, qt) in qp.iter().enumerate() {
        for (j, rt) in rp.iter().enumerate() {
            let (score, how) = pair_sim(*qt, *rt);
            if score > 0.0 {
                pairs.push(Pairing {
                    score,
                    how,
                    q: (i, 1),
                    r: (j, 1),
                });
            }
        }
    }
    // Compounds: two adjacent tokens of one name written as one in the other.
    for i in 1..qp.len() {
        for (j, rt) in rp.iter().enumerate() {
            if let Some((score, how)) = glued_sim([qp[i - 1], qp[i]], *rt) {
                pairs.push(Pairing {
                    score,
                    how,
                    q: (i - 1, 2),
                    r: (j, 1),
                });
            }
        }
    }
    for j in 1..rp.len() {
        for (i, qt) in qp.iter().enumerate() {
            if let Some((score, how)) = glued_sim([rp[j - 1], rp[j]], *qt) {
                pairs.push(Pairing {
                    score,
                    how: if how == "written together" {
                        "written apart"
                    } else {
                        how
                    },
                    q: (i, 1),
                    r: (j - 1, 2),
                });
            }
        }
    }
    // Best first; at equal scores, token for token before compounds. When compounds
    // were found, also compounds first (JANBATIS JAN / JEAN BAPTISTE JEAN: JAN must not
    // take the JEAN that JANBATIS needs), and the better of the two pairings counts.
    pairs.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((a.q.1 + a.r.1).cmp(&(b.q.1 + b.r.1)))
            .then(a.q.0.cmp(&b.q.0))
            .then(a.r.0.cmp(&b.r.0))
    });
    let (mut q_total, mut r_total, mut chosen) = assign(&pairs, q.len(), r.len());
    if pairs.iter().any(|p| p.q.1 + p.r.1 > 2) {
        let mut spans_first = pairs.clone();
        spans_first.sort_by_key(|p| std::cmp::Reverse(p.q.1 + p.r.1));
        let (qt, rt, c) = assign(&spans_first, q.len(), r.len());
        let value = |q_t: f64, r_t: f64| 0.65 * q_t / q.len() as f64 + 0.35 * r_t / r.len() as f64;
        if value(qt, rt) > value(q_total, r_total) {
            (q_total, r_total, chosen) = (qt, rt, c);
        }
    }
    let mut words = String::new();
    if explain {
        chosen.sort_by_key(|p| p.q.0);
        let part = |t: &[Tok<'_>], (at, n): (usize, usize)| -> String {
            t[at..at + n]
                .iter()
                .map(|t| t.raw)
                .collect::<Vec<_>>()
                .join(" ")
        };
        for p in chosen {
            let (qs, rs) = (part(&qp, p.q), part(&rp, p.r));
            if p.how == "exact" {
                let _ = write!(words, "{qs} exact; ");
            } else {
                let _ = write!(words, "{qs}~{rs} ({} {:.2}); ", p.how, p.score);
            }
        }
    }
    let q2r = q_total / q.len() as f64;
    let r2q = r_total / r.len() as f64;
    // Compounds written together or apart (DELACRUZ / DE LA CRUZ).
    let glued = jaro_winkler(&q.concat(), &r.concat()).max(if qn.compact.is_empty() {
        0.0
    } else {
        jaro_winkler(&qn.compact, &rn.compact)
    });
    let score = (0.65 * q2r + 0.35 * r2q).max(if glued > 0.95 { glued * 0.95 } else { 0.0 });
    (score, words)
}

/// Weight of the name in a score; the date of birth has the rest.
const NAME_WEIGHT: f64 = 0.7;
/// Date score of two dates whose months differ.
const MONTH_DIFFERS: f64 = 0.2;
/// Date score of two dates whose day and month are swapped (1986-01-12 / 1986-12-01).
const SWAPPED: f64 = 0.8;
/// Date score of two dates a year apart whose month and day agree (a slip in the last
/// digit of the year).
const YEAR_OFF: f64 = 0.7;

/// How well two (possibly partial) dates of birth agree, and in words. Exact dates score
/// highest; what registries and officers commonly get wrong scores below them and above
/// a different date: 1 January (a placeholder for "year only") against another date of
/// the year, day and month swapped, the year off by one with month and day agreeing.
fn date_score(q: &PartialDate, r: &PartialDate) -> (f64, &'static str) {
    let year_only = |d: &PartialDate| {
        if d.is_placeholder() {
            PartialDate {
                year: d.year,
                month: None,
                day: None,
            }
        } else {
            *d
        }
    };
    // A placeholder on one side only says the year.
    let (q, r) = if q == r || (q.is_placeholder() && r.is_placeholder()) {
        (*q, *r)
    } else {
        (year_only(q), year_only(r))
    };
    match (q.year - r.year).abs() {
        0 => same_year(&q, &r),
        1 => match ((q.month, r.month), (q.day, r.day)) {
            ((Some(a), Some(b)), (Some(c), Some(d))) if a == b && c == d => {
                (YEAR_OFF, "birth year off by one, month and day agree")
            }
            _ => (0.0, "birth year differs"),
        },
        _ => (0.0, "birth year differs"),
    }
}

/// [`date_score`] of two dates of the same year.
fn same_year(q: &PartialDate, r: &PartialDate) -> (f64, &'static str) {
    match ((q.month, r.month), (q.day, r.day)) {
        ((Some(a), Some(b)), (Some(c), Some(d))) if a == d && c == b && a != c => {
            (SWAPPED, "birth day and month swapped")
        }
        ((Some(a), Some(b)), _) if a != b => (MONTH_DIFFERS, "birth month differs"),
        ((Some(_), Some(_)), (Some(a), Some(b))) if a != b => (0.3, "birth day differs"),
        ((Some(_), Some(_)), (Some(_), Some(_))) => (1.0, "birth date exact"),
        ((Some(_), Some(_)), _) => (0.9, "birth year and month agree"),
        _ => (0.85, "birth year agrees"),
    }
}

/// Normalizes a query's name once.
pub fn query_name(query: &NameQuery) -> NormalizedName {
    match &query.full_name {
        Some(full) if query.given_names.trim().is_empty() && query.surnames.trim().is_empty() => {
            normalize(&[full])
        }
        _ => normalize(&[&query.given_names, &query.surnames]),
    }
}

/// Scores one record against a query.
pub fn score(query: &NameQuery, record: &PersonRecord) -> (f64, String) {
    score_key(query, &query_name(query), &MatchKey::of(record))
}

/// Scores a record's match key against a query whose name is already normalized.
pub fn score_key(query: &NameQuery, q: &NormalizedName, r: &MatchKey) -> (f64, String) {
    scored(query, q, r, true)
}

/// The score, and its explanation when `explain` (scoring many candidates to keep a
/// few needs no words).
fn scored(query: &NameQuery, q: &NormalizedName, r: &MatchKey, explain: bool) -> (f64, String) {
    let (name, mut words) = name_score(q, &r.name, explain);
    let (dob, dob_words) = date_score(&query.date_of_birth, &r.date_of_birth);
    let mut total = NAME_WEIGHT * name + (1.0 - NAME_WEIGHT) * dob;
    let _ = write!(words, "{dob_words}");
    if let Some(n) = &query.nationality {
        if n.eq_ignore_ascii_case(&r.nationality) {
            let _ = write!(words, "; nationality agrees");
        } else {
            total *= 0.7;
            let _ = write!(words, "; nationality differs");
        }
    }
    if let Some(s) = query.sex {
        if s != Sex::X && r.sex != Sex::X && s != r.sex {
            total *= 0.7;
            let _ = write!(words, "; sex differs");
        }
    }
    (total.clamp(0.0, 1.0), words)
}

/// A strong answer born on exactly the query's full date outranks answers recorded with
/// another full date that agreed only in part (day and month swapped, the year off by
/// one, or the year alone) and whose name agrees no better: next to it they are
/// namesakes the query's date tells apart. Answers recorded with less (a year, a 01-01
/// placeholder) may be the same person and stay; so does an answer with a better name;
/// and a query whose own date is a 01-01 placeholder tells nobody apart.
fn exact_dates_first(
    query: &NameQuery,
    q: &NormalizedName,
    ranked: &mut Vec<(u64, f64, MatchKey)>,
) {
    let d = query.date_of_birth;
    if ranked.len() < 2 || d.month.is_none() || d.day.is_none() || d.is_placeholder() {
        return;
    }
    let exact = |k: &MatchKey| k.date_of_birth == d;
    // Recorded with a full date of its own, which is not the query's.
    let contradicts = |k: &MatchKey| {
        let r = k.date_of_birth;
        r.month.is_some() && r.day.is_some() && !r.is_placeholder() && r != d
    };
    let best_exact_name = ranked
        .iter()
        .filter(|(_, s, k)| *s >= STRONG && exact(k))
        .map(|(_, _, k)| name_score(q, &k.name, false).0)
        .reduce(f64::max);
    if let Some(bar) = best_exact_name {
        ranked.retain(|(_, _, k)| !contradicts(k) || name_score(q, &k.name, false).0 > bar + 1e-9);
    }
}

/// The birth months worth reading for `query`: only its own (and unrecorded ones), and
/// its day read as a month, when even a perfect name born in another month would score
/// below `threshold`; every month when the query knows no month or gives 1 January.
pub fn months_to_read(query: &NameQuery, threshold: f64) -> Months {
    let d = &query.date_of_birth;
    if d.is_placeholder() || NAME_WEIGHT + (1.0 - NAME_WEIGHT) * MONTH_DIFFERS >= threshold {
        return Months::Any;
    }
    match (d.month, d.day) {
        (Some(m), Some(day)) if day <= 12 && day != m => Months::Two(m, day),
        (Some(m), _) => Months::One(m),
        _ => Months::Any,
    }
}

/// Runs a name query: blocking-index candidates, scored, above `threshold`, best first,
/// at most `max`.
pub fn search(
    store: &RecordStore,
    query: &NameQuery,
    threshold: f64,
    max: usize,
) -> Result<Vec<Match>, RecordsError> {
    Ok(search_with_stats(
        store,
        query,
        threshold,
        max,
        None,
        &mut BlockStats::default(),
    )?
    .matches)
}

/// What a name query found for its audience.
#[derive(Clone, Debug, Default)]
pub struct Found {
    /// Matches, best first.
    pub matches: Vec<Match>,
    /// Persons shielded from the audience who would have scored at or above the
    /// threshold: set aside before anything else was decided (for the audit log only).
    pub withheld: Vec<u64>,
}

/// [`search`] as answered to `audience` (a country code): persons the protection rule
/// shields from it are set aside before any block cap, ranking, relative cut-off or
/// truncation, so the answer is exactly the one a store without them would give. Also
/// says which blocks were read and how many candidates were scored.
pub fn search_with_stats(
    store: &RecordStore,
    query: &NameQuery,
    threshold: f64,
    max: usize,
    audience: Option<&str>,
    stats: &mut BlockStats,
) -> Result<Found, RecordsError> {
    let has_split = !query.given_names.trim().is_empty() || !query.surnames.trim().is_empty();
    let full = query.full_name.as_deref().unwrap_or_default();
    if !has_split && full.trim().is_empty() {
        return Err(RecordsError::BadQuery(
            "a name query needs given names and surnames, or a full name".into(),
        ));
    }
    let longest = [&query.given_names, &query.surnames]
        .into_iter()
        .chain(&query.full_name)
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0);
    if longest > MAX_NAME_CHARS {
        return Err(RecordsError::BadQuery(format!(
            "a name of {longest} characters is not a name (at most {MAX_NAME_CHARS})"
        )));
    }
    let q = query_name(query);
    let (singles, pairs) = blocking_keys(&q);
    let d = query.date_of_birth;
    let months = months_to_read(query, threshold);
    // A year off by one scores only with month and day agreeing: worth reading the
    // neighbouring years only for a full date, and only when the query's own year found
    // nobody.
    let neighbours = d.month.is_some() && d.day.is_some();
    let mut ranked: Vec<(u64, f64, MatchKey)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut aside = Vec::new();
    for year in [d.year, d.year - 1, d.year + 1] {
        if year != d.year && (!neighbours || !ranked.is_empty()) {
            break;
        }
        // Pairs of tokens first; single tokens only when pairs found no strong candidate
        // (typically a typo in one of two tokens), or when the name has one token.
        let mut strong = false;
        for use_singles in [false, true] {
            if use_singles && strong && !pairs.is_empty() {
                break;
            }
            stats.singles |= use_singles;
            let keys = if use_singles { &singles } else { &pairs };
            let found = store.name_blocks(keys, use_singles, year, months, audience, &mut aside)?;
            for id in blocks::select(found, CANDIDATE_CAP, stats) {
                if !seen.insert(id) {
                    continue;
                }
                let Some(key) = store.match_key(id)? else {
                    continue;
                };
                let (s, _) = scored(query, &q, &key, false);
                if s >= threshold {
                    strong |= s >= STRONG;
                    ranked.push((id, s, key));
                }
            }
        }
    }
    // Only the audit log learns that a shielded person would have matched.
    aside.sort_unstable();
    aside.dedup();
    let mut withheld = Vec::new();
    for id in aside.into_iter().take(CANDIDATE_CAP) {
        if let Some(key) = store.match_key(id)? {
            if scored(query, &q, &key, false).0 >= threshold {
                withheld.push(id);
            }
        }
    }
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    // Candidates far below the best are noise next to it.
    if let Some(best) = ranked.first().map(|s| s.1) {
        ranked.retain(|s| s.1 >= best - RELATIVE_CUTOFF);
    }
    exact_dates_first(query, &q, &mut ranked);
    ranked.truncate(max);
    let mut matches = Vec::with_capacity(ranked.len());
    for (id, score, key) in ranked {
        let (_, explanation) = score_key(query, &q, &key);
        if let Some(record) = store.get(id)? {
            matches.push(Match {
                stored: Stored { id, record },
                score,
                explanation,
            });
        }
    }
    matches.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.stored.id.cmp(&b.stored.id))
    });
    matches.truncate(max);
    Ok(Found { matches, withheld })
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
