//! Many exchanges at once through real nodes: every one is answered, with its audit entries
//! durable on both sides. Regression test for a hang: flushing the store with sled's
//! `flush_async` from a few dozen concurrent exchanges used up sled's I/O threads, which
//! also write the log buffers those flushes wait for, and the node stopped answering.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use puente_e2e::holdings::import_rows;
use puente_e2e::{agreement_text, grant, Federation};
use puente_proto::v1 as pb;
use puente_proto::v1::local_client::LocalClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_queries_are_all_answered() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-C",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["identity_query"],
                &["identification"],
                &["surnames", "document_number"],
                "queries_per_day = 100000",
            )],
        ),
    );
    let rows: Vec<String> = (0..100)
        .map(|i| format!("R{i},ANA,PEREZ,1990-01-01,F,VEN,passport,VN{i:07},VEN,2030-01-01,,,none,,,2026-03-01,Tapachula,entry,GTM,"))
        .collect();
    import_rows(&fed, "MEX", &rows);
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let officer = fed.country("GTM").identity("operator-officer");
    let client = LocalClient::new(fed.channel("GTM", &officer));

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let mut c = client.clone();
        tasks.spawn(async move {
            c.query(pb::QueryRequest {
                peer_country: "MEX".into(),
                context: Some(pb::RequestContext {
                    purpose: pb::Purpose::Identification as i32,
                    case_reference: format!("C-{i}"),
                    operator_id: String::new(),
                    request_id: String::new(),
                    ..Default::default()
                }),
                query: Some(pb::IdentityQuery {
                    terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                        document_number: format!("VN{i:07}"),
                        issuing_state: "VEN".into(),
                        document_type: pb::DocumentType::Passport as i32,
                    })),
                }),
                max_matches: 1,
            })
            .await
            .map(|r| r.into_inner())
        });
    }
    let all = tokio::time::timeout(Duration::from_secs(120), async {
        let mut out = Vec::new();
        while let Some(r) = tasks.join_next().await {
            out.push(r.unwrap());
        }
        out
    })
    .await
    .expect("the nodes stopped answering under concurrent load");
    assert_eq!(all.len(), 100);
    let mut indexes = std::collections::BTreeSet::new();
    for r in all {
        let r = r.unwrap();
        assert_eq!(r.outcome, pb::MatchOutcome::Match as i32);
        assert!(r.receipt_verified);
        assert!(
            indexes.insert(r.audit_index),
            "two answers share an audit entry"
        );
    }
}
