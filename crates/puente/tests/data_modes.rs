//! Whatever the umask, what `puente init` and `puente records import` leave in a node's
//! data directory is its user's alone: every file 0600, every directory 0700 (the store,
//! its passport copies in sled's blobs, the audit log, the quota counters).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
#![cfg(unix)]

mod common;
use common::{p, puente};

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

fn ok(out: Output) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every path under `root` (itself included) whose mode is not 0700 (directories) or
/// 0600 (files), with its mode; and how many files there are.
fn wider_than_private(root: &Path) -> (Vec<String>, usize) {
    let (mut wide, mut files) = (Vec::new(), 0);
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let want = if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            0o700
        } else {
            files += 1;
            0o600
        };
        if mode != want {
            wide.push(format!("{} {mode:o}", path.display()));
        }
    }
    (wide, files)
}

#[test]
fn init_and_records_import_leave_only_private_files_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("mex");
    // The addresses go into the config only: no node runs here.
    ok(puente(&[
        "init",
        "--country",
        "MEX",
        "--dir",
        p(&node),
        "--listen",
        "127.0.0.1:7",
        "--metrics-listen",
        "127.0.0.1:8",
    ]));
    let data = node.join("data");
    assert_eq!(wider_than_private(&data).0, Vec::<String>::new());

    let records = dir.path().join("records");
    ok(puente(&[
        "records",
        "generate",
        "--count",
        "40",
        "--seed",
        "7",
        "--out",
        p(&records),
        "--copy-every",
        "4",
        "--holder",
        "MEX",
    ]));
    ok(puente(&[
        "records",
        "import",
        "--config",
        p(&node.join("puente.toml")),
        p(&records.join("persons.csv")),
    ]));
    let (wide, files) = wider_than_private(&data);
    assert!(files >= 3, "the import wrote the store: {files} files");
    assert_eq!(wide, Vec::<String>::new(), "group or others can read these");

    // An audit command opens the log (creating its files) the same way.
    ok(puente(&[
        "audit",
        "verify",
        "--config",
        p(&node.join("puente.toml")),
    ]));
    let (wide, _) = wider_than_private(&data);
    assert_eq!(wide, Vec::<String>::new(), "group or others can read these");
}
