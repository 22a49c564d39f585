//! The independent evaluation of `puente bench identity`: labelled queries per kind of
//! variation ([`crate::bench_variants`]), about persons drawn among those each kind
//! applies to, plus persons not held; recall and precision per kind through
//! `matcher::search` as the node runs it. Optionally exported (`--eval-export DIR`) as
//! `persons.csv` (the `records import` format) and `queries.jsonl`, so the same set can
//! be measured through `puente records search`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use puente_records::import::COLUMNS;
use puente_records::matcher::{self, NameQuery, DEFAULT_THRESHOLD};
use puente_records::model::{DocumentType, PartialDate};
use puente_records::names::normalize;
use puente_records::{PersonRecord, RecordStore};
use puente_synth::{self as synth, Rng, SynthPerson};
use serde_json::json;

use crate::bench_variants::{combine, Kind, Variant};

/// Matches a query returns at most: as in the node's grants of the demo (and the other
/// name queries of `bench identity`).
pub const MAX_MATCHES: usize = 5;

/// A row of the table: which queries it asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    /// The person as held (control).
    Exact,
    /// One kind of variation.
    One(Kind),
    /// Two kinds, one after the other.
    Two(Kind, Kind),
    /// Persons not held, as their documents write them.
    NotHeld,
    /// Not held, but of a held person's family: same surname, nationality, birth year
    /// and month, another given name and day.
    NotHeldRelative,
}

const SPECS: &[Spec] = &[
    Spec::Exact,
    Spec::One(Kind::DateSwap),
    Spec::One(Kind::DatePlaceholder),
    Spec::One(Kind::YearOff),
    Spec::One(Kind::Creole),
    Spec::One(Kind::Compound),
    Spec::One(Kind::Romanization),
    Spec::One(Kind::Typo),
    Spec::One(Kind::ParticleAbbrev),
    Spec::Two(Kind::Creole, Kind::DateSwap),
    Spec::Two(Kind::Creole, Kind::Typo),
    Spec::Two(Kind::Romanization, Kind::YearOff),
    Spec::Two(Kind::Compound, Kind::DatePlaceholder),
    Spec::Two(Kind::ParticleAbbrev, Kind::Typo),
    Spec::Two(Kind::Typo, Kind::DatePlaceholder),
    Spec::NotHeld,
    Spec::NotHeldRelative,
];

impl Spec {
    fn label(self) -> String {
        match self {
            Spec::Exact => "exact (control)".into(),
            Spec::One(k) => k.name().into(),
            Spec::Two(a, b) => format!("{}+{}", a.name(), b.name()),
            Spec::NotHeld => "not held".into(),
            Spec::NotHeldRelative => "not held: relative of a held person".into(),
        }
    }

    fn held(self) -> bool {
        !matches!(self, Spec::NotHeld | Spec::NotHeldRelative)
    }

    /// Whether the spec applies to a person, given which kinds do.
    fn applies(self, kinds: &[bool; 8]) -> bool {
        let of = |k: Kind| {
            Kind::ALL
                .iter()
                .position(|x| *x == k)
                .is_some_and(|i| kinds[i])
        };
        match self {
            Spec::Exact => true,
            Spec::One(k) => of(k),
            Spec::Two(a, b) => of(a) && of(b),
            Spec::NotHeld | Spec::NotHeldRelative => false,
        }
    }

    fn make(self, rng: &mut Rng, p: &SynthPerson) -> Option<Variant> {
        match self {
            Spec::One(k) => k.make(rng, p),
            Spec::Two(a, b) => combine(rng, p, a, b),
            _ => Some(as_written(p)),
        }
    }
}

/// A person as their document writes them.
fn as_written(p: &SynthPerson) -> Variant {
    Variant {
        given_names: p.given_names.clone(),
        surnames: p.surnames.clone(),
        birth_year: p.birth_year,
        birth_month: Some(p.birth_month),
        birth_day: Some(p.birth_day),
        kinds: Vec::new(),
    }
}

