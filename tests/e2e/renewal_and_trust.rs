//! Certificates over years and trust changes with consent: `puente pki renew` gives a
//! running node a new certificate without a restart and refuses what it must not renew;
//! `puente trust add` takes a newer CRL from the same CA by itself, refuses a changed CA
//! or signing key without `--replace`, and never takes an older CRL silently.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use puente::cli::PkiCommand;
use puente::setup;
use puente_e2e::Federation;
use puente_pki::trust::{self, PeerEntry};
use puente_pki::{files, CountryCa, CountryCode, IssueOptions, Role, SigningKey};
use time::OffsetDateTime;

use crate::lifecycle::{eventually, recording_channel, serial_of, set_reload_interval};

fn renew(pki: &Path, cert: &Path, days: i64) -> Result<(), String> {
    setup::pki(&PkiCommand::Renew {
        dir: pki.to_path_buf(),
        cert: cert.to_path_buf(),
        days,
    })
    .map_err(|e| format!("{e:#}"))
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[tokio::test]
async fn a_renewed_node_certificate_is_served_without_a_restart() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    set_reload_interval(&fed, "MEX", 1);
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let pki = fed.country("MEX").pki();
    let cert = pki.join("node-mex-1.pem");
    let old_serial = serial_of(&cert);
    let old_key = bytes(&pki.join("node-mex-1.key"));
    let old_der = files::load_certs(&cert).unwrap().remove(0);
    let old_hosts = puente_pki::inspect::host_names(&old_der, &cert).unwrap();
    assert!(
        !old_hosts.is_empty(),
        "the test node certificate names its host"
    );

    renew(&pki, &cert, 400).expect("renew");
    let new_serial = serial_of(&cert);
    assert_ne!(new_serial, old_serial);
    assert_ne!(
        bytes(&pki.join("node-mex-1.key")),
        old_key,
        "a renewal has a new key"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(pki.join("node-mex-1.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let der = files::load_certs(&cert).unwrap().remove(0);
    let info = puente_pki::inspect::inspect(&der, &cert).unwrap();
    assert_eq!(info.identity.unwrap().urn(), "urn:puente:MEX:node:mex-1");
    assert_eq!(
        puente_pki::inspect::host_names(&der, &cert).unwrap(),
        old_hosts,
        "a renewal keeps the host names"
    );
    assert!(info.not_after > OffsetDateTime::now_utc() + time::Duration::days(399));

    // The running node takes it up by itself: new connections see the new serial.
    let officer = fed.country("MEX").identity("operator-officer");
    let anchor = fed.country("MEX").anchor();
    let addr = mex.addr.to_string();
    eventually("the node serves the renewed certificate", || {
        let (ch, seen) = recording_channel(&addr, &officer, &anchor);
        let want = new_serial.clone();
        async move {
            let _ = puente_proto::v1::local_client::LocalClient::new(ch)
                .list_peers(puente_proto::v1::ListPeersRequest {
                    check_reachability: false,
                })
                .await;
            seen.lock().unwrap().last() == Some(&want)
        }
    })
    .await;
    // And it still reaches its peer, which accepts the renewed certificate.
    let peers = puente_proto::v1::local_client::LocalClient::new(fed.channel("MEX", &officer))
        .list_peers(puente_proto::v1::ListPeersRequest {
            check_reachability: true,
        })
        .await
        .expect("list peers")
        .into_inner();
    assert!(peers.peers[0].reachable, "{:?}", peers.peers[0]);
    mex.stop().await;
    gtm.stop().await;
}

#[tokio::test]
async fn what_must_not_be_renewed_is_refused_and_nothing_changes() {
    let fed = Federation::new(&["MEX", "GTM"]).await;
    let pki = fed.country("MEX").pki();
    let ca = fed.country("MEX").ca();
    let now = OffsetDateTime::now_utc();
    let watched = |paths: &[PathBuf]| paths.iter().map(|p| bytes(p)).collect::<Vec<_>>();

    // A revoked certificate.
    let issued = ca
        .issue(
            Role::Operator,
            "gone",
            &IssueOptions::valid_for_days(now, 30),
        )
        .unwrap();
    ca.revoke(&issued.serial, "key_compromise", now).unwrap();
    let files_of = vec![
        issued.cert_path.clone(),
        issued.key_path.clone(),
        pki.join("ledger.toml"),
    ];
    let before = watched(&files_of);
    let err = renew(&pki, &issued.cert_path, 30).unwrap_err();
    assert!(err.contains("revoked"), "{err}");
    assert_eq!(
        watched(&files_of),
        before,
        "a refused renewal changed files"
    );

    // Another country's certificate.
    let gtm_cert = fed.country("GTM").pki().join("node-gtm-1.pem");
    let err = renew(&pki, &gtm_cert, 30).unwrap_err();
    assert!(err.contains("GTM") && err.contains("only its own"), "{err}");

    // A MEX identity from another CA (not in this CA's ledger).
    let rogue_dir = tempfile::tempdir().unwrap();
    let rogue = CountryCa::init(
        &rogue_dir.path().join("pki"),
        CountryCode::parse("MEX").unwrap(),
        now,
    )
    .unwrap();
    let forged = rogue
        .issue(Role::Node, "mex-1", &IssueOptions::valid_for_days(now, 30))
        .unwrap();
    let before = watched(&[forged.cert_path.clone(), pki.join("ledger.toml")]);
    let err = renew(&pki, &forged.cert_path, 30).unwrap_err();
    assert!(err.contains("did not issue"), "{err}");
    assert_eq!(
        watched(&[forged.cert_path.clone(), pki.join("ledger.toml")]),
        before
    );

    // A certificate whose key is not beside it.
    let moved = tempfile::tempdir().unwrap();
    let lone = moved.path().join("operator-officer.pem");
    std::fs::copy(pki.join("operator-officer.pem"), &lone).unwrap();
    let err = renew(&pki, &lone, 30).unwrap_err();
    assert!(err.contains("key file"), "{err}");

    // Not a certificate at all, and an absurd validity.
    let junk = moved.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    assert!(renew(&pki, &junk, 30).is_err());
    let err = renew(&pki, &pki.join("operator-officer.pem"), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("0 days"), "{err}");
}

/// A bundle for `country` made from the PKI in `pki` with `address`.
fn bundle_from(pki: &Path, country: &str, address: &str, out: &Path) {
    let key = SigningKey::load(&pki.join("signing.key")).unwrap();
    let text = trust::export_bundle(&PeerEntry {
        country: country.to_string(),
        address: address.to_string(),
        signing_key: key.verifying_key().to_note_key(),
        ca_certificate: files::read_text(&pki.join("ca.pem")).unwrap(),
        crl: Some(files::read_text(&pki.join("crl.pem")).unwrap()),
    })
    .unwrap();
    files::write_public(out, &text).unwrap();
}

#[tokio::test]
async fn trust_changes_need_consent() {
    let fed = Federation::new(&["MEX", "GTM"]).await;
    let mex_config = fed.country("MEX").config.clone();
    let gtm_pki = fed.country("GTM").pki();
    let trust_file = fed.country("MEX").load().config.trust.file.clone();
    let address = fed.country("GTM").addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();

    // GTM's CRL as signed two hours ago, one hour ago (what MEX trusts) and now.
    let gtm_ca = fed.country("GTM").ca();
    gtm_ca
        .write_crl(now - time::Duration::hours(2))
        .expect("old CRL");
    let old_bundle = dir.path().join("gtm-old.bundle");
    bundle_from(&gtm_pki, "GTM", &address, &old_bundle);
    gtm_ca
        .write_crl(now - time::Duration::hours(1))
        .expect("held CRL");
    let held_bundle = dir.path().join("gtm-held.bundle");
    bundle_from(&gtm_pki, "GTM", &address, &held_bundle);
    setup::add_peer(&mex_config, &held_bundle, None, true).expect("set up what MEX holds");
    gtm_ca.write_crl(now).expect("new CRL");
    let new_bundle = dir.path().join("gtm-new.bundle");
    bundle_from(&gtm_pki, "GTM", &address, &new_bundle);

    // A newer CRL from the same CA: taken without --replace, and said so.
    let report = setup::add_peer(&mex_config, &new_bundle, None, false).expect("newer CRL");
    assert!(report.contains("CRL updated"), "{report}");

    // An older CRL would undo revocations: refused, the trust file unchanged.
    let before = bytes(&trust_file);
    let err = setup::add_peer(&mex_config, &old_bundle, None, false)
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("older") && err.contains("--replace"), "{err}");
    assert_eq!(bytes(&trust_file), before);

    // Another CA and signing key claiming to be GTM: refused without --replace, with both
    // fingerprints shown; the trust file unchanged.
    let other = CountryCa::init(
        &dir.path().join("other-gtm"),
        CountryCode::parse("GTM").unwrap(),
        now,
    )
    .unwrap();
    let swapped = dir.path().join("gtm-swapped.bundle");
    bundle_from(other.dir(), "GTM", &address, &swapped);
    let err = setup::add_peer(&mex_config, &swapped, None, false)
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CA fingerprint") && err.contains("(CHANGED)") && err.contains("--replace"),
        "{err}"
    );
    assert_eq!(bytes(&trust_file), before);
    let node = fed.country("MEX").load();
    let held = node.trust.peer(CountryCode::parse("GTM").unwrap()).unwrap();
    assert_eq!(
        held.ca_info.fingerprint,
        trust::read_bundle(&new_bundle).unwrap().ca_info.fingerprint
    );

    // Only the signing key changed: still a change of who GTM is.
    let key_swapped_dir = dir.path().join("key-swapped");
    std::fs::create_dir_all(&key_swapped_dir).unwrap();
    for f in ["ca.pem", "crl.pem"] {
        std::fs::copy(gtm_pki.join(f), key_swapped_dir.join(f)).unwrap();
    }
    std::fs::copy(
        other.dir().join("signing.key"),
        key_swapped_dir.join("signing.key"),
    )
    .unwrap();
    let key_swapped = dir.path().join("gtm-key.bundle");
    bundle_from(&key_swapped_dir, "GTM", &address, &key_swapped);
    let err = setup::add_peer(&mex_config, &key_swapped, None, false)
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("signing key") && err.contains("(CHANGED)"),
        "{err}"
    );
    assert_eq!(bytes(&trust_file), before);

    // With --replace, after the phone call, it is taken.
    let report = setup::add_peer(&mex_config, &swapped, None, true).expect("--replace");
    assert!(report.contains("Replacing"), "{report}");
    let node = fed.country("MEX").load();
    let held = node.trust.peer(CountryCode::parse("GTM").unwrap()).unwrap();
    assert_eq!(
        held.ca_info.fingerprint,
        trust::read_bundle(&swapped).unwrap().ca_info.fingerprint
    );
}

