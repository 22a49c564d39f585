//! `puente bench manifest`: a manifest of N passengers checked with a counterpart in one
//! `CheckManifest` call, against the same N travellers asked one identity query each, in
//! the same run, on the same two real nodes over mutual TLS (each path with its
//! agreement check, quota, matching, protection filter, durable audit entries on both
//! sides and a verified receipt). Half the passengers are held by the counterpart; both
//! paths must find the same ones.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use puente_manifest::{Format, LocalTime, Manifest, Passenger, Stop};
use puente_pki::Role;
use puente_proto::v1 as pb;
use puente_records::model::{DocumentType, PartialDate, Sex, TravelDocument};

/// Runs the benchmark.
pub fn run(passengers: usize, persons: u64) -> Result<()> {
    if passengers == 0 || passengers > 1000 {
        bail!("--passengers: 1 to 1000 (the most one manifest_check batch may hold)");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(bench(passengers, persons.max(passengers as u64)))
}

fn manifest(docs: &[(String, String)], n: usize) -> Result<Manifest> {
    let today = time::OffsetDateTime::now_utc().date();
    let at = |h| {
        LocalTime::new(today.year(), today.month() as u8, today.day(), Some((h, 0)))
            .map_err(anyhow::Error::msg)
    };
    let mut passengers = Vec::with_capacity(n);
    for i in 0..n {
        let (state, number) = &docs[(i / 2) % docs.len()];
        // Every other passenger carries a document GTM does not hold.
        let number = if i % 2 == 0 {
            number.clone()
        } else {
            format!("ZZ{i:07}")
        };
        passengers.push(Passenger {
            given_names: "Ana".into(),
            surnames: "Bench".into(),
            date_of_birth: PartialDate::parse("1990-01-01").map_err(anyhow::Error::msg)?,
            sex: Sex::F,
            nationality: state.clone(),
            document: Some(TravelDocument {
                document_type: DocumentType::Passport,
                number,
                issuing_state: state.clone(),
                expiry: None,
                mrz: None,
            }),
            embarkation: None,
            debarkation: None,
        });
    }
    Ok(Manifest {
        format: Format::BusJson,
        carrier: "Bench Bus".into(),
        trip: "BENCH-1".into(),
        route: vec![
            Stop {
                place: "Tecún Umán".into(),
                country: Some("GTM".into()),
                border_crossing: false,
            },
            Stop {
                place: "Ciudad Hidalgo".into(),
                country: Some("MEX".into()),
                border_crossing: true,
            },
        ],
        departure: Some(at(5)?),
        arrival: Some(at(9)?),
        passengers,
    })
}

fn context(case: &str) -> Option<pb::RequestContext> {
    Some(pb::RequestContext {
        purpose: pb::Purpose::Identification as i32,
        case_reference: case.into(),
        ..Default::default()
    })
}

async fn bench(n: usize, persons: u64) -> Result<()> {
    let grants = "\n[[grant]]\nprovider = \"GTM\"\nreceiver = \"MEX\"\nservices = [\"identity_query\", \"manifest_check\"]\npurposes = [\"identification\"]\nfields = [\"given_names\", \"surnames\", \"date_of_birth\", \"nationality\", \"document_number\", \"issuing_state\"]\nmodes = { identity_query = \"hit_no_hit\" }\nlegal_basis = \"benchmark\"\nretention_days = 30\nqueries_per_day = 4000000000\ntravellers_per_day = 4000000000\nmax_batch = 1000\nmax_matches = 1\n";
    let tweak = |t: &str| t.replace("sync_at = \"02:00\"", "sync_at = \"\"");
    let prepared =
        crate::bench_fed::prepare(&["MEX", "GTM"], "BENCH-MANIFEST", grants, &tweak).await?;
    eprintln!("generating and importing {persons} synthetic persons into GTM…");
    let data = prepared.dir.path().join("records");
    let report = puente_synth::generate::write(&data, persons, 11, 0, "GTM", &mut |_| {})?;
    {
        let (_store, records) = crate::records::open(&prepared.configs[1])?;
        let today = time::OffsetDateTime::now_utc().date();
        puente_records::import::import(&records, &report.csv, today, &mut |_, _| {})?;
    }
    let docs = crate::bench_query::sample_documents(&report.csv, n)?;
    let m = manifest(&docs, n)?;
    let running = prepared.start().await?;
    let mex = &running.nodes[0];
    let officer = crate::access::node_client(mex, Role::Operator)?;
    // Both paths warm up their connections first.
    let mut local = officer.local();
    let query = |state: &str, number: &str| pb::QueryRequest {
        peer_country: "GTM".into(),
        context: context("BENCH-Q"),
        query: Some(pb::IdentityQuery {
            terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                document_number: number.into(),
                issuing_state: state.into(),
                document_type: pb::DocumentType::Passport as i32,
            })),
        }),
        max_matches: 1,
    };
    local.query(query(&docs[0].0, &docs[0].1)).await?;

    let content = puente_manifest::write::bus_json(&m).into_bytes();
    let t = Instant::now();
    let batch = crate::manifest::check_with(
        &officer,
        pb::CheckWithPeerRequest {
            peer_country: "GTM".into(),
            context: context("BENCH-M"),
            manifest: Some(pb::SubmitManifestRequest {
                format: pb::ManifestFormat::BusJson as i32,
                content,
                file_name: String::new(),
            }),
            manifest_id: String::new(),
        },
    )
    .await?;
    let batch_time = t.elapsed();
    let batch_hits: Vec<bool> = batch
        .travellers
        .iter()
        .map(|t| t.outcome == pb::MatchOutcome::Match as i32)
        .collect();

    let t = Instant::now();
    let mut single_hits = Vec::with_capacity(n);
    for p in &m.passengers {
        let d = p
            .document
            .as_ref()
            .context("a bench passenger without a document")?;
        let r = local
            .query(query(&d.issuing_state, &d.number))
            .await?
            .into_inner();
        single_hits.push(r.outcome == pb::MatchOutcome::Match as i32);
    }
    let single_time = t.elapsed();
    running.stop().await?;

    if batch_hits != single_hits {
        bail!("the batch and the single queries disagree on who GTM knows");
    }
    let hits = batch_hits.iter().filter(|h| **h).count();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("Manifest check: {n} passengers, GTM holding {persons} persons, {hits} of them known (both paths agree)");
    println!(
        "  one CheckManifest call       {:>9.1} ms   ({:.2} ms a traveller)",
        ms(batch_time),
        ms(batch_time) / n as f64
    );
    println!(
        "  {n} single identity queries  {:>9.1} ms   ({:.2} ms a query)",
        ms(single_time),
        ms(single_time) / n as f64
    );
    println!(
        "  the batch takes {:.1}% of the single queries' time ({:.1}x faster); one audit entry a side instead of {n}",
        100.0 * batch_time.as_secs_f64() / single_time.as_secs_f64().max(1e-9),
        single_time.as_secs_f64() / batch_time.as_secs_f64().max(1e-9)
    );
    Ok(())
}
