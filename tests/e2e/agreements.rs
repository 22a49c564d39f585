//! Agreements enforced by real nodes: default deny, signatures of both parties, validity
//! windows, quotas that run out and reset at the UTC day boundary (on a controllable
//! clock), counters that survive a restart, and agreements reloaded without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::{agreement_text, grant, Federation, ManualClock};
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_proto::v1::identity_query::Terms;
use puente_proto::v1::local_client::LocalClient;
use puente_proto::v1::{
    AgreementState, DocumentTerms, DocumentType, IdentityQuery, ListAgreementsRequest,
    PullStatisticsRequest, Purpose, QueryIdentityRequest, RequestContext,
};
use time::macros::datetime;
use tonic::transport::Channel;
use tonic::{Code, Status};

fn ctx(purpose: Purpose) -> Option<RequestContext> {
    Some(RequestContext {
        purpose: purpose as i32,
        case_reference: "CASE-2026-0001".into(),
        operator_id: "officer".into(),
        request_id: String::new(),
        ..Default::default()
    })
}

async fn query(ch: Channel, purpose: Purpose) -> Result<(), Status> {
    ExchangeClient::new(ch)
        .query_identity(QueryIdentityRequest {
            context: ctx(purpose),
            query: Some(IdentityQuery {
                terms: Some(Terms::Document(DocumentTerms {
                    document_number: "P1234567".into(),
                    issuing_state: "BGD".into(),
                    document_type: DocumentType::Passport as i32,
                })),
            }),
            max_matches: 0,
        })
        .await
        .map(|_| ())
}

async fn stats(ch: Channel) -> Result<(), Status> {
    ExchangeClient::new(ch)
        .pull_statistics(PullStatisticsRequest {
            context: ctx(Purpose::Statistics),
            since_watermark: vec![],
            page_size: 10,
        })
        .await
        .map(|_| ())
}

/// Permitted: the policy let the call through (data paths answer once implemented).
fn permitted(r: Result<(), Status>) {
    match r {
        Ok(()) => {}
        Err(s) if s.code() == Code::Unimplemented && s.message().contains("permitted") => {}
        Err(s) => panic!(
            "expected the call to be permitted, got {:?}: {}",
            s.code(),
            s.message()
        ),
    }
}

fn refused(r: Result<(), Status>, rule: &str) {
    let s = r.expect_err("expected a refusal");
    assert_eq!(s.code(), Code::PermissionDenied, "{}", s.message());
    assert!(
        s.message().starts_with(rule),
        "expected rule {rule}, got: {}",
        s.message()
    );
}

fn mex_gtm(queries: u32) -> String {
    agreement_text(
        "MEX-GTM-2026-01",
        ["MEX", "GTM"],
        "2026-01-01",
        "2026-12-31",
        &[grant(
            "MEX",
            "GTM",
            &["identity_query"],
            &["identification", "return"],
            &["given_names", "surnames"],
            &format!("queries_per_day = {queries}"),
        )],
    )
}

const MIDYEAR: time::OffsetDateTime = datetime!(2026-06-15 10:00 UTC);

#[tokio::test]
async fn without_an_agreement_everything_is_refused() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mex = fed.start("MEX").await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    refused(
        query(fed.channel("MEX", &gtm_node), Purpose::Identification).await,
        "agreement.none",
    );
    refused(stats(fed.channel("MEX", &gtm_node)).await, "agreement.none");
    mex.stop().await;
}