#[tokio::test]
async fn agreement_sign_says_who_must_sign_again_and_why() {
    let fed = Federation::new(&["MEX", "GTM"]).await;
    let text = puente_e2e::agreement_text(
        "MEX-GTM-TRUTH",
        ["MEX", "GTM"],
        "2020-01-01",
        "2099-12-31",
        &[puente_e2e::grant(
            "MEX",
            "GTM",
            &["identity_query"],
            &["identification"],
            &["given_names", "surnames"],
            "queries_per_day = 10",
        )],
    );
    let draft = fed.temp.path().join("draft.toml");
    std::fs::write(&draft, &text).unwrap();
    let mex = fed.country("MEX").load();
    let gtm = fed.country("GTM").load();

    let a = puente::agreement::sign_file(&mex, &draft).unwrap();
    assert_eq!(
        puente::agreement::still_to_sign(&mex, &a),
        ["Still to sign: GTM."]
    );
    let a = puente::agreement::sign_file(&gtm, &draft).unwrap();
    assert!(puente::agreement::still_to_sign(&gtm, &a).is_empty());
    assert!(puente::agreement::still_to_sign(&mex, &a).is_empty());

    // Someone edits the text after both signed, and MEX signs the new text: GTM's
    // signature no longer covers it, and `sign` must say so instead of "both signed".
    let signed = std::fs::read_to_string(&draft).unwrap();
    std::fs::write(&draft, signed.replace("2099-12-31", "2098-12-31")).unwrap();
    let a = puente::agreement::sign_file(&mex, &draft).unwrap();
    let pending = puente::agreement::still_to_sign(&mex, &a);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        pending[0].starts_with("GTM must sign again: the text changed after GTM signed"),
        "{pending:?}"
    );
    // Verification agrees: the file is not enforceable as it stands.
    assert!(puente::agreement::verify_file(&mex, &draft).is_err());
    let a = puente::agreement::sign_file(&gtm, &draft).unwrap();
    assert!(puente::agreement::still_to_sign(&gtm, &a).is_empty());
    assert!(puente::agreement::verify_file(&mex, &draft).is_ok());
}
