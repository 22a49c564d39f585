//! Amendments on real nodes: of each agreement id the node enforces the highest version
//! that both parties signed and that has started, whatever the files are called; a
//! broken newer copy (edited after signing, its version changed, a signature missing)
//! leaves the last good version enforced, across a restart, and is reported as an error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::{agreement_text, grant, sample, Federation, ManualClock};
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_proto::v1::{
    AgreementState, AgreementSummary, ListAgreementsRequest, PullStatisticsRequest, Purpose,
    RequestContext,
};
use time::macros::datetime;
use tonic::transport::Channel;
use tonic::Code;

const MIDYEAR: time::OffsetDateTime = datetime!(2026-06-15 10:00 UTC);
const ID: &str = "MEX-GTM-2026-01";

/// Version `version` of MEX-GTM-2026-01 from `from`; only versions ≥ 2 grant GTM flow
/// counts from MEX, so a statistics pull tells which version applies.
fn version(version: u32, from: &str) -> String {
    let (services, purposes, extra) = if version >= 2 {
        (
            &["identity_query", "flow_counts"][..],
            &["identification", "statistics"][..],
            "queries_per_day = 10\nsmall_cell_threshold = 5",
        )
    } else {
        (
            &["identity_query"][..],
            &["identification"][..],
            "queries_per_day = 10",
        )
    };
    agreement_text(
        ID,
        ["MEX", "GTM"],
        from,
        "2026-12-31",
        &[grant(
            "MEX",
            "GTM",
            services,
            purposes,
            &["surnames"],
            extra,
        )],
    )
    .replacen("parties =", &format!("version = {version}\nparties ="), 1)
}

/// Whether MEX lets GTM pull flow counts (so: whether a version ≥ 2 applies).
async fn flow_counts_granted(ch: Channel) -> bool {
    let r = ExchangeClient::new(ch)
        .pull_statistics(PullStatisticsRequest {
            context: Some(RequestContext {
                purpose: Purpose::Statistics as i32,
                case_reference: "CASE-2026-0001".into(),
                operator_id: "officer".into(),
                ..Default::default()
            }),
            since_watermark: vec![],
            page_size: 10,
        })
        .await;
    match r {
        Ok(_) => true,
        Err(s) if s.code() == Code::Unimplemented && s.message().contains("permitted") => true,
        Err(s) if s.code() == Code::PermissionDenied => {
            assert!(
                s.message().starts_with("agreement.service_not_granted"),
                "{}",
                s.message()
            );
            false
        }
        Err(s) => panic!("unexpected {:?}: {}", s.code(), s.message()),
    }
}

async fn list(fed: &Federation) -> Vec<AgreementSummary> {
    fed.operator("MEX")
        .list_agreements(ListAgreementsRequest {})
        .await
        .unwrap()
        .into_inner()
        .agreements
}

fn entry<'a>(all: &'a [AgreementSummary], file: &str, kept: bool) -> &'a AgreementSummary {
    all.iter()
        .find(|a| a.file.ends_with(file) && a.kept == kept)
        .unwrap_or_else(|| panic!("no entry for {file} (kept {kept}): {all:#?}"))
}

#[tokio::test]
async fn an_older_copy_never_wins_whatever_the_file_names() {
    for (old_file, new_file) in [("a.toml", "z.toml"), ("z.toml", "a.toml")] {
        let mut fed = Federation::new(&["MEX", "GTM"]).await;
        fed.agree("MEX", "GTM", old_file, &version(1, "2026-01-01"));
        fed.agree("MEX", "GTM", new_file, &version(2, "2026-01-01"));
        let mex = fed
            .start_with_clock("MEX", ManualClock::at(MIDYEAR).clock())
            .await;
        let gtm_node = fed.country("GTM").identity("node-gtm-1");
        assert!(
            flow_counts_granted(fed.channel("MEX", &gtm_node)).await,
            "v1 in {old_file} won over v2 in {new_file}"
        );
        let all = list(&fed).await;
        let old = entry(&all, old_file, false);
        assert_eq!(old.state, AgreementState::Superseded as i32, "{old:?}");
        assert_eq!(old.version, 1);
        assert!(
            old.state_reason.contains("version 2"),
            "{}",
            old.state_reason
        );
        let new = entry(&all, new_file, false);
        assert_eq!(new.state, AgreementState::InForce as i32, "{new:?}");
        assert_eq!(new.version, 2);
        assert!(!old.broken && !new.broken);
        mex.stop().await;
    }
}