#[tokio::test]
async fn a_signed_agreement_permits_only_what_it_grants() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree("MEX", "GTM", "mex-gtm.toml", &mex_gtm(100));
    let clock = ManualClock::at(MIDYEAR);
    let mex = fed.start_with_clock("MEX", clock.clock()).await;
    let gtm = fed.start_with_clock("GTM", clock.clock()).await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let mex_node = fed.country("MEX").identity("node-mex-1");

    permitted(query(fed.channel("MEX", &gtm_node), Purpose::Identification).await);
    refused(
        query(fed.channel("MEX", &gtm_node), Purpose::Statistics).await,
        "agreement.purpose_not_granted",
    );
    refused(
        stats(fed.channel("MEX", &gtm_node)).await,
        "agreement.service_not_granted",
    );
    // The other direction grants nothing.
    refused(
        query(fed.channel("GTM", &mex_node), Purpose::Identification).await,
        "agreement.service_not_granted",
    );
    // Missing purpose is a malformed request.
    let err = ExchangeClient::new(fed.channel("MEX", &gtm_node))
        .query_identity(QueryIdentityRequest {
            context: ctx(Purpose::Unspecified),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Validity window: before and after.
    clock.set(datetime!(2025-12-31 23:59:59 UTC));
    refused(
        query(fed.channel("MEX", &gtm_node), Purpose::Identification).await,
        "agreement.not_yet_valid",
    );
    clock.set(datetime!(2027-01-01 00:00 UTC));
    refused(
        query(fed.channel("MEX", &gtm_node), Purpose::Identification).await,
        "agreement.expired",
    );
    mex.stop().await;
    gtm.stop().await;
}

#[tokio::test]
async fn tampered_half_signed_and_foreign_agreements_are_not_enforced() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    let signed = fed.agree("MEX", "GTM", "mex-gtm.toml", &mex_gtm(100));
    // MEX's copy: one byte changed in the signed text (a quota raised).
    fed.put_agreement(
        "MEX",
        "mex-gtm.toml",
        &signed.replace("queries_per_day = 100", "queries_per_day = 900"),
    );
    // A half-signed MEX–CRI agreement.
    let half = agreement_text(
        "MEX-CRI-2026-01",
        ["MEX", "CRI"],
        "2026-01-01",
        "2026-12-31",
        &[grant(
            "MEX",
            "CRI",
            &["identity_query"],
            &["identification"],
            &["surnames"],
            "queries_per_day = 5",
        )],
    );
    let draft = fed.temp.path().join("half.toml");
    std::fs::write(&draft, &half).unwrap();
    puente::agreement::sign_file(&fed.country("MEX").load(), &draft).unwrap();
    fed.put_agreement(
        "MEX",
        "mex-cri.toml",
        &std::fs::read_to_string(&draft).unwrap(),
    );
    // An agreement between GTM and CRI, signed by both, dropped into MEX's directory.
    let other = agreement_text(
        "GTM-CRI-2026-01",
        ["GTM", "CRI"],
        "2026-01-01",
        "2026-12-31",
        &[grant(
            "GTM",
            "CRI",
            &["flow_counts"],
            &["statistics"],
            &[],
            "small_cell_threshold = 5",
        )],
    );
    let other_signed = fed.agree("GTM", "CRI", "gtm-cri.toml", &other);
    fed.put_agreement("MEX", "gtm-cri.toml", &other_signed);
    // Garbage.
    fed.put_agreement("MEX", "broken.toml", "this is = not [ an agreement");

    let clock = ManualClock::at(MIDYEAR);
    let mex = fed.start_with_clock("MEX", clock.clock()).await;
    for peer in ["GTM", "CRI"] {
        let node = fed
            .country(peer)
            .identity(&format!("node-{}-1", peer.to_lowercase()));
        refused(
            query(fed.channel("MEX", &node), Purpose::Identification).await,
            "agreement.none",
        );
    }

    let officer = fed.country("MEX").identity("operator-officer");
    let list = LocalClient::new(fed.channel("MEX", &officer))
        .list_agreements(ListAgreementsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.agreements.len(), 4, "{list:#?}");
    let reason = |file: &str| {
        let a = list
            .agreements
            .iter()
            .find(|a| a.file.ends_with(file))
            .unwrap();
        assert_eq!(a.state, AgreementState::Invalid as i32, "{file}: {a:?}");
        a.state_reason.clone()
    };
    assert!(
        reason("mex-gtm.toml").contains("signature of MEX does not verify against key mex-"),
        "{}",
        reason("mex-gtm.toml")
    );
    assert!(
        reason("mex-cri.toml").contains("missing signature of CRI"),
        "{}",
        reason("mex-cri.toml")
    );
    assert!(
        reason("gtm-cri.toml").contains("MEX is not a party"),
        "{}",
        reason("gtm-cri.toml")
    );
    assert!(
        reason("broken.toml").contains("broken.toml"),
        "{}",
        reason("broken.toml")
    );
    mex.stop().await;
}

#[tokio::test]
async fn an_agreement_signed_by_an_unknown_party_is_not_enforced() {
    let fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    let signed = fed.agree(
        "MEX",
        "CRI",
        "mex-cri.toml",
        &agreement_text(
            "MEX-CRI-2026-01",
            ["MEX", "CRI"],
            "2026-01-01",
            "2026-12-31",
            &[grant(
                "MEX",
                "CRI",
                &["identity_query"],
                &["identification"],
                &["surnames"],
                "queries_per_day = 5",
            )],
        ),
    );
    // MEX stops trusting CRI: its signature can no longer be checked.
    puente_pki::trust::TrustBundle::remove(
        &fed.country("MEX").dir.join("trust.toml"),
        puente_pki::CountryCode::parse("CRI").unwrap(),
    )
    .unwrap();
    let _ = signed;
    let node = fed.country("MEX").load();
    let set = puente_node::agreements::AgreementSet::load(
        &node.config.agreements.dir,
        node.country(),
        &node.signing.verifying_key(),
        &node.trust,
    );
    assert!(set.verified.is_empty());
    assert!(
        set.files[0]
            .refused
            .as_deref()
            .unwrap()
            .contains("party CRI is not in the trust bundle"),
        "{:?}",
        set.files[0].refused
    );
}

