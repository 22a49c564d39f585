//! `puente pki crl` re-signs the CRL with the same revocations and a fresh validity, and
//! `puente node check` warns when this country's CRL is about to run out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;
use common::{p, puente, text};

use std::path::Path;

fn crl(pki: &Path) -> puente_pki::inspect::CrlInfo {
    let path = pki.join("crl.pem");
    let der = puente_pki::files::load_crls(&path).unwrap().remove(0);
    puente_pki::inspect::inspect_crl(der.as_ref(), &path).unwrap()
}

#[test]
fn a_crl_near_its_end_makes_node_check_warn_and_renewing_keeps_the_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("mex");
    let pki = node.join("pki");
    let config = node.join("puente.toml");
    // The addresses go into the config only: no node runs here.
    let out = puente(&[
        "init",
        "--country",
        "MEX",
        "--dir",
        p(&node),
        "--listen",
        "127.0.0.1:7",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = puente(&[
        "pki",
        "revoke",
        "--dir",
        p(&pki),
        "--cert",
        p(&pki.join("auditor-auditor.pem")),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let revoked = crl(&pki).revoked;
    assert_eq!(revoked.len(), 1);

    // Three days left: `node check` still passes, and warns.
    let out = puente(&["pki", "crl", "--dir", p(&pki), "--days", "3"]);
    assert!(out.status.success(), "{}", text(&out));
    let near = crl(&pki);
    assert_eq!(near.revoked, revoked, "re-signed unchanged");
    let left = near.next_update.unwrap() - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::days(2) && left <= time::Duration::days(3),
        "{left}"
    );
    let check = puente(&["node", "check", "--config", p(&config)]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("WARNING: crl.expires_soon") && text(&check).contains("pki crl"),
        "{}",
        text(&check)
    );

    // Renewed for 30 days: the same revocations, a later thisUpdate, no warning; the node
    // certificate still verifies against CA and CRL (`node check` loads and uses it).
    let out = puente(&["pki", "crl", "--dir", p(&pki), "--days", "30"]);
    assert!(out.status.success(), "{}", text(&out));
    let renewed = crl(&pki);
    assert_eq!(renewed.revoked, revoked);
    assert!(renewed.this_update >= near.this_update);
    assert!(renewed.next_update.unwrap() - near.next_update.unwrap() >= time::Duration::days(26));
    let check = puente(&["node", "check", "--config", p(&config)]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(!text(&check).contains("crl."), "{}", text(&check));
    assert!(
        text(&check).contains("CRL          current until"),
        "{}",
        text(&check)
    );

    // Nonsense validity is refused, naming the file.
    let out = puente(&["pki", "crl", "--dir", p(&pki), "--days", "0"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("crl.pem") && text(&out).contains("1 to 366"),
        "{}",
        text(&out)
    );
}
