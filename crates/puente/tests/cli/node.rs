//! Running a node: the demo federation, `puente node run` and its clean exit on SIGTERM,
//! and what the commands do when the node they need is down or holds the store.

use std::process::Command;

use crate::common::node::{init_on_port_zero, LoggedNode};
use crate::common::{p, puente, text};

#[test]
fn demo_runs_a_federation_and_keeps_it_with_dir() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("fed");
    let log = dir.path().join("demo.out");
    // --keep-running: the nodes stay up and the demo prints commands that work.
    let mut child = Command::new(env!("CARGO_BIN_EXE_puente"))
        .args(["demo", "--dir", p(&keep), "--keep-running"])
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let printed = loop {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        if t.contains("Ctrl-C stops it") && t.contains("python3 examples/python") {
            break t;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the demo never came up: {t}"
        );
        assert!(child.try_wait().unwrap().is_none(), "the demo exited: {t}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Run two of the printed commands as printed.
    for needle in [" peers --config ", " alert list --config "] {
        let line = printed
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no{needle}command printed"));
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        let out = puente(&args);
        assert!(out.status.success(), "{line}: {}", text(&out));
        if needle.contains("alert") {
            assert!(
                text(&out).contains("alert received from MEX"),
                "{}",
                text(&out)
            );
        }
    }
    // Stopped a while after witnessing, every log still verifies (the final checkpoint
    // must not orphan the cosignatures).
    std::thread::sleep(Duration::from_millis(1200));
    send_sigterm(child.id());
    let status = child.wait().unwrap();
    let t = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{t}");
    assert!(t.contains("Summary: 3 nodes"), "{t}");
    for c in ["MEX", "GTM", "CRI"] {
        assert!(keep.join(c).join("puente.toml").exists());
    }
    // The kept federation's configs still check.
    let check = puente(&[
        "node",
        "check",
        "--config",
        p(&keep.join("GTM/puente.toml")),
    ]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("peers        2"), "{}", text(&check));
    // A non-empty --dir is refused.
    let again = puente(&["demo", "--dir", p(&keep)]);
    assert!(!again.status.success());
    assert!(text(&again).contains("not empty"), "{}", text(&again));
}

#[test]
fn peers_reports_an_unreachable_own_node_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mex = dir.path().join("MEX");
    // Port 9 (discard) on loopback: nothing listens.
    assert!(puente(&[
        "init",
        "--country",
        "MEX",
        "--dir",
        p(&mex),
        "--listen",
        "127.0.0.1:9"
    ])
    .status
    .success());
    let out = puente(&["peers", "--config", p(&mex.join("puente.toml"))]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("mex-1") && text(&out).contains("127.0.0.1:9"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("is the node running?"),
        "{}",
        text(&out)
    );
}

#[test]
fn node_run_drains_and_exits_cleanly_on_sigterm() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let config = init_on_port_zero(&dir.path().join("MEX"));
    let mut node = LoggedNode::start(&config);
    let (node_addr, metrics_addr) = (node.addr.clone(), node.metrics_addr.clone());
    assert_ne!(metrics_addr, node_addr);
    // The officer's view works against the running binary.
    let peers = puente(&["peers", "--config", p(&config)]);
    assert!(peers.status.success(), "{}", text(&peers));
    assert!(
        text(&peers).contains("MEX node mex-1: 0 peer(s)"),
        "{}",
        text(&peers)
    );

    // Metrics answer on loopback, at the address logged, without a certificate.
    let scrape = http_get(&metrics_addr, "/metrics");
    assert!(scrape.starts_with("HTTP/1.1 200"), "{scrape}");
    assert!(
        scrape.contains("puente_grpc_request_duration_seconds_count{service=\"puente.v1.Local\",method=\"ListPeers\"} 1"),
        "{scrape}"
    );

    let kill = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = node.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "node did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = node.rest_of_log();
    assert!(status.success(), "exit {status:?}: {log}");
    assert!(
        log.contains("SIGTERM received") && log.contains("node stopped"),
        "{log}"
    );
    // JSON lines; a handler's line carries its call's span (service, method, caller).
    assert!(
        log.contains(&format!("metrics at http://{metrics_addr}/metrics")),
        "{log}"
    );
    let listed = log
        .lines()
        .find(|l| l.contains("list peers"))
        .unwrap_or_else(|| panic!("no line of the ListPeers call: {log}"));
    let line: serde_json::Value = serde_json::from_str(listed).unwrap();
    let span = &line["span"];
    assert_eq!(span["name"], "grpc", "{listed}");
    assert_eq!(span["service"], "puente.v1.Local", "{listed}");
    assert_eq!(span["method"], "ListPeers", "{listed}");
    assert_eq!(
        span["caller"], "urn:puente:MEX:operator:officer",
        "{listed}"
    );
}

