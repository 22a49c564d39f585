//! `puente bench start`: how long a node holding many persons and many audit entries takes
//! from the start of its process to answering a peer's identity query, and how much memory
//! it then holds (issue 20, point 4).
//!
//! Two countries are set up as for `bench query`; GTM gets `persons` synthetic persons
//! and `entries` audit entries of permitted incoming identity queries made in the last
//! hours (so the quota recount at start reads every one of them), written with GTM's own
//! signing key through the log's group commit. Both nodes then run as separate processes
//! (`puente node run`), as an operator runs them; GTM is started once, then stopped and
//! started again `runs` times. Each start is timed from spawning the process to the first answer of a
//! document query that MEX's operator sends through MEX to GTM — a real answer, audited
//! on both sides with its receipt verified, not merely an open port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use puente_node::NodeConfig;
use puente_proto::v1 as pb;

/// A node process, stopped (SIGTERM, then SIGKILL past a deadline) when dropped.
struct NodeProcess {
    child: Child,
    log: PathBuf,
}

impl NodeProcess {
    fn spawn(config: &Path, log: PathBuf) -> Result<Self> {
        let exe = std::env::current_exe().context("finding the puente executable")?;
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(exe)
            .args(["node", "run", "--config"])
            .arg(config)
            // Its account of the start is an info line, whatever the caller's level.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting `puente node run`")?;
        Ok(Self { child, log })
    }

    /// Resident memory now and at its peak, in MB, from /proc.
    fn memory_mb(&self) -> Option<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Asks the node to stop as an operator's service manager does, and waits.
    fn stop(mut self) -> Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!(
            "the node did not stop within 60 s of SIGTERM (log: {})",
            self.log.display()
        )
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Err(e) = self.terminate() {
            eprintln!("{e}");
        }
    }
}

/// Appends `entries` permitted incoming identity queries from MEX to GTM's log, as GTM's
/// node would have written them over the last hours.
async fn fill_log(gtm: &puente_node::LoadedNode, entries: u64) -> Result<()> {
    let data_dir = &gtm.config.node.data_dir;
    let store = puente_node::store::Store::open(data_dir)?;
    let log = puente_audit::AuditLog::open_with_head(
        store.db(),
        &store.audit_dir(),
        format!("puente/{}/audit", gtm.country()),
        gtm.signing.clone(),
        Some(puente_node::store::audit_head_path(data_dir)),
    )?;
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    // Spread over the last six hours, oldest first, as a day's traffic is.
    let span_ms = 6 * 3_600_000i64;
    let appenders = 256u64;
    let per = entries.div_ceil(appenders);
    let started = Instant::now();
    let log = Arc::new(log);
    let mut tasks = tokio::task::JoinSet::new();
    for a in 0..appenders {
        let log = log.clone();
        tasks.spawn(async move {
            for i in 0..per {
                let n = a * per + i;
                if n >= entries {
                    break;
                }
                let time_ms = now_ms - span_ms + (span_ms * n as i64) / entries.max(1) as i64;
                log.append(incoming_query(n, time_ms)).await?;
            }
            Ok::<_, puente_audit::AuditError>(())
        });
    }
    let mut last = Instant::now();
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| anyhow!("an appender: {e}"))??;
        if last.elapsed() > Duration::from_secs(10) {
            eprintln!("  {} entries…", log.trees().size()?);
            last = Instant::now();
        }
    }
    log.close();
    eprintln!(
        "  {} entries appended in {:.1} s",
        log.trees().size()?,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// An entry like the one GTM's node writes for a permitted document query from MEX.
fn incoming_query(n: u64, time_ms: i64) -> puente_audit::Entry {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&n.to_be_bytes());
    puente_audit::Entry {
        time_ms,
        direction: pb::Direction::Incoming as i32,
        peer_country: "MEX".into(),
        actor: "urn:puente:MEX:node:mex-1".into(),
        service: pb::Service::IdentityQuery as i32,
        purpose: pb::Purpose::Identification as i32,
        case_reference: format!("BENCH-START-{n:08}"),
        agreement_id: "BENCH-QUERY".into(),
        decision: pb::Decision::Allowed as i32,
        rule: "agreement.granted".into(),
        disclosed_fields: vec![1, 2, 3, 5, 7, 8],
        request_sha256: digest,
        response_sha256: digest,
        query_term_hashes: vec![("document".into(), digest)],
        ..puente_audit::Entry::default()
    }
}

