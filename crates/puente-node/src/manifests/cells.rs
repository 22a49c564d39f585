//! Expected-arrival cells: each passenger of each manifest held counts once, event
//! `expected_arrival`, at the trip's entry point into this country, in the day (and the
//! month) of its scheduled arrival (its departure when no arrival is given), by
//! nationality, sex and age group on that day. They are the `manifests` source of the
//! own cells ([`puente_stats::store::Source::Manifests`]): a submission adds its
//! manifest's counts and an erasure takes them away (an erased manifest stops counting),
//! and the node counts every manifest held again when it starts; served, suppressed and
//! synced like every other own cell.

use std::collections::BTreeMap;

use puente_proto::v1::{EncounterEvent, Sex};
use puente_records::model::{PartialDate, Sex as RecordSex};
use puente_stats::aggregate::age_group_at;
use puente_stats::cell::{check_entry_point, check_nationality};
use puente_stats::{CellKey, Period};

use super::StoredManifest;

fn sex(s: RecordSex) -> Sex {
    match s {
        RecordSex::M => Sex::Male,
        RecordSex::F => Sex::Female,
        RecordSex::X => Sex::X,
    }
}

/// The expected-arrival counts of `manifests`.
pub fn expected_arrivals(manifests: &[StoredManifest]) -> BTreeMap<CellKey, u64> {
    let mut counts: BTreeMap<CellKey, u64> = BTreeMap::new();
    for s in manifests {
        let Some(when) = s.manifest.arrival.or(s.manifest.departure) else {
            continue;
        };
        let (y, m, d) = when.date;
        let (Ok(month), Ok(day)) = (Period::month(y, m), Period::day(y, m, d)) else {
            continue;
        };
        let on = PartialDate {
            year: y,
            month: Some(m),
            day: Some(d),
        };
        let entry_point = match check_entry_point(&s.entry_point) {
            Ok(ep) => ep,
            Err(_) => s
                .entry_point
                .chars()
                .filter(|c| !c.is_control())
                .take(128)
                .collect(),
        };
        for p in &s.manifest.passengers {
            let nationality = if check_nationality(&p.nationality).is_ok() {
                p.nationality.as_str()
            } else {
                "XXX"
            };
            let Ok(key) = CellKey::new(
                month,
                nationality,
                sex(p.sex),
                age_group_at(&p.date_of_birth, &on),
                &entry_point,
                EncounterEvent::ExpectedArrival,
            ) else {
                continue;
            };
            *counts.entry(key.with_period(day)).or_default() += 1;
            *counts.entry(key).or_default() += 1;
        }
    }
    counts
}
