//! Flow counts from the country's own encounter records: each encounter with a known
//! month counts once in its month cell, and once in its day cell when the day is known.
//!
//! What persons protected against a country contribute is also kept apart, per such
//! country ([`Aggregated::shielded`]), so that the cells served to that country can leave
//! them out before suppression (see [`crate::shield`]).

use std::collections::BTreeMap;

use puente_proto::v1::{AgeGroup, Sex};
use puente_records::model::{PartialDate, PersonRecord, Sex as RecordSex};

use crate::cell::{age_group_of, check_entry_point, parse_event, CellKey, Period};
use crate::shield::Shielded;

/// What aggregation counted and what it could not place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aggregated {
    /// Counts by cell.
    pub counts: BTreeMap<CellKey, u64>,
    /// Records read.
    pub records: u64,
    /// Encounters counted.
    pub encounters: u64,
    /// Encounters left out (no month, unknown event, bad code), by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Per country some persons are protected against, what those persons contribute
    /// to each cell (already included in `counts`).
    pub shielded: Shielded,
}

/// The age group at `on` of a person born `dob`; unknown when the parts of the date of
/// birth that are unknown could put the person in either of two groups.
pub fn age_group_at(dob: &PartialDate, on: &PartialDate) -> AgeGroup {
    if dob.year <= 0 || on.year <= 0 {
        return AgeGroup::AgeUnknown;
    }
    // The youngest and oldest the person can be, over every unknown part of both dates.
    let years = on.year - dob.year;
    let (youngest, oldest) = match (dob.month, dob.day, on.month, on.day) {
        (Some(bm), _, Some(om), _) if bm != om => {
            let a = if om > bm { years } else { years - 1 };
            (a, a)
        }
        (Some(_), Some(bd), Some(_), Some(od)) => {
            let a = if od >= bd { years } else { years - 1 };
            (a, a)
        }
        _ => (years - 1, years),
    };
    let (a, b) = (age_group_of(youngest), age_group_of(oldest));
    if a == b {
        a
    } else {
        AgeGroup::AgeUnknown
    }
}

fn sex(s: RecordSex) -> Sex {
    match s {
        RecordSex::M => Sex::Male,
        RecordSex::F => Sex::Female,
        RecordSex::X => Sex::X,
    }
}

/// Adds one record's encounters to `agg`, and to the shielded counts of every country
/// the person is protected against.
pub fn add_record(agg: &mut Aggregated, r: &PersonRecord) {
    agg.records += 1;
    let mut cells: Vec<CellKey> = Vec::new();
    let nationality = if crate::cell::check_nationality(&r.nationality).is_ok() {
        r.nationality.clone()
    } else {
        "XXX".to_string()
    };
    for e in &r.encounters {
        let Ok(event) = parse_event(&e.event) else {
            *agg.skipped.entry("unknown event").or_default() += 1;
            continue;
        };
        let Some(month) = e.date.month else {
            *agg.skipped.entry("no month").or_default() += 1;
            continue;
        };
        let Ok(month_period) = Period::month(e.date.year, month) else {
            *agg.skipped.entry("date out of range").or_default() += 1;
            continue;
        };
        let entry_point = match check_entry_point(&e.place) {
            Ok(ep) => ep,
            Err(_) => e
                .place
                .chars()
                .filter(|c| !c.is_control())
                .take(128)
                .collect(),
        };
        let age = age_group_at(&r.date_of_birth, &e.date);
        let Ok(key) = CellKey::new(
            month_period,
            &nationality,
            sex(r.sex),
            age,
            &entry_point,
            event,
        ) else {
            *agg.skipped.entry("bad cell").or_default() += 1;
            continue;
        };
        if let Some(day) = e.date.day {
            if let Ok(p) = Period::day(e.date.year, month, day) {
                cells.push(key.with_period(p));
            }
        }
        cells.push(key);
        agg.encounters += 1;
    }
    if cells.is_empty() {
        return;
    }
    for c in r.shielded_from() {
        let table = agg.shielded.entry(c).or_default();
        for k in &cells {
            *table.entry(k.clone()).or_default() += 1;
        }
    }
    for k in cells {
        *agg.counts.entry(k).or_default() += 1;
    }
}

/// Aggregates every record of `records`.
pub fn aggregate<'a>(records: impl IntoIterator<Item = &'a PersonRecord>) -> Aggregated {
    let mut agg = Aggregated::default();
    for r in records {
        add_record(&mut agg, r);
    }
    agg
}
