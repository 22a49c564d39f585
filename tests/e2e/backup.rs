//! Backups and restores on real nodes: a backup taken while queries run restores into
//! an empty data directory, and the restored node's audit log verifies and it finds the
//! same persons; a truncated or altered backup, or a non-empty data directory, is refused
//! with nothing written; without `--with-keys` no key is in the archive, with it the node
//! moves to a directory that had none.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use puente::cli::Cli;
use puente_e2e::holdings::import_rows;
use puente_e2e::officer::{ask, doc, name};
use puente_e2e::{agreement_text, grant, Federation};
use puente_proto::v1 as pb;

/// Runs `puente` with the words of `line` in-process on a blocking thread; the error as
/// the binary prints it.
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

fn setup(fed: &Federation) {
    import_rows(
        fed,
        "MEX",
        &[
            "R1,MOHAMMAD ABDUL,HOSSAIN,1990-04-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,none,,,2026-03-01,Tapachula,detection,GTM,",
            "R2,AMINATA,DIALLO,1994-03-02,F,GIN,passport,GN7654321,GIN,2029-01-01,,,none,,,2026-02-10,Tapachula,entry,GTM,",
            "R3,SEMERE,TESFAY,1996-07-20,M,ERI,passport,ER7654321,ERI,2028-01-01,,,none,,,2026-01-05,Tenosique,entry,GTM,",
        ],
    );
    for peer in ["GTM", "CRI"] {
        if fed.countries.contains_key(peer) {
            let id = format!("MEX-{peer}-B");
            fed.agree(
                "MEX",
                peer,
                &format!("mex-{}.toml", peer.to_lowercase()),
                &agreement_text(
                    &id,
                    ["MEX", peer],
                    "2026-01-01",
                    "2027-12-31",
                    &[grant(
                        "MEX",
                        peer,
                        &["identity_query"],
                        &["identification"],
                        &["given_names", "surnames", "document_number"],
                        "queries_per_day = 100000",
                    )],
                ),
            );
        }
    }
}

fn queries() -> Vec<pb::IdentityQuery> {
    vec![
        doc("BX1234567", "BGD"),
        doc("GN7654321", "GIN"),
        name("MUHAMMAD ABDUL", "HUSAIN", 1990, 4, 12),
        name("SEMERE", "TESFAY", 1996, 7, 20),
        doc("ZZ0000000", "BGD"),
    ]
}

/// The persons each query of `from` finds at MEX (names and document numbers), in order.
async fn answers(fed: &Federation, from: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for q in queries() {
        let r = ask(fed, from, "MEX", q).await.unwrap();
        out.push(
            r.matches
                .iter()
                .map(|m| {
                    let p = m.person.as_ref().unwrap();
                    format!(
                        "{:?} {:?} {:?}",
                        p.given_names, p.surnames, p.document_number
                    )
                })
                .collect(),
        );
    }
    out
}

/// Every key file the configuration names, and a distinctive line of each.
fn key_material(fed: &Federation) -> Vec<(PathBuf, Vec<u8>, String)> {
    let c = fed.country("MEX").load().config;
    [c.signing.key, c.records.data_key, c.tls.key]
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let line = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with("-----") && !l.contains(':'))
                .max_by_key(|l| l.len())
                .unwrap()
                .trim()
                .to_string();
            (p, bytes, line)
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_and_answers_the_same() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    setup(&fed);
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let cri = fed.start("CRI").await;
    let before = answers(&fed, "GTM").await;
    assert_eq!(before[0].len(), 1, "{before:?}");

    // CRI's queries keep running while the backup is taken.
    let fed = Arc::new(fed);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let (tx, mut answered) = tokio::sync::watch::channel(0u64);
    let load = {
        let (fed, stop, done) = (fed.clone(), stop.clone(), done.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for q in queries() {
                    ask(&fed, "CRI", "MEX", q).await.unwrap();
                    let _ = tx.send(done.fetch_add(1, Ordering::Relaxed) + 1);
                }
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(30), answered.wait_for(|n| *n >= 10))
        .await
        .expect("the load never got going")
        .unwrap();
    // Only the operator of MEX's node host ([client] operator_cert) may ask for a
    // backup: an officer's workstation certificate passes the Local gate but not this.
    let now = time::OffsetDateTime::now_utc();
    fed.country("MEX")
        .ca()
        .issue(
            puente_pki::Role::Operator,
            "ana.lopez",
            &puente_pki::IssueOptions::valid_for_days(now, 30),
        )
        .unwrap();
    let officer = fed.country("MEX").identity("operator-ana.lopez");
    let e = pb::local_client::LocalClient::new(fed.channel("MEX", &officer))
        .backup(pb::BackupRequest {})
        .await
        .map(|_| ())
        .expect_err("an officer's certificate");
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(
        e.message()
            .contains("role.backup_requires_node_host_operator")
            && e.message().contains("ana.lopez"),
        "{e:?}"
    );
    for (who, id) in [
        (
            "MEX auditor",
            fed.country("MEX").identity("auditor-auditor"),
        ),
        ("GTM node", fed.country("GTM").identity("node-gtm-1")),
    ] {
        let e = pb::local_client::LocalClient::new(fed.channel("MEX", &id))
            .backup(pb::BackupRequest {})
            .await
            .map(|_| ())
            .expect_err(who);
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{who}: {e:?}");
        assert!(
            e.message().contains("role.local_requires_own_operator"),
            "{who}: {e:?}"
        );
    }
    let config = fed.country("MEX").config.clone();
    let archive = fed.temp.path().join("mex.backup");
    let at_start = *answered.borrow();
    puente(&format!(
        "backup --config {} --out {}",
        s(&config),
        s(&archive)
    ))
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        answered.wait_for(|n| *n > at_start + 5),
    )
    .await
    .expect("the load stopped")
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert!(!PathBuf::from(format!("{}.partial", s(&archive))).exists());

    // Without --with-keys no key material is in it.
    let bytes = std::fs::read(&archive).unwrap();
    for (path, key, line) in key_material(&fed) {
        assert!(
            !contains(&bytes, &key),
            "{} is in the backup",
            path.display()
        );
        assert!(
            !contains(&bytes, line.as_bytes()),
            "a line of {} is in the backup",
            path.display()
        );
    }

    // The node's data directory is lost; the backup goes into an empty one.
    mex.stop().await;
    let mut fed = Arc::try_unwrap(fed).ok().unwrap();
    let data = fed.country("MEX").load().config.node.data_dir;
    std::fs::rename(&data, data.with_extension("lost")).unwrap();
    std::fs::create_dir(&data).unwrap();
    puente(&format!("restore --config {} {}", s(&config), s(&archive)))
        .await
        .unwrap();
    puente(&format!("audit verify --config {}", s(&config)))
        .await
        .unwrap();
    // A second restore finds the directory in use.
    let e = puente(&format!("restore --config {} {}", s(&config), s(&archive)))
        .await
        .unwrap_err();
    assert!(e.contains("is not empty"), "{e}");

    let mex = fed.start("MEX").await;
    // GTM saw MEX's log only before the cut: the restored node answers it the same.
    assert_eq!(
        answers(&fed, "GTM").await,
        before,
        "the restored node answers differently"
    );
    // CRI saw checkpoints past the cut: the restored log, grown again from the cut,
    // contradicts them, and CRI refuses its receipts rather than accept a rewritten
    // history (why a node is moved stopped, docs/operations.md).
    let e = ask(&fed, "CRI", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap_err();
    assert!(e.message().contains("split_view"), "{}", e.message());
    mex.stop().await;
    gtm.stop().await;
    cri.stop().await;
}

