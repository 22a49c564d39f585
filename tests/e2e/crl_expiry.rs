//! CRLs run out: what the node does about it. rustls keeps using a CRL past its
//! nextUpdate (what it revokes stays refused), so nothing fails by itself; the node warns
//! a week before this country's CRL runs out and reports an expired one, its own or a
//! peer's, as an error (log, metrics), and a re-signed CRL (`pki crl`) keeps every
//! revocation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::{sample, Federation};
use puente_node::crl::CrlConcern;
use puente_pki::{IssueOptions, Role};
use puente_proto::v1::local_client::LocalClient;
use puente_proto::v1::ListPeersRequest;
use time::{Duration, OffsetDateTime};

async fn answered(fed: &Federation, stem: &str) -> bool {
    let id = fed.country("MEX").identity(stem);
    LocalClient::new(fed.channel("MEX", &id))
        .list_peers(ListPeersRequest::default())
        .await
        .is_ok()
}

#[tokio::test]
async fn crl_expiry_is_reported_and_a_renewed_crl_keeps_its_revocations() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let now = OffsetDateTime::now_utc();
    let ca = fed.country("MEX").ca();
    let opts = IssueOptions {
        not_before: now,
        not_after: now + Duration::days(30),
        hosts: vec![],
    };
    let leaver = ca.issue(Role::Operator, "leaver", &opts).unwrap();
    ca.revoke(&leaver.serial, "affiliation_changed", now)
        .unwrap();
    // Close to its nextUpdate: a warning, nothing refused that should not be.
    ca.write_crl_valid_for(now, 3).unwrap();
    let mex = fed.start("MEX").await;
    let concerns = mex.state.log_crl_concerns();
    assert!(
        matches!(&concerns[..], [CrlConcern::Warning(w)] if w.contains("crl.expires_soon") && w.contains("pki crl")),
        "{concerns:?}"
    );
    let scrape = mex.scrape().await;
    let next = sample(
        &scrape,
        "puente_crl_next_update_timestamp_seconds{country=\"MEX\",own=\"true\"}",
    )
    .unwrap_or_else(|| panic!("{scrape}"));
    assert!((next - (now + Duration::days(3)).unix_timestamp() as f64).abs() < 60.0);
    assert_eq!(
        sample(&scrape, "puente_crl_expired{country=\"MEX\",own=\"true\"}"),
        Some(0.0)
    );
    assert!(answered(&fed, "operator-officer").await);
    assert!(!answered(&fed, "operator-leaver").await);

    // Expired (signed 40 days ago, for 30): still enforced by rustls, reported as an error.
    ca.write_crl_valid_for(now - Duration::days(40), 30)
        .unwrap();
    mex.state.reload();
    let concerns = mex.state.log_crl_concerns();
    assert!(
        matches!(&concerns[..], [CrlConcern::Error(e)] if e.contains("crl.expired")),
        "{concerns:?}"
    );
    let scrape = mex.scrape().await;
    assert_eq!(
        sample(&scrape, "puente_crl_expired{country=\"MEX\",own=\"true\"}"),
        Some(1.0)
    );
    assert!(
        answered(&fed, "operator-officer").await,
        "an expired CRL refuses nobody else"
    );
    assert!(
        !answered(&fed, "operator-leaver").await,
        "what an expired CRL revokes stays refused"
    );

    // Re-signed unchanged: current again, the revocation kept, the signature good (an
    // unverifiable CRL would make every certificate of MEX unverifiable).
    ca.write_crl_valid_for(now, 30).unwrap();
    mex.state.reload();
    assert_eq!(mex.state.log_crl_concerns(), Vec::new());
    assert!(answered(&fed, "operator-officer").await);
    assert!(!answered(&fed, "operator-leaver").await);
    mex.stop().await;
}

#[tokio::test]
async fn a_peers_expired_crl_is_an_error() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let now = OffsetDateTime::now_utc();
    fed.country("GTM")
        .ca()
        .write_crl_valid_for(now - Duration::days(40), 30)
        .unwrap();
    fed.trust("MEX", "GTM"); // MEX takes GTM's bundle, with that CRL
    let mex = fed.start("MEX").await;
    let concerns = mex.state.log_crl_concerns();
    assert!(
        matches!(&concerns[..], [CrlConcern::Error(e)] if e.contains("crl.peer_expired") && e.contains("GTM")),
        "{concerns:?}"
    );
    let scrape = mex.scrape().await;
    assert_eq!(
        sample(&scrape, "puente_crl_expired{country=\"GTM\",own=\"false\"}"),
        Some(1.0),
        "{scrape}"
    );
    mex.stop().await;
}