#[tokio::test]
async fn a_broken_newer_copy_leaves_the_last_good_version_enforced_across_a_restart() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree("MEX", "GTM", "a.toml", &version(1, "2026-01-01"));
    let v2 = fed.agree("MEX", "GTM", "z.toml", &version(2, "2026-01-01"));
    let clock = ManualClock::at(MIDYEAR);
    let mex = fed.start_with_clock("MEX", clock.clock()).await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    assert!(flow_counts_granted(fed.channel("MEX", &gtm_node)).await);

    // z.toml is replaced by a "version 3" made by raising the version of the signed v2
    // text: tampering, so both signatures fail and v2 (kept by the node) stays.
    fed.put_agreement("MEX", "z.toml", &v2.replace("version = 2", "version = 3"));
    mex.agreements.reload();
    assert!(
        flow_counts_granted(fed.channel("MEX", &gtm_node)).await,
        "v1 in a.toml took over when v2's file broke"
    );
    let all = list(&fed).await;
    let bad = entry(&all, "z.toml", false);
    assert_eq!(bad.state, AgreementState::Invalid as i32, "{bad:?}");
    assert!(bad.broken, "{bad:?}");
    assert!(
        bad.state_reason.contains("does not verify")
            && bad.state_reason.contains("keeps enforcing version 2"),
        "{}",
        bad.state_reason
    );
    let kept = entry(&all, "z.toml", true);
    assert_eq!(
        (kept.state, kept.version),
        (AgreementState::InForce as i32, 2)
    );
    assert_eq!(
        entry(&all, "a.toml", false).state,
        AgreementState::Superseded as i32
    );
    let shown = puente::agreement::render(&puente_proto::v1::ListAgreementsResponse {
        agreements: all.clone(),
    });
    assert!(
        shown.contains(&format!("{ID} v3 [ERROR: NOT ENFORCED]"))
            && shown.contains(&format!("{ID} v2 [IN FORCE]"))
            && shown.contains("(last good copy kept by the node)")
            && shown.contains(&format!("{ID} v1 [SUPERSEDED]")),
        "{shown}"
    );
    let scrape = mex.scrape().await;
    assert_eq!(sample(&scrape, "puente_agreement_files_broken"), Some(1.0));
    // `puente agreements` says so in its exit status too (monitoring runs it).
    let access = puente::cli::NodeAccess {
        profile: None,
        config: Some(fed.country("MEX").config.clone()),
    };
    let listed = tokio::task::spawn_blocking(move || puente::agreement::list(&access))
        .await
        .unwrap();
    let err = listed.expect_err("a broken agreement file fails the listing");
    assert!(err.to_string().contains("1 agreement file(s)"), "{err}");

    // A real version 3 signed by MEX only: still broken, still v2.
    let half = fed.temp.path().join("half.toml");
    std::fs::write(&half, version(3, "2026-01-01")).unwrap();
    puente::agreement::sign_file(&fed.country("MEX").load(), &half).unwrap();
    fed.put_agreement("MEX", "z.toml", &std::fs::read_to_string(&half).unwrap());
    mex.agreements.reload();
    let all = list(&fed).await;
    let bad = entry(&all, "z.toml", false);
    assert!(
        bad.broken && bad.state_reason.contains("missing signature of GTM"),
        "{bad:?}"
    );
    assert!(flow_counts_granted(fed.channel("MEX", &gtm_node)).await);

    // The kept copy is in the store: a restart with the broken file still enforces v2.
    mex.stop().await;
    let mex = fed.start_with_clock("MEX", clock.clock()).await;
    assert!(
        flow_counts_granted(fed.channel("MEX", &gtm_node)).await,
        "the last good version was lost at restart"
    );
    assert_eq!(entry(&list(&fed).await, "z.toml", true).version, 2);

    // Every file of the id removed: the parties withdrew it; nothing is enforced.
    for f in ["a.toml", "z.toml"] {
        std::fs::remove_file(fed.country("MEX").dir.join("agreements").join(f)).unwrap();
    }
    mex.agreements.reload();
    assert!(list(&fed).await.is_empty());
    let r = ExchangeClient::new(fed.channel("MEX", &gtm_node))
        .pull_statistics(PullStatisticsRequest {
            context: Some(RequestContext {
                purpose: Purpose::Statistics as i32,
                case_reference: "CASE-2026-0001".into(),
                operator_id: "officer".into(),
                ..Default::default()
            }),
            since_watermark: vec![],
            page_size: 10,
        })
        .await
        .unwrap_err();
    assert!(r.message().starts_with("agreement.none"), "{}", r.message());
    mex.stop().await;
}

#[tokio::test]
async fn a_version_not_yet_in_force_does_not_replace_the_one_in_force() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree("MEX", "GTM", "v1.toml", &version(1, "2026-01-01"));
    fed.agree("MEX", "GTM", "v2.toml", &version(2, "2026-09-01"));
    let clock = ManualClock::at(MIDYEAR);
    let mex = fed.start_with_clock("MEX", clock.clock()).await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    assert!(
        !flow_counts_granted(fed.channel("MEX", &gtm_node)).await,
        "v2 applied before its valid_from"
    );
    let all = list(&fed).await;
    assert_eq!(
        entry(&all, "v1.toml", false).state,
        AgreementState::InForce as i32
    );
    let v2 = entry(&all, "v2.toml", false);
    assert_eq!(v2.state, AgreementState::NotYetValid as i32, "{v2:?}");
    // Its first day: v2 applies, with no reload.
    clock.set(datetime!(2026-09-01 00:00 UTC));
    assert!(flow_counts_granted(fed.channel("MEX", &gtm_node)).await);
    let all = list(&fed).await;
    assert_eq!(
        entry(&all, "v1.toml", false).state,
        AgreementState::Superseded as i32
    );
    mex.stop().await;
}
