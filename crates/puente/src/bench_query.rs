//! `puente bench query`: Puente's identity-query path against the transport's own limit,
//! measured in the same run on the same machine.
//!
//! - **echo**: a bare tonic unary echo over mutual TLS (the same rustls configuration,
//!   certificates and client-certificate verification as a node), nothing else.
//! - **relay**: client → relay → echo, both hops mutual TLS, the relay only forwards: the
//!   limit for a query that crosses two nodes.
//! - **durable relay**: the relay again, but each hop makes a small record durable
//!   (`fdatasync`, group commit) before it answers: the limit for "audit before answer on
//!   both sides" on this disk ([`crate::bench_durable`]).
//! - **query**: operator → own node (`Local.Query`) → peer node (`Exchange.QueryIdentity`:
//!   agreement check and quota, document match over the peer's records, protection
//!   filter, audit entry durable before the answer, receipt) → own node (receipt verified,
//!   its own audit entry durable) → operator.
//!
//! Each runs at several concurrencies for a fixed time; the report gives throughput and
//! p50/p99/p999 latency, and the ratio of the query path to the relay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use puente_pki::tls::{CountryAnchor, TlsIdentity};
use puente_proto::bench::echo_client::EchoClient;
use puente_proto::bench::echo_server::{Echo, EchoServer};
use puente_proto::bench::EchoMessage;
use puente_proto::v1 as pb;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::bench_durable::{DurableEcho, DurableRelay, GroupLog};

/// What one load run measured.
#[derive(Clone, Debug)]
pub struct Measure {
    /// Which path.
    pub target: &'static str,
    /// Requests in flight.
    pub concurrency: usize,
    /// Completed requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Requests per second.
    pub throughput: f64,
    /// Latency percentiles.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// CPU time of the whole process (client, servers, every thread) per completed
    /// request over the measured window: what a request costs, whatever else shares
    /// the machine (`None` where `/proc/self/stat` cannot be read).
    pub cpu_per_request: Option<Duration>,
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (clock ticks
/// of 10 ms: Linux reports them in USER_HZ, 100 a second).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces: fields count after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

struct EchoSvc;

#[tonic::async_trait]
impl Echo for EchoSvc {
    async fn echo(&self, r: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        Ok(Response::new(r.into_inner()))
    }
}

struct RelaySvc {
    next: EchoClient<Channel>,
}

#[tonic::async_trait]
impl Echo for RelaySvc {
    async fn echo(&self, r: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        let mut c = self.next.clone();
        c.echo(r.into_inner()).await
    }
}

/// Serves `svc` over mutual TLS on 127.0.0.1:0 with `identity`, accepting clients of
/// `anchors`; returns the address.
async fn serve_mtls<S: Echo>(
    svc: S,
    identity: &TlsIdentity,
    anchors: &[CountryAnchor],
) -> Result<String> {
    let config = puente_pki::tls::server_config(identity, anchors).map_err(|e| anyhow!(e))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = tx.send(Ok::<_, std::io::Error>(tls)).await;
                }
            });
        }
    });
    let server = tonic::transport::Server::builder()
        .add_service(EchoServer::new(svc))
        .serve_with_incoming(ReceiverStream::new(rx));
    tokio::spawn(server);
    Ok(addr)
}

fn channel(addr: &str, identity: &TlsIdentity, expected: &CountryAnchor) -> Result<Channel> {
    Ok(puente_node::client::node_channel(
        addr,
        identity,
        expected,
        Duration::from_secs(5),
        Some(Duration::from_secs(30)),
    )
    .map_err(|e| anyhow!(e))?
    .channel)
}