/// Persons a spec applies to, and a uniform sample of them (reservoir sampling).
struct Pool {
    spec: Spec,
    applicable: u64,
    picked: Vec<(String, SynthPerson)>,
}

/// What the queries of one row found.
#[derive(Default, Clone)]
struct Tally {
    queries: u64,
    /// Queries about a held person whose person was among the answers.
    hits: u64,
    held: u64,
    /// Answers that were the person.
    right: u64,
    /// All answers.
    answers: u64,
    /// Queries with at least one answer that was not the person.
    with_wrong: u64,
    /// Wrong answers with the person's normalized name (in the same order), born on a
    /// date that agrees with the person's in all the query gave: no matcher could tell
    /// them apart from the query.
    namesakes: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.queries += other.queries;
        self.hits += other.hits;
        self.held += other.held;
        self.right += other.right;
        self.answers += other.answers;
        self.with_wrong += other.with_wrong;
        self.namesakes += other.namesakes;
    }

    fn recall(&self) -> String {
        if self.held == 0 {
            "–".into()
        } else {
            format!("{:.3}", self.hits as f64 / self.held as f64)
        }
    }

    fn precision(&self) -> String {
        if self.answers == 0 {
            "–".into()
        } else {
            format!("{:.3}", self.right as f64 / self.answers as f64)
        }
    }
}

/// The export files being written.
struct Export {
    dir: PathBuf,
    persons: csv::Writer<BufWriter<File>>,
}

/// The evaluation, fed the population as it is generated, run once it is stored.
pub struct Eval {
    per_kind: usize,
    seed: u64,
    pools: Vec<Pool>,
    sampler: Rng,
    export: Option<Export>,
}

