//! An independent client proves the contract: `examples/python/puente_client.py`, written
//! against `proto/` alone with the standard Python gRPC library, talks to real nodes over
//! mutual TLS with the certificates `puente init` issued. It lists peers, gets a match
//! from a peer, surfaces a refusal with its rule, fetches a streamed passport copy whose
//! SHA-256 it checks itself, lists audit entries with the auditor certificate, and is
//! refused on the Audit service with the operator certificate.
//!
//! Skipped only when `python3` is absent; when grpcio or grpcio-tools are missing it
//! fails and says how to install them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;
use std::process::Command;

use puente_e2e::{agreement_text, grant, Federation};
use serde_json::Value;

const PYTHON: &str = "python3";
const COLUMNS: &str = "record_id,given_names,surnames,date_of_birth,sex,nationality,document_type,document_number,issuing_state,document_expiry,mrz_line1,mrz_line2,protection_status,protected_against,vulnerabilities,encounter_date,encounter_place,encounter_event,previous_country,passport_copy";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// False when there is no `python3` to run, or (outside CI) when it lacks the pinned
/// libraries: `cargo test --workspace` needs nothing but Cargo on a fresh machine, so the
/// test then says loudly that it did not run. Under CI (`CI` set; `.ci/run` installs the
/// libraries) a missing library fails the test.
fn python_ready() -> bool {
    if Command::new(PYTHON).arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED python_client_speaks_the_contract: no `{PYTHON}` on this machine \
             (install Python 3 and `pip install -r examples/python/requirements.txt`)"
        );
        return false;
    }
    let probe = Command::new(PYTHON)
        .args(["-c", "import grpc, grpc_tools.protoc"])
        .output()
        .expect("running python3");
    let missing = format!(
        "python3 is here but cannot import grpc / grpc_tools; run \
         `python3 -m pip install -r examples/python/requirements.txt`\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    if !probe.status.success() {
        assert!(std::env::var_os("CI").is_none(), "{missing}");
        eprintln!("SKIPPED: the Python client was not run. {missing}");
        return false;
    }
    true
}

/// What one run of the Python client produced.
struct Run {
    what: String,
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON lines of a successful run.
    fn ok(self) -> Vec<Value> {
        assert!(
            self.status.success(),
            "{} failed ({}):\n{}{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {l}", self.what))
            })
            .collect()
    }

    /// The error line of a refused run (exit status 1, nothing on stdout).
    fn refused(self) -> String {
        assert_eq!(
            self.status.code(),
            Some(1),
            "{} should fail with status 1:\n{}{}",
            self.what,
            self.stdout,
            self.stderr
        );
        assert!(self.stdout.is_empty(), "{}: {}", self.what, self.stdout);
        self.stderr
            .lines()
            .find(|l| l.starts_with("puente_client: "))
            .unwrap_or_else(|| panic!("{}: no error line in {}", self.what, self.stderr))
            .to_string()
    }
}

/// The Python client dialling one node with one certificate of the node's country.
struct PyClient {
    base: Vec<String>,
}

impl PyClient {
    fn new(fed: &Federation, country: &str, stem: &str) -> Self {
        let c = fed.country(country);
        let pki = c.pki();
        let path = |p: PathBuf| p.display().to_string();
        Self {
            base: vec![
                path(repo().join("examples/python/puente_client.py")),
                "--addr".into(),
                c.addr.to_string(),
                "--ca".into(),
                path(pki.join("ca.pem")),
                "--cert".into(),
                path(pki.join(format!("{stem}.pem"))),
                "--key".into(),
                path(pki.join(format!("{stem}.key"))),
                "--timeout".into(),
                "20".into(),
            ],
        }
    }

    /// The same client dialling `addr` instead.
    fn at(mut self, addr: &str) -> Self {
        self.base[2] = addr.to_string();
        self
    }

