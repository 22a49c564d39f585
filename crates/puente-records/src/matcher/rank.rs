//! Which of the answers above the threshold are kept: rules that drop an answer next to
//! another that is better on every count the query can tell, so an officer is not shown
//! namesakes the query itself tells apart. An answer is never dropped for want of a
//! better one: when nothing agrees better, it stays, whatever its date.

use super::*;

/// A strong answer born on exactly the query's full date outranks answers recorded with
/// another full date that agreed only in part (day and month swapped, the year off by
/// one, or the year alone) and whose name agrees no better: next to it they are
/// namesakes the query's date tells apart. Answers recorded with less (a year, a 01-01
/// placeholder) may be the same person and stay; so does an answer with a better name;
/// and a query whose own date is a 01-01 placeholder tells nobody apart.
pub(super) fn exact_dates_first(
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

/// Name scores closer than this agree alike (a typo scores 0.90, a known spelling
/// variant 0.95, the exact name 1.0: each a step apart).
const NAME_STEP: f64 = 0.01;

/// What an answer's score is made of, for comparing two answers.
struct Evidence {
    total: f64,
    name: f64,
    /// How well the date agreed, counting a 01-01 query's agreement as the year's alone.
    date: f64,
    /// The record's name is the query's, token for token, in the query's order.
    as_written: bool,
}

impl Evidence {
    /// Whether `self`, a strong answer, is better than `other` on every count: a date
    /// that agreed at least as well, and a name that agreed better by a step, or as
    /// well and as written where `other`'s agreed only in another order (JEAN LOUIS for
    /// LOUIS JEAN: given name and surname swapped, often two persons).
    fn outranks(&self, other: &Evidence) -> bool {
        self.total >= STRONG
            && self.total + 1e-9 >= other.total
            && self.date + 1e-9 >= other.date
            && (self.name >= other.name + NAME_STEP
                || (self.name + 1e-9 >= other.name && self.as_written && !other.as_written))
    }
}

/// When the date cannot tell answers apart, the name does. An answer whose date agreed
/// only in part (the query or the record gives only the year, or the year and month, or
/// a 01-01 placeholder; day and month swapped; the year off by one) is dropped next to a
/// strong answer that agrees at least as well on the date and better on the name (see
/// [`Evidence::outranks`]). A partial date matches everyone of the name born that year,
/// a thousand times more people than a full date: a namesake whose name agrees less is
/// then far less likely the person than one whose name agrees fully, where next to an
/// exact date the same difference in the name may be a spelling of one person's name.
/// Answers born on the query's exact full date are not touched (see
/// [`exact_dates_first`]); answers the query cannot tell apart (the same name, a date
/// that agreed alike) all stay; and the person recorded with a partial date is found
/// as before when no answer is better.
pub(super) fn names_decide(
    query: &NameQuery,
    q: &NormalizedName,
    ranked: &mut Vec<(u64, f64, MatchKey)>,
) {
    if ranked.len() < 2 {
        return;
    }
    let d = query.date_of_birth;
    let evidence: Vec<Evidence> = ranked
        .iter()
        .map(|(_, total, k)| {
            let (date, _) = date_score(&d, &k.date_of_birth);
            Evidence {
                total: *total,
                name: name_score(q, &k.name, false).0,
                // A 01-01 query is a placeholder: a record of the same 01-01 agrees on
                // the year only, like any other of the year.
                date: if d.is_placeholder() {
                    date.min(YEAR_AGREES)
                } else {
                    date
                },
                as_written: k.name.tokens == q.tokens,
            }
        })
        .collect();
    let keep: Vec<bool> = evidence
        .iter()
        .map(|b| b.date >= 1.0 || !evidence.iter().any(|a| a.outranks(b)))
        .collect();
    let mut at = 0;
    ranked.retain(|_| {
        at += 1;
        keep[at - 1]
    });
}