impl Eval {
    /// `per_kind` queries of each kind (0: no evaluation); the export directory, if any,
    /// must not hold a `persons.csv` yet.
    pub fn new(per_kind: u64, seed: u64, export: Option<&Path>) -> Result<Self> {
        let export = match export {
            None => None,
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let path = dir.join("persons.csv");
                if path.exists() {
                    bail!(
                        "{} already exists; choose an empty --eval-export directory",
                        path.display()
                    );
                }
                let file =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                let mut persons = csv::Writer::from_writer(BufWriter::new(file));
                persons.write_record(COLUMNS)?;
                Some(Export {
                    dir: dir.to_path_buf(),
                    persons,
                })
            }
        };
        Ok(Self {
            per_kind: usize::try_from(per_kind).unwrap_or(usize::MAX),
            seed,
            pools: SPECS
                .iter()
                .filter(|s| s.held())
                .map(|&spec| Pool {
                    spec,
                    applicable: 0,
                    picked: Vec::new(),
                })
                .collect(),
            sampler: Rng::new(seed ^ 0x5EED_E7A1),
            export,
        })
    }

    /// The flags that reproduce this evaluation, for the "Reproduce:" line.
    pub fn flags(&self) -> String {
        let mut f = format!(" --eval-queries {}", self.per_kind);
        if let Some(e) = &self.export {
            f.push_str(&format!(" --eval-export {}", e.dir.display()));
        }
        f
    }

    /// Whether there is anything to do.
    pub fn enabled(&self) -> bool {
        self.per_kind > 0 || self.export.is_some()
    }

    /// One person of the population, as stored (`record`) and as generated (`person`).
    pub fn observe(&mut self, record: &PersonRecord, person: &SynthPerson) -> Result<()> {
        if let Some(e) = &mut self.export {
            e.persons.write_record(csv_row(record))?;
        }
        if self.per_kind == 0 {
            return Ok(());
        }
        // Whether each kind applies does not depend on the draws (see bench_variants).
        let mut kinds = [false; 8];
        for (i, k) in Kind::ALL.iter().enumerate() {
            kinds[i] = k.make(&mut Rng::new(0), person).is_some();
        }
        for pool in &mut self.pools {
            if !pool.spec.applies(&kinds) {
                continue;
            }
            pool.applicable += 1;
            if pool.picked.len() < self.per_kind {
                pool.picked.push((record.record_id.clone(), person.clone()));
            } else {
                let j = self.sampler.below(pool.applicable) as usize;
                if j < self.per_kind {
                    pool.picked[j] = (record.record_id.clone(), person.clone());
                }
            }
        }
        Ok(())
    }

    /// Runs the queries against `store` (holding the observed population), prints the
    /// table and finishes the export.
    pub fn run(mut self, store: &RecordStore, persons: u64, namesake_share: f64) -> Result<()> {
        let mut queries_out = match &mut self.export {
            Some(e) => {
                e.persons.flush()?;
                let path = e.dir.join("queries.jsonl");
                let file =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                Some(BufWriter::new(file))
            }
            None => None,
        };
        if self.per_kind == 0 {
            return Ok(());
        }
        let mut rng = Rng::new(self.seed ^ 0xE7A1_0001);
        let mut outsiders = Rng::new(self.seed ^ 0xE7A1_0002);
        let mut rows: Vec<(Spec, u64, Tally)> = Vec::new();
        let mut misses: Vec<String> = Vec::new();
        // How many misses of each kind to print (PUENTE_EVAL_MISSES, default 2), each with
        // the score of the person's own record.
        let misses_shown: usize = std::env::var("PUENTE_EVAL_MISSES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        let mut intruders: Vec<String> = Vec::new();
        for &spec in SPECS {
            // (query, the person asked about, their record id if held)
            let mut asked: Vec<(Variant, SynthPerson, Option<String>)> = Vec::new();
            let mut applicable = 0;
            match spec {
                Spec::NotHeld => {
                    for _ in 0..self.per_kind {
                        let p = synth::random_person(&mut outsiders);
                        asked.push((as_written(&p), p, None));
                    }
                }
                Spec::NotHeldRelative => {
                    let held = self.pools.iter().find(|p| p.spec == Spec::Exact);
                    for (_, p) in held.map(|h| h.picked.as_slice()).unwrap_or_default() {
                        let r = synth::distinct_but_similar(&mut outsiders, p);
                        asked.push((as_written(&r), r, None));
                    }
                }
                _ => {
                    let pool = self.pools.iter().find(|p| p.spec == spec);
                    applicable = pool.map_or(0, |p| p.applicable);
                    for (id, p) in pool.map(|p| p.picked.as_slice()).unwrap_or_default() {
                        if let Some(v) = spec.make(&mut rng, p) {
                            asked.push((v, p.clone(), Some(id.clone())));
                        }
                    }
                }
            }
            let mut t = Tally::default();
            let (mut missed_here, mut intruders_here) = (0, 0);
            for (v, p, truth) in &asked {
                let q = NameQuery {
                    given_names: v.given_names.clone(),
                    surnames: v.surnames.clone(),
                    full_name: None,
                    date_of_birth: v.birth_date(),
                    nationality: None,
                    sex: None,
                };
                if let Some(out) = &mut queries_out {
                    let line = json!({
                        "kind": if spec.held() { spec_label(spec, v) } else { spec.label() },
                        "given_names": q.given_names,
                        "surnames": q.surnames,
                        "birth_date": q.date_of_birth.to_string(),
                        "nationality": q.nationality,
                        "truth_record_id": truth,
                    });
                    writeln!(out, "{line}")?;
                }
                let found = matcher::search(store, &q, DEFAULT_THRESHOLD, MAX_MATCHES)?;
                let name = normalize(&[&p.given_names, &p.surnames]).tokens;
                let born = PartialDate {
                    year: p.birth_year,
                    month: Some(p.birth_month),
                    day: Some(p.birth_day),
                };
                // Another person born on a date that agrees with the person's in all the
                // query gave (as `bench identity`'s other tally counts namesakes).
                let given = &q.date_of_birth;
                let agrees = |d: &PartialDate| {
                    d.year == p.birth_year
                        && given.month.is_none_or(|_| d.month == Some(p.birth_month))
                        && given.day.is_none_or(|_| d.day == Some(p.birth_day))
                };
                t.queries += 1;
                t.held += u64::from(truth.is_some());
                let mut hit = false;
                let mut wrong = false;
                for m in &found {
                    let r = &m.stored.record;
                    t.answers += 1;
                    if truth.as_deref() == Some(r.record_id.as_str()) {
                        hit = true;
                        t.right += 1;
                        continue;
                    }
                    wrong = true;
                    if agrees(&r.date_of_birth)
                        && normalize(&[&r.given_names, &r.surnames]).tokens == name
                    {
                        t.namesakes += 1;
                    } else if intruders_here < 2 {
                        intruders_here += 1;
                        intruders.push(format!(
                            "[{}] {} {} ({}) gave {} {} ({}) at {:.3}; asked about {} {} ({born})",
                            spec.label(),
                            q.given_names,
                            q.surnames,
                            q.date_of_birth,
                            r.given_names,
                            r.surnames,
                            r.date_of_birth,
                            m.score,
                            p.given_names,
                            p.surnames
                        ));
                    }
                }
                t.hits += u64::from(hit);
                t.with_wrong += u64::from(wrong);
                if truth.is_some() && !hit && missed_here < misses_shown && spec != Spec::Exact {
                    missed_here += 1;
                    // How the person's own record scores: at or above the threshold, the
                    // search never read it (blocking) or ranked it out; below, the
                    // scoring missed it.
                    let scored = match truth.as_deref().map(|t| store.get_by_record_id(t)) {
                        Some(Ok(Some(s))) => {
                            let (score, why) = matcher::score(&q, &s.record);
                            format!(" scores {score:.3}: {why}")
                        }
                        _ => String::new(),
                    };
                    misses.push(format!(
                        "[{}] {} {} ({}) for {} {} ({born}){scored}",
                        spec.label(),
                        q.given_names,
                        q.surnames,
                        q.date_of_birth,
                        p.given_names,
                        p.surnames
                    ));
                }
            }
            rows.push((spec, applicable, t));
        }
        if let Some(mut out) = queries_out {
            out.flush()?;
        }
        print_table(&rows, persons, namesake_share, self.per_kind);
        if !misses.is_empty() {
            println!();
            println!("Some variants not found (query for the person):");
            for m in &misses {
                println!("  {m}");
            }
        }
        if !intruders.is_empty() {
            println!();
            println!("Some other persons returned (not namesakes the query cannot tell apart):");
            for m in &intruders {
                println!("  {m}");
            }
        }
        if let Some(e) = &self.export {
            println!();
            println!(
                "Exported {} and {} (see docs/matching.md for the external check)",
                e.dir.join("persons.csv").display(),
                e.dir.join("queries.jsonl").display()
            );
        }
        Ok(())
    }
}

