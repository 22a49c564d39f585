//! Who may talk to a node: identity comes only from a certificate chain verified against
//! the CA of the country it claims, and roles gate services. Each refusal is checked both
//! from the caller's side (the call fails) and the node's (it recorded and logged why).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::{identity_at, Federation};
use puente_node::client::status_text;
use puente_node::refusals::RefusalStage;
use puente_pki::{CountryCa, CountryCode, IssueOptions, PeerIdentity, Role};
use puente_proto::v1::audit_client::AuditClient;
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_proto::v1::local_client::LocalClient;
use puente_proto::v1::{GetCheckpointRequest, ListPeersRequest, QueryIdentityRequest};
use time::{Duration, OffsetDateTime};
use tonic::transport::Channel;
use tonic::Code;

async fn list_peers(ch: Channel) -> Result<puente_proto::v1::ListPeersResponse, tonic::Status> {
    LocalClient::new(ch)
        .list_peers(ListPeersRequest {
            check_reachability: false,
        })
        .await
        .map(|r| r.into_inner())
}

async fn query(ch: Channel) -> Result<(), tonic::Status> {
    ExchangeClient::new(ch)
        .query_identity(QueryIdentityRequest::default())
        .await
        .map(|_| ())
}

async fn checkpoint(ch: Channel) -> Result<(), tonic::Status> {
    AuditClient::new(ch)
        .get_checkpoint(GetCheckpointRequest::default())
        .await
        .map(|_| ())
}

fn issue(
    ca: &CountryCa,
    role: Role,
    name: &str,
    from_days: i64,
    to_days: i64,
) -> std::path::PathBuf {
    let now = OffsetDateTime::now_utc();
    let opts = IssueOptions {
        not_before: now + Duration::days(from_days),
        not_after: now + Duration::days(to_days),
        hosts: vec![],
    };
    ca.issue(role, name, &opts).expect("issue").cert_path
}

#[tokio::test]
async fn permitted_callers_reach_their_services() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;

    // This country's operator → Local.
    let officer = fed.country("MEX").identity("operator-officer");
    let peers = list_peers(fed.channel("MEX", &officer))
        .await
        .expect("operator may call Local");
    assert_eq!(peers.local_country, "MEX");
    assert_eq!(peers.peers.len(), 1);
    assert_eq!(peers.peers[0].country, "GTM");

    // A peer's node → Exchange passes the gate: an empty request reaches the handler,
    // which finds it malformed (no context), not forbidden.
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let err = query(fed.channel("MEX", &gtm_node))
        .await
        .expect_err("empty request");
    assert_eq!(err.code(), Code::InvalidArgument, "{}", status_text(&err));
    assert!(err.message().contains("context"), "{}", err.message());

    // This country's auditor → Audit passes the gate.
    let auditor = fed.country("MEX").identity("auditor-auditor");
    // The refused query above is already in the log, so there is a checkpoint to read.
    checkpoint(fed.channel("MEX", &auditor))
        .await
        .expect("an auditor may read the checkpoint");

    assert!(
        mex.refusals.snapshot().is_empty(),
        "{:#?}",
        mex.refusals.snapshot()
    );
    mex.stop().await;
}

#[tokio::test]
async fn a_client_without_certificate_is_refused() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let err = list_peers(fed.channel_without_cert("MEX"))
        .await
        .expect_err("must be refused");
    assert_ne!(err.code(), Code::Ok);
    let r = mex.expect_refusal("").await;
    assert_eq!(r.stage, RefusalStage::Handshake);
    assert!(
        r.reason.to_lowercase().contains("certificate"),
        "reason should say a certificate was required: {}",
        r.reason
    );
    mex.stop().await;
}