#[test]
fn records_commands_go_through_the_running_node_and_offline_audit_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_on_port_zero(&dir.path().join("MEX"));
    let csv = dir.path().join("feed.csv");
    std::fs::write(
        &csv,
        "record_id,given_names,surnames,date_of_birth,sex,nationality,document_type,document_number,issuing_state\n\
         LIVE-1,MARIE,JOSEPH,1991-06-15,F,HTI,passport,HT1000001,HTI\n",
    )
    .unwrap();
    // Serving: the store is open and held by another process.
    let mut node = LoggedNode::start(&config);
    let import = puente(&["records", "import", "--config", p(&config), p(&csv)]);
    let search = puente(&[
        "records",
        "search",
        "--config",
        p(&config),
        "--document",
        "HT1000001",
        "--issuer",
        "HTI",
        "--output",
        "json",
    ]);
    let audit = puente(&["audit", "list", "--config", p(&config)]);
    let _ = node.child.kill();
    let _ = node.child.wait();
    assert!(import.status.success(), "{}", text(&import));
    assert!(
        text(&import).contains("the import goes through it") && text(&import).contains("1 new"),
        "{}",
        text(&import)
    );
    assert!(search.status.success(), "{}", text(&search));
    let v: serde_json::Value = serde_json::from_slice(&search.stdout).unwrap();
    assert_eq!(v[0]["record_id"], "LIVE-1", "{v}");
    assert!(!audit.status.success());
    let said = String::from_utf8_lossy(&audit.stderr);
    assert!(
        said.contains("the node is running") && said.contains("--online"),
        "{said}"
    );
    // The message of a command that found the node (after sled's 3 s lock wait it would
    // report the lock instead); how fast is not asserted.
}

/// A plain HTTP/1.1 GET; the whole answer, head and body.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    answer
}

/// Sends SIGTERM to a child process (through the `kill` command: no unsafe code here).
fn send_sigterm(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid} failed");
}

#[test]
fn node_check_fails_when_the_node_could_not_start_its_log_or_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_on_port_zero(&dir.path().join("MEX"));
    // A node that ran once leaves its store and log.
    let mut node = LoggedNode::start(&config);
    send_sigterm(node.child.id());
    assert!(node.child.wait().unwrap().success());
    let check = puente(&["node", "check", "--config", p(&config)]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("store        opens"),
        "{}",
        text(&check)
    );

    // A config of an earlier version advertising the any-address still loads, but check
    // warns that no peer can dial it.
    let original = std::fs::read_to_string(&config).unwrap();
    let any: Vec<String> = original
        .lines()
        .map(|l| match l.starts_with("advertise = ") {
            true => "advertise = \"0.0.0.0:7400\"".to_string(),
            false => l.to_string(),
        })
        .collect();
    std::fs::write(&config, any.join("\n")).unwrap();
    let check = puente(&["node", "check", "--config", p(&config)]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("WARNING: node.advertise \"0.0.0.0:7400\" is the any-address"),
        "{}",
        text(&check)
    );
    std::fs::write(&config, &original).unwrap();

    // Another process holds the listen address: node run would fail, so check does.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = held.local_addr().unwrap().to_string();
    let text_of = std::fs::read_to_string(&config).unwrap();
    let moved = text_of.replacen("listen = \"127.0.0.1:0\"", &format!("listen = \"{at}\""), 1);
    assert_ne!(moved, text_of);
    std::fs::write(&config, &moved).unwrap();
    let check = puente(&["node", "check", "--config", p(&config)]);
    assert!(!check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains(&format!("node.listen {at} cannot be bound")),
        "{}",
        text(&check)
    );
    drop(held);
    std::fs::write(&config, &text_of).unwrap();

    // A log file with bytes that are no batch: node run would refuse to open it.
    let log = dir.path().join("MEX/data/audit/log");
    let mut bytes = std::fs::read(&log).unwrap_or_default();
    bytes.extend_from_slice(b"not a batch of the audit log");
    std::fs::write(&log, bytes).unwrap();
    let check = puente(&["node", "check", "--config", p(&config)]);
    assert!(!check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("the audit log"), "{}", text(&check));
}

#[test]
fn a_second_node_run_on_the_same_config_says_one_is_running() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_on_port_zero(&dir.path().join("MEX"));
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = held.local_addr().unwrap().to_string();
    let text_of = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text_of.replacen("listen = \"127.0.0.1:0\"", &format!("listen = \"{at}\""), 1),
    )
    .unwrap();
    let out = puente(&["node", "run", "--config", p(&config)]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("is a node already running on this config?"),
        "{}",
        text(&out)
    );
}