/// The kind written for one query: what was actually changed.
fn spec_label(spec: Spec, v: &Variant) -> String {
    if v.kinds.is_empty() {
        spec.label()
    } else {
        v.label()
    }
}

fn print_table(rows: &[(Spec, u64, Tally)], persons: u64, namesake_share: f64, per_kind: usize) {
    println!();
    println!("Independent evaluation: variants made by rules and lists of their own (not the matcher's tables; docs/matching.md)");
    println!(
        "{persons} persons; {:.1} % share their normalized full name and birth year with someone else. Up to {per_kind} queries per kind, about persons drawn among those the kind applies to; threshold {DEFAULT_THRESHOLD}, at most {MAX_MATCHES} matches, no nationality given.",
        100.0 * namesake_share
    );
    println!();
    println!("| kind | persons it applies to | queries | recall | precision | queries with a wrong person | wrong answers that are namesakes the query cannot tell apart |");
    println!("|---|---|---|---|---|---|---|");
    let mut variants = Tally::default();
    let mut all = Tally::default();
    let line = |label: &str, applicable: String, t: &Tally| {
        println!(
            "| {label} | {applicable} | {} | {} | {} | {} | {} |",
            t.queries,
            t.recall(),
            t.precision(),
            t.with_wrong,
            t.namesakes
        );
    };
    for (spec, applicable, t) in rows {
        let applicable = if spec.held() {
            applicable.to_string()
        } else {
            "–".into()
        };
        line(&spec.label(), applicable, t);
        if *spec != Spec::Exact {
            all.add(t);
            if spec.held() {
                variants.add(t);
            }
        }
    }
    line("overall: variants of held persons", "–".into(), &variants);
    line("overall: variants and persons not held", "–".into(), &all);
}