#[tokio::test]
async fn a_certificate_of_an_untrusted_country_is_refused() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let elsewhere = tempfile::tempdir().unwrap();
    let pan = CountryCa::init(
        elsewhere.path(),
        CountryCode::parse("PAN").unwrap(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    issue(&pan, Role::Node, "pan-1", 0, 30);
    let id = identity_at(elsewhere.path(), "node-pan-1");
    assert!(query(fed.channel("MEX", &id)).await.is_err());
    let r = mex
        .expect_refusal("PAN, which is not in the trust bundle")
        .await;
    assert_eq!(r.stage, RefusalStage::Handshake);
    mex.stop().await;
}

#[tokio::test]
async fn a_rogue_ca_claiming_a_trusted_country_is_refused() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    // Someone makes their own "MEX" CA and an operator certificate from it.
    let rogue_dir = tempfile::tempdir().unwrap();
    let rogue = CountryCa::init(
        rogue_dir.path(),
        CountryCode::parse("MEX").unwrap(),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    issue(&rogue, Role::Operator, "officer", 0, 30);
    let id = identity_at(rogue_dir.path(), "operator-officer");
    assert!(list_peers(fed.channel("MEX", &id)).await.is_err());
    mex.expect_refusal("does not verify against MEX's CA").await;
    mex.stop().await;
}

#[tokio::test]
async fn a_country_spoof_is_refused() {
    // GTM's real CA signs a certificate that claims to be a MEX operator.
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let gtm = fed.country("GTM");
    let spoof =
        PeerIdentity::new(CountryCode::parse("MEX").unwrap(), Role::Operator, "spoof").unwrap();
    let now = OffsetDateTime::now_utc();
    gtm.ca()
        .issue_identity(&spoof, &IssueOptions::valid_for_days(now, 30))
        .unwrap();
    let id = gtm.identity("operator-spoof");
    assert!(list_peers(fed.channel("MEX", &id)).await.is_err());
    let r = mex
        .expect_refusal("claims MEX but does not verify against MEX's CA")
        .await;
    assert_eq!(r.stage, RefusalStage::Handshake);

    // The same trick towards Exchange: GTM's CA vouching for a "MEX" node.
    let spoof_node =
        PeerIdentity::new(CountryCode::parse("CRI").unwrap(), Role::Node, "cri-1").unwrap();
    gtm.ca()
        .issue_identity(&spoof_node, &IssueOptions::valid_for_days(now, 30))
        .unwrap();
    let id = gtm.identity("node-cri-1");
    assert!(query(fed.channel("MEX", &id)).await.is_err());
    mex.expect_refusal("CRI, which is not in the trust bundle")
        .await;
    mex.stop().await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_are_refused() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let ca = fed.country("MEX").ca();
    issue(&ca, Role::Operator, "expired", -60, -1);
    issue(&ca, Role::Operator, "future", 2, 60);

    let id = fed.country("MEX").identity("operator-expired");
    assert!(list_peers(fed.channel("MEX", &id)).await.is_err());
    let r = mex.expect_refusal("xpired").await;
    assert_eq!(r.stage, RefusalStage::Handshake);

    let id = fed.country("MEX").identity("operator-future");
    assert!(list_peers(fed.channel("MEX", &id)).await.is_err());
    let refusals = mex.refusals.snapshot();
    assert!(
        refusals.iter().any(|r| {
            let t = r.reason.to_lowercase().replace(['_', ' '], "");
            t.contains("notvalidyet") || t.contains("notvalidbefore")
        }),
        "{refusals:#?}"
    );
    mex.stop().await;
}

#[tokio::test]
async fn revoked_certificates_are_refused_own_and_peer() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let now = OffsetDateTime::now_utc();
    // MEX revokes one of its operators; GTM revokes its node and shares the new CRL.
    let mex_ca = fed.country("MEX").ca();
    issue(&mex_ca, Role::Operator, "leaver", 0, 30);
    mex_ca
        .revoke_file(
            &fed.country("MEX").pki().join("operator-leaver.pem"),
            "affiliation_changed",
            now,
        )
        .unwrap();
    let gtm_ca = fed.country("GTM").ca();
    gtm_ca
        .revoke_file(
            &fed.country("GTM").pki().join("node-gtm-1.pem"),
            "key_compromise",
            now,
        )
        .unwrap();
    fed.trust("MEX", "GTM"); // re-import GTM's bundle, now with its CRL
    let mex = fed.start("MEX").await;

    let leaver = fed.country("MEX").identity("operator-leaver");
    assert!(list_peers(fed.channel("MEX", &leaver)).await.is_err());
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    assert!(query(fed.channel("MEX", &gtm_node)).await.is_err());
    for _ in 0..100 {
        if mex.refusals_matching("evoked").len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        mex.refusals_matching("evoked").len(),
        2,
        "{:#?}",
        mex.refusals.snapshot()
    );

    // A certificate that is not revoked still works.
    let officer = fed.country("MEX").identity("operator-officer");
    list_peers(fed.channel("MEX", &officer))
        .await
        .expect("unrevoked operator");
    mex.stop().await;
}

