//! `puente status` on the node's host, as text and JSON, and a reader that closes the pipe
//! early (`puente stats export | head`): the command ends quietly with success.

use std::process::{Command, Stdio};

use crate::common::node::{init_on_port_zero, LoggedNode};
use crate::common::{p, puente, text};

#[test]
fn status_shows_the_node_and_a_closed_pipe_is_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = init_on_port_zero(&dir.path().join("MEX"));
    let mut node = LoggedNode::start(&config);

    let json = puente(&["status", "--config", p(&config), "--output", "json"]);
    let table = puente(&["status", "--config", p(&config)]);
    // Whoever reads stops at once: the pipe is closed before anything is written.
    let mut closed = Vec::new();
    for args in [
        vec!["status", "--config", p(&config)],
        vec!["stats", "export", "--config", p(&config)],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_puente"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        closed.push((args.join(" "), child.wait_with_output().unwrap()));
    }
    let _ = node.child.kill();
    let _ = node.child.wait();

    assert!(json.status.success(), "{}", text(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON on stdout");
    assert_eq!(v["country"], "MEX");
    assert_eq!(v["node"], "mex-1");
    assert_eq!(v["persons"], 0);
    assert!(
        v["material"].as_array().is_some_and(|m| m.len() >= 3),
        "{v}"
    );
    assert_eq!(v["peers"], serde_json::json!([]), "no peers yet: {v}");
    assert!(
        v["disk"]["free_bytes"].as_u64().is_some_and(|b| b > 0),
        "{v}"
    );

    assert!(table.status.success(), "{}", text(&table));
    let t = text(&table);
    for wanted in [
        "MEX node mex-1",
        "Runs out",
        "node certificate",
        "Audit log:",
        "Disk:",
    ] {
        assert!(t.contains(wanted), "{wanted} in {t}");
    }

    for (what, out) in closed {
        assert!(out.status.success(), "{what}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("error") && !err.contains("panicked"),
            "{what}: {err}"
        );
    }
}
