//! Setting up a country: `puente init`, its PKI (issue, revoke, CRL), trust in other
//! countries' bundles, bilateral agreements, and shell completions.

use crate::common::{p, puente, text};

#[test]
fn icao_only_and_malformed_country_codes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (code, needle) in [
        ("XXA", "ICAO"),
        ("D", "ICAO"),
        ("mex", "MEX"),
        ("ZZZ", "ISO 3166-1"),
    ] {
        let out = puente(&[
            "pki",
            "init",
            "--country",
            code,
            "--dir",
            p(&dir.path().join(code)),
        ]);
        assert_eq!(out.status.code(), Some(2), "{code}: {}", text(&out));
        assert!(text(&out).contains(needle), "{code}: {}", text(&out));
        assert!(!dir.path().join(code).join("ca.key").exists());
    }
}

#[test]
fn init_creates_a_node_whose_config_checks_and_keys_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let node = dir.path().join("mex");
    let out = puente(&[
        "init",
        "--country",
        "MEX",
        "--dir",
        p(&node),
        "--listen",
        "127.0.0.1:0",
        "--advertise",
        "127.0.0.1:7411",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Next steps"), "{}", text(&out));
    let config = node.join("puente.toml");
    let check = puente(&["node", "check", "--config", p(&config)]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("urn:puente:MEX:node:mex-1"),
        "{}",
        text(&check)
    );

    #[cfg(unix)]
    for key in [
        "ca.key",
        "signing.key",
        "node-mex-1.key",
        "operator-officer.key",
        "auditor-auditor.key",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(node.join("pki").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    // No private key material is ever printed.
    assert!(!text(&out).contains("PRIVATE KEY"));

    // Running init again over it is refused and changes nothing.
    let before = std::fs::read(&config).unwrap();
    let again = puente(&["init", "--country", "MEX", "--dir", p(&node)]);
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert_eq!(std::fs::read(&config).unwrap(), before);

    // A node listening on every interface needs the address peers dial: without
    // --advertise, init refuses (0.0.0.0 would go into the bundle and the certificate),
    // and so does --advertise 0.0.0.0 or [::].
    let other = dir.path().join("any");
    for extra in [
        vec![],
        vec!["--advertise", "0.0.0.0:7400"],
        vec!["--advertise", "[::]:7400"],
    ] {
        let mut args = vec![
            "init",
            "--country",
            "GTM",
            "--dir",
            p(&other),
            "--listen",
            "0.0.0.0:7400",
        ];
        args.extend(extra.iter().copied());
        let out = puente(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("any-address"), "{}", text(&out));
        assert!(!other.join("puente.toml").exists());
    }

    // pki show says who a certificate is and until when.
    let show = puente(&["pki", "show", p(&node.join("pki/operator-officer.pem"))]);
    assert!(show.status.success(), "{}", text(&show));
    let s = text(&show);
    assert!(
        s.contains("operator officer of MEX") && s.contains("valid until"),
        "{s}"
    );
}

#[test]
fn issue_revoke_and_crl() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("certs/GTM");
    assert!(
        puente(&["pki", "init", "--country", "GTM", "--dir", p(&pki)])
            .status
            .success()
    );
    let out = puente(&[
        "pki",
        "issue",
        "--dir",
        p(&pki),
        "--role",
        "operator",
        "--name",
        "ana.lopez",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let bad_role = puente(&[
        "pki",
        "issue",
        "--dir",
        p(&pki),
        "--role",
        "admin",
        "--name",
        "x",
    ]);
    assert_eq!(bad_role.status.code(), Some(2), "{}", text(&bad_role));
    assert!(text(&bad_role).contains("admin"));
    let crl_before = std::fs::read(pki.join("crl.pem")).unwrap();
    let out = puente(&[
        "pki",
        "revoke",
        "--dir",
        p(&pki),
        "--cert",
        p(&pki.join("operator-ana.lopez.pem")),
        "--reason",
        "key_compromise",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("urn:puente:GTM:operator:ana.lopez"));
    assert_ne!(std::fs::read(pki.join("crl.pem")).unwrap(), crl_before);
    let unknown = puente(&["pki", "revoke", "--dir", p(&pki), "--serial", "0abc"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("0abc"), "{}", text(&unknown));

    // Ana lost her laptop: her certificate is revoked, and she gets a new one under the
    // same name; the revoked pair is kept beside it, renamed.
    let revoked_pem = std::fs::read(pki.join("operator-ana.lopez.pem")).unwrap();
    let again = puente(&[
        "pki",
        "issue",
        "--dir",
        p(&pki),
        "--role",
        "operator",
        "--name",
        "ana.lopez",
    ]);
    assert!(again.status.success(), "{}", text(&again));
    assert_ne!(
        std::fs::read(pki.join("operator-ana.lopez.pem")).unwrap(),
        revoked_pem
    );
    let kept: Vec<String> = std::fs::read_dir(&pki)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("operator-ana.lopez.revoked-"))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    // A certificate that is not revoked is never overwritten.
    let twice = puente(&[
        "pki",
        "issue",
        "--dir",
        p(&pki),
        "--role",
        "operator",
        "--name",
        "ana.lopez",
    ]);
    assert!(!twice.status.success());
    assert!(text(&twice).contains("already exists"), "{}", text(&twice));
}

#[test]
fn trust_add_checks_fingerprints_and_refuses_own_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let mex = dir.path().join("MEX");
    let gtm = dir.path().join("GTM");
    assert!(puente(&[
        "init",
        "--country",
        "MEX",
        "--dir",
        p(&mex),
        "--listen",
        "127.0.0.1:7421"
    ])
    .status
    .success());
    assert!(puente(&[
        "init",
        "--country",
        "GTM",
        "--dir",
        p(&gtm),
        "--listen",
        "127.0.0.1:7422"
    ])
    .status
    .success());
    let bundle = dir.path().join("GTM.bundle");
    let out = puente(&[
        "trust",
        "export",
        "--config",
        p(&gtm.join("puente.toml")),
        "--out",
        p(&bundle),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let exported = std::fs::read_to_string(&bundle).unwrap();
    assert!(!exported.contains("PRIVATE"), "a bundle holds no secret");

    let trust_before = std::fs::read(mex.join("trust.toml")).unwrap();
    let wrong = puente(&[
        "trust",
        "add",
        "--config",
        p(&mex.join("puente.toml")),
        p(&bundle),
        "--expect-fingerprint",
        "00112233",
    ]);
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("do not trust"), "{}", text(&wrong));
    assert_eq!(
        std::fs::read(mex.join("trust.toml")).unwrap(),
        trust_before,
        "nothing changed"
    );

    let ok = puente(&[
        "trust",
        "add",
        "--config",
        p(&mex.join("puente.toml")),
        p(&bundle),
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("CA fingerprint"), "{}", text(&ok));
    // The same bundle again changes nothing and says so.
    let trust_after = std::fs::read(mex.join("trust.toml")).unwrap();
    let again = puente(&[
        "trust",
        "add",
        "--config",
        p(&mex.join("puente.toml")),
        p(&bundle),
    ]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("unchanged"), "{}", text(&again));
    assert_eq!(std::fs::read(mex.join("trust.toml")).unwrap(), trust_after);
    let list = puente(&["trust", "list", "--config", p(&mex.join("puente.toml"))]);
    assert!(
        text(&list).contains("GTM (Guatemala) at 127.0.0.1:7422"),
        "{}",
        text(&list)
    );

    // A country's own bundle is not a peer.
    let own = dir.path().join("MEX.bundle");
    assert!(puente(&[
        "trust",
        "export",
        "--config",
        p(&mex.join("puente.toml")),
        "--out",
        p(&own)
    ])
    .status
    .success());
    let selfadd = puente(&[
        "trust",
        "add",
        "--config",
        p(&mex.join("puente.toml")),
        p(&own),
    ]);
    assert!(!selfadd.status.success());
    assert!(text(&selfadd).contains("own country"), "{}", text(&selfadd));

    // A tampered bundle is refused with the field named.
    let tampered = dir.path().join("tampered.bundle");
    std::fs::write(
        &tampered,
        exported.replace("country = \"GTM\"", "country = \"CRI\""),
    )
    .unwrap();
    let t = puente(&[
        "trust",
        "add",
        "--config",
        p(&mex.join("puente.toml")),
        p(&tampered),
    ]);
    assert!(!t.status.success());
    assert!(
        text(&t).contains("ca_certificate") && text(&t).contains("not of CRI"),
        "{}",
        text(&t)
    );
}

#[test]
fn agreement_draft_sign_verify_show_and_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (dir.path().join("MEX"), dir.path().join("GTM"));
    assert!(puente(&[
        "init",
        "--country",
        "MEX",
        "--dir",
        p(&mex),
        "--listen",
        "127.0.0.1:7431"
    ])
    .status
    .success());
    assert!(puente(&[
        "init",
        "--country",
        "GTM",
        "--dir",
        p(&gtm),
        "--listen",
        "127.0.0.1:7432"
    ])
    .status
    .success());
    for (from, to) in [(&mex, &gtm), (&gtm, &mex)] {
        let b = dir.path().join("b.bundle");
        let _ = std::fs::remove_file(&b);
        assert!(puente(&[
            "trust",
            "export",
            "--config",
            p(&from.join("puente.toml")),
            "--out",
            p(&b)
        ])
        .status
        .success());
        assert!(puente(&[
            "trust",
            "add",
            "--config",
            p(&to.join("puente.toml")),
            p(&b)
        ])
        .status
        .success());
    }
    let file = dir.path().join("mex-gtm.toml");
    let out = puente(&[
        "agreement",
        "draft",
        "--parties",
        "MEX,GTM",
        "--out",
        p(&file),
        "--valid-from",
        "2026-01-01",
        "--valid-until",
        "2027-12-31",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let show = puente(&["agreement", "show", p(&file)]);
    assert!(
        text(&show).contains("GTM may ask MEX for identity queries"),
        "{}",
        text(&show)
    );
    assert!(text(&show).contains("until 2027-12-31"), "{}", text(&show));
    assert!(
        !text(&show).contains("Signatures are named here"),
        "nothing signed yet: {}",
        text(&show)
    );

    let mex_cfg = mex.join("puente.toml");
    let gtm_cfg = gtm.join("puente.toml");
    let half = puente(&["agreement", "sign", "--config", p(&mex_cfg), p(&file)]);
    assert!(half.status.success(), "{}", text(&half));
    assert!(
        text(&half).contains("Still to sign: GTM"),
        "{}",
        text(&half)
    );
    let v = puente(&["agreement", "verify", "--config", p(&gtm_cfg), p(&file)]);
    assert!(!v.status.success());
    assert!(
        text(&v).contains("missing signature of GTM"),
        "{}",
        text(&v)
    );

    let full = puente(&["agreement", "sign", "--config", p(&gtm_cfg), p(&file)]);
    assert!(
        text(&full).contains("Both parties have signed"),
        "{}",
        text(&full)
    );
    // `show` names the signers but does not vouch for them: it says how to check.
    let show = puente(&["agreement", "show", p(&file)]);
    assert!(
        text(&show).contains("not checked: `puente agreement verify"),
        "{}",
        text(&show)
    );
    for cfg in [&mex_cfg, &gtm_cfg] {
        let v = puente(&["agreement", "verify", "--config", p(cfg), p(&file)]);
        assert!(v.status.success(), "{}", text(&v));
    }

    // One changed byte in the signed text: refused, saying whose signature fails.
    let signed = std::fs::read_to_string(&file).unwrap();
    let tampered = dir.path().join("tampered.toml");
    std::fs::write(
        &tampered,
        signed.replacen("retention_days = 90", "retention_days = 99", 1),
    )
    .unwrap();
    let v = puente(&["agreement", "verify", "--config", p(&mex_cfg), p(&tampered)]);
    assert!(!v.status.success());
    assert!(
        text(&v).contains("does not verify against key"),
        "{}",
        text(&v)
    );

    // A third country cannot sign; nothing changes.
    let cri = dir.path().join("CRI");
    assert!(puente(&[
        "init",
        "--country",
        "CRI",
        "--dir",
        p(&cri),
        "--listen",
        "127.0.0.1:7433"
    ])
    .status
    .success());
    let s = puente(&[
        "agreement",
        "sign",
        "--config",
        p(&cri.join("puente.toml")),
        p(&file),
    ]);
    assert!(!s.status.success());
    assert!(text(&s).contains("CRI is not a party"), "{}", text(&s));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), signed);

    // Drafts refuse bad parties.
    let bad = puente(&[
        "agreement",
        "draft",
        "--parties",
        "MEX,XXA",
        "--out",
        p(&dir.path().join("x.toml")),
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _puente"),
        ("zsh", "#compdef puente"),
        ("fish", "complete -c puente"),
    ] {
        let out = puente(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {script}");
        // Subcommands and their flags are completed.
        for word in ["query", "agreement", "config", "metrics-listen"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let out = puente(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bash"), "{}", text(&out));
}
