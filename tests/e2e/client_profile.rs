//! Officers' and auditors' workstations: a client profile made by `puente client init`
//! and copied elsewhere (no node key anywhere in it) queries a peer and fetches a passport
//! copy; an auditor's profile is refused officer calls by the node, and an operator's
//! audit calls; an auditor with only a copy of the audit files and the public bundles
//! verifies the log and finds a tampered byte; profiles with a wrong CA, an expired or
//! another country's certificate, or a garbled or missing file are refused with a clear
//! error. The CLI runs in-process (`puente::commands::run` on parsed flags), on a blocking
//! thread as the binary would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};

use clap::Parser;
use puente::cli::{Cli, ClientInitArgs, Command, NodeAccess, PersonRole};
use puente_client::profile::{write_profile, PROFILE_FILE};
use puente_client::{NodeClient, Profile, ProfileError};
use puente_e2e::holdings::import_rows;
use puente_e2e::{agreement_text, grant, Federation};
use puente_pki::{IssueOptions, Role};
use puente_proto::v1 as pb;

/// MEX holds a person with a passport copy; GTM may query and fetch copies.
async fn federation() -> Federation {
    let fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-P",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["identity_query", "passport_copy"],
                &["identification"],
                &[
                    "given_names",
                    "surnames",
                    "document_number",
                    "issuing_state",
                ],
                "queries_per_day = 100\ncopies_per_day = 10",
            )],
        ),
    );
    import_rows(
        &fed,
        "MEX",
        &["R1,MOHAMMAD ABDUL,HOSSAIN,1990-04-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,none,,,2026-03-01,Tapachula,detection,GTM,copies/r1.png"],
    );
    fed
}

/// `puente client init` for `code`'s node into `out`.
fn client_init(fed: &Federation, code: &str, role: PersonRole, name: &str, out: &Path) -> PathBuf {
    puente::workstation::init(&ClientInitArgs {
        config: fed.country(code).config.clone(),
        role,
        name: name.into(),
        out: out.to_path_buf(),
    })
    .unwrap_or_else(|e| panic!("client init: {e:#}"))
    .profile
}

/// Runs `puente` with the words of `line` (paths here hold no spaces) in-process on a
/// blocking thread; the error as the binary prints it.
async fn puente(line: &str) -> Result<(), String> {
    let mut argv = vec!["puente".to_string()];
    argv.extend(line.split_whitespace().map(str::to_string));
    tokio::task::spawn_blocking(move || {
        let cli = Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
        puente::commands::run(cli).map_err(|e| puente::commands::describe(&e))
    })
    .await
    .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A client of the node `profile` names, made on a blocking thread inside its own runtime
/// as the CLI does; `f` makes the calls.
async fn with_profile<T: Send + 'static>(
    profile: &Path,
    role: Role,
    f: impl FnOnce(&tokio::runtime::Runtime, NodeClient) -> T + Send + 'static,
) -> Result<T, String> {
    let access = NodeAccess {
        profile: Some(profile.to_path_buf()),
        config: None,
    };
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _in = rt.enter();
        let (_a, client) =
            puente::access::client(&access, role).map_err(|e| puente::commands::describe(&e))?;
        Ok(f(&rt, client))
    })
    .await
    .unwrap()
}

