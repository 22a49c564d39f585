//! `puente backup` and `puente restore` as an administrator runs them: a backup streamed
//! by a running `puente node run`, restored into an empty data directory after the node
//! stopped; a damaged archive exits 2 and leaves the directory empty.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::node::{init_on_port_zero, LoggedNode};
use crate::common::{p, puente, text};

#[test]
fn a_running_node_is_backed_up_and_restored_and_damage_exits_2() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("mex");
    let config = init_on_port_zero(&dir);
    let mut node = LoggedNode::start(&config);
    let archive = temp.path().join("mex.backup");
    let out = puente(&["backup", "--config", p(&config), "--out", p(&archive)]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("streamed by the running node"), "{t}");

    let kill = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "node did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }

    let data = dir.join("data");
    std::fs::rename(&data, dir.join("data.lost")).unwrap();
    let mut damaged = std::fs::read(&archive).unwrap();
    damaged.truncate(damaged.len() - 10);
    let bad = temp.path().join("cut.backup");
    std::fs::write(&bad, &damaged).unwrap();
    let out = puente(&["restore", "--config", p(&config), p(&bad)]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("truncated") && t.contains("cut.backup"), "{t}");
    assert!(!data.exists(), "a refused restore wrote {}", data.display());

    let out = puente(&["restore", "--config", p(&config), p(&archive)]);
    assert!(out.status.success(), "{}", text(&out));
    let out = puente(&["audit", "verify", "--config", p(&config)]);
    assert!(out.status.success(), "{}", text(&out));
    let out = puente(&["restore", "--config", p(&config), p(&archive)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is not empty"), "{}", text(&out));
}
