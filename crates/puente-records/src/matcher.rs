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
use crate::names::{blocking_keys, normalize, skeleton, NormalizedName};
use crate::store::{MatchKey, RecordStore, Stored, CANDIDATE_CAP};

/// Score at or above which a candidate is a match, by default. 0.85, not 0.80: at a
/// million persons it keeps recall at 0.98 while precision rises above 0.90 (a wrong
/// person returned discloses someone else's data; `puente bench identity` prints the
/// recall/precision table by threshold).
pub const DEFAULT_THRESHOLD: f64 = 0.85;

/// A candidate this good from the pair index makes reading single-token blocks pointless.
const STRONG: f64 = 0.9;

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

/// A token in its canonical and written forms, with the canonical form's skeleton.
#[derive(Clone, Copy)]
struct Tok<'a> {
    canon: &'a str,
    raw: &'a str,
    skel: &'a str,
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
    // Written as their canonical forms: comparing them again would say the same.
    if q.canon == q.raw && r.canon == r.raw {
        return (c, how_c);
    }
    let (w, how_w) = token_sim(q.raw, r.raw, None);
    if w > c {
        (w, how_w)
    } else {
        (c, how_c)
    }
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

/// The tokens of a name with their skeletons (computed here if the name lacks them).
fn toks<'a>(n: &'a NormalizedName, computed: &'a mut Vec<String>) -> Vec<Tok<'a>> {
    let skels: &'a [String] = if n.skeletons.len() == n.tokens.len() {
        &n.skeletons
    } else {
        *computed = n.tokens.iter().map(|t| skeleton(t)).collect();
        computed
    };
    n.tokens
        .iter()
        .zip(&n.raw)
        .zip(skels)
        .map(|((canon, raw), skel)| Tok { canon, raw, skel })
        .collect()
}