/// Copies the files of `from` into the new directory `to`, modes included.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        std::fs::copy(item.path(), to.join(item.file_name())).unwrap();
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn an_officer_with_only_a_copied_profile_queries_and_fetches_a_copy() {
    let mut fed = federation().await;
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let made = tempfile::tempdir().unwrap();
    client_init(
        &fed,
        "GTM",
        PersonRole::Operator,
        "ana.lopez",
        &made.path().join("ana"),
    );
    // The workstation: the directory copied elsewhere, the original gone.
    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path().join("profiles/ana");
    copy_dir(&made.path().join("ana"), &dir);
    drop(made);
    assert_eq!(
        file_names(&dir),
        [
            "ca.pem",
            "operator-ana.lopez.key",
            "operator-ana.lopez.pem",
            PROFILE_FILE
        ]
    );
    let profile = dir.join(PROFILE_FILE);
    let text = std::fs::read_to_string(&profile).unwrap();
    for secret in ["node-", "signing", "data.key", "ca.key", "puente.toml"] {
        assert!(!text.contains(secret), "{secret} in the profile: {text}");
    }
    // The key moved out of the node's PKI directory; the certificate stayed to revoke it.
    let pki = fed.country("GTM").pki();
    assert!(!pki.join("operator-ana.lopez.key").exists());
    assert!(pki.join("operator-ana.lopez.pem").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("operator-ana.lopez.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The query, as `puente query --profile` makes it.
    puente(&format!("query --profile {} --peer MEX --purpose identification --document BX1234567 --issuer BGD --case CASE-7", s(&profile)))
    .await
    .unwrap();
    let answer = with_profile(&profile, Role::Operator, |rt, c| {
        let args = match Cli::parse_from([
            "puente",
            "query",
            "--peer",
            "MEX",
            "--purpose",
            "identification",
            "--case",
            "CASE-7",
            "--document",
            "BX1234567",
            "--issuer",
            "BGD",
        ])
        .command
        {
            Command::Query(q) => q,
            other => panic!("{other:?}"),
        };
        rt.block_on(puente::officer::query_with(
            &c,
            "MEX",
            "identification",
            "CASE-7",
            0,
            &args.terms,
        ))
        .map_err(|e| format!("{e:#}"))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(answer.outcome, pb::MatchOutcome::Match as i32);
    let person = answer.matches[0].person.as_ref().unwrap();
    assert_eq!(person.surnames.as_deref(), Some("HOSSAIN"));

    // The passport copy, written mode 0600.
    let out = ws.path().join("copy.png");
    puente(&format!(
        "fetch --profile {} --peer MEX --reference {} --out {} --case CASE-7",
        s(&profile),
        &answer.matches[0].reference,
        s(&out)
    ))
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        puente_synth::specimen::specimen_png(42).unwrap()
    );

    // GTM's log names the officer as the actor, as an auditor with a profile sees it.
    let aud = ws.path().join("aud");
    client_init(&fed, "GTM", PersonRole::Auditor, "auditor.2", &aud);
    let entries = with_profile(&aud.join(PROFILE_FILE), Role::Auditor, |rt, c| {
        rt.block_on(c.list_entries(pb::ListEntriesRequest {
            page_size: 100,
            ..Default::default()
        }))
        .map(|r| r.entries)
        .map_err(|e| e.to_string())
    })
    .await
    .unwrap()
    .unwrap();
    let actors: Vec<String> = entries
        .iter()
        .map(|e| puente_audit::Entry::decode(&e.encoded).unwrap().actor)
        .collect();
    assert!(
        actors.iter().filter(|a| a.contains("ana.lopez")).count() >= 2,
        "{actors:?}"
    );
    // So does the CLI, and a profile that is not there is named.
    puente(&format!(
        "audit list --online --profile {}",
        s(&aud.join(PROFILE_FILE))
    ))
    .await
    .unwrap();
    let err = puente(&format!(
        "peers --profile {}",
        s(&ws.path().join("nope/puente-client.toml"))
    ))
    .await
    .unwrap_err();
    assert!(
        err.contains("no such client profile") && err.contains("client init"),
        "{err}"
    );
}

#[tokio::test]
async fn an_auditor_profile_is_refused_officer_calls_by_the_node_and_vice_versa() {
    let mut fed = federation().await;
    let _mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let ws = tempfile::tempdir().unwrap();
    let aud = client_init(
        &fed,
        "GTM",
        PersonRole::Auditor,
        "aud",
        &ws.path().join("aud"),
    );
    let ana = client_init(
        &fed,
        "GTM",
        PersonRole::Operator,
        "ana",
        &ws.path().join("ana"),
    );

    let err = puente(&format!(
        "query --profile {} --peer MEX --purpose identification --document BX1234567 --issuer BGD --case CASE-7",
        s(&aud)
    ))
    .await
    .unwrap_err();
    assert!(
        err.contains("PermissionDenied")
            && err.contains("may not call puente.v1.Local")
            && err.contains("client init --role operator"),
        "{err}"
    );
    gtm.expect_refusal("GTM auditor aud may not call puente.v1.Local")
        .await;
    for command in ["peers", "agreements", "stats status", "alert list"] {
        let err = puente(&format!("{command} --profile {}", s(&aud)))
            .await
            .unwrap_err();
        assert!(err.contains("PermissionDenied"), "{command}: {err}");
    }
    let err = puente(&format!("audit checkpoint --online --profile {}", s(&ana)))
        .await
        .unwrap_err();
    assert!(
        err.contains("may not call puente.v1.Audit") && err.contains("--role auditor"),
        "{err}"
    );
    gtm.expect_refusal("GTM operator ana may not call puente.v1.Audit")
        .await;
    // Offline audit commands need the node's host.
    let err = puente(&format!("audit list --profile {}", s(&aud)))
        .await
        .unwrap_err();
    assert!(
        err.contains("--config") && err.contains("--online"),
        "{err}"
    );
}

/// Flips one byte of entry `index` in the log file of the audit directory `dir`.
fn flip_entry_byte(dir: &Path, index: u64) {
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(dir, &scratch.path().join("audit"));
    let db = sled::Config::new().temporary(true).open().unwrap();
    let trees = puente_audit::log::Trees::open(&db, &scratch.path().join("audit")).unwrap();
    let at = trees.entry_offset(index).unwrap().unwrap() + 4 + 12;
    let path = dir.join("log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at as usize] ^= 0x5a;
    std::fs::write(&path, bytes).unwrap();
}

#[tokio::test]
async fn an_auditor_with_audit_files_and_bundles_verifies_and_finds_tampering() {
    let mut fed = federation().await;
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let r = puente_e2e::officer::ask(
        &fed,
        "GTM",
        "MEX",
        puente_e2e::officer::doc("BX1234567", "BGD"),
    )
    .await
    .unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::Match as i32);
    let gtm_data = gtm.data_dir.clone();
    gtm.stop().await;
    mex.stop().await;

    // The auditor's desk: a copy of GTM's audit files and head, and two public bundles.
    let desk = tempfile::tempdir().unwrap();
    copy_dir(&gtm_data.join("audit"), &desk.path().join("gtm/audit"));
    std::fs::copy(
        gtm_data.join("audit-head"),
        desk.path().join("gtm/audit-head"),
    )
    .unwrap();
    let log = desk.path().join("gtm/audit");
    for c in ["MEX", "GTM"] {
        let text = puente::setup::export_bundle(&fed.country(c).config).unwrap();
        std::fs::write(desk.path().join(format!("{c}.bundle")), text).unwrap();
    }
    let (mex_b, gtm_b) = (
        desk.path().join("MEX.bundle"),
        desk.path().join("GTM.bundle"),
    );
    let before: Vec<Vec<u8>> = file_names(&log)
        .iter()
        .map(|n| std::fs::read(log.join(n)).unwrap())
        .collect();

    let report = puente::audit_copy::verify_copy(&log, &[gtm_b.clone(), mex_b.clone()])
        .unwrap()
        .expect("a log with entries");
    assert_eq!(report.country, "GTM");
    assert!(
        report.report.entries >= 1 && report.report.receipts >= 1,
        "{:?}",
        report.report
    );
    assert!(report.head_checked);
    puente(&format!(
        "audit verify --log {} --bundle {} --bundle {}",
        s(&log),
        s(&gtm_b),
        s(&mex_b)
    ))
    .await
    .unwrap();
    // Nothing was written to the copy.
    let after: Vec<Vec<u8>> = file_names(&log)
        .iter()
        .map(|n| std::fs::read(log.join(n)).unwrap())
        .collect();
    assert_eq!(before, after);

    // MEX's receipts cannot be checked without MEX's bundle; the log's own is needed too.
    let err = puente(&format!(
        "audit verify --log {} --bundle {}",
        s(&log),
        s(&gtm_b)
    ))
    .await
    .unwrap_err();
    assert!(
        err.contains("no key for MEX") && err.contains("bundles given: GTM"),
        "{err}"
    );
    let err = puente(&format!(
        "audit verify --log {} --bundle {}",
        s(&log),
        s(&mex_b)
    ))
    .await
    .unwrap_err();
    assert!(
        err.contains("is GTM's") && err.contains("--bundle"),
        "{err}"
    );
    let err = puente(&format!(
        "audit verify --log {} --bundle {}",
        s(desk.path()),
        s(&mex_b)
    ))
    .await
    .unwrap_err();
    assert!(err.contains("no audit log there"), "{err}");

    // One flipped byte of entry 0 in a copy: found, by index.
    let tampered = desk.path().join("tampered/audit");
    copy_dir(&log, &tampered);
    flip_entry_byte(&tampered, 0);
    let err = puente(&format!(
        "audit verify --log {} --bundle {} --bundle {}",
        s(&tampered),
        s(&gtm_b),
        s(&mex_b)
    ))
    .await
    .unwrap_err();
    assert!(err.contains("entry 0"), "{err}");

    // Bytes after the last batch that are no batch: the error names the file given, not
    // the scratch copy it was verified in.
    let cut = desk.path().join("cut/audit");
    copy_dir(&log, &cut);
    let file = cut.join("log");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(&[0xA5; 64]);
    std::fs::write(&file, &bytes).unwrap();
    let err = puente(&format!(
        "audit verify --log {} --bundle {} --bundle {}",
        s(&cut),
        s(&gtm_b),
        s(&mex_b)
    ))
    .await
    .unwrap_err();
    assert!(!err.contains("puente-audit-verify"), "{err}");
    assert!(err.contains(s(&cut)), "{err}");
}

#[tokio::test]
async fn profiles_with_a_wrong_ca_an_expired_or_foreign_certificate_or_bad_files_are_refused() {
    let mut fed = federation().await;
    let _mex = fed.start("MEX").await;
    let ws = tempfile::tempdir().unwrap();
    let good = client_init(
        &fed,
        "MEX",
        PersonRole::Operator,
        "ana",
        &ws.path().join("ana"),
    );
    let load_err = |p: &Path| match Profile::load(p) {
        Ok(_) => panic!("{} loaded", p.display()),
        Err(e) => e,
    };
    let mex_ca = std::fs::read_to_string(fed.country("MEX").pki().join("ca.pem")).unwrap();
    let gtm_ca = std::fs::read_to_string(fed.country("GTM").pki().join("ca.pem")).unwrap();

    // Another country's CA in the profile.
    let wrong_ca = ws.path().join("wrong-ca");
    copy_dir(&ws.path().join("ana"), &wrong_ca);
    std::fs::write(wrong_ca.join("ca.pem"), &gtm_ca).unwrap();
    let e = load_err(&wrong_ca.join(PROFILE_FILE)).to_string();
    assert!(e.contains("ca: ") && e.contains("not MEX's"), "{e}");

    // An expired certificate of MEX.
    let now = time::OffsetDateTime::now_utc();
    let mex_ca_issuer = fed.country("MEX").ca();
    let old = mex_ca_issuer
        .issue(
            Role::Operator,
            "old",
            &IssueOptions {
                not_before: now - time::Duration::days(30),
                not_after: now - time::Duration::days(1),
                hosts: Vec::new(),
            },
        )
        .unwrap();
    let expired = write_profile(
        &ws.path().join("expired"),
        &fed.country("MEX").addr.to_string(),
        &mex_ca,
        &old.identity,
        &std::fs::read_to_string(&old.cert_path).unwrap(),
        &std::fs::read_to_string(&old.key_path).unwrap(),
    )
    .unwrap();
    let e = load_err(&expired).to_string();
    assert!(e.contains("cert: ") && e.contains("expired on"), "{e}");
    let err = puente(&format!("peers --profile {}", s(&expired)))
        .await
        .unwrap_err();
    assert!(err.contains("expired on"), "{err}");

    // GTM's officer with MEX's CA, pointed at MEX's node.
    let gtm_officer = fed.country("GTM").pki().join("operator-officer");
    let foreign = write_profile(
        &ws.path().join("foreign"),
        &fed.country("MEX").addr.to_string(),
        &mex_ca,
        &puente_pki::PeerIdentity::new(fed.country("GTM").code, Role::Operator, "officer").unwrap(),
        &std::fs::read_to_string(gtm_officer.with_extension("pem")).unwrap(),
        &std::fs::read_to_string(gtm_officer.with_extension("key")).unwrap(),
    )
    .unwrap();
    let e = load_err(&foreign).to_string();
    assert!(e.contains("not GTM's"), "{e}");

    // A whole other "MEX" PKI: the profile checks out alone, the call is refused.
    let impostor = tempfile::tempdir().unwrap();
    let (dir, fake) = (
        impostor.path(),
        impostor.path().join("m/puente-client.toml"),
    );
    let init = "--listen 127.0.0.1:1 --metrics-listen 127.0.0.1:0";
    puente(&format!("init --country MEX --dir {}/mex {init}", s(dir)))
        .await
        .unwrap();
    let cfg = dir.join("mex/puente.toml");
    let made = format!("--role operator --name mallory --out {}/m", s(dir));
    puente(&format!("client init --config {} {made}", s(&cfg)))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&fake)
        .unwrap()
        .replace("127.0.0.1:1", &fed.country("MEX").addr.to_string());
    std::fs::write(&fake, text).unwrap();
    Profile::load(&fake).unwrap();
    let err = puente(&format!("peers --profile {}", s(&fake)))
        .await
        .unwrap_err();
    assert!(err.contains("MEX's CA"), "{err}");

    // Garbled, incomplete, unknown keys, a key readable by others, no flag at all.
    let garbled = ws.path().join("garbled.toml");
    std::fs::write(&garbled, "node = [").unwrap();
    assert!(matches!(load_err(&garbled), ProfileError::Garbled { .. }));
    let err = puente(&format!("peers --profile {}", s(&garbled)))
        .await
        .unwrap_err();
    assert!(
        err.contains("is not a usable client profile") && err.contains("line 1"),
        "{err}"
    );
    let extra = ws.path().join("ana/extra.toml");
    let good_text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(&extra, format!("{good_text}data_key = \"x\"\n")).unwrap();
    let e = load_err(&extra).to_string();
    assert!(e.contains("data_key"), "{e}");
    let partial = ws.path().join("ana/partial.toml");
    std::fs::write(&partial, good_text.replace("node = ", "# node = ")).unwrap();
    let e = load_err(&partial).to_string();
    assert!(e.contains("node"), "{e}");
    let bad_values = ws.path().join("ana/bad-values.toml");
    std::fs::write(
        &bad_values,
        good_text
            .replace("role = \"operator\"", "role = \"node\"")
            .replace("ca = \"ca.pem\"", "ca = \"missing.pem\""),
    )
    .unwrap();
    let e = load_err(&bad_values).to_string();
    assert!(
        e.contains("role: ") && e.contains("ca: ") && e.contains("missing.pem"),
        "{e}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = ws.path().join("ana/operator-ana.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_err(&good).to_string();
        assert!(
            e.contains("readable by others") && e.contains("chmod 600"),
            "{e}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        Profile::load(&good).unwrap();
    }
    let err = puente("peers").await;
    // The test's environment may name a profile; without one the message says what to pass.
    if std::env::var_os("PUENTE_PROFILE").is_none() && std::env::var_os("PUENTE_CONFIG").is_none() {
        let err = err.unwrap_err();
        assert!(
            err.contains("--profile FILE") && err.contains("PUENTE_PROFILE"),
            "{err}"
        );
    }
    let err = puente(&format!(
        "peers --profile {} --config {}",
        s(&good),
        s(&fed.country("MEX").config)
    ))
    .await
    .unwrap_err();
    assert!(err.contains("pass only one"), "{err}");
}

#[tokio::test]
async fn a_revoked_officer_is_told_the_node_probably_refuses_the_certificate() {
    let mut fed = federation().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = client_init(
        &fed,
        "GTM",
        PersonRole::Operator,
        "ana.lopez",
        &dir.path().join("ana"),
    );
    let pki = fed.country("GTM").pki();
    puente(&format!(
        "pki revoke --dir {} --cert {}",
        s(&pki),
        s(&pki.join("operator-ana.lopez.pem"))
    ))
    .await
    .unwrap();
    let _gtm = fed.start("GTM").await;
    // The node refuses the certificate after the client's side of the handshake is
    // done; what the officer sees says so rather than only "connection closed".
    let err = puente(&format!("peers --profile {}", s(&profile)))
        .await
        .unwrap_err();
    // TLS 1.3: the node's alert arrives, or only the closed connection does.
    assert!(
        err.contains("the node refused this certificate: it is revoked")
            || err.contains("probably refusing this certificate"),
        "{err}"
    );
}
