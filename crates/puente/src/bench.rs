//! `puente bench`: performance measured, never asserted. Each benchmark reports its
//! figures next to a baseline measured in the same run, with the command that reproduces
//! them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use puente_records::matcher::{self, NameQuery, DEFAULT_THRESHOLD};
use puente_records::model::PartialDate;
use puente_records::synth::{self, Rng, SynthPerson};
use puente_records::{DataKey, RecordStore};

use crate::cli::BenchCommand;

/// Runs a benchmark.
pub fn run(command: &BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Identity {
            persons,
            queries,
            scan_queries,
            seed,
        } => identity(*persons, *queries, *scan_queries, *seed),
    }
}

/// Percentile of sorted durations.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

struct Sample {
    id: String,
    person: SynthPerson,
    issuer: String,
    number: String,
}

fn identity(persons: u64, queries: u64, scan_queries: u64, seed: u64) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("puente-bench-")
        .tempdir()
        .context("temp dir")?;
    let db = sled::Config::new()
        .path(dir.path().join("store"))
        .mode(sled::Mode::LowSpace)
        .cache_capacity(1 << 30)
        .open()
        .context("opening a sled store")?;
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let store = RecordStore::open(&db, Arc::new(DataKey::from_secret(&secret)?))?;

    println!("puente bench identity: {persons} synthetic persons, {queries} queries of each kind, seed {seed}");
    println!("Reproduce: cargo run --release -- bench identity --persons {persons} --queries {queries} --seed {seed}");
    let every = (persons / queries.max(1)).max(1);
    let mut rng = Rng::new(seed);
    let mut samples: Vec<Sample> = Vec::new();
    let load = Instant::now();
    for i in 0..persons {
        let (record, person) = puente_records::generate::record(&mut rng, i, seed, "MEX")?;
        if i % every == every / 2 && (samples.len() as u64) < queries {
            let d = record.document.as_ref();
            samples.push(Sample {
                id: record.record_id.clone(),
                person,
                issuer: d.map(|d| d.issuing_state.clone()).unwrap_or_default(),
                number: d.map(|d| d.number.clone()).unwrap_or_default(),
            });
        }
        store.put(&record, None)?;
        if (i + 1).is_multiple_of(100_000) {
            eprintln!(
                "  loaded {}/{persons} ({:.0} persons/s)",
                i + 1,
                (i + 1) as f64 / load.elapsed().as_secs_f64()
            );
        }
    }
    store.flush()?;
    let load_time = load.elapsed();
    println!(
        "Loaded {persons} persons in {:.1}s ({:.0} persons/s, sealed and indexed)",
        load_time.as_secs_f64(),
        persons as f64 / load_time.as_secs_f64()
    );

    // Document lookups.
    let mut doc_times = Vec::with_capacity(samples.len());
    let mut doc_found = 0;
    for s in &samples {
        let t = Instant::now();
        let r = store.by_document(&s.issuer, &s.number)?;
        doc_times.push(t.elapsed());
        if r.iter().any(|x| x.record.record_id == s.id) {
            doc_found += 1;
        }
    }
    doc_times.sort();

    // Name queries on realistic variants.
    let mut vrng = Rng::new(seed ^ 0xABCD);
    let mut name_times = Vec::with_capacity(samples.len());
    let (mut hits, mut returned, mut correct) = (0u64, 0u64, 0u64);
    let mut misses: Vec<String> = Vec::new();
    let query_of = |given: &str, surnames: &str, y: i32, m: Option<u8>, d: Option<u8>| NameQuery {
        given_names: given.to_string(),
        surnames: surnames.to_string(),
        full_name: None,
        date_of_birth: PartialDate {
            year: y,
            month: m,
            day: if m.is_some() { d } else { None },
        },
        nationality: None,
        sex: None,
    };
    for s in &samples {
        let v = synth::variant(&mut vrng, &s.person);
        let q = query_of(
            &v.given_names,
            &v.surnames,
            v.birth_year,
            v.birth_month,
            v.birth_day,
        );
        let t = Instant::now();
        let found = matcher::search(&store, &q, DEFAULT_THRESHOLD, 5)?;
        name_times.push(t.elapsed());
        returned += found.len() as u64;
        if found.iter().any(|m| m.stored.record.record_id == s.id) {
            hits += 1;
            correct += 1;
        } else if misses.len() < 8 {
            misses.push(format!(
                "{} {} ({:?}) for {} {}",
                v.given_names, v.surnames, v.kinds, s.person.given_names, s.person.surnames
            ));
        }
    }
    name_times.sort();
    let recall = hits as f64 / samples.len().max(1) as f64;
    let precision = if returned == 0 {
        1.0
    } else {
        correct as f64 / returned as f64
    };

    // Namesakes: different persons with the same surname, nationality and birth year.
    let mut false_hits = 0u64;
    for s in &samples {
        let other = synth::distinct_but_similar(&mut vrng, &s.person);
        let q = query_of(
            &other.given_names,
            &other.surnames,
            other.birth_year,
            Some(other.birth_month),
            Some(other.birth_day),
        );
        let found = matcher::search(&store, &q, DEFAULT_THRESHOLD, 5)?;
        if found.iter().any(|m| m.stored.record.record_id == s.id) {
            false_hits += 1;
        }
    }

    // Baseline: the same name query by scanning every person.
    let mut scan_times = Vec::new();
    for s in samples.iter().take(scan_queries as usize) {
        let q = query_of(
            &s.person.given_names,
            &s.person.surnames,
            s.person.birth_year,
            Some(s.person.birth_month),
            Some(s.person.birth_day),
        );
        let t = Instant::now();
        let mut best = 0.0f64;
        for item in store.iter() {
            let item = item?;
            best = best.max(matcher::score(&q, &item.record).0);
        }
        scan_times.push(t.elapsed());
        std::hint::black_box(best);
    }
    scan_times.sort();

    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| document lookup p50 / p99 | {} / {} |",
        ms(pct(&doc_times, 0.5)),
        ms(pct(&doc_times, 0.99))
    );
    println!(
        "| document lookups finding their person | {doc_found}/{} |",
        samples.len()
    );
    println!(
        "| name + birth-date query p50 / p99 | {} / {} |",
        ms(pct(&name_times, 0.5)),
        ms(pct(&name_times, 0.99))
    );
    println!("| recall on name variants | {recall:.3} |");
    println!("| precision of returned matches | {precision:.3} |");
    println!(
        "| namesakes wrongly returning the person | {false_hits}/{} |",
        samples.len()
    );
    if !scan_times.is_empty() {
        let scan = pct(&scan_times, 0.5);
        println!("| baseline: full scan, same query, p50 | {} |", ms(scan));
        println!(
            "| indexed name query vs full scan (p50) | {:.0}× faster |",
            scan.as_secs_f64() / pct(&name_times, 0.5).as_secs_f64().max(1e-9)
        );
    }
    if !misses.is_empty() {
        println!();
        println!("Some variants not found (query for truth):");
        for m in &misses {
            println!("  {m}");
        }
    }
    Ok(())
}