    /// Runs the client off the runtime's threads, so the nodes keep serving meanwhile.
    async fn run(&self, args: &[&str]) -> Run {
        let mut argv = self.base.clone();
        argv.extend(args.iter().map(|s| s.to_string()));
        let what = format!("puente_client.py {}", args.join(" "));
        let out = tokio::task::spawn_blocking(move || {
            Command::new(PYTHON)
                .args(&argv)
                .env("GRPC_VERBOSITY", "ERROR")
                .output()
        })
        .await
        .expect("join")
        .expect("running python3");
        Run {
            what,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn of_type<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == kind).collect()
}

/// MEX holds one Bangladeshi migrant with a passport copy larger than one 64 KiB chunk.
fn mex_records(fed: &Federation) -> Vec<u8> {
    let dir = fed.temp.path().join("mex-data");
    std::fs::create_dir_all(&dir).unwrap();
    let mut copy = puente_synth::specimen::specimen_png(7).unwrap();
    // Bytes after IEND are ignored by image viewers; they make the stream several chunks.
    copy.extend((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    std::fs::write(dir.join("r1.png"), &copy).unwrap();
    let row = "R1,MOHAMMAD ABDUL,HOSSAIN,1990-04-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,none,,,2026-03-01,Tapachula,detection,GTM,r1.png";
    let csv = dir.join("persons.csv");
    std::fs::write(&csv, format!("{COLUMNS}\n{row}\n")).unwrap();
    let (_store, records) = puente::records::open(&fed.country("MEX").config).unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    puente_records::import::import(&records, &csv, today, &mut |_, _| {}).unwrap();
    records.flush().unwrap();
    copy
}

/// GTM may ask MEX about identities and fetch copies, for identification only.
fn agreement(fed: &Federation) {
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-PY",
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
                    "date_of_birth",
                    "document_number",
                ],
                "queries_per_day = 100\ncopies_per_day = 10",
            )],
        ),
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn python_client_speaks_the_contract() {
    if !python_ready() {
        return;
    }
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreement(&fed);
    let copy = mex_records(&fed);
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let officer = PyClient::new(&fed, "GTM", "operator-officer");
    let auditor = PyClient::new(&fed, "GTM", "auditor-auditor");

    // Local.ListPeers: GTM's node, and MEX reachable over mTLS.
    let lines = officer.run(&["peers", "--check"]).await.ok();
    assert_eq!(of_type(&lines, "node")[0]["country"], "GTM");
    let peers = of_type(&lines, "peer");
    assert_eq!(peers.len(), 1, "{lines:?}");
    assert_eq!(peers[0]["country"], "MEX");
    assert_eq!(peers[0]["reachable"], true, "{lines:?}");
    assert_eq!(peers[0]["address"], mex.addr.to_string());
    for fp in ["ca_fingerprint", "signing_key_fingerprint"] {
        let hex = peers[0][fp].as_str().unwrap();
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{fp} is 64 lowercase hex characters, as PeerStatus says: {hex}"
        );
    }

    // The node certificate names 127.0.0.1 (its advertised host), not "localhost": gRPC
    // refuses that name unless told which name to check (--server-name).
    let by_name = PyClient::new(&fed, "GTM", "operator-officer")
        .at(&format!("localhost:{}", gtm.addr.port()));
    let error = by_name.run(&["peers"]).await.refused();
    assert!(
        error.starts_with("puente_client: UNAVAILABLE: ")
            && error.to_lowercase().contains("hostname"),
        "{error}"
    );
    by_name
        .run(&["--server-name", "127.0.0.1", "peers"])
        .await
        .ok();

    // Local.Query: a transliterated, misspelled name matches, with granted fields only.
    let query = [
        "query",
        "--peer",
        "MEX",
        "--purpose",
        "identification",
        "--case",
        "EXP-PY-1",
        "--given-names",
        "MUHAMMAD ABDUL",
        "--surnames",
        "HUSAIN",
        "--birth-date",
        "1990-04",
    ];
    let lines = officer.run(&query).await.ok();
    let answer = of_type(&lines, "answer")[0];
    assert_eq!(answer["peer"], "MEX");
    assert_eq!(answer["outcome"], "match", "{lines:?}");
    assert_eq!(answer["mode"], "full");
    assert_eq!(answer["agreement_id"], "MEX-GTM-PY");
    assert_eq!(answer["receipt_verified"], true);
    let matches = of_type(&lines, "match");
    assert_eq!(matches.len(), 1, "{lines:?}");
    let person = &matches[0]["person"];
    assert_eq!(person["surnames"], "HOSSAIN");
    assert_eq!(person["document_number"], "BX1234567");
    assert_eq!(person["date_of_birth"], "1990-04-12");
    assert!(
        person.get("sex").is_none() && person.get("last_encounter_place").is_none(),
        "ungranted fields: {person}"
    );
    let reference = matches[0]["reference"].as_str().unwrap().to_string();

    // A purpose the agreement does not grant: PERMISSION_DENIED with the rule's name.
    let mut refused = query;
    refused[4] = "return";
    let error = officer.run(&refused).await.refused();
    assert!(
        error.starts_with("puente_client: PERMISSION_DENIED: ")
            && error.contains("agreement.purpose_not_granted"),
        "{error}"
    );

    // Local.FetchDocument: the streamed copy, its SHA-256 checked by the client.
    let out = fed.temp.path().join("copy.png");
    let out_arg = out.display().to_string();
    let lines = officer
        .run(&[
            "fetch",
            "--peer",
            "MEX",
            "--purpose",
            "identification",
            "--case",
            "EXP-PY-1",
            "--reference",
            &reference,
            "--out",
            &out_arg,
        ])
        .await
        .ok();
    let doc = of_type(&lines, "document")[0];
    assert_eq!(doc["media_type"], "image/png");
    assert_eq!(doc["size_bytes"], copy.len());
    assert_eq!(doc["sha256"], sha256_hex(&copy));
    assert_eq!(doc["sha256_verified"], true);
    assert_eq!(std::fs::read(&out).unwrap(), copy);
    let again = officer
        .run(&[
            "fetch",
            "--peer",
            "MEX",
            "--case",
            "EXP-PY-1",
            "--reference",
            &reference,
            "--out",
            &out_arg,
        ])
        .await;
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing --out is not overwritten"
    );

    // Audit.ListEntries with the auditor certificate: the three exchanges, each leaf hash
    // recomputed by the client, no personal data in them.
    let lines = auditor.run(&["audit-list", "--page-size", "2"]).await.ok();
    let entries = of_type(&lines, "entry");
    assert!(
        entries.iter().all(|e| e["leaf_hash_verified"] == true),
        "{lines:?}"
    );
    let find = |service: &str, decision: &str| {
        entries
            .iter()
            .find(|e| {
                e["service"] == service && e["decision"] == decision && e["direction"] == "outgoing"
            })
            .unwrap_or_else(|| panic!("no outgoing {service} {decision} in {lines:?}"))
    };
    let allowed = find("identity_query", "allowed");
    assert_eq!(allowed["actor"], "urn:puente:GTM:operator:officer");
    assert_eq!(allowed["case_reference"], "EXP-PY-1");
    assert_eq!(allowed["peer"], "MEX");
    assert_eq!(allowed["counterpart_receipt"], true);
    assert_eq!(
        find("identity_query", "refused")["rule"],
        "agreement.purpose_not_granted"
    );
    find("passport_copy", "allowed");
    for personal in ["HOSSAIN", "MOHAMMAD", "BX1234567", "1990-04"] {
        assert!(
            !lines.iter().any(|l| l.to_string().contains(personal)),
            "{personal} in the audit listing"
        );
    }
    let refusals = auditor
        .run(&["audit-list", "--decision", "refused"])
        .await
        .ok();
    assert!(!refusals.is_empty());
    assert!(refusals.iter().all(|e| e["decision"] == "refused"));

    // MEX's own auditor sees the incoming side.
    let lines = PyClient::new(&fed, "MEX", "auditor-auditor")
        .run(&["audit-list", "--direction", "incoming", "--peer", "GTM"])
        .await
        .ok();
    assert!(
        of_type(&lines, "entry")
            .iter()
            .any(|e| e["service"] == "passport_copy" && e["decision"] == "allowed"),
        "{lines:?}"
    );

    // The operator certificate is refused on the Audit service, with the rule's name.
    let error = officer.run(&["audit-list"]).await.refused();
    assert!(
        error.starts_with("puente_client: PERMISSION_DENIED: role.audit_requires_own_auditor"),
        "{error}"
    );

    mex.stop().await;
    gtm.stop().await;
}
