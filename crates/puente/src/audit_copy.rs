//! `puente audit verify --log DIR --bundle FILE…`: what an auditor outside the ministry
//! does with a copy of a node's audit files and the countries' public bundles, and
//! nothing else — no node configuration, no node key.
//!
//! The copy is verified in a private temporary directory, so nothing is written to it
//! (opening a log repairs its derived index files and drops a torn last batch; evidence
//! stays as it was handed over). The log's own country is read from its checkpoints
//! (`puente/MEX/audit`) and its signing key taken from that country's bundle; peers'
//! bundles check the receipts they gave. Cosignatures are kept in the node's store, not
//! in the audit files, so they are not part of this check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use puente_audit::checkpoint::{split_note, Checkpoint};
use puente_audit::log::Trees;
use puente_audit::verify::{self, Keys, Report};
use puente_pki::trust::{self, TrustedPeer};
use puente_pki::VerifyingKey;

use crate::officer::UsageError;

/// The file a node keeps beside its audit directory with the latest checkpoint it signed.
const HEAD_FILE: &str = "audit-head";

struct BundleKeys {
    own: VerifyingKey,
    peers: BTreeMap<String, VerifyingKey>,
}

impl Keys for BundleKeys {
    fn own(&self) -> &VerifyingKey {
        &self.own
    }
    fn peer(&self, country: &str) -> Option<VerifyingKey> {
        self.peers.get(country).cloned()
    }
}

/// What a verification of a copy found.
#[derive(Debug)]
pub struct CopyReport {
    /// The log's country.
    pub country: String,
    /// What was checked.
    pub report: Report,
    /// Whether a head file was found beside the log and checked.
    pub head_checked: bool,
}

/// `puente audit verify --log … --bundle …`: prints the result.
pub fn verify(log: &Path, bundles: &[PathBuf]) -> Result<()> {
    let started = std::time::Instant::now();
    let r = verify_copy(log, bundles)?;
    let Some(r) = r else {
        println!(
            "The audit log in {} is empty: nothing to verify.",
            log.display()
        );
        return Ok(());
    };
    println!(
        "The copy of the audit log of {} in {} verifies: {} entries, {} signed checkpoints, {} counterpart receipts ({:.2}s), checked with public bundles only.",
        r.country,
        log.display(),
        r.report.entries,
        r.report.checkpoints,
        r.report.receipts,
        started.elapsed().as_secs_f64()
    );
    crate::audit::print_peer_findings(&r.report);
    if !r.head_checked {
        println!(
            "Note: no {HEAD_FILE} file beside it; with the node's DATA_DIR/{HEAD_FILE} copied next to the audit directory, a copy cut short is detected too."
        );
    }
    println!(
        "Note: peers' cosignatures are kept in the node's store, not in the audit files; `puente audit verify --config` on the node's host checks them."
    );
    Ok(())
}

/// Verifies a copy of the audit directory `log` with the keys of `bundles`; `None` for
/// an empty log.
pub fn verify_copy(log: &Path, bundles: &[PathBuf]) -> Result<Option<CopyReport>> {
    if !log.join("log").is_file() {
        bail!(UsageError(format!(
            "--log {}: no audit log there (give a copy of the node's DATA_DIR/audit, the directory holding the file `log`)",
            log.display()
        )));
    }
    let mut peers: BTreeMap<String, TrustedPeer> = BTreeMap::new();
    for b in bundles {
        let peer = trust::read_bundle(b)?;
        if let Some(other) = peers.insert(peer.country.to_string(), peer) {
            bail!(UsageError(format!(
                "--bundle {}: a second bundle of {}",
                b.display(),
                other.country
            )));
        }
    }
    let temp = tempfile::Builder::new()
        .prefix("puente-audit-verify")
        .tempdir()
        .context("making a private temporary directory for the copy")?;
    let work = temp.path().join("audit");
    copy_files(log, &work)?;
    let head = log.parent().map(|p| p.join(HEAD_FILE));
    let head = head.filter(|h| h.is_file());
    let db = sled::Config::new()
        .path(temp.path().join("store"))
        .temporary(true)
        .open()
        .context("opening a scratch store")?;
    // Errors name the files the auditor gave, not their scratch copies.
    let (scratch, given_dir) = (work.display().to_string(), log.display().to_string());
    let named = |e: &dyn std::fmt::Display| e.to_string().replace(&scratch, &given_dir);
    let trees = Trees::open(&db, &work).map_err(|e| anyhow!("{}: {}", log.display(), named(&e)))?;
    let Some(latest) = trees.latest()? else {
        return Ok(None);
    };
    let origin = split_note(&latest)
        .and_then(|(body, _)| Checkpoint::parse_body(body))
        .map_err(|e| anyhow!("{}: the latest checkpoint: {e}", log.display()))?
        .origin;
    let country = origin
        .strip_prefix("puente/")
        .and_then(|o| o.strip_suffix("/audit"))
        .ok_or_else(|| {
            anyhow!(
                "{}: the log's origin {origin:?} is not a Puente node's (puente/XXX/audit)",
                log.display()
            )
        })?
        .to_string();
    let own = peers.get(&country).ok_or_else(|| {
        anyhow!(UsageError(format!(
            "the log in {} is {country}'s (its checkpoints say {origin}): add --bundle with {country}'s public bundle (`puente trust export` on {country}'s node){}",
            log.display(),
            given(&peers)
        )))
    })?;
    let keys = BundleKeys {
        own: own.signing_key.clone(),
        peers: peers
            .iter()
            .map(|(c, p)| (c.clone(), p.signing_key.clone()))
            .collect(),
    };
    let report = verify::verify(&trees, &keys, &mut |done, total| {
        eprintln!("  verified {done}/{total} entries");
    })
    .map_err(|e| anyhow!("{}: {}{}", log.display(), named(&e), given(&peers)))?;
    if let Some(h) = &head {
        let copy = temp.path().join(HEAD_FILE);
        std::fs::copy(h, &copy).with_context(|| format!("reading {}", h.display()))?;
        puente_audit::head::check(&copy, &trees, &keys.own)
            .map_err(|e| anyhow!("{}: {e}", h.display()))?;
    }
    Ok(Some(CopyReport {
        country,
        report,
        head_checked: head.is_some(),
    }))
}

fn given(peers: &BTreeMap<String, TrustedPeer>) -> String {
    format!(
        " (bundles given: {})",
        if peers.is_empty() {
            "none".to_string()
        } else {
            peers.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    )
}

/// Copies the regular files of `from` into the new directory `to`.
fn copy_files(from: &Path, to: &Path) -> Result<()> {
    puente_pki::files::create_private_dir(to)
        .with_context(|| format!("creating {}", to.display()))?;
    for item in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let item = item.with_context(|| format!("reading {}", from.display()))?;
        if item.file_type().map(|t| t.is_file()).unwrap_or(false) {
            std::fs::copy(item.path(), to.join(item.file_name()))
                .with_context(|| format!("copying {}", item.path().display()))?;
        }
    }
    Ok(())
}