/// Runs `call` from `concurrency` tasks for `duration` (after `warmup`).
async fn load<F, Fut>(
    target: &'static str,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    call: F,
) -> Measure
where
    F: Fn(u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + warmup;
    let end = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let call = call.clone();
        let counter = counter.clone();
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let r = call(i).await;
                let done = Instant::now();
                if t >= start {
                    match r {
                        Ok(()) => lat.push(done - t),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            (lat, errors, first_error)
        });
    }
    // The process's CPU time over the measured window, read at its two ends.
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        let from = process_cpu();
        tokio::time::sleep_until(end.into()).await;
        Some(process_cpu()?.saturating_sub(from?))
    });
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(Ok((lat, e, first))) = tasks.join_next().await {
        all.extend(lat);
        errors += e;
        if let Some(f) = first {
            tracing::warn!(target, "request failed: {f}");
        }
    }
    all.sort();
    let pct = |p: f64| {
        if all.is_empty() {
            Duration::ZERO
        } else {
            all[((all.len() as f64 - 1.0) * p).round() as usize]
        }
    };
    let cpu = cpu.await.ok().flatten();
    Measure {
        target,
        concurrency,
        cpu_per_request: cpu
            .filter(|_| !all.is_empty())
            .map(|c| c / u32::try_from(all.len()).unwrap_or(u32::MAX)),
        requests: all.len() as u64,
        errors,
        throughput: all.len() as f64 / duration.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        p999: pct(0.999),
    }
}

/// [`load`] of an echo-protocol path: `payload` through `client`.
async fn echo_load(
    target: &'static str,
    client: &EchoClient<Channel>,
    payload: &[u8],
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Measure {
    let (client, payload) = (client.clone(), payload.to_vec());
    load(target, concurrency, warmup, duration, move |_| {
        let mut client = client.clone();
        let payload = payload.clone();
        async move {
            client
                .echo(EchoMessage { payload })
                .await
                .map(|_| ())
                .map_err(|s| s.to_string())
        }
    })
    .await
}

/// Up to `limit` documents (issuer, number) of persons GTM holds, to query.
pub(crate) fn sample_documents(
    csv_path: &std::path::Path,
    limit: usize,
) -> Result<Vec<(String, String)>> {
    let mut rdr = csv::Reader::from_path(csv_path)?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| anyhow!("no {name} column"))
    };
    let (num, iss) = (col("document_number")?, col("issuing_state")?);
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        if let (Some(n), Some(i)) = (rec.get(num), rec.get(iss)) {
            if !n.is_empty() && !i.is_empty() {
                out.push((i.to_string(), n.to_string()));
            }
        }
        if out.len() >= limit {
            break;
        }
    }
    if out.is_empty() {
        bail!("no documents in {}", csv_path.display());
    }
    Ok(out)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Two countries set up for identity queries, GTM holding `persons` synthetic persons
/// (not started yet); and documents of some of them to query.
pub async fn query_pair(
    persons: u64,
) -> Result<(crate::bench_fed::Prepared, Vec<(String, String)>)> {
    query_pair_in(None, persons).await
}

