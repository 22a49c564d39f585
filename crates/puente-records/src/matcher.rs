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
    blocking_keys, is_particle, normalize, pinyin_form, pinyin_keys, query_keys, skeleton,
    NormalizedName,
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

mod rank;
mod tokens;
use rank::{exact_dates_first, names_decide};
use tokens::*;

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
    // take the JEAN that JANBATIS needs) and token for token only (MALEN BAIS / MARLENE
    // BAPTISTE: the two written together resemble MARLENE a little better than MALEN
    // alone, and would leave BAIS nothing), and the best of the three pairings counts.
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
        let singles: Vec<Pairing> = pairs
            .iter()
            .filter(|p| p.q.1 + p.r.1 == 2)
            .copied()
            .collect();
        let value = |q_t: f64, r_t: f64| 0.65 * q_t / q.len() as f64 + 0.35 * r_t / r.len() as f64;
        for order in [spans_first, singles] {
            let (qt, rt, c) = assign(&order, q.len(), r.len());
            if value(qt, rt) > value(q_total, r_total) + 1e-12 {
                (q_total, r_total, chosen) = (qt, rt, c);
            }
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
/// Date score of two dates of the same year when one of them gives nothing more.
const YEAR_AGREES: f64 = 0.85;
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
        _ => (YEAR_AGREES, "birth year agrees"),
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

/// The words of the refusal of a name of initials only (callers that search on a
/// traveller's behalf read it as "no name to search by").
pub const ONLY_INITIALS: &str = "not only initials";

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
    // On the name as the matcher reads it: digits and symbols fold to spaces and
    // particles drop out ("M0", "DE M" are M), other scripts are romanized (李 is LI).
    if q.raw.iter().all(|t| t.chars().count() < 2) {
        return Err(RecordsError::BadQuery(format!(
            "a name query needs at least one whole name, {ONLY_INITIALS} (initials and a birth year would match anyone who has them)"
        )));
    }
    let (mut singles, mut pairs) = blocking_keys(&q);
    let (more_singles, more_pairs, splits) = query_keys(&q);
    singles.extend(more_singles);
    pairs.extend(more_pairs);
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
        // (typically a typo in one of two tokens), or when the name has one token; a
        // compound written by its sound cut in two ([`query_keys`]) last.
        let mut strong = false;
        for (phase, keys) in [&pairs, &singles, &splits].into_iter().enumerate() {
            if phase > 0 && strong && !pairs.is_empty() {
                break;
            }
            if keys.is_empty() {
                continue;
            }
            let use_singles = phase == 1;
            stats.singles |= use_singles;
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
    names_decide(query, &q, &mut ranked);
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
