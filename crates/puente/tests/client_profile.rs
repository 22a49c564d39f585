//! The `puente` binary with client profiles: `client init` writes a profile directory
//! (private key 0600, nothing of the node's), the environment variables spare the flags,
//! and every way of getting the node flags wrong exits 2 saying what to pass.
//! (The profile against running nodes is tested in `tests/e2e/client_profile.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{p, puente, text};

/// `puente ARGS` with `env` set and the profile variables of the caller's environment
/// removed.
fn puente_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_puente"));
    c.args(args)
        .env("RUST_LOG", "warn")
        .env_remove("PUENTE_PROFILE")
        .env_remove("PUENTE_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn client_init_writes_a_private_profile_and_the_flags_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("mex");
    // Nothing listens on port 1: calls fail after the profile is read.
    let out = puente(&[
        "init",
        "--country",
        "MEX",
        "--dir",
        p(&node),
        "--listen",
        "127.0.0.1:1",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let config = node.join("puente.toml");
    let ana = dir.path().join("ana");
    let out = puente(&[
        "client",
        "init",
        "--config",
        p(&config),
        "--role",
        "operator",
        "--name",
        "ana",
        "--out",
        p(&ana),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("urn:puente:MEX:operator:ana") && text(&out).contains("PUENTE_PROFILE"),
        "{}",
        text(&out)
    );
    let profile = ana.join("puente-client.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ana.join("operator-ana.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Once only, and only for people.
    let again = puente(&[
        "client",
        "init",
        "--config",
        p(&config),
        "--role",
        "operator",
        "--name",
        "bob",
        "--out",
        p(&ana),
    ]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    let node_role = puente(&[
        "client",
        "init",
        "--config",
        p(&config),
        "--role",
        "node",
        "--name",
        "x",
        "--out",
        p(&dir.path().join("x")),
    ]);
    assert_eq!(node_role.status.code(), Some(2), "{}", text(&node_role));
    let bad_name = puente(&[
        "client",
        "init",
        "--config",
        p(&config),
        "--role",
        "auditor",
        "--name",
        "Ana Lopez",
        "--out",
        p(&dir.path().join("y")),
    ]);
    assert_eq!(bad_name.status.code(), Some(2), "{}", text(&bad_name));
    assert!(
        text(&bad_name).contains("not a valid name"),
        "{}",
        text(&bad_name)
    );

    // PUENTE_PROFILE spares --profile: the profile is read, then the node is dialled.
    let out = puente_env(&["peers"], &[("PUENTE_PROFILE", &profile)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the node of MEX at 127.0.0.1:1") && text(&out).contains("Unavailable"),
        "{}",
        text(&out)
    );
    // PUENTE_CONFIG spares --config on the node's host.
    let out = puente_env(&["agreements"], &[("PUENTE_CONFIG", &config)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("node mex-1 at 127.0.0.1:1"),
        "{}",
        text(&out)
    );

    // Neither, both, a missing and a garbled profile: exit 2, saying what to pass.
    let out = puente_env(
        &[
            "query",
            "--peer",
            "GTM",
            "--purpose",
            "identification",
            "--case",
            "EXP-1",
            "--document",
            "X1",
            "--issuer",
            "GTM",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--profile FILE") && text(&out).contains("PUENTE_CONFIG"),
        "{}",
        text(&out)
    );
    let out = puente_env(
        &["stats", "status", "--config", p(&config)],
        &[("PUENTE_PROFILE", &profile)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("pass only one")
            && text(&out).contains("PUENTE_PROFILE set in the environment"),
        "{}",
        text(&out)
    );
    let out = puente_env(
        &[
            "alert",
            "list",
            "--profile",
            p(&dir.path().join("none.toml")),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no such client profile"),
        "{}",
        text(&out)
    );
    let garbled = dir.path().join("garbled.toml");
    std::fs::write(&garbled, "format = \"puente-client/1\"\nnode = 7\n").unwrap();
    let out = puente_env(&["peers", "--profile", p(&garbled)], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is not a usable client profile"),
        "{}",
        text(&out)
    );

    // An offline audit command with a profile says to use --online or the node's host.
    let out = puente_env(&["audit", "checkpoint", "--profile", p(&profile)], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--online"), "{}", text(&out));
    // `audit prove --online` with a profile needs the country's bundle for the key.
    let out = puente_env(
        &[
            "audit",
            "prove",
            "--online",
            "--index",
            "0",
            "--profile",
            p(&profile),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--bundle MEX.bundle"), "{}", text(&out));
    // `audit verify --log` needs bundles, and not --config.
    let out = puente_env(
        &["audit", "verify", "--log", p(&node.join("data/audit"))],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--bundle"), "{}", text(&out));
}

#[test]
fn help_texts_teach_profiles_with_examples() {
    for (args, needles) in [
        (
            vec!["client", "init", "--help"],
            vec!["Examples:", "--role operator", "PUENTE_PROFILE", "0600"],
        ),
        (
            vec!["query", "--help"],
            vec![
                "--profile <FILE>",
                "PUENTE_PROFILE",
                "--config <FILE>",
                "Examples:",
            ],
        ),
        (
            vec!["stats", "sync", "--help"],
            vec!["--profile <FILE>", "PUENTE_CONFIG"],
        ),
        (
            vec!["audit", "verify", "--help"],
            vec![
                "--log <DIR>",
                "--bundle <FILE>",
                "puente audit verify --log",
            ],
        ),
    ] {
        let out = puente_env(&args, &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        for n in needles {
            assert!(
                text(&out).contains(n),
                "{args:?} lacks {n:?}: {}",
                text(&out)
            );
        }
    }
}
