//! Early warnings between real nodes: delivery only to peers whose agreements grant
//! alerts, forged and altered alerts refused by the receiver, retries after an outage
//! that deliver exactly once, and drafts from a surge that nothing sends until an
//! operator publishes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use puente_e2e::{agreement_text, grant, Federation};
use puente_proto::v1 as pb;
use puente_proto::v1::audit_client::AuditClient;
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_proto::v1::local_client::LocalClient;
use puente_stats::{CellKey, Period, Value};
use tonic::Code;

/// MEX grants GTM alerts; MEX and CRI share only identity queries; GTM and CRI have
/// no agreement.
async fn federation() -> Federation {
    let fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-ALERTS",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["alerts"],
                &["early_warning"],
                &[],
                "",
            )],
        ),
    );
    fed.agree(
        "MEX",
        "CRI",
        "mex-cri.toml",
        &agreement_text(
            "MEX-CRI-ID",
            ["MEX", "CRI"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "CRI",
                &["identity_query"],
                &["identification"],
                &["surnames"],
                "queries_per_day = 10\nmax_matches = 1",
            )],
        ),
    );
    // Retry deliveries every second.
    let path = fed.country("MEX").config.clone();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n[alerts]\nretry_secs = 1\n")).unwrap();
    fed
}

fn local(fed: &Federation, code: &str) -> LocalClient<tonic::transport::Channel> {
    fed.operator(code)
}

fn own_alert() -> pb::IssueAlertRequest {
    pb::IssueAlertRequest {
        severity: pb::Severity::Warning as i32,
        text: "Arrivals of Haitian nationals at Tapachula doubled in a week.".into(),
        nationalities: vec!["HTI".into()],
        entry_points: vec!["Tapachula".into()],
        route_countries: vec!["GTM".into(), "MEX".into()],
        observed_count: 410,
        baseline_count: 190,
        ..Default::default()
    }
}

