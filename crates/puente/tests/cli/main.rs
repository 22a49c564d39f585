//! The `puente` binary as an administrator uses it: exit codes, messages that name the
//! problem, files with the right modes, and a demo that runs end to end. One test binary
//! (each links the whole command), one module per concern.
//!
//! # Layout
//! - [`setup`]: a country's node, PKI, trust and agreements.
//! - [`node`]: running a node, the demo federation, a clean exit on SIGTERM.
//! - [`data`]: records, queries, audit and statistics commands.
//! - [`manifest`]: carriers' manifests: a carrier's profile, submit, list, show.
//! - [`backup`]: `puente backup` of a running node and `puente restore`.
//! - [`crash`]: SIGKILL under load, and tampering with the audit files.
//! - [`status`]: `puente status`, and a reader that closes the pipe early.
//! - [`console`]: `puente console`: its address line and one-time token.
//! - [`bench`]: `puente bench start`, whose nodes are processes of their own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod bench;
mod console;
mod crash;
mod data;
mod manifest;
mod node;
mod setup;
mod status;