/// [`query_pair`], prepared in a new directory under `within`.
pub async fn query_pair_in(
    within: Option<&std::path::Path>,
    persons: u64,
) -> Result<(crate::bench_fed::Prepared, Vec<(String, String)>)> {
    // GTM holds the records and answers MEX; quotas high enough not to interfere.
    let grants = "\n[[grant]]\nprovider = \"GTM\"\nreceiver = \"MEX\"\nservices = [\"identity_query\"]\npurposes = [\"identification\"]\nfields = [\"given_names\", \"surnames\", \"date_of_birth\", \"nationality\", \"document_number\", \"issuing_state\"]\nlegal_basis = \"benchmark\"\nretention_days = 30\nqueries_per_day = 4000000000\nmax_matches = 5\n";
    let tweak = |t: &str| t.replace("sync_at = \"02:00\"", "sync_at = \"\"");
    let prepared =
        crate::bench_fed::prepare_in(within, &["MEX", "GTM"], "BENCH-QUERY", grants, &tweak)
            .await?;
    let data = prepared.dir.path().join("records");
    eprintln!("generating and importing {persons} synthetic persons into GTM…");
    let t = Instant::now();
    let report = puente_synth::generate::write(&data, persons, 11, 0, "GTM", &mut |_| {})?;
    {
        let (store, records) = crate::records::open(&prepared.configs[1])?;
        let today = time::OffsetDateTime::now_utc().date();
        let mut last = Instant::now();
        puente_records::import::import(&records, &report.csv, today, &mut |done, total| {
            if last.elapsed() > Duration::from_secs(10) {
                eprintln!("  {done}/{total}");
                last = Instant::now();
            }
        })?;
        // As `puente records import` does: flow counts and the match-key snapshot ready.
        let data_dir = puente_node::NodeConfig::load(&prepared.configs[1])?
            .config
            .node
            .data_dir;
        puente_node::records::prepare_start(&store, &records, &data_dir)
            .map_err(|e| anyhow!("after the import: {e}"))?;
    }
    eprintln!("  loaded in {:.0} s", t.elapsed().as_secs_f64());
    // Whatever of the import is still only in the page cache would be written back by
    // the kernel during the first runs, with every audit `fdatasync` queued behind it:
    // write it all out before measuring, so no run pays for the import.
    let t = Instant::now();
    sync_tree(prepared.dir.path())?;
    eprintln!(
        "  written to disk in {:.0} s before measuring",
        t.elapsed().as_secs_f64()
    );
    let docs = sample_documents(&report.csv, 5000)?;
    Ok((prepared, docs))
}

/// `fsync`s every file under `dir`, so that nothing written so far is still waiting in
/// the page cache.
fn sync_tree(dir: &std::path::Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else if path.is_file() {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("syncing {}", path.display()))?;
        }
    }
    Ok(())
}

/// The median of `v` (the mean of the middle two for an even count); 0 for none.
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `median` and, over several values, their range.
fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.len() > 1 {
        format!("{:.2}x ({lo:.2}–{hi:.2})", median(v))
    } else {
        format!("{:.2}x", median(v))
    }
}

