//! Crashes: `puente node run` killed with SIGKILL under load loses no acknowledged
//! entry, and tampering with its files is located and refused.

use std::path::Path;
use std::process::Command;

use crate::common::{p, puente, text};

fn wait_listening(addr: &str) {
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{addr} never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn listen_of(config: &Path) -> String {
    let text = std::fs::read_to_string(config).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("listen = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string()
}

/// The demo federation in `dir`, for the SIGKILL rounds: (MEX's config, its address).
fn kill_setup(dir: &Path) -> (std::path::PathBuf, String) {
    let fed = dir.join("fed");
    let out = puente(&["demo", "--dir", p(&fed)]);
    assert!(out.status.success(), "{}", text(&out));
    let mex_cfg = fed.join("MEX/puente.toml");
    let addr = listen_of(&mex_cfg);
    (mex_cfg, addr)
}

/// One round: the real `puente node run` under 16 concurrent streams of exchanges, killed
/// with SIGKILL mid-flight; then its store reopens as the node opens it at start (which
/// refuses a log that does not match its last signed checkpoint or its head file),
/// `puente audit verify` passes, and every exchange whose answer (receipt) the asker
/// received has its entry, byte for byte. Returns how many answers came back.
fn kill_round(mex_cfg: &Path, addr: &str) -> usize {
    use puente_proto::v1 as pb;
    let mut mex = Command::new(env!("CARGO_BIN_EXE_puente"))
        .args(["node", "run", "--config", p(mex_cfg)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(addr);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mex_node = puente_node::NodeConfig::load(mex_cfg).unwrap();
    let gtm_cfg = mex_cfg
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("GTM/puente.toml");
    let gtm_node = puente_node::NodeConfig::load(&gtm_cfg).unwrap();
    let pid = mex.id().to_string();
    let kill = || {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    };
    let receipts: Vec<pb::Receipt> = rt.block_on(async {
        let ch = puente_node::client::node_channel(
            addr,
            &gtm_node.tls,
            &mex_node.own_anchor,
            std::time::Duration::from_secs(5),
            Some(std::time::Duration::from_secs(10)),
        )
        .unwrap()
        .channel;
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let mut tasks = Vec::new();
        let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for worker in 0..16 {
            let ch = ch.clone();
            let tx = tx.clone();
            let killed = killed.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..200 {
                    let r = pb::exchange_client::ExchangeClient::new(ch.clone())
                        .query_identity(pb::QueryIdentityRequest {
                            context: Some(pb::RequestContext {
                                purpose: pb::Purpose::Identification as i32,
                                case_reference: format!("W{worker}-{i}"),
                                ..Default::default()
                            }),
                            query: Some(pb::IdentityQuery {
                                terms: Some(pb::identity_query::Terms::Document(
                                    pb::DocumentTerms {
                                        document_number: "BX1234567".into(),
                                        issuing_state: "BGD".into(),
                                        document_type: pb::DocumentType::Passport as i32,
                                    },
                                )),
                            }),
                            max_matches: 0,
                        })
                        .await;
                    // An answer or a refusal by policy (the quota runs out over many
                    // rounds) both carry the responder's receipt: both were audited.
                    let receipt = match r {
                        Ok(a) => a.into_inner().receipt,
                        Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                            // The peer rate limit: slow down, as a real peer would.
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                        Err(s) => match puente_node::auditing::receipt_of(&s) {
                            Some(rc) => Some(rc),
                            // Still starting (or killed): wait, unless it was killed.
                            None if killed.load(std::sync::atomic::Ordering::SeqCst) => return,
                            None => {
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                                continue;
                            }
                        },
                    };
                    if let Some(rc) = receipt {
                        let _ = tx.send(rc).await;
                    }
                }
            }));
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(r) = rx.recv().await {
            got.push(r);
            if got.len() == 150 {
                // Mid-flight: kill the node without any chance to clean up.
                killed.store(true, std::sync::atomic::Ordering::SeqCst);
                kill();
            }
        }
        for t in tasks {
            let _ = t.await;
        }
        // However the load went, the node dies without warning.
        kill();
        got
    });
    let _ = mex.wait();
    assert!(!receipts.is_empty(), "no answer before the kill");

    {
        let store = puente_node::store::Store::open(&mex_node.config.node.data_dir).unwrap();
        let log = puente_audit::AuditLog::open_with_head(
            store.db(),
            &store.audit_dir(),
            format!("puente/{}/audit", mex_node.country()),
            mex_node.signing.clone(),
            Some(puente_node::store::audit_head_path(
                &mex_node.config.node.data_dir,
            )),
        )
        .expect("the log of a killed node reopens");
        // `close` returns once the writer and the head file are done.
        log.close();
    }
    let v = puente(&["audit", "verify", "--config", p(mex_cfg)]);
    assert!(v.status.success(), "{}", text(&v));
    let store = puente_node::store::Store::open(&mex_node.config.node.data_dir).unwrap();
    let trees = puente_audit::log::Trees::open(store.db(), &store.audit_dir()).unwrap();
    for r in &receipts {
        let bytes = trees
            .entry_bytes(r.entry_index)
            .unwrap()
            .unwrap_or_else(|| panic!("entry {} acknowledged but lost", r.entry_index));
        assert_eq!(
            puente_audit::entry::leaf_of(&bytes).to_vec(),
            r.leaf_hash,
            "entry {}",
            r.entry_index
        );
    }
    receipts.len()
}

/// Two SIGKILL rounds (the smoke variant of `sigkill_campaign`), then tampering: one
/// flipped byte of an entry in the log file is located by `puente audit verify`, by
/// index, and refused by `puente node run`; flipped bytes in the latest checkpoint (a
/// disk error in the last thing the node wrote) make both refuse, naming the file.
#[test]
fn sigkill_mid_exchange_loses_no_acknowledged_entry_and_tampering_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let (mex_cfg, addr) = kill_setup(dir.path());
    for _ in 0..2 {
        kill_round(&mex_cfg, &addr);
    }
    let mex_node = puente_node::NodeConfig::load(&mex_cfg).unwrap();
    let data_dir = mex_node.config.node.data_dir.clone();
    let log_file = data_dir.join("audit/log");
    let original = std::fs::read(&log_file).unwrap();
    {
        let store = puente_node::store::Store::open(&data_dir).unwrap();
        let trees = puente_audit::log::Trees::open(store.db(), &store.audit_dir()).unwrap();
        // Tamper: flip one byte of entry 3, in the file.
        let at = trees.entry_offset(3).unwrap().unwrap() as usize;
        let len = trees.entry_bytes(3).unwrap().unwrap().len();
        let mut raw = original.clone();
        raw[at + 4 + len - 70] ^= 0x20;
        std::fs::write(&log_file, raw).unwrap();
    }
    let v = puente(&["audit", "verify", "--config", p(&mex_cfg)]);
    assert!(!v.status.success());
    assert!(text(&v).contains("entry 3"), "{}", text(&v));

    // The API tamper is also refused at start: a node never serves from that log.
    let run = puente(&["node", "run", "--config", p(&mex_cfg)]);
    assert!(!run.status.success());
    assert!(
        text(&run).contains("entry 3: its content does not match its stored leaf hash"),
        "{}",
        text(&run)
    );

    // Corrupt the bytes of the latest signed checkpoint, the last thing the node wrote
    // (a disk error, not a crash: the batch is complete but fails its checksum).
    let mut raw = original;
    let note = std::fs::read(puente_node::store::audit_head_path(&data_dir)).unwrap();
    let at = raw
        .windows(note.len())
        .rposition(|w| w == note.as_slice())
        .expect("the latest checkpoint is in the log file");
    for b in &mut raw[at + 20..at + 36] {
        *b ^= 0x5a;
    }
    std::fs::write(&log_file, &raw).unwrap();
    let mut node = Command::new(env!("CARGO_BIN_EXE_puente"))
        .args(["node", "run", "--config", p(&mex_cfg)])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while node.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = node.kill();
            panic!("a node with a corrupt store started serving");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let run = node.wait_with_output().unwrap();
    let said = text(&run);
    assert!(!run.status.success(), "{said}");
    // Either way the node refuses to start and says which file is corrupt.
    let corrupt = format!("{} is corrupt", log_file.display());
    assert!(
        said.contains(&corrupt) || said.contains("were lost"),
        "{said}"
    );
    let v = puente(&["audit", "verify", "--config", p(&mex_cfg)]);
    assert!(!v.status.success(), "{}", text(&v));
    assert!(
        text(&v).contains(&corrupt) || text(&v).contains("were lost"),
        "{}",
        text(&v)
    );
}

/// The long campaign: `PUENTE_KILL_ROUNDS` (default 20) rounds of SIGKILL under load,
/// restart, verify, no acknowledged entry lost.
///
/// ```sh
/// cargo test -p puente --test cli sigkill_campaign -- --ignored --nocapture
/// ```
#[test]
#[ignore = "long: 20 SIGKILL rounds (about a minute); run with --ignored"]
fn sigkill_campaign() {
    let rounds: usize = std::env::var("PUENTE_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let (mex_cfg, addr) = kill_setup(dir.path());
    let started = std::time::Instant::now();
    let mut answered = 0;
    for round in 1..=rounds {
        let n = kill_round(&mex_cfg, &addr);
        answered += n;
        eprintln!("round {round}/{rounds}: {n} acknowledged exchanges, all present and verified");
    }
    eprintln!(
        "{rounds} SIGKILL rounds, {answered} acknowledged exchanges, none lost ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
}
