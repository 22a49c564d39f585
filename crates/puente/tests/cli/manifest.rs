//! `puente manifest …` as a carrier and an officer use it: a carrier certificate issued
//! with `pki issue --role carrier`, a carrier's profile (`client init --role carrier`)
//! saved as carrier.toml, a PAXLST submitted with it, a malformed one refused naming the
//! place, and the officer's `manifest list` / `manifest show`.

use crate::common::node::{init_on_port_zero, LoggedNode};
use crate::common::{p, puente, text};

const FLIGHT: &str = include_str!("../../../puente-manifest/testdata/flight.edi");

#[test]
fn a_carrier_submits_with_its_profile_and_an_officer_lists_and_shows() {
    let dir = tempfile::tempdir().unwrap();
    let mex = dir.path().join("MEX");
    let config = init_on_port_zero(&mex);

    let issued = puente(&[
        "pki",
        "issue",
        "--dir",
        p(&mex.join("pki")),
        "--role",
        "carrier",
        "--name",
        "avianca",
    ]);
    assert!(issued.status.success(), "{}", text(&issued));
    assert!(
        mex.join("pki/carrier-avianca.pem").exists(),
        "{}",
        text(&issued)
    );
    let bad_role = puente(&[
        "pki",
        "issue",
        "--dir",
        p(&mex.join("pki")),
        "--role",
        "airline",
        "--name",
        "x",
    ]);
    assert!(!bad_role.status.success());
    assert!(
        text(&bad_role).contains("node, operator, auditor or carrier"),
        "{}",
        text(&bad_role)
    );

    let flight = dir.path().join("AV242.edi");
    std::fs::write(&flight, FLIGHT).unwrap();
    let bad = dir.path().join("bad.edi");
    std::fs::write(&bad, FLIGHT.replacen("O?'BRIEN", "O?BRIEN", 1)).unwrap();

    // The profile points at the address the node advertises once it runs.
    let mut node = LoggedNode::start(&config);
    let profile_dir = dir.path().join("tfs");
    let made = puente(&[
        "client",
        "init",
        "--config",
        p(&config),
        "--role",
        "carrier",
        "--name",
        "tfs",
        "--out",
        p(&profile_dir),
    ]);
    assert!(made.status.success(), "{}", text(&made));
    let carrier = profile_dir.join("carrier.toml");
    std::fs::rename(profile_dir.join("puente-client.toml"), &carrier).unwrap();

    let submitted = puente(&["manifest", "submit", "--profile", p(&carrier), p(&flight)]);
    let refused = puente(&["manifest", "submit", "--profile", p(&carrier), p(&bad)]);
    let carrier_reads = puente(&["manifest", "list", "--profile", p(&carrier)]);
    let listed = puente(&["manifest", "list", "--config", p(&config)]);
    let json = puente(&[
        "manifest",
        "list",
        "--config",
        p(&config),
        "--output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_default();
    let id = v[0]["manifest_id"].as_str().unwrap_or("").to_string();
    let shown = puente(&["manifest", "show", "--config", p(&config), &id]);
    let unknown = puente(&[
        "manifest",
        "show",
        "--config",
        p(&config),
        "m0000000000000-000000000000",
    ]);
    let _ = node.child.kill();
    let _ = node.child.wait();

    assert!(submitted.status.success(), "{}", text(&submitted));
    let s = text(&submitted);
    assert!(
        s.contains("stored: PAXLST AV242 of AV, 3 passengers"),
        "{s}"
    );
    assert!(s.contains("enters at MEX"), "{s}");

    assert!(!refused.status.success());
    let r = text(&refused);
    assert!(
        r.contains("manifest.invalid: segment 20 (NAD), element 4: bad release character"),
        "{r}"
    );
    assert!(r.contains("nothing was stored"), "{r}");

    assert!(!carrier_reads.status.success());
    assert!(
        text(&carrier_reads).contains("role.manifest_read_requires_own_operator"),
        "{}",
        text(&carrier_reads)
    );

    assert!(listed.status.success(), "{}", text(&listed));
    let l = text(&listed);
    assert!(l.contains("AV242") && l.contains("PAXLST"), "{l}");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["submitted_by"], "urn:puente:MEX:carrier:tfs");

    assert!(shown.status.success(), "{}", text(&shown));
    let sh = text(&shown);
    for wanted in [
        "PEREZ GOMEZ, MARIA JOSE",
        "O'BRIEN, JOHN",
        "COL AB1234567",
        "0 known",
    ] {
        assert!(sh.contains(wanted), "{wanted} in {sh}");
    }
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("is not held"), "{}", text(&unknown));
}
