//! `puente status` end to end: one screen of a node for its own staff, from real nodes.
//! Quota use is shown on both sides of a grant (the provider's count, and the receiver's
//! own tally of what it was answered), each peer's last cosignature, material expiry,
//! a peer that went down shown as down without what was seen of it before; the
//! `NodeStatus` service refuses peers' nodes and other countries' staff.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_client::NodeClient;
use puente_e2e::holdings::import_rows;
use puente_e2e::officer::{ask, doc};
use puente_e2e::{agreement_text, grant, Federation};
use puente_pki::{CountryCode, Role};
use puente_proto::v1 as pb;
use puente_proto::v1::node_status_client::NodeStatusClient;

fn client(fed: &Federation, country: &str, stem: &str, role: Role) -> NodeClient {
    let c = fed.country(country);
    NodeClient::connect(
        &c.addr.to_string(),
        &c.identity(stem),
        &c.anchor(),
        role,
        None,
    )
    .expect("client")
}

fn agreements(fed: &Federation) {
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-S",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[
                grant(
                    "MEX",
                    "GTM",
                    &["identity_query"],
                    &["identification"],
                    &["given_names", "surnames"],
                    "queries_per_day = 40",
                ),
                // A hit/no-hit grant lists no fields: nothing is disclosed.
                grant(
                    "GTM",
                    "MEX",
                    &["identity_query"],
                    &["identification"],
                    &[],
                    "queries_per_day = 9\nmodes = { identity_query = \"hit_no_hit\" }",
                ),
            ],
        ),
    );
}

fn grant_of<'a>(
    r: &'a puente::status::Report,
    provider: &str,
    receiver: &str,
) -> &'a pb::DirectionGrant {
    r.agreements
        .as_ref()
        .expect("an operator sees agreements")
        .agreements
        .iter()
        .flat_map(|a| a.grants.iter())
        .find(|g| g.provider_country == provider && g.receiver_country == receiver)
        .unwrap_or_else(|| panic!("a grant {provider} → {receiver}"))
}

#[tokio::test]
async fn status_shows_quota_on_both_sides_witnesses_expiry_and_a_down_peer_as_down() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    agreements(&fed);
    import_rows(
        &fed,
        "MEX",
        &["S1,AMINA,DIALLO,1991-03-04,F,GIN,passport,GN1234567,GIN,2030-01-01,,,none,,,2026-03-01,Tapachula,entry,GTM,"],
    );
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let cri = fed.start("CRI").await;

    for _ in 0..2 {
        ask(&fed, "GTM", "MEX", doc("GN1234567", "GIN"))
            .await
            .expect("GTM asks MEX");
    }
    // MEX's own log gets a cosignature from GTM.
    let gtm_code = CountryCode::parse("GTM").unwrap();
    let cosigned = mex
        .state
        .request_witness(gtm_code)
        .await
        .expect("GTM cosigns");
    assert!(cosigned > 0);

    let mex_op = client(&fed, "MEX", "operator-officer", Role::Operator);
    let r = puente::status::gather(&mex_op).await.expect("MEX status");
    assert_eq!(r.node.country, "MEX");
    assert_eq!(r.node.node_name, "mex-1");
    assert_eq!(r.node.persons, 1);
    assert!(r.node.audit_entries >= 2, "{:?}", r.node.audit_entries);
    assert!(r.node.disk_free_bytes > 0 && r.node.disk_reserve_bytes > 0);
    let what: Vec<&str> = r.node.material.iter().map(|m| m.what.as_str()).collect();
    for wanted in [
        "node certificate",
        "country CA",
        "CRL of MEX",
        "CRL of GTM (trust bundle)",
    ] {
        assert!(what.contains(&wanted), "{wanted} in {what:?}");
    }
    let now = r.node.now.as_ref().unwrap().seconds;
    for m in &r.node.material {
        let t = m
            .not_after
            .as_ref()
            .unwrap_or_else(|| panic!("{} runs out: {m:?}", m.what));
        assert!(t.seconds > now, "{} is still valid", m.what);
    }
    let own_crl = r
        .node
        .material
        .iter()
        .find(|m| m.what == "CRL of MEX")
        .unwrap();
    assert!(
        own_crl.renew_with.starts_with("puente pki crl --dir "),
        "{own_crl:?}"
    );
    let w = |c: &str| {
        r.node
            .witnesses
            .iter()
            .find(|w| w.peer_country == c)
            .unwrap()
    };
    assert_eq!(w("GTM").tree_size, cosigned);
    assert!(w("GTM").cosigned_at.is_some());
    assert_eq!(w("CRI").tree_size, 0, "CRI never cosigned");
    // The provider's count of what GTM took.
    assert_eq!(grant_of(&r, "MEX", "GTM").queries_used_today, 2);
    let peers = r.peers.as_ref().unwrap();
    assert!(peers.peers.iter().all(|p| p.reachable), "{peers:?}");

    // GTM's side: its own tally of the answers it was given, beside MEX's limit.
    let gtm_op = client(&fed, "GTM", "operator-officer", Role::Operator);
    let g = puente::status::gather(&gtm_op).await.expect("GTM status");
    let mine = grant_of(&g, "MEX", "GTM");
    assert_eq!((mine.queries_used_today, mine.queries_per_day), (2, 40));
    let text = puente::status::render(&g);
    assert!(
        text.contains("we ask MEX") && text.contains("queries 2/40"),
        "{text}"
    );

    // CRI goes down: shown as unreachable with the reason, nothing seen of it before.
    cri.stop().await;
    let r = puente::status::gather(&mex_op).await.expect("MEX status");
    let text = puente::status::render(&r);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("CRI ") && l.contains("at "))
        .unwrap_or_else(|| panic!("a CRI peer line in {text}"));
    assert!(line.contains("UNREACHABLE"), "{line}");
    assert!(
        !line.contains("cri-1") && !line.contains("ms"),
        "no stale details: {line}"
    );
    let json = puente::status::to_json(&r);
    let cri_json = json["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["country"] == "CRI")
        .unwrap();
    assert_eq!(cri_json["reachable"], false);
    assert!(cri_json.get("node").is_none() && cri_json.get("round_trip_ms").is_none());
    let witnessed: Vec<&serde_json::Value> = json["audit"]["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["tree_size"].as_u64() > Some(0))
        .collect();
    assert_eq!(witnessed.len(), 1);
    assert_eq!(witnessed[0]["peer"], "GTM");

    mex.stop().await;
    gtm.stop().await;
}

#[tokio::test]
async fn status_is_for_the_own_countrys_staff_only() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;

    // An auditor sees the node's own part; peers and agreements are the operator's.
    let auditor = client(&fed, "MEX", "auditor-auditor", Role::Auditor);
    let r = puente::status::gather(&auditor)
        .await
        .expect("auditor status");
    assert_eq!(r.node.country, "MEX");
    assert!(r.peers.is_none() && r.agreements.is_none() && r.sync.is_none());
    assert!(puente::status::render(&r).contains("an operator's certificate sees these"));

    // A peer's node and a peer's operator are refused by the gate, naming the rule.
    for stem in ["node-gtm-1", "operator-officer"] {
        let id = fed.country("GTM").identity(stem);
        let err = NodeStatusClient::new(fed.channel("MEX", &id))
            .get_status(pb::GetStatusRequest {})
            .await
            .expect_err("not MEX's staff");
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "{stem}: {err:?}");
        assert!(
            err.message().contains("role.status_requires_own_staff"),
            "{stem}: {}",
            err.message()
        );
    }
    mex.stop().await;
}