#[tokio::test]
async fn roles_gate_services() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let own_operator = fed.country("MEX").identity("operator-officer");
    let own_node = fed.country("MEX").identity("node-mex-1");
    let own_auditor = fed.country("MEX").identity("auditor-auditor");
    let peer_operator = fed.country("GTM").identity("operator-officer");
    let peer_node = fed.country("GTM").identity("node-gtm-1");
    let peer_auditor = fed.country("GTM").identity("auditor-auditor");

    // Exchange: only a peer country's node.
    for (who, id) in [
        ("own operator", &own_operator),
        ("peer operator", &peer_operator),
        ("own node", &own_node),
        ("own auditor", &own_auditor),
    ] {
        let err = query(fed.channel("MEX", id)).await.expect_err(who);
        assert_eq!(
            err.code(),
            Code::PermissionDenied,
            "{who}: {}",
            status_text(&err)
        );
        assert!(
            err.message().contains("role.exchange_requires_peer_node"),
            "{who}: {}",
            err.message()
        );
    }
    // Local: only this country's operators.
    for (who, id) in [
        ("peer node", &peer_node),
        ("own node", &own_node),
        ("peer operator", &peer_operator),
        ("own auditor", &own_auditor),
    ] {
        let err = list_peers(fed.channel("MEX", id)).await.expect_err(who);
        assert_eq!(
            err.code(),
            Code::PermissionDenied,
            "{who}: {}",
            status_text(&err)
        );
        assert!(
            err.message().contains("role.local_requires_own_operator"),
            "{who}: {}",
            err.message()
        );
    }
    // Audit: only this country's auditors.
    for (who, id) in [
        ("peer auditor", &peer_auditor),
        ("own operator", &own_operator),
        ("peer node", &peer_node),
    ] {
        let err = checkpoint(fed.channel("MEX", id)).await.expect_err(who);
        assert_eq!(
            err.code(),
            Code::PermissionDenied,
            "{who}: {}",
            status_text(&err)
        );
        assert!(
            err.message().contains("role.audit_requires_own_auditor"),
            "{who}: {}",
            err.message()
        );
    }
    let gate_refusals: Vec<_> = mex
        .refusals
        .snapshot()
        .into_iter()
        .filter(|r| r.stage == RefusalStage::RoleGate)
        .collect();
    assert_eq!(gate_refusals.len(), 11, "{gate_refusals:#?}");
    assert!(gate_refusals.iter().any(|r| r
        .reason
        .contains("GTM operator officer may not call puente.v1.Local")));
    mex.stop().await;
}

#[tokio::test]
async fn a_server_that_is_not_the_claimed_peer_is_refused_by_the_client() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    // MEX's trust file is pointed at CRI's node for GTM (a hijacked address).
    let cri_addr = fed.country("CRI").addr.to_string();
    let gtm_addr = fed.country("GTM").addr.to_string();
    let trust = fed.country("MEX").dir.join("trust.toml");
    let text = std::fs::read_to_string(&trust).unwrap();
    assert!(text.contains(&gtm_addr));
    std::fs::write(&trust, text.replace(&gtm_addr, &cri_addr)).unwrap();
    let mex = fed.start("MEX").await;
    let cri = fed.start("CRI").await;

    let officer = fed.country("MEX").identity("operator-officer");
    let peers = LocalClient::new(fed.channel("MEX", &officer))
        .list_peers(ListPeersRequest {
            check_reachability: true,
        })
        .await
        .unwrap()
        .into_inner();
    let gtm = peers.peers.iter().find(|p| p.country == "GTM").unwrap();
    assert!(!gtm.reachable, "{gtm:?}");
    assert!(
        gtm.error.contains("expected a node of GTM"),
        "the reason should name the expected peer: {}",
        gtm.error
    );
    let cri_status = peers.peers.iter().find(|p| p.country == "CRI").unwrap();
    assert!(cri_status.reachable, "{cri_status:?}");
    assert_eq!(cri_status.peer_node, "cri-1");

    // Directly: a client that dials "GTM" but reaches CRI's node refuses the server.
    let gtm_anchor = fed.country("GTM").anchor();
    let ch = puente_node::client::node_channel(
        &cri_addr,
        &officer,
        &gtm_anchor,
        std::time::Duration::from_secs(5),
        None,
    )
    .unwrap()
    .channel;
    let err = list_peers(ch)
        .await
        .expect_err("the client must refuse CRI posing as GTM");
    let text = status_text(&err);
    assert!(text.contains("GTM"), "{text}");
    mex.stop().await;
    cri.stop().await;
}
