//! What every test of the `puente` binary needs: running it, its output as text, paths
//! as arguments. Each test binary uses a part of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

pub mod node;

/// Runs the `puente` binary with `args`, quietly.
pub fn puente(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_puente"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run puente")
}

/// Standard output and error together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}