#[tokio::test]
async fn quotas_run_out_reset_at_midnight_utc_and_survive_a_restart() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree("MEX", "GTM", "mex-gtm.toml", &mex_gtm(3));
    let clock = ManualClock::at(datetime!(2026-06-15 23:58 UTC));
    let mex = fed.start_with_clock("MEX", clock.clock()).await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let ch = fed.channel("MEX", &gtm_node);

    permitted(query(ch.clone(), Purpose::Identification).await);
    permitted(query(ch.clone(), Purpose::Return).await);
    // A refused call (wrong purpose) does not consume quota.
    refused(
        query(ch.clone(), Purpose::Statistics).await,
        "agreement.purpose_not_granted",
    );

    // Restart: the two used units are remembered, counted again from the audit log
    // (the entries are what makes them durable: no counter file is written).
    let data_dir = mex.data_dir.clone();
    mex.stop().await;
    for file in ["quota.0", "quota.1"] {
        assert!(!data_dir.join(file).exists(), "{file} was written");
    }
    let mex = fed.start_with_clock("MEX", clock.clock()).await;
    let ch = fed.channel("MEX", &gtm_node);
    permitted(query(ch.clone(), Purpose::Identification).await);
    refused(
        query(ch.clone(), Purpose::Identification).await,
        "agreement.quota_exceeded",
    );

    // The officer sees the quota used today.
    let officer = fed.country("MEX").identity("operator-officer");
    let list = LocalClient::new(fed.channel("MEX", &officer))
        .list_agreements(ListAgreementsRequest {})
        .await
        .unwrap()
        .into_inner();
    let g = &list.agreements[0].grants[0];
    assert_eq!((g.queries_used_today, g.queries_per_day), (3, 3));

    clock.set(datetime!(2026-06-15 23:59:59 UTC));
    refused(
        query(ch.clone(), Purpose::Identification).await,
        "agreement.quota_exceeded",
    );
    clock.set(datetime!(2026-06-16 00:00 UTC));
    permitted(query(ch.clone(), Purpose::Identification).await);
    mex.stop().await;
}

#[tokio::test]
async fn concurrent_calls_never_exceed_the_quota() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree("MEX", "GTM", "mex-gtm.toml", &mex_gtm(5));
    let mex = fed
        .start_with_clock("MEX", ManualClock::at(MIDYEAR).clock())
        .await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let ch = fed.channel("MEX", &gtm_node);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let ch = ch.clone();
        tasks.spawn(async move { query(ch, Purpose::Identification).await });
    }
    let mut allowed = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(()) => allowed += 1,
            Err(s) if s.code() == Code::Unimplemented => allowed += 1,
            Err(s) => assert!(
                s.message().starts_with("agreement.quota_exceeded"),
                "{}",
                s.message()
            ),
        }
    }
    assert_eq!(allowed, 5);
    mex.stop().await;
}

#[tokio::test]
async fn a_changed_agreement_is_picked_up_without_a_restart() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree("MEX", "GTM", "mex-gtm.toml", &mex_gtm(100));
    let mex = fed
        .start_with_clock("MEX", ManualClock::at(MIDYEAR).clock())
        .await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let ch = fed.channel("MEX", &gtm_node);
    refused(stats(ch.clone()).await, "agreement.service_not_granted");

    // Both parties sign a new version that also grants flow counts.
    let v2 = agreement_text(
        "MEX-GTM-2026-01",
        ["MEX", "GTM"],
        "2026-01-01",
        "2026-12-31",
        &[grant(
            "MEX",
            "GTM",
            &["identity_query", "flow_counts"],
            &["identification", "statistics"],
            &["surnames"],
            "queries_per_day = 100\nsmall_cell_threshold = 5",
        )],
    );
    fed.agree("MEX", "GTM", "mex-gtm.toml", &v2);
    mex.agreements.reload(); // what SIGHUP does
                             // Same connection, no restart.
    permitted(stats(ch.clone()).await);
    mex.stop().await;
}

#[tokio::test]
async fn the_watcher_reloads_a_changed_directory_by_itself() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let config = fed.country("MEX").config.clone();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("reload_interval_secs = 5", "reload_interval_secs = 1"),
    )
    .unwrap();
    let mex = fed
        .start_with_clock("MEX", ManualClock::at(MIDYEAR).clock())
        .await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let ch = fed.channel("MEX", &gtm_node);
    refused(
        query(ch.clone(), Purpose::Identification).await,
        "agreement.none",
    );
    fed.agree("MEX", "GTM", "mex-gtm.toml", &mex_gtm(100));
    // Wait (bounded) for the watcher; this is a wait for an event, not a timing assertion.
    let mut last = None;
    for _ in 0..100 {
        match query(ch.clone(), Purpose::Identification).await {
            Err(s) if s.code() == Code::PermissionDenied => last = Some(s),
            other => {
                permitted(other);
                mex.stop().await;
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the agreement was never picked up: {last:?}");
}