/// Name similarity of two token lists, both ways, with a per-query-token explanation
/// when `explain`.
fn name_score(qn: &NormalizedName, rn: &NormalizedName, explain: bool) -> (f64, String) {
    let (q, r) = (&qn.tokens, &rn.tokens);
    if q.is_empty() || r.is_empty() {
        return (0.0, String::new());
    }
    let (mut q_skels, mut r_skels) = (Vec::new(), Vec::new());
    let qp = toks(qn, &mut q_skels);
    let rp = toks(rn, &mut r_skels);
    // Each token of one name pairs with at most one of the other, best pairs first: a
    // query token cannot stand for two of the record's (FERNANDA for both FERNANDEZ and
    // HERNANDEZ), nor one record token answer for two of the query's.
    let mut pairs: Vec<(f64, &'static str, usize, usize)> = Vec::with_capacity(q.len() * r.len());
    for (i, qt) in qp.iter().enumerate() {
        for (j, rt) in rp.iter().enumerate() {
            let (s, how) = pair_sim(*qt, *rt);
            if s > 0.0 {
                pairs.push((s, how, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)).then(a.3.cmp(&b.3)));
    let mut q_match: Vec<Option<(f64, &'static str, usize)>> = vec![None; q.len()];
    let mut r_used = vec![false; r.len()];
    let mut total = 0.0;
    for (s, how, i, j) in pairs {
        if q_match[i].is_none() && !r_used[j] {
            q_match[i] = Some((s, how, j));
            r_used[j] = true;
            total += s;
        }
    }
    let mut words = String::new();
    if explain {
        for (qt, m) in q.iter().zip(&q_match) {
            match m {
                Some((_, "exact", _)) => {
                    let _ = write!(words, "{qt} exact; ");
                }
                Some((s, how, j)) => {
                    let _ = write!(words, "{qt}~{} ({how} {s:.2}); ", rp[*j].raw);
                }
                None => {}
            }
        }
    }
    let q2r = total / q.len() as f64;
    let r2q = total / r.len() as f64;
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

fn date_score(q: &PartialDate, r: &PartialDate) -> (f64, &'static str) {
    if q.year != r.year {
        return (0.0, "birth year differs");
    }
    match ((q.month, r.month), (q.day, r.day)) {
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

/// The birth months worth reading for `query`: only its own (and unrecorded ones) when
/// even a perfect name born in another month would score below `threshold`.
pub fn months_to_read(query: &NameQuery, threshold: f64) -> Months {
    match query.date_of_birth.month {
        Some(m) if NAME_WEIGHT + (1.0 - NAME_WEIGHT) * MONTH_DIFFERS < threshold => Months::One(m),
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
    let q = query_name(query);
    let (singles, pairs) = blocking_keys(&q);
    let (year, months) = (query.date_of_birth.year, months_to_read(query, threshold));
    let mut ranked: Vec<(u64, f64, MatchKey)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut aside = Vec::new();
    // Pairs of tokens first; single tokens only when pairs found no strong candidate
    // (typically a typo in one of two tokens), or when the name has one token.
    for use_singles in [false, true] {
        if use_singles && (ranked.iter().any(|s| s.1 >= STRONG) && !pairs.is_empty()) {
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
                ranked.push((id, s, key));
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
mod tests {
    use super::*;

    fn key(given: &str, surnames: &str, dob: &str) -> MatchKey {
        MatchKey {
            name: normalize(&[given, surnames]),
            date_of_birth: PartialDate::parse(dob).unwrap_or(PartialDate {
                year: 1990,
                month: None,
                day: None,
            }),
            nationality: "CHN".into(),
            sex: Sex::M,
            shielded_from: Some(Vec::new()),
        }
    }

    fn query_score(given: &str, surnames: &str, dob: &str, record: &MatchKey) -> f64 {
        let q = NameQuery {
            given_names: given.into(),
            surnames: surnames.into(),
            full_name: None,
            date_of_birth: PartialDate::parse(dob).unwrap(),
            nationality: None,
            sex: None,
        };
        score_key(&q, &query_name(&q), record).0
    }

    #[test]
    fn short_tokens_are_not_spelling_variants_of_each_other() {
        assert_eq!(token_sim("LI", "LIU", None).0, 0.0);
        assert_eq!(token_sim("YU", "HUAHUA", None).0, 0.0);
        assert!(token_sim("ALI", "ALY", None).0 >= 0.95);
        let other = key("HUAHUA", "LI", "2008-03-13");
        assert!(query_score("YU", "LIU", "2008-03", &other) < DEFAULT_THRESHOLD);
    }

    #[test]
    fn one_query_token_does_not_stand_for_two() {
        // FERNANDA is close to FERNANDEZ, but FERNANDEZ is taken by FERNANDEZ.
        let other = key("YUSLEIDY", "HERNANDEZ FERNANDEZ", "1993-10-24");
        let own = key("FERNANDA", "FERNANDEZ CASTILLO", "1993-10-02");
        let (o, s) = (
            query_score("FERNANDA", "FERNANDEZ", "1993-10", &other),
            query_score("FERNANDA", "FERNANDEZ", "1993-10", &own),
        );
        assert!(o < DEFAULT_THRESHOLD && s >= DEFAULT_THRESHOLD, "{o} {s}");
    }

    #[test]
    fn tolerances_survive_one_to_one_pairing() {
        let r = key("MOHAMMAD ABDUL", "HOSSAIN", "1990-04-12");
        for (given, surnames, dob) in [
            ("MD ABDUL", "HUSSAIN", "1990-04-12"),
            ("HOSSAIN", "MOHAMMAD ABDUL", "1990"),
            ("MOHAMMAD A", "HOSSAIN", "1990-04"),
            ("ABDUL MOHAMMAD", "HOSAIN", "1990-04-12"),
        ] {
            let s = query_score(given, surnames, dob, &r);
            assert!(s >= DEFAULT_THRESHOLD, "{given} {surnames}: {s}");
        }
    }
}