#[tokio::test]
async fn damaged_backups_are_refused_and_a_node_moves_with_its_keys() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    setup(&fed);
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let before = answers(&fed, "GTM").await;
    mex.stop().await;
    gtm.stop().await;
    let config = fed.country("MEX").config.clone();
    let t = fed.temp.path();

    // No node runs: the backup reads the data directory.
    let plain = t.join("plain.backup");
    puente(&format!(
        "backup --config {} --out {}",
        s(&config),
        s(&plain)
    ))
    .await
    .unwrap();
    let e = puente(&format!(
        "backup --config {} --out {}",
        s(&config),
        s(&plain)
    ))
    .await
    .unwrap_err();
    assert!(e.contains("already exists"), "{e}");
    let keyed = t.join("keyed.backup");
    puente(&format!(
        "backup --config {} --out {} --with-keys",
        s(&config),
        s(&keyed)
    ))
    .await
    .unwrap();
    let keyed_bytes = std::fs::read(&keyed).unwrap();
    for (path, key, _) in key_material(&fed) {
        assert!(
            contains(&keyed_bytes, &key),
            "{} is missing",
            path.display()
        );
    }

    // A copy of the node's directory on "another machine": config, certificates, trust,
    // agreements; no data, no keys.
    let moved = t.join("moved");
    copy_tree(&fed.country("MEX").dir, &moved);
    let moved_config = moved.join(config.file_name().unwrap());
    let original = fed.country("MEX").load().config;
    let rel = |p: &Path| moved.join(p.strip_prefix(&fed.country("MEX").dir).unwrap());
    let moved_data = rel(&original.node.data_dir);
    std::fs::remove_dir_all(&moved_data).unwrap();
    let keys: Vec<PathBuf> = key_material(&fed).iter().map(|(p, _, _)| rel(p)).collect();
    for k in &keys {
        std::fs::remove_file(k).unwrap();
    }

    // Truncated, altered, or without the keys it needs: refused, nothing written.
    let plain_bytes = std::fs::read(&plain).unwrap();
    let cut = t.join("cut.backup");
    std::fs::write(&cut, &plain_bytes[..plain_bytes.len() * 2 / 3]).unwrap();
    let altered = t.join("altered.backup");
    let mut a = plain_bytes.clone();
    // A byte of the audit log's first frame: after the 16-byte header, the section tag,
    // its name's length and name (`audit/log`) and the frame's length.
    a[16 + 1 + 2 + 9 + 4 + 40] ^= 0x01;
    std::fs::write(&altered, &a).unwrap();
    for (file, expect) in [
        (&cut, "truncated"),
        (&altered, "section \"audit/log\" holds"),
        (&plain, "without --with-keys"),
    ] {
        let e = puente(&format!(
            "restore --config {} {}",
            s(&moved_config),
            s(file)
        ))
        .await
        .unwrap_err();
        eprintln!("refused as expected: {e}");
        assert!(e.contains(expect), "{}: {e}", file.display());
        assert!(
            !moved_data.exists(),
            "{}: the data directory was written",
            file.display()
        );
        assert!(
            keys.iter().all(|k| !k.exists()),
            "{}: a key was written",
            file.display()
        );
        let leftovers: Vec<_> = std::fs::read_dir(moved_data.parent().unwrap())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    // With the keys: the node moves.
    puente(&format!(
        "restore --config {} {}",
        s(&moved_config),
        s(&keyed)
    ))
    .await
    .unwrap();
    assert!(keys.iter().all(|k| k.exists()));
    puente(&format!("audit verify --config {}", s(&moved_config)))
        .await
        .unwrap();
    puente(&format!("node check --config {}", s(&moved_config)))
        .await
        .unwrap();
    let (_store, records) = puente::records::open(&moved_config).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(before[0].len(), 1);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
