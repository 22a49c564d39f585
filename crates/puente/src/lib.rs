//! The `puente` command line: one binary for a country's administrator (`init`, `pki`,
//! `trust`, `node`), its officers (`peers`, later `query`, `fetch`), its auditors (later
//! `audit`) and newcomers (`demo`).
//!
//! # Layout
//! - [`cli`]: the clap definitions (flags, help texts).
//! - [`commands`]: dispatch, error mapping and exit codes.
//! - [`setup`]: `init`, `pki …`, `trust …`: creating and wiring a country's material.
//! - [`operate`]: `node run`, `node check`, `peers`: running and talking to a node.
//! - [`agreement`]: `agreement draft/sign/verify/show`, `agreements`.
//! - [`records`]: `records import/search/generate/keygen` on the data directory.
//! - [`access`]: `--profile` or `--config`: reaching the own node as an operator or auditor.
//! - [`workstation`]: `client init`: a person's client profile.
//! - [`officer`]: `query` and `fetch`, through the operator's own node.
//! - [`manifest`]: `manifest submit/list/show/check`: carriers' manifests.
//! - [`audit`]: `puente audit …`, offline on a data directory or online as an auditor;
//!   [`audit_copy`]: `audit verify --log`, a copy of the log and public bundles only.
//! - [`backup`]: `puente backup` and `puente restore`.
//! - [`bench`](mod@bench): `puente bench …`, measured against same-run baselines
//!   ([`bench_manifest`]: a manifest check against single queries);
//!   [`bench_variants`] and [`bench_eval`]: the matcher's independent evaluation.
//! - [`console`]: `puente console`, the web UI of officers and auditors.
//! - [`demo`]: the three-country federation on one machine.
//! - [`logging`]: tracing set-up (text or JSON).

#![forbid(unsafe_code)]

pub mod access;
pub mod agreement;
pub mod alerts;
pub mod audit;
pub mod audit_copy;
pub mod backup;
pub mod bench;
pub mod bench_durable;
pub mod bench_eval;
pub mod bench_fed;
pub mod bench_manifest;
pub mod bench_query;
pub mod bench_soak;
pub mod bench_start;
pub mod bench_stats;
pub mod bench_variants;
pub mod cli;
pub mod commands;
pub mod console;
pub mod demo;
pub mod logging;
pub mod manifest;
pub mod officer;
pub mod operate;
pub mod records;
pub mod setup;
pub mod stats;
pub mod status;
pub mod workstation;