/// A stored record as a row of the import format ([`COLUMNS`]).
pub fn csv_row(r: &PersonRecord) -> Vec<String> {
    let d = r.document.as_ref();
    let e = r.encounters.first();
    let doc_type = d.map(|d| match d.document_type {
        DocumentType::Passport => "passport",
        DocumentType::IdentityCard => "identity_card",
        DocumentType::TravelDocument => "travel_document",
        DocumentType::Other => "other",
    });
    vec![
        r.record_id.clone(),
        r.given_names.clone(),
        r.surnames.clone(),
        r.date_of_birth.to_string(),
        format!("{:?}", r.sex),
        r.nationality.clone(),
        doc_type.unwrap_or_default().to_string(),
        d.map(|d| d.number.clone()).unwrap_or_default(),
        d.map(|d| d.issuing_state.clone()).unwrap_or_default(),
        d.and_then(|d| d.expiry.map(|x| x.to_string()))
            .unwrap_or_default(),
        d.and_then(|d| d.mrz.as_ref().map(|m| m.0.clone()))
            .unwrap_or_default(),
        d.and_then(|d| d.mrz.as_ref().map(|m| m.1.clone()))
            .unwrap_or_default(),
        r.protection_status.clone(),
        r.protected_against.join(";"),
        r.vulnerabilities.join(";"),
        e.map(|e| e.date.to_string()).unwrap_or_default(),
        e.map(|e| e.place.clone()).unwrap_or_default(),
        e.map(|e| e.event.clone()).unwrap_or_default(),
        e.and_then(|e| e.previous_country.clone())
            .unwrap_or_default(),
        String::new(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The export goes through the import's own validation without a bad row, and
    /// every query names a held record or none.
    #[test]
    fn export_round_trips_through_the_import_parser() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("eval");
        let db = sled::Config::new().temporary(true).open().unwrap();
        let key = Arc::new(puente_records::DataKey::from_secret(&[7u8; 32]).unwrap());
        let store = RecordStore::open(&db, key).unwrap();
        let mut eval = Eval::new(3, 11, Some(&out)).unwrap();
        let mut rng = Rng::new(11);
        let mut ids = std::collections::HashSet::new();
        for i in 0..120 {
            let (record, person) = puente_synth::generate::record(&mut rng, i, 11, "MEX").unwrap();
            eval.observe(&record, &person).unwrap();
            store.put(&record, None).unwrap();
            ids.insert(record.record_id);
        }
        eval.run(&store, 120, 0.0).unwrap();
        let csv = std::fs::read(out.join("persons.csv")).unwrap();
        let today = time::Date::from_calendar_date(2026, time::Month::December, 1).unwrap();
        let report = puente_records::import::check_rows(
            "persons.csv",
            csv.as_slice(),
            puente_records::import::RowFormat::Csv,
            dir.path(),
            today,
        )
        .unwrap();
        assert_eq!(report.rows, 120);
        let queries = std::fs::read_to_string(out.join("queries.jsonl")).unwrap();
        let mut held = 0;
        for line in queries.lines() {
            let q: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(q["kind"].is_string() && q["given_names"].is_string());
            PartialDate::parse(q["birth_date"].as_str().unwrap()).unwrap();
            assert!(q["nationality"].is_null());
            match q["truth_record_id"].as_str() {
                Some(id) => {
                    assert!(ids.contains(id), "{id}");
                    held += 1;
                }
                None => assert!(q["truth_record_id"].is_null()),
            }
        }
        assert!(held > 3 && queries.lines().count() > held);
        // A second export into the same directory is refused.
        assert!(Eval::new(3, 11, Some(&out)).is_err());
    }
}