async fn received(fed: &Federation, at: &str) -> Vec<pb::AlertRecord> {
    local(fed, at)
        .list_alerts(pb::ListAlertsRequest {
            include_expired: true,
            issuing_countries: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .alerts
        .into_iter()
        .filter(|r| !r.issued_here)
        .collect()
}

fn delivery(r: &pb::AlertRecord, peer: &str) -> pb::AlertDelivery {
    r.deliveries
        .iter()
        .find(|d| d.peer_country == peer)
        .cloned()
        .unwrap_or_else(|| panic!("no delivery to {peer}: {r:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_reaches_the_permitted_peer_and_not_the_other() {
    let mut fed = federation().await;
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let _cri = fed.start("CRI").await;

    let record = local(&fed, "MEX")
        .issue_alert(own_alert())
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let alert = record.alert.clone().unwrap();
    assert_eq!(alert.issuing_country, "MEX");
    assert_eq!(alert.signature.len(), 64);
    assert_eq!(
        delivery(&record, "GTM").state,
        pb::DeliveryState::Delivered as i32
    );
    assert_eq!(
        delivery(&record, "CRI").state,
        pb::DeliveryState::NotPermitted as i32
    );
    assert_eq!(
        delivery(&record, "CRI").attempts,
        0,
        "nothing was sent to CRI"
    );

    let at_gtm = received(&fed, "GTM").await;
    assert_eq!(at_gtm.len(), 1);
    assert_eq!(at_gtm[0].alert.as_ref().unwrap(), &alert);
    assert!(received(&fed, "CRI").await.is_empty());
    let listed = local(&fed, "GTM")
        .list_alerts(pb::ListAlertsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.active, 1);

    // Both sides audited the delivery.
    for (code, direction) in [
        ("MEX", pb::Direction::Outgoing),
        ("GTM", pb::Direction::Incoming),
    ] {
        let auditor = fed.country(code).identity("auditor-auditor");
        let entries = AuditClient::new(fed.channel(code, &auditor))
            .list_entries(pb::ListEntriesRequest {
                service: pb::Service::Alerts as i32,
                page_size: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .entries;
        assert_eq!(entries.len(), 1, "{code}");
        assert_eq!(entries[0].direction, direction as i32);
        assert_eq!(entries[0].decision, pb::Decision::Allowed as i32);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_altered_and_conflicting_alerts_are_refused_by_the_receiver() {
    let mut fed = federation().await;
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let mex_key =
        puente_pki::SigningKey::load(&fed.country("MEX").pki().join("signing.key")).unwrap();
    let cri_key =
        puente_pki::SigningKey::load(&fed.country("CRI").pki().join("signing.key")).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let base = pb::Alert {
        alert_id: "mex-test-1".into(),
        issuing_country: "MEX".into(),
        severity: pb::Severity::Critical as i32,
        text: "Large group expected at the southern border.".into(),
        nationalities: vec!["VEN".into()],
        issued_at: Some(prost_types::Timestamp {
            seconds: now,
            nanos: 0,
        }),
        expires_at: Some(prost_types::Timestamp {
            seconds: now + 3600,
            nanos: 0,
        }),
        ..Default::default()
    };
    let signed = |key: &puente_pki::SigningKey, mut a: pb::Alert| {
        puente_alerts::sign(&mut a, key);
        a
    };
    let mex_node = fed.country("MEX").identity("node-mex-1");
    let mut as_mex = ExchangeClient::new(fed.channel("GTM", &mex_node));
    let send = |a: pb::Alert| pb::PublishAlertRequest { alert: Some(a) };

    // Altered after signing.
    let mut altered = signed(&mex_key, base.clone());
    altered.text = "Nothing to see.".into();
    let e = as_mex.publish_alert(send(altered)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("alert.signature"),
        "{}",
        e.message()
    );
    // Signed with another country's key.
    let mut forged = signed(&cri_key, base.clone());
    forged.key_name = mex_key.name().to_string();
    let e = as_mex.publish_alert(send(forged)).await.unwrap_err();
    assert!(
        e.message().starts_with("alert.signature"),
        "{}",
        e.message()
    );
    // Claims another issuer than the caller's certificate.
    let e = as_mex
        .publish_alert(send(signed(
            &cri_key,
            pb::Alert {
                issuing_country: "CRI".into(),
                ..base.clone()
            },
        )))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().starts_with("alert.issuer_mismatch"),
        "{}",
        e.message()
    );
    // Malformed.
    let e = as_mex
        .publish_alert(send(signed(
            &mex_key,
            pb::Alert {
                expires_at: base.issued_at,
                ..base.clone()
            },
        )))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("expires_at"), "{}", e.message());
    // Dated ten years ahead (it would sort above every true alert).
    let e = as_mex
        .publish_alert(send(signed(
            &mex_key,
            pb::Alert {
                alert_id: "mex-test-future".into(),
                issued_at: Some(prost_types::Timestamp {
                    seconds: now + 10 * 365 * 86_400,
                    nanos: 0,
                }),
                expires_at: Some(prost_types::Timestamp {
                    seconds: now + 10 * 365 * 86_400 + 3600,
                    nanos: 0,
                }),
                ..base.clone()
            },
        )))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("alert.issued_in_the_future"),
        "{}",
        e.message()
    );
    // CRI's node, with no agreement with GTM, is refused.
    let cri_node = fed.country("CRI").identity("node-cri-1");
    let e = ExchangeClient::new(fed.channel("GTM", &cri_node))
        .publish_alert(send(signed(
            &cri_key,
            pb::Alert {
                issuing_country: "CRI".into(),
                ..base.clone()
            },
        )))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().starts_with("agreement."), "{}", e.message());
    assert!(
        received(&fed, "GTM").await.is_empty(),
        "a refused alert was stored"
    );

    // The genuine alert is stored once; again is a duplicate; another under its id conflicts.
    let good = signed(&mex_key, base.clone());
    let first = as_mex
        .publish_alert(send(good.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate && first.receipt.is_some());
    let again = as_mex.publish_alert(send(good)).await.unwrap().into_inner();
    assert!(again.duplicate);
    let e = as_mex
        .publish_alert(send(signed(
            &mex_key,
            pb::Alert {
                text: "A different story under the same id.".into(),
                ..base
            },
        )))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    assert_eq!(received(&fed, "GTM").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_down_gets_the_alert_exactly_once_when_it_is_back() {
    let mut fed = federation().await;
    let mex = fed.start("MEX").await;
    let record = local(&fed, "MEX")
        .issue_alert(own_alert())
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let id = record.alert.clone().unwrap().alert_id;
    let d = delivery(&record, "GTM");
    assert_eq!(d.state, pb::DeliveryState::Pending as i32);
    assert!(d.error.contains("GTM"), "{}", d.error);

    // The retry rounds keep at it while GTM is down: a second attempt fails too.
    let retried = delivery_to_gtm_when(&fed, &id, |d| d.attempts >= 2).await;
    assert_eq!(
        retried.state,
        pb::DeliveryState::Pending as i32,
        "{retried:?}"
    );
    let _gtm = fed.start("GTM").await;
    let delivered = delivery_to_gtm_when(&fed, &id, |d| {
        d.state == pb::DeliveryState::Delivered as i32
    })
    .await;
    assert!(delivered.attempts >= 3, "{delivered:?}");
    // Later rounds do not send it again: run two more to the end, then look.
    mex.state.deliver_pending().await;
    mex.state.deliver_pending().await;
    assert_eq!(
        delivery_to_gtm_when(&fed, &id, |_| true).await,
        delivered,
        "a delivered alert was attempted again"
    );
    let at_gtm = received(&fed, "GTM").await;
    assert_eq!(at_gtm.len(), 1);
    let auditor = fed.country("GTM").identity("auditor-auditor");
    let entries = AuditClient::new(fed.channel("GTM", &auditor))
        .list_entries(pb::ListEntriesRequest {
            service: pb::Service::Alerts as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1, "delivered more than once");
}

/// MEX's delivery of alert `id` to GTM once `done` holds for it, as the retry rounds
/// (every second) move it on; panics after 30 s.
async fn delivery_to_gtm_when(
    fed: &Federation,
    id: &str,
    done: impl Fn(&pb::AlertDelivery) -> bool,
) -> pb::AlertDelivery {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = local(fed, "MEX")
            .list_alerts(pb::ListAlertsRequest::default())
            .await
            .unwrap()
            .into_inner();
        let r = list
            .alerts
            .iter()
            .find(|r| r.alert.as_ref().unwrap().alert_id == id)
            .unwrap();
        let d = delivery(r, "GTM");
        if done(&d) {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delivery never got there: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Daily cells for `days` days before today: `level` a day, `surge` times that over the
/// last week, with a little deterministic noise.
fn daily(nat: &str, ep: &str, days: i64, level: u64, surge: u64) -> Vec<pb::FlowCell> {
    let today = time::OffsetDateTime::now_utc().date();
    (1..=days)
        .map(|back| {
            let d = today - time::Duration::days(back);
            let noise = (back as u64 * 7) % 5;
            let n = (level + noise) * if back <= 7 { surge } else { 1 };
            CellKey::new(
                Period::day(d.year(), d.month() as u8, d.day()).unwrap(),
                nat,
                pb::Sex::Male,
                pb::AgeGroup::Age1829,
                ep,
                pb::EncounterEvent::Entry,
            )
            .unwrap()
            .to_proto("MEX", Value::Count(n), 1)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surge_is_drafted_and_nothing_is_sent_until_an_operator_publishes_it() {
    let mut fed = federation().await;
    let mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let mut cells = daily("HTI", "Tapachula", 63, 10, 4);
    cells.extend(daily("VEN", "Tapachula", 63, 12, 1));
    local(&fed, "MEX")
        .import_cells(tokio_stream::iter(vec![pb::ImportCellsRequest { cells }]))
        .await
        .unwrap();
    let drafts = local(&fed, "MEX")
        .list_alert_drafts(pb::ListAlertDraftsRequest { detect: true })
        .await
        .unwrap()
        .into_inner()
        .drafts;
    assert_eq!(drafts.len(), 1, "{drafts:?}");
    let d = &drafts[0];
    let proposed = d.proposed.as_ref().unwrap();
    assert_eq!(proposed.nationalities, vec!["HTI".to_string()]);
    assert_eq!(proposed.entry_points, vec!["Tapachula".to_string()]);
    assert!(
        proposed.observed_count > 3 * proposed.baseline_count,
        "{proposed:?}"
    );
    assert!(!d.published);
    // Detected, not sent: nothing is issued, and a delivery round run to its end after
    // the detection sends nothing.
    let at_mex = local(&fed, "MEX")
        .list_alerts(pb::ListAlertsRequest {
            include_expired: true,
            issuing_countries: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert!(at_mex.iter().all(|r| !r.issued_here), "{at_mex:?}");
    mex.state.deliver_pending().await;
    assert!(received(&fed, "GTM").await.is_empty());

    let issued = local(&fed, "MEX")
        .issue_alert(pb::IssueAlertRequest {
            draft_id: d.draft_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(
        delivery(&issued, "GTM").state,
        pb::DeliveryState::Delivered as i32
    );
    let at_gtm = received(&fed, "GTM").await;
    assert_eq!(at_gtm.len(), 1);
    assert_eq!(at_gtm[0].alert.as_ref().unwrap().alert_id, d.draft_id);
    // A draft is published once.
    let e = local(&fed, "MEX")
        .issue_alert(pb::IssueAlertRequest {
            draft_id: d.draft_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let e = local(&fed, "MEX")
        .issue_alert(pb::IssueAlertRequest {
            draft_id: "no-such-draft".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // Detection again does not re-draft the same surge.
    let drafts = local(&fed, "MEX")
        .list_alert_drafts(pb::ListAlertDraftsRequest { detect: true })
        .await
        .unwrap()
        .into_inner()
        .drafts;
    assert_eq!(drafts.len(), 1);
    assert!(drafts[0].published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_bury_true_alerts_under_a_flood_of_new_ones() {
    use puente_node::sync::alerts::MAX_RECEIVED_PER_DAY;
    let mut fed = federation().await;
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let mex_key =
        puente_pki::SigningKey::load(&fed.country("MEX").pki().join("signing.key")).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let alert = |n: u32| {
        let mut a = pb::Alert {
            alert_id: format!("mex-flood-{n}"),
            issuing_country: "MEX".into(),
            severity: pb::Severity::Critical as i32,
            text: "Large group expected at the southern border.".into(),
            issued_at: Some(prost_types::Timestamp {
                seconds: now,
                nanos: 0,
            }),
            expires_at: Some(prost_types::Timestamp {
                seconds: now + 3600,
                nanos: 0,
            }),
            ..Default::default()
        };
        puente_alerts::sign(&mut a, &mex_key);
        pb::PublishAlertRequest { alert: Some(a) }
    };
    let mex_node = fed.country("MEX").identity("node-mex-1");
    let mut as_mex = ExchangeClient::new(fed.channel("GTM", &mex_node));
    for n in 0..MAX_RECEIVED_PER_DAY {
        as_mex.publish_alert(alert(n)).await.unwrap();
    }
    // One more new alert today: refused, and not stored.
    let e = as_mex
        .publish_alert(alert(MAX_RECEIVED_PER_DAY))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{}", e.message());
    assert!(
        e.message().starts_with("alert.daily_limit"),
        "{}",
        e.message()
    );
    // A repeat of one it holds is still answered as the duplicate it is.
    let again = as_mex.publish_alert(alert(0)).await.unwrap().into_inner();
    assert!(again.duplicate);
}
