//! `puente bench`: performance measured, never asserted. Each benchmark reports its
//! figures next to a baseline measured in the same run, with the command that reproduces
//! them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use puente_records::blocks::BlockStats;
use puente_records::matcher::{self, NameQuery, DEFAULT_THRESHOLD};
use puente_records::model::PartialDate;
use puente_records::names::normalize;
use puente_records::{DataKey, PersonRecord, RecordStore};
use puente_synth::{self as synth, Rng, SynthPerson};

use crate::cli::BenchCommand;

/// Runs a benchmark.
pub fn run(command: &BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Identity {
            persons,
            queries,
            scan_queries,
            seed,
            eval_queries,
            eval_export,
        } => {
            let eval = crate::bench_eval::Eval::new(*eval_queries, *seed, eval_export.as_deref())?;
            identity(*persons, *queries, *scan_queries, *seed, eval)
        }
        BenchCommand::Audit {
            entries,
            appenders,
            baseline,
        } => audit(*entries, *appenders, *baseline),
        BenchCommand::Start {
            persons,
            entries,
            runs,
            keep,
        } => crate::bench_start::run(*persons, *entries, *runs, keep.as_deref()),
        BenchCommand::Stats { cells, page_size } => crate::bench_stats::run(*cells, *page_size),
        BenchCommand::Soak {
            persons,
            seconds,
            share,
            memory_bound_mb,
        } => crate::bench_soak::run(*persons, *seconds, *share, *memory_bound_mb),
        BenchCommand::Query {
            persons,
            concurrency,
            seconds,
            rounds,
            json,
        } => crate::bench_query::run(
            *persons,
            concurrency,
            *seconds,
            *rounds as usize,
            json.as_deref(),
        ),
        BenchCommand::Manifest {
            passengers,
            persons,
        } => crate::bench_manifest::run(*passengers, *persons),
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

fn pct_of(sorted: &[usize], p: f64) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Score thresholds of the recall/precision table.
const CURVE: [f64; 6] = [0.70, 0.75, 0.80, 0.85, 0.90, 0.95];

/// What name queries returned, against the truth.
#[derive(Default)]
struct Tally {
    queries: u64,
    /// Queries whose person was returned.
    hits: u64,
    /// Queries whose person was returned first (equal scores are in internal-id order).
    first: u64,
    /// Matches that were the person.
    correct: u64,
    /// Matches that were another person with the same normalized name, born on a date
    /// that agrees with the person's in everything the query gave: no matcher can tell
    /// them apart from the query, and an officer needs to see them.
    namesakes: u64,
    /// Any other match.
    wrong: u64,
}

/// Whether `r` is another person whom no matcher could tell from the query's person:
/// the same normalized name, in the same order, born on a date that agrees with theirs
/// in everything the query gave.
fn indistinguishable(s: &Sample, q: &NameQuery, r: &PersonRecord, truth: &[String]) -> bool {
    let (d, p) = (&q.date_of_birth, &s.person);
    r.date_of_birth.year == p.birth_year
        && d.month
            .is_none_or(|_| r.date_of_birth.month == Some(p.birth_month))
        && d.day
            .is_none_or(|_| r.date_of_birth.day == Some(p.birth_day))
        && normalize(&[&r.given_names, &r.surnames]).tokens == truth
}

impl Tally {
    fn add(&mut self, s: &Sample, q: &NameQuery, found: &[matcher::Match], threshold: f64) -> bool {
        self.queries += 1;
        let truth = normalize(&[&s.person.given_names, &s.person.surnames]).tokens;
        let mut hit = false;
        for (rank, m) in found.iter().filter(|m| m.score >= threshold).enumerate() {
            let r = &m.stored.record;
            if r.record_id == s.id {
                hit = true;
                self.correct += 1;
                if rank == 0 {
                    self.first += 1;
                }
                continue;
            }
            if indistinguishable(s, q, r, &truth) {
                self.namesakes += 1;
            } else {
                self.wrong += 1;
            }
        }
        self.hits += u64::from(hit);
        hit
    }

    fn recall(&self) -> f64 {
        self.hits as f64 / self.queries.max(1) as f64
    }

    fn first(&self) -> f64 {
        self.first as f64 / self.queries.max(1) as f64
    }

    fn precision_strict(&self) -> f64 {
        let returned = self.correct + self.namesakes + self.wrong;
        if returned == 0 {
            1.0
        } else {
            self.correct as f64 / returned as f64
        }
    }

    fn precision(&self) -> f64 {
        let returned = self.correct + self.wrong;
        if returned == 0 {
            1.0
        } else {
            self.correct as f64 / returned as f64
        }
    }
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

fn identity(
    persons: u64,
    queries: u64,
    scan_queries: u64,
    seed: u64,
    mut eval: crate::bench_eval::Eval,
) -> Result<()> {
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
    let data_key = Arc::new(DataKey::from_secret(&secret)?);
    let store = RecordStore::open(&db, data_key.clone())?;

    println!("puente bench identity: {persons} synthetic persons, {queries} queries of each kind, seed {seed}");
    println!("Reproduce: cargo run --release -- bench identity --persons {persons} --queries {queries} --seed {seed}{}", eval.flags());
    let every = (persons / queries.max(1)).max(1);
    let mut rng = Rng::new(seed);
    let mut samples: Vec<Sample> = Vec::new();
    // How often the generated population repeats a name within a birth year.
    let mut names_by_year: HashMap<(String, i32), u32> = HashMap::new();
    let load = Instant::now();
    for i in 0..persons {
        let (record, person) = puente_synth::generate::record(&mut rng, i, seed, "MEX")?;
        if eval.enabled() {
            eval.observe(&record, &person)?;
        }
        let name = normalize(&[&record.given_names, &record.surnames])
            .tokens
            .join(" ");
        *names_by_year
            .entry((name, record.date_of_birth.year))
            .or_default() += 1;
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
    let with_namesake: u64 = names_by_year
        .values()
        .filter(|n| **n > 1)
        .map(|n| u64::from(*n))
        .sum();
    let distinct_names = {
        let names: std::collections::HashSet<&String> =
            names_by_year.keys().map(|k| &k.0).collect();
        names.len()
    };
    drop(names_by_year);
    println!(
        "Loaded {persons} persons in {:.1}s ({:.0} persons/s, sealed and indexed)",
        load_time.as_secs_f64(),
        persons as f64 / load_time.as_secs_f64()
    );
    println!(
        "Population: {distinct_names} distinct normalized names; {:.1} % of persons share name and birth year with someone else",
        100.0 * with_namesake as f64 / persons.max(1) as f64
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
    let variants: Vec<(NameQuery, synth::Variant)> = samples
        .iter()
        .map(|s| {
            let v = synth::variant(&mut vrng, &s.person);
            let q = query_of(
                &v.given_names,
                &v.surnames,
                v.birth_year,
                v.birth_month,
                v.birth_day,
            );
            (q, v)
        })
        .collect();
    let mut name_times = Vec::with_capacity(samples.len());
    let mut candidates = Vec::with_capacity(samples.len());
    let mut singles_read = 0u64;
    let mut tally = Tally::default();
    let mut misses: Vec<String> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    for (s, (q, v)) in samples.iter().zip(&variants) {
        let mut stats = BlockStats::default();
        let t = Instant::now();
        let found =
            matcher::search_with_stats(&store, q, DEFAULT_THRESHOLD, 5, None, &mut stats)?.matches;
        name_times.push(t.elapsed());
        candidates.push(stats.candidates);
        singles_read += u64::from(stats.singles);
        let hit = tally.add(s, q, &found, DEFAULT_THRESHOLD);
        if others.len() < 8 {
            let truth = normalize(&[&s.person.given_names, &s.person.surnames]).tokens;
            for m in &found {
                let r = &m.stored.record;
                if r.record_id != s.id && !indistinguishable(s, q, r, &truth) && others.len() < 8 {
                    others.push(format!(
                        "{} {} ({}) gave {} {} ({}) at {:.3}; the person is {} {} ({})",
                        q.given_names,
                        q.surnames,
                        q.date_of_birth,
                        r.given_names,
                        r.surnames,
                        r.date_of_birth,
                        m.score,
                        s.person.given_names,
                        s.person.surnames,
                        s.person.birth_year
                    ));
                }
            }
        }
        if !hit && misses.len() < 8 {
            misses.push(format!(
                "{} {} ({:?}) for {} {}",
                v.given_names, v.surnames, v.kinds, s.person.given_names, s.person.surnames
            ));
        }
    }
    name_times.sort();
    candidates.sort_unstable();

    // The same variants over a range of thresholds (untimed): recall against precision.
    let mut curve = Vec::new();
    for threshold in CURVE {
        let mut t = Tally::default();
        for (s, (q, _)) in samples.iter().zip(&variants) {
            let found = matcher::search(&store, q, threshold, 5)?;
            t.add(s, q, &found, threshold);
        }
        curve.push((threshold, t));
    }

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

    // Opening the store again, as a node starting on this data directory does: the
    // match keys come back into memory from their sealed copies. Last, so that reading
    // them through sled's cache does not change what the lookups above found in it.
    drop(store);
    // The first open after an import rebuilds the keys from their sealed copies and
    // writes the checked snapshot; every later start reads the snapshot.
    let snapshot = dir.path().join(puente_records::store::SNAPSHOT_FILE);
    let reopen = Instant::now();
    let store = RecordStore::open(&db, data_key.clone())?;
    let first = store.load_match_keys_from(&snapshot)?;
    let rebuild_time = reopen.elapsed();
    drop(store);
    let reopen = Instant::now();
    let store = RecordStore::open(&db, data_key)?;
    let again = store.load_match_keys_from(&snapshot)?;
    let reopen_time = reopen.elapsed();
    if first.rebuilt.is_none() || again.rebuilt.is_some() || again.persons != first.persons {
        anyhow::bail!(
            "the match-key snapshot was not used as expected: first {first:?}, then {again:?}"
        );
    }

    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| opening the store as a node does, first after an import (match keys from their sealed copies, snapshot written) | {:.2} s |",
        rebuild_time.as_secs_f64(),
    );
    println!(
        "| opening the store as a node does, from the checked snapshot | {:.2} s, {:.0} MB of match keys held |",
        reopen_time.as_secs_f64(),
        store.match_key_bytes() as f64 / 1e6
    );
    let (entries, index_bytes) = store.name_index_size();
    println!(
        "| name index held in memory (read from the same snapshot) | {entries} entries, {:.0} MB |",
        index_bytes as f64 / 1e6
    );
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
    println!(
        "| candidates scored per name query p50 / p99 | {} / {} |",
        pct_of(&candidates, 0.5),
        pct_of(&candidates, 0.99)
    );
    println!(
        "| name queries that read single-token blocks | {singles_read}/{} |",
        samples.len()
    );
    println!("| recall on name variants | {:.3} |", tally.recall());
    println!(
        "| precision: every other person returned counts against | {:.3} |",
        tally.precision_strict()
    );
    println!(
        "| precision: namesakes the query cannot tell apart do not count | {:.3} |",
        tally.precision()
    );
    println!(
        "| matches returned: the person / indistinguishable namesakes / others | {} / {} / {} |",
        tally.correct, tally.namesakes, tally.wrong
    );
    println!("| the person ranked first | {:.3} |", tally.first());
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
    println!();
    println!("Recall and precision by score threshold (same variants; the default is {DEFAULT_THRESHOLD}):");
    println!();
    println!(
        "| threshold | recall | precision | precision, namesakes not counted | ranked first |"
    );
    println!("|---|---|---|---|---|");
    for (threshold, t) in &curve {
        println!(
            "| {threshold:.2} | {:.3} | {:.3} | {:.3} | {:.3} |",
            t.recall(),
            t.precision_strict(),
            t.precision(),
            t.first()
        );
    }
    if !others.is_empty() {
        println!();
        println!("Some other persons returned (not indistinguishable namesakes):");
        for o in &others {
            println!("  {o}");
        }
    }
    if !misses.is_empty() {
        println!();
        println!("Some variants not found (query for truth):");
        for m in &misses {
            println!("  {m}");
        }
    }
    if eval.enabled() {
        eval.run(
            &store,
            persons,
            with_namesake as f64 / persons.max(1) as f64,
        )?;
    }
    Ok(())
}

fn sample_entry(i: u64) -> puente_audit::Entry {
    puente_audit::Entry {
        time_ms: 1_800_000_000_000 + i as i64,
        direction: 1,
        peer_country: "GTM".into(),
        actor: "urn:puente:GTM:node:gtm-1".into(),
        service: 1,
        purpose: 1,
        case_reference: format!("EXP-2026-{i:08}"),
        agreement_id: "MEX-GTM-2026-01".into(),
        decision: 1,
        rule: "agreement.granted".into(),
        reason: String::new(),
        disclosed_fields: vec![1, 2, 3, 5, 7, 8],
        request_sha256: [(i % 251) as u8; 32],
        response_sha256: [(i % 241) as u8; 32],
        query_term_hashes: vec![("document".into(), [(i % 239) as u8; 32])],
        ..puente_audit::Entry::default()
    }
}

struct OwnKey(puente_pki::VerifyingKey);

impl puente_audit::verify::Keys for OwnKey {
    fn own(&self) -> &puente_pki::VerifyingKey {
        &self.0
    }
    fn peer(&self, _: &str) -> Option<puente_pki::VerifyingKey> {
        None
    }
}

fn audit(entries: u64, appenders: u64, baseline: u64) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("puente-bench-audit-")
        .tempdir()
        .context("temp dir")?;
    let key = Arc::new(puente_pki::SigningKey::generate(
        "bench-2026",
        &dir.path().join("signing.key"),
    )?);
    println!("puente bench audit: {entries} entries, {appenders} concurrent appenders; baseline {baseline} entries with one flush each");
    println!("Reproduce: cargo run --release -- bench audit --entries {entries} --appenders {appenders} --baseline {baseline}");
    let runtime = tokio::runtime::Runtime::new()?;

    // Baseline: the same durable append, one entry (one flush, one signature) at a time.
    let base_db = sled::Config::new()
        .path(dir.path().join("baseline"))
        .open()?;
    let base_log = puente_audit::AuditLog::open(
        &base_db,
        &dir.path().join("baseline-audit"),
        "puente/BENCH/audit".into(),
        key.clone(),
    )?;
    let t = Instant::now();
    runtime.block_on(async {
        for i in 0..baseline {
            base_log.append(sample_entry(i)).await?;
        }
        Ok::<_, puente_audit::AuditError>(())
    })?;
    let base_rate = baseline as f64 / t.elapsed().as_secs_f64();

    // Group commit: many exchanges in flight, as on a busy node.
    let db = sled::Config::new()
        .path(dir.path().join("log"))
        .cache_capacity(1 << 30)
        .open()?;
    let log = puente_audit::AuditLog::open(
        &db,
        &dir.path().join("audit"),
        "puente/BENCH/audit".into(),
        key.clone(),
    )?;
    let t = Instant::now();
    let per = entries / appenders.max(1);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for a in 0..appenders {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per {
                    log.append(sample_entry(a * per + i)).await?;
                }
                Ok::<_, puente_audit::AuditError>(())
            }));
        }
        for task in tasks {
            task.await.map_err(|e| anyhow::anyhow!("{e}"))??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let appended = per * appenders;
    let group_rate = appended as f64 / t.elapsed().as_secs_f64();
    let checkpoints = log.trees().checkpoint_count();
    log.close();

    // Full verification.
    let t = Instant::now();
    let report =
        puente_audit::verify::verify(log.trees(), &OwnKey(key.verifying_key()), &mut |_, _| {})?;
    let verify_time = t.elapsed();

    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| durable appends/s, group commit ({appenders} in flight) | {group_rate:.0} |");
    println!("| durable appends/s, one flush + signature per entry (baseline) | {base_rate:.0} |");
    println!(
        "| group commit vs baseline | {:.1}× |",
        group_rate / base_rate.max(1e-9)
    );
    println!("| signed checkpoints for {appended} entries | {checkpoints} (≈{:.0} entries per signature) |", appended as f64 / checkpoints.max(1) as f64);
    println!(
        "| full verification of {} entries ({} checkpoints re-checked) | {:.2} s |",
        report.entries,
        report.checkpoints,
        verify_time.as_secs_f64()
    );
    Ok(())
}