/// Runs the benchmark and prints the table (and JSON to `json`, if given): `rounds`
/// times, each concurrency's four paths one after the other.
pub fn run(
    persons: u64,
    concurrencies: &[usize],
    seconds: u64,
    rounds: usize,
    json_out: Option<&std::path::Path>,
) -> Result<()> {
    let rounds = rounds.max(1);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let (prepared, docs) = query_pair(persons).await?;
        let docs = Arc::new(docs);
        let running = prepared.start().await?;
        let (mex, gtm) = (running.nodes[0].clone(), running.nodes[1].clone());

        // The bare transport: GTM's node certificate serves, MEX's node certificate calls.
        let anchors: Vec<CountryAnchor> = gtm.anchors();
        let echo_addr = serve_mtls(EchoSvc, &gtm.tls, &anchors).await?;
        let gtm_anchor = mex
            .anchors()
            .into_iter()
            .find(|a| a.country == gtm.country())
            .ok_or_else(|| anyhow!("MEX does not trust GTM"))?;
        let relay_next = EchoClient::new(channel(&echo_addr, &mex.tls, &gtm_anchor)?);
        // The relay is "MEX's node": it accepts MEX operators and forwards to GTM's echo.
        let relay_addr = serve_mtls(RelaySvc { next: relay_next }, &mex.tls, &mex.anchors()).await?;
        // The durable relay: the same two hops, each with its own log file.
        let logs = tempfile::tempdir().context("a directory for the durable relay's logs")?;
        let far_log = Arc::new(GroupLog::create(&logs.path().join("far.log"))?);
        let near_log = Arc::new(GroupLog::create(&logs.path().join("near.log"))?);
        let durable_echo_addr = serve_mtls(DurableEcho { log: far_log }, &gtm.tls, &anchors).await?;
        let durable_next = EchoClient::new(channel(&durable_echo_addr, &mex.tls, &gtm_anchor)?);
        let durable_addr = serve_mtls(
            DurableRelay {
                next: durable_next,
                log: near_log,
            },
            &mex.tls,
            &mex.anchors(),
        )
        .await?;
        let operator = crate::operate::operator_identity(&mex)?;
        let durable_client = EchoClient::new(channel(&durable_addr, &operator, &mex.own_anchor)?);
        let echo_client = EchoClient::new(channel(&echo_addr, &mex.tls, &gtm_anchor)?);
        let relay_client = EchoClient::new(channel(&relay_addr, &operator, &mex.own_anchor)?);
        let local = crate::operate::local_client(&mex)?;

        // A payload the size of an encoded identity query.
        let sample_query = pb::QueryRequest {
            peer_country: "GTM".into(),
            context: Some(pb::RequestContext {
                purpose: pb::Purpose::Identification as i32,
                case_reference: "BENCH-1".into(),
                operator_id: String::new(),
                request_id: String::new(),
            ..Default::default()
            }),
            query: Some(pb::IdentityQuery {
                terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                    document_number: docs[0].1.clone(),
                    issuing_state: docs[0].0.clone(),
                    document_type: pb::DocumentType::Passport as i32,
                })),
            }),
            max_matches: 1,
        };
        let payload = vec![7u8; prost::Message::encoded_len(&sample_query)];

        let warmup = Duration::from_secs(1);
        let duration = Duration::from_secs(seconds);
        let mut results: Vec<(usize, Measure)> = Vec::new();
        println!(
            "Identity query path against the transport's limit: {persons} persons at GTM, {seconds} s per run{}, 2 cores shared by client and servers",
            if rounds > 1 { format!(", {rounds} rounds") } else { String::new() }
        );
        for (round, &c) in (1..=rounds).flat_map(|r| concurrencies.iter().map(move |c| (r, c))) {
            if rounds > 1 {
                eprintln!("round {round} of {rounds}, concurrency {c}…");
            }
            for (target, client) in [
                ("echo (1 hop, bare mTLS)", &echo_client),
                ("relay (2 hops, bare mTLS)", &relay_client),
                ("durable relay (2 hops+fsync)", &durable_client),
            ] {
                results.push((round, echo_load(target, client, &payload, c, warmup, duration).await));
            }
            let l = local.clone();
            let d = docs.clone();
            let q = sample_query.clone();
            let measured = load("Puente query (2 nodes)", c, warmup, duration, move |i| {
                let mut l = l.clone();
                let (issuer, number) = d[(i as usize) % d.len()].clone();
                let mut q = q.clone();
                q.query = Some(pb::IdentityQuery {
                    terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                        document_number: number,
                        issuing_state: issuer,
                        document_type: pb::DocumentType::Passport as i32,
                    })),
                });
                async move {
                    let r = l.query(q).await.map_err(|s| s.to_string())?.into_inner();
                    if r.outcome != pb::MatchOutcome::Match as i32 || !r.receipt_verified {
                        return Err("no verified match".into());
                    }
                    Ok(())
                }
            })
            .await;
            results.push((round, measured));
        }
        let _dir = running.stop().await?;

        println!();
        let round_col = |r: String| if rounds > 1 { format!(" {r:>5}") } else { String::new() };
        println!(
            "  {:<28}{} {:>5} {:>10} {:>7} {:>10} {:>10} {:>10} {:>11}",
            "path", round_col("round".into()), "conc", "req/s", "errors", "p50 ms", "p99 ms", "p999 ms", "CPU us/req"
        );
        for (round, m) in &results {
            println!(
                "  {:<28}{} {:>5} {:>10.0} {:>7} {:>10.3} {:>10.3} {:>10.3} {:>11}",
                m.target,
                round_col(round.to_string()),
                m.concurrency,
                m.throughput,
                m.errors,
                ms(m.p50),
                ms(m.p99),
                ms(m.p999),
                m.cpu_per_request
                    .map(|c| format!("{:.0}", c.as_secs_f64() * 1e6))
                    .unwrap_or_else(|| "-".into())
            );
        }
        println!();
        let mut ratios = Vec::new();
        for &c in concurrencies {
            // Each round's ratios, from the runs of that round.
            let mut per_round: Vec<[f64; 5]> = Vec::new();
            for round in 1..=rounds {
                let get = |t: &str| {
                    results
                        .iter()
                        .find(|(r, m)| *r == round && m.concurrency == c && m.target.starts_with(t))
                        .map(|(_, m)| m)
                };
                if let (Some(relay), Some(durable), Some(q)) =
                    (get("relay"), get("durable"), get("Puente"))
                {
                    // CPU a request costs, against the relay's: the ratio that throughput
                    // on saturated cores tends to, and one that other load on the machine
                    // does not move much.
                    let cpu = match (q.cpu_per_request, relay.cpu_per_request) {
                        (Some(q), Some(r)) if !r.is_zero() => q.as_secs_f64() / r.as_secs_f64(),
                        _ => f64::NAN,
                    };
                    per_round.push([
                        q.throughput / relay.throughput.max(1e-9),
                        ms(q.p99) / ms(relay.p99).max(1e-9),
                        q.throughput / durable.throughput.max(1e-9),
                        ms(q.p99) / ms(durable.p99).max(1e-9),
                        cpu,
                    ]);
                }
            }
            if per_round.is_empty() {
                continue;
            }
            let col = |i: usize| per_round.iter().map(|r| r[i]).filter(|x| x.is_finite()).collect::<Vec<_>>();
            let (tp, p99, dtp, dp99, cpu) = (col(0), col(1), col(2), col(3), col(4));
            let cpu_text = if cpu.is_empty() {
                String::new()
            } else {
                format!(", {} the relay's CPU a request", spread(&cpu))
            };
            let of = if per_round.len() > 1 {
                format!(" (medians of {} rounds, ranges in brackets)", per_round.len())
            } else {
                String::new()
            };
            println!(
                "  concurrency {c:>3}: query path at {} the relay's throughput (p99 {}), {} the durable relay's (p99 {}){cpu_text}{of}",
                spread(&tp), spread(&p99), spread(&dtp), spread(&dp99)
            );
            let mut ratio = json!({
                "concurrency": c,
                "throughput_ratio": median(&tp),
                "p99_ratio": median(&p99),
                "durable_throughput_ratio": median(&dtp),
                "durable_p99_ratio": median(&dp99),
            });
            if per_round.len() > 1 {
                ratio["rounds"] = json!(per_round.iter().map(|r| json!({
                    "throughput_ratio": r[0],
                    "p99_ratio": r[1],
                    "durable_throughput_ratio": r[2],
                    "durable_p99_ratio": r[3],
                })).collect::<Vec<_>>());
            }
            ratios.push(ratio);
        }
        println!(
            "  reproduce: cargo run --release -- bench query --persons {persons} --seconds {seconds} --concurrency {}{}",
            concurrencies.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(","),
            if rounds > 1 { format!(" --rounds {rounds}") } else { String::new() }
        );
        if let Some(path) = json_out {
            let doc = json!({
                "benchmark": "query",
                "persons": persons,
                "seconds": seconds,
                "rounds": rounds,
                "runs": results.iter().map(|(round, m)| json!({
                    "round": round,
                    "path": m.target,
                    "concurrency": m.concurrency,
                    "requests": m.requests,
                    "errors": m.errors,
                    "throughput_per_s": m.throughput,
                    "p50_ms": ms(m.p50),
                    "p99_ms": ms(m.p99),
                    "p999_ms": ms(m.p999),
                    "cpu_us_per_request": m.cpu_per_request.map(|c| c.as_secs_f64() * 1e6),
                })).collect::<Vec<_>>(),
                "ratios_to_relay": ratios,
            });
            std::fs::write(path, serde_json::to_string_pretty(&doc)?)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        let _ = mex;
        Ok(())
    })
}
