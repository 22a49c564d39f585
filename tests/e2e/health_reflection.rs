//! Health and reflection say what a node serves and whether it is up: they answer this
//! country's operators and auditors and the peers' nodes, never a foreign country's
//! operator or auditor (whose certificates still pass TLS, since their CA is trusted).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::Federation;
use puente_node::client::status_text;
use puente_node::refusals::RefusalStage;
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::{v1, v1alpha};

async fn health(ch: Channel) -> Result<i32, tonic::Status> {
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: "puente.v1.Exchange".into(),
        })
        .await
        .map(|r| r.into_inner().status)
}

/// The services reflection lists (v1).
async fn reflect_v1(ch: Channel) -> Result<Vec<String>, tonic::Status> {
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = v1::server_reflection_client::ServerReflectionClient::new(ch)
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    match answers.message().await?.and_then(|a| a.message_response) {
        Some(MessageResponse::ListServicesResponse(l)) => {
            Ok(l.service.into_iter().map(|s| s.name).collect())
        }
        other => panic!("not a list of services: {other:?}"),
    }
}

/// The services reflection lists (v1alpha).
async fn reflect_v1alpha(ch: Channel) -> Result<Vec<String>, tonic::Status> {
    use v1alpha::server_reflection_request::MessageRequest;
    use v1alpha::server_reflection_response::MessageResponse;
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = v1alpha::server_reflection_client::ServerReflectionClient::new(ch)
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    match answers.message().await?.and_then(|a| a.message_response) {
        Some(MessageResponse::ListServicesResponse(l)) => {
            Ok(l.service.into_iter().map(|s| s.name).collect())
        }
        other => panic!("not a list of services: {other:?}"),
    }
}

fn refused(what: &str, r: Result<impl std::fmt::Debug, tonic::Status>) {
    let err = r.expect_err(what);
    assert!(
        matches!(err.code(), Code::PermissionDenied | Code::Unauthenticated),
        "{what}: {}",
        status_text(&err)
    );
}

#[tokio::test]
async fn own_staff_and_peer_nodes_are_answered() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    for (country, stem) in [
        ("MEX", "operator-officer"),
        ("MEX", "auditor-auditor"),
        ("GTM", "node-gtm-1"),
    ] {
        let id = fed.country(country).identity(stem);
        let ch = fed.channel("MEX", &id);
        let status = health(ch.clone())
            .await
            .unwrap_or_else(|e| panic!("{country} {stem}: health: {}", status_text(&e)));
        assert_eq!(status, 1, "{country} {stem}: SERVING");
        let listed = reflect_v1(ch.clone())
            .await
            .unwrap_or_else(|e| panic!("{country} {stem}: reflection: {}", status_text(&e)));
        assert!(
            listed.iter().any(|s| s == "puente.v1.Exchange"),
            "{listed:?}"
        );
        let listed = reflect_v1alpha(ch)
            .await
            .unwrap_or_else(|e| panic!("{country} {stem}: reflection: {}", status_text(&e)));
        assert!(listed.iter().any(|s| s == "puente.v1.Local"), "{listed:?}");
    }
    assert!(
        mex.refusals.snapshot().is_empty(),
        "{:#?}",
        mex.refusals.snapshot()
    );
    mex.stop().await;
}

#[tokio::test]
async fn a_foreign_operator_or_auditor_gets_neither_health_nor_reflection() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    for stem in ["operator-officer", "auditor-auditor"] {
        let id = fed.country("GTM").identity(stem);
        let ch = fed.channel("MEX", &id);
        refused(&format!("GTM {stem}: health"), health(ch.clone()).await);
        refused(
            &format!("GTM {stem}: reflection v1"),
            reflect_v1(ch.clone()).await,
        );
        refused(
            &format!("GTM {stem}: reflection v1alpha"),
            reflect_v1alpha(ch).await,
        );
    }
    let refusals = mex.refusals_matching("role.health_requires_own_staff_or_peer_node");
    assert_eq!(refusals.len(), 6, "{:#?}", mex.refusals.snapshot());
    assert!(refusals.iter().all(|r| r.stage == RefusalStage::RoleGate));
    assert!(
        refusals[0]
            .reason
            .contains("GTM operator officer may not call grpc.health.v1.Health"),
        "{}",
        refusals[0].reason
    );
    mex.stop().await;
}
