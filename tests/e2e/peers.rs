//! `Local.ListPeers` end to end: an operator asks its own node, which dials each peer
//! over the real mTLS link; peers going down and coming back are reported truthfully.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::Federation;
use puente_proto::v1::local_client::LocalClient;
use puente_proto::v1::{ListPeersRequest, ListPeersResponse};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn peers(fed: &Federation, country: &str) -> ListPeersResponse {
    let officer = fed.country(country).identity("operator-officer");
    LocalClient::new(fed.channel(country, &officer))
        .list_peers(ListPeersRequest {
            check_reachability: true,
        })
        .await
        .expect("list peers")
        .into_inner()
}

#[tokio::test]
async fn every_node_sees_its_peers_and_notices_one_going_down() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let cri = fed.start("CRI").await;

    for country in ["MEX", "GTM", "CRI"] {
        let r = peers(&fed, country).await;
        assert_eq!(r.local_country, country);
        assert_eq!(r.peers.len(), 2, "{r:?}");
        for p in &r.peers {
            assert!(p.reachable, "{country} → {}: {}", p.country, p.error);
            assert_eq!(p.peer_node, format!("{}-1", p.country.to_lowercase()));
            assert!(p.round_trip.is_some() && p.certificate_not_after.is_some());
            for fp in [&p.ca_fingerprint, &p.signing_key_fingerprint] {
                assert!(
                    fp.len() == 64
                        && fp
                            .bytes()
                            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                    "lowercase hex, 64 characters: {fp}"
                );
            }
        }
    }

    // GTM stops: MEX reports it unreachable, with a reason, and CRI still reachable.
    gtm.stop().await;
    let r = peers(&fed, "MEX").await;
    let g = r.peers.iter().find(|p| p.country == "GTM").unwrap();
    assert!(!g.reachable);
    assert!(!g.error.is_empty());
    assert!(
        r.peers
            .iter()
            .find(|p| p.country == "CRI")
            .unwrap()
            .reachable
    );

    // GTM comes back on the same address: the pooled channel reconnects.
    let gtm = fed.start("GTM").await;
    let r = peers(&fed, "MEX").await;
    assert!(r.peers.iter().all(|p| p.reachable), "{r:?}");

    mex.stop().await;
    gtm.stop().await;
    cri.stop().await;
}

#[tokio::test]
async fn health_reports_each_service_to_any_verified_caller() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let mut health = HealthClient::new(fed.channel("MEX", &gtm_node));
    for service in [
        "",
        "puente.v1.Exchange",
        "puente.v1.Local",
        "puente.v1.Audit",
    ] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service}");
    }
    let err = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(err.code(), tonic::Code::NotFound);
    mex.stop().await;
}

#[tokio::test]
async fn a_stopped_node_refuses_new_connections() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let officer = fed.country("MEX").identity("operator-officer");
    let ch = fed.channel("MEX", &officer);
    LocalClient::new(ch.clone())
        .list_peers(ListPeersRequest::default())
        .await
        .expect("running");
    mex.stop().await;
    let fresh = fed.channel("MEX", &officer);
    assert!(LocalClient::new(fresh)
        .list_peers(ListPeersRequest::default())
        .await
        .is_err());
}