/// Sends document queries through MEX to GTM until one is answered with a verified
/// receipt; returns when it was.
async fn first_answer(
    mex: &puente_node::LoadedNode,
    docs: &[(String, String)],
    deadline: Duration,
) -> Result<Instant> {
    let give_up = Instant::now() + deadline;
    let mut i = 0usize;
    loop {
        let (issuer, number) = docs[i % docs.len()].clone();
        i += 1;
        let q = pb::QueryRequest {
            peer_country: "GTM".into(),
            context: Some(pb::RequestContext {
                purpose: pb::Purpose::Identification as i32,
                case_reference: format!("BENCH-START-PROBE-{i}"),
                ..Default::default()
            }),
            query: Some(pb::IdentityQuery {
                terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                    document_number: number,
                    issuing_state: issuer,
                    document_type: pb::DocumentType::Passport as i32,
                })),
            }),
            max_matches: 1,
        };
        let answered = match crate::operate::local_client(mex) {
            Ok(mut client) => match client.query(q).await {
                Ok(r) => {
                    let r = r.into_inner();
                    r.outcome == pb::MatchOutcome::Match as i32 && r.receipt_verified
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
        if answered {
            return Ok(Instant::now());
        }
        if Instant::now() > give_up {
            bail!("GTM did not answer a query within {} s", deadline.as_secs());
        }
        // A refused connection comes back at once: poll often, so the figure is the
        // node's, not the poll's.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The node's own account of its start (the log line with each phase's time).
fn start_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find(|l| l.contains("node opened"))
        .map(str::to_string)
}

/// One start: time to the first answer, memory then (current, peak MB), the node's
/// own log line about its start.
type Start = (Duration, Option<(f64, f64)>, Option<String>);

/// What `--keep DIR` leaves in DIR, to start the same nodes again.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    persons: u64,
    entries: u64,
    /// The prepared directory (configs, data directories, logs).
    base: PathBuf,
    configs: Vec<PathBuf>,
    /// Documents of persons GTM holds, for the probe queries.
    docs: Vec<(String, String)>,
}

const KEPT_FILE: &str = "bench-start.json";

impl Kept {
    fn load(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(KEPT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let kept: Self = serde_json::from_str(&text).with_context(|| {
            format!("{} is not what `bench start --keep` wrote", path.display())
        })?;
        Ok(Some(kept))
    }
}

/// Runs the benchmark and prints its table (keeping the nodes in `keep`, or starting the
/// ones kept there).
pub fn run(persons: u64, entries: u64, runs: usize, keep: Option<&Path>) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        println!("puente bench start: a node holding {persons} persons and {entries} audit entries, started {runs} times");
        println!("Reproduce: cargo run --release -- bench start --persons {persons} --entries {entries} --runs {runs}");
        let kept = keep.map(Kept::load).transpose()?.flatten();
        // Deletes the prepared nodes at the end unless they are kept.
        let mut _temporary = None;
        let fresh = kept.is_none();
        let (base, configs, docs) = match kept {
            Some(k) => {
                if (k.persons, k.entries) != (persons, entries) {
                    bail!(
                        "{} holds nodes of {} persons and {} audit entries, not {persons} and {entries}: give those, or another --keep directory",
                        keep.unwrap_or(Path::new(".")).join(KEPT_FILE).display(),
                        k.persons,
                        k.entries
                    );
                }
                eprintln!("starting the nodes kept in {} again (not prepared anew)", k.base.display());
                (k.base, k.configs, k.docs)
            }
            None => {
                if let Some(d) = keep {
                    std::fs::create_dir_all(d)
                        .with_context(|| format!("making {}", d.display()))?;
                }
                let (prepared, docs) = crate::bench_query::query_pair_in(keep, persons).await?;
                let (dir, configs) = prepared.into_files();
                let gtm = NodeConfig::load(&configs[1])?;
                eprintln!("appending {entries} audit entries to GTM's log…");
                fill_log(&gtm, entries).await?;
                let base = dir.path().to_path_buf();
                match keep {
                    // Named only once whole: a run cut short leaves nothing to reuse.
                    Some(d) => {
                        let kept = Kept {
                            persons,
                            entries,
                            base: dir.keep(),
                            configs: configs.clone(),
                            docs: docs.clone(),
                        };
                        std::fs::write(d.join(KEPT_FILE), serde_json::to_vec_pretty(&kept)?)?;
                        eprintln!("the prepared nodes are kept in {}", kept.base.display());
                    }
                    None => _temporary = Some(dir),
                }
                (base, configs, docs)
            }
        };
        let mex = NodeConfig::load(&configs[0])?;
        let logs = base.join("logs");
        std::fs::create_dir_all(&logs)?;
        let _mex_node = NodeProcess::spawn(&configs[0], logs.join("mex.log"))?;

        let mut starts: Vec<Start> = Vec::new();
        for run in 0..=runs {
            let log = logs.join(format!("gtm-{run}.log"));
            let t = Instant::now();
            let node = NodeProcess::spawn(&configs[1], log.clone())?;
            let answered = first_answer(&mex, &docs, Duration::from_secs(600))
                .await
                .with_context(|| format!("start {run} (log: {})", log.display()))?;
            let took = answered - t;
            let mem = node.memory_mb();
            node.stop()?;
            let line = start_line(&log);
            eprintln!(
                "  start {run}: answered after {:.2} s{}",
                took.as_secs_f64(),
                if run == 0 && fresh { " (first after the import)" } else { "" }
            );
            starts.push((took, mem, line));
        }

        println!();
        println!("| start | to the first answer | resident memory then (peak) |");
        println!("|---|---|---|");
        for (i, (took, mem, _)) in starts.iter().enumerate() {
            let what = if i == 0 {
                if fresh { "first after the import" } else { "first" }.to_string()
            } else {
                format!("restart {i}")
            };
            let mem = mem
                .map(|(rss, hwm)| format!("{rss:.0} MB ({hwm:.0} MB)"))
                .unwrap_or_else(|| "-".into());
            println!("| {what} | {:.2} s | {mem} |", took.as_secs_f64());
        }
        println!();
        println!("What each start spent, from the node's own log:");
        for (i, (_, _, line)) in starts.iter().enumerate() {
            println!("  {i}: {}", line.as_deref().unwrap_or("(no `node opened` line)"));
        }
        Ok(())
    })
}
