//! A peer that lies, with its country's real certificate and signing key: every receipt
//! it gives is genuinely signed, yet the asking node accepts an answer only with a
//! receipt for that very request and that very answer, from a log that extends
//! everything the peer showed before, and only when the answer carries exactly the
//! fields it says it disclosed. Each refusal is recorded in the asker's audit log, with
//! the offending receipt kept as evidence.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_audit::Entry;
use puente_e2e::fake_peer::{FakePeer, Lie};
use puente_e2e::officer::{ask, doc, Officer};
use puente_e2e::{Federation, TestNode};
use puente_proto::v1 as pb;
use tonic::Code;

/// The last entry of `node`'s audit log.
fn last_entry(node: &TestNode) -> Entry {
    let trees = node.state.audit().trees();
    let size = trees.size().unwrap();
    Entry::decode(&trees.entry_bytes(size - 1).unwrap().unwrap()).unwrap()
}

/// The peer's receipt kept in `node`'s last entry.
fn stored_receipt(node: &TestNode) -> pb::Receipt {
    use prost::Message;
    let raw = last_entry(node)
        .counterpart_receipt
        .expect("a receipt is kept");
    pb::Receipt::decode(raw.as_slice()).unwrap()
}

async fn refused_for(fed: &Federation, gtm: &TestNode, rule: &str) {
    let before = gtm.state.audit().trees().size().unwrap();
    let err = ask(fed, "GTM", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DataLoss, "{}", err.message());
    assert!(err.message().contains(rule), "{rule}: {}", err.message());
    assert!(
        !err.message().contains("FABRICATED"),
        "nothing of the answer reaches the officer"
    );
    let e = last_entry(gtm);
    assert_eq!(gtm.state.audit().trees().size().unwrap(), before + 1);
    assert_eq!(e.decision, pb::Decision::Refused as i32);
    assert_eq!(e.rule, rule);
}

#[tokio::test]
async fn answers_are_used_only_with_a_receipt_for_them_from_one_history() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let fake = FakePeer::start(&mut fed, "MEX").await;
    let gtm = fed.start("GTM").await;

    // Honest answers (a fabricated person, but a true receipt) pass: the fake is a peer
    // like any other, so what follows fails for its lies, not for being fake.
    for _ in 0..3 {
        let r = ask(&fed, "GTM", "MEX", doc("BX1234567", "BGD"))
            .await
            .unwrap();
        assert!(r.receipt_verified);
        // The entry keeps what proves the peer logged this exchange, not the proofs
        // checked against this node's view when the answer came; the officer sees the
        // receipt as kept.
        let kept = stored_receipt(&gtm);
        assert!(kept.consistency_proofs.is_empty(), "{kept:?}");
        assert_eq!(Some(kept), r.peer_receipt);
    }
    assert_eq!(
        fake.consistency_proofs_sent(),
        2,
        "after the first answer, each request names the last checkpoint seen, and each receipt proves it extends it"
    );

    // The first receipt again, for another exchange.
    fake.lie(Lie::ReplayFirstReceipt);
    refused_for(&fed, &gtm, "receipt.other_request").await;
    // A receipt for this request that records another answer.
    fake.lie(Lie::OtherResponse);
    refused_for(&fed, &gtm, "receipt.other_response").await;
    // Another history at a size already seen, then a larger one with proofs from it.
    fake.lie(Lie::ForkSameSize);
    refused_for(&fed, &gtm, "receipt.split_view").await;
    let evidence = last_entry(&gtm);
    assert!(
        evidence.counterpart_receipt.is_some(),
        "the receipt showing the split view is kept"
    );
    fake.lie(Lie::ForkLarger);
    refused_for(&fed, &gtm, "receipt.split_view").await;
    assert!(
        !stored_receipt(&gtm).consistency_proofs.is_empty(),
        "a receipt that failed is kept whole, the proofs that did not hold included"
    );
    // Fields that the answer does not own up to.
    fake.lie(Lie::FieldsMismatch);
    refused_for(&fed, &gtm, "answer.fields_mismatch").await;
    fake.lie(Lie::HitWithPerson);
    refused_for(&fed, &gtm, "answer.fields_mismatch").await;
    // An answer true to itself but not to the agreement both countries signed, as this
    // node holds it: a field not granted, a longer retention, an agreement not held,
    // "no match" with a person, more matches than allowed, an impossible score.
    for lie in [
        Lie::UngrantedField,
        Lie::LongerRetention,
        Lie::OtherAgreement,
        Lie::NoMatchWithPerson,
        Lie::TooManyMatches,
        Lie::ScoreAbove1000,
    ] {
        fake.lie(lie);
        refused_for(&fed, &gtm, "answer.not_granted").await;
    }

    // A receipt whose signature fails.
    fake.lie(Lie::BadSignature);
    let err = ask(&fed, "GTM", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DataLoss, "{}", err.message());
    assert!(last_entry(&gtm).rule.starts_with("receipt."));

    // Back to honest: the peer is served again.
    fake.lie(Lie::None);
    let r = ask(&fed, "GTM", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap();
    assert!(r.receipt_verified);

    // GTM's log still verifies, whatever the peer sent: the failed receipts kept as
    // evidence are the peer's fault, counted apart; and the forks, genuinely signed, are
    // found again offline as split views: the one at a size already seen (3), and the
    // larger one at a size the true history reached later (6).
    let trees = gtm.state.audit().trees().clone();
    gtm.stop().await;
    let report = verify_gtm(&fed, &trees);
    assert_eq!(report.evidence, 5, "{report:?}");
    assert_eq!(report.split_views.len(), 2, "{report:?}");
    assert!(
        report.split_views[0].contains("at size 3") && report.split_views[1].contains("at size 6"),
        "{report:?}"
    );
    assert!(report.receipts >= 5, "{report:?}");
    fake.stop().await;
}

/// Verifies GTM's log offline, as `puente audit verify` does.
fn verify_gtm(
    fed: &Federation,
    trees: &puente_audit::trees::Trees,
) -> puente_audit::verify::Report {
    struct K(puente_pki::VerifyingKey, puente_pki::VerifyingKey);
    impl puente_audit::verify::Keys for K {
        fn own(&self) -> &puente_pki::VerifyingKey {
            &self.0
        }
        fn peer(&self, country: &str) -> Option<puente_pki::VerifyingKey> {
            (country == "MEX").then(|| self.1.clone())
        }
    }
    let keys = K(
        fed.country("GTM").load().signing.verifying_key(),
        fed.country("MEX").load().signing.verifying_key(),
    );
    puente_audit::verify::verify(trees, &keys, &mut |_, _| {}).expect("GTM's log verifies")
}

#[tokio::test]
async fn a_peer_cannot_keep_a_checkpoint_unlinked_by_failing_the_requests_that_name_it() {
    use puente_audit::seen::RENAME_AFTER;
    use puente_e2e::fake_peer::log_size;

    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let fake = FakePeer::start(&mut fed, "MEX").await;
    // Only the officer's queries call the peer (the first witnessing round is 300 s
    // away): no nightly statistics pull may take a turn, whatever the hour.
    puente_e2e::set_config(&fed, "GTM", "stats", &[("sync_at", "\"\"")]);
    let gtm = fed.start("GTM").await;
    let officer = Officer::new(&fed, "GTM", "MEX");
    let query = || officer.ask(doc("BX1234567", "BGD"));
    query().await.unwrap();

    // Two answers that come back in the other order than they were logged, as under
    // concurrency: the older checkpoint arrives after a newer one, not yet linked to it.
    fake.hold_next();
    let (older, newer) = tokio::join!(query(), async {
        fake.held().await;
        let newer = query().await;
        fake.release();
        newer
    });
    let (older, newer) = (older.unwrap(), newer.unwrap());
    assert!(older.receipt_verified && newer.receipt_verified);
    let hidden = log_size(older.peer_receipt.as_ref().unwrap());
    assert!(hidden < log_size(newer.peer_receipt.as_ref().unwrap()));

    // The peer fails whatever names it. The next request does, once; those after it
    // do not while its answer may still come, so the peer is served...
    fake.lie(Lie::FailWhenNamed(hidden));
    let first = fake.named().len();
    assert_eq!(query().await.unwrap_err().code(), Code::Unavailable);
    let mut served = 0;
    while query().await.is_ok() {
        served += 1;
        assert!(served < 2 * RENAME_AFTER, "never named again");
    }
    assert_eq!(
        served,
        RENAME_AFTER - 1,
        "named by one request in {RENAME_AFTER}"
    );
    // ...but no answer linked it, and now every request names it: hiding it costs the
    // peer all its exchanges with this node.
    for _ in 0..5 {
        assert_eq!(query().await.unwrap_err().code(), Code::Unavailable);
    }
    let named: Vec<bool> = fake.named()[first..]
        .iter()
        .map(|sizes| sizes.contains(&hidden))
        .collect();
    assert_eq!(named.iter().filter(|n| **n).count(), 7, "{named:?}");

    // Answered truly, one receipt links it, and no request names it again.
    fake.lie(Lie::None);
    query().await.unwrap();
    let after = fake.named().len();
    for _ in 0..3 {
        query().await.unwrap();
    }
    assert!(fake.named()[after..]
        .iter()
        .all(|sizes| !sizes.contains(&hidden)));

    gtm.stop().await;
    fake.stop().await;
}

async fn sync(fed: &Federation) -> pb::PeerSyncResult {
    fed.operator("GTM")
        .sync_now(pb::SyncNowRequest {
            peer_countries: vec!["MEX".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .results
        .remove(0)
}

async fn cells_from_mex(fed: &Federation) -> Vec<pb::FlowCell> {
    let mut stream = fed
        .operator("GTM")
        .list_cells(pb::ListCellsRequest {
            reporting_countries: vec!["MEX".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut cells = Vec::new();
    while let Some(page) = stream.message().await.unwrap() {
        cells.extend(page.cells);
    }
    cells
}

#[tokio::test]
async fn statistics_pages_are_held_to_the_agreement_and_a_peer_that_never_ends_is_stopped() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let fake = FakePeer::start(&mut fed, "MEX").await;
    puente_e2e::set_config(
        &fed,
        "GTM",
        "stats",
        &[("max_pages", "5"), ("sync_at", "\"\"")],
    );
    let gtm = fed.start("GTM").await;

    // Counts under the agreement's threshold (the page claiming none), a cell of the
    // year 9999, a page under an agreement GTM does not hold: refused, nothing stored.
    for (lie, says) in [
        (Lie::SmallCells, "below the small-cell threshold (5)"),
        (
            Lie::FarFuture,
            "period 9999-12 begins more than a month from today",
        ),
        (Lie::OtherAgreement, "names agreement \"NO-SUCH-AGREEMENT\""),
    ] {
        fake.lie(lie);
        let r = sync(&fed).await;
        assert_eq!(r.outcome, pb::SyncOutcome::Failed as i32, "{lie:?}: {r:?}");
        assert!(r.error.contains(says), "{lie:?}: {}", r.error);
        assert!(cells_from_mex(&fed).await.is_empty(), "{lie:?}");
        let e = last_entry(&gtm);
        assert_eq!(e.decision, pb::Decision::Refused as i32);
        assert_eq!(e.rule, "response.invalid");
    }

    // A page whose receipt fails: refused like any answer, the receipt kept as evidence.
    fake.lie(Lie::BadSignature);
    let r = sync(&fed).await;
    assert_eq!(r.outcome, pb::SyncOutcome::Failed as i32, "{r:?}");
    let e = last_entry(&gtm);
    assert!(e.rule.starts_with("receipt."), "{}", e.rule);
    assert!(
        e.counterpart_receipt.is_some(),
        "the failed receipt is kept"
    );
    assert!(cells_from_mex(&fed).await.is_empty());

    // A peer that always says more pages follow is pulled max_pages times, not for ever.
    fake.lie(Lie::EndlessPages);
    let before = fake.pages_served();
    let r = sync(&fed).await;
    assert_eq!(r.outcome, pb::SyncOutcome::Failed as i32, "{r:?}");
    assert!(r.error.contains("stats.too_many_pages"), "{}", r.error);
    assert_eq!(fake.pages_served() - before, 5);
    assert_eq!(r.pages, 5);

    // The honest page is taken.
    fake.lie(Lie::None);
    let r = sync(&fed).await;
    assert_eq!(r.outcome, pb::SyncOutcome::Ok as i32, "{r:?}");
    assert!(cells_from_mex(&fed)
        .await
        .iter()
        .any(|c| c.value == Some(pb::flow_cell::Value::Count(7))));

    gtm.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_restart_of_the_asker_does_not_let_a_peer_show_another_history() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let fake = FakePeer::start(&mut fed, "MEX").await;
    let gtm = fed.start("GTM").await;
    for _ in 0..3 {
        ask(&fed, "GTM", "MEX", doc("BX1234567", "BGD"))
            .await
            .unwrap();
    }
    // GTM restarts (an upgrade, a crash); the peer then answers from another history,
    // larger than anything GTM saw, with proofs from that history.
    gtm.stop().await;
    let gtm = fed.start("GTM").await;
    fake.lie(Lie::ForkLarger);
    refused_for(&fed, &gtm, "receipt.split_view").await;
    assert!(
        fake.named().last().is_some_and(|sizes| sizes.contains(&3)),
        "the first request after the restart names the checkpoint seen before it: {:?}",
        fake.named()
    );
    // The true history still goes on.
    fake.lie(Lie::None);
    ask(&fed, "GTM", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap();
    gtm.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_manifest_check_answer_is_held_to_the_agreement_as_this_node_holds_it() {
    use crate::manifests::{manifest_client, submit, BUS_JSON};
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let fake = FakePeer::start(&mut fed, "MEX").await;
    let gtm = fed.start("GTM").await;
    let check = || {
        let mut client = manifest_client(&fed, "GTM", "GTM", "operator-officer");
        async move {
            client
                .check_with_peer(pb::CheckWithPeerRequest {
                    peer_country: "MEX".into(),
                    context: Some(pb::RequestContext {
                        purpose: pb::Purpose::Identification as i32,
                        case_reference: "APIS-9".into(),
                        ..Default::default()
                    }),
                    manifest: Some(submit(BUS_JSON, pb::ManifestFormat::BusJson)),
                    manifest_id: String::new(),
                })
                .await
        }
    };
    // The honest answer is used.
    let ok = check().await.unwrap().into_inner();
    assert_eq!(ok.agreement_id, puente_e2e::fake_peer::AGREEMENT_ID);
    // An agreement GTM does not hold, a longer retention, a reference of 100,000
    // characters: refused, audited with the receipt kept.
    for (lie, says) in [
        (Lie::OtherAgreement, "NO-SUCH-AGREEMENT"),
        (Lie::LongerRetention, "36500 days"),
        (Lie::TooManyMatches, "100000 characters"),
    ] {
        fake.lie(lie);
        let err = check().await.unwrap_err();
        assert_eq!(err.code(), Code::DataLoss, "{lie:?}: {}", err.message());
        assert!(err.message().contains(says), "{lie:?}: {}", err.message());
        let e = last_entry(&gtm);
        assert_eq!(e.decision, pb::Decision::Refused as i32);
        assert!(e.counterpart_receipt.is_some());
    }
    gtm.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_passport_copy_trickled_in_empty_chunks_is_refused() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let fake = FakePeer::start(&mut fed, "MEX").await;
    let gtm = fed.start("GTM").await;
    fake.lie(Lie::EmptyChunks);
    // The node reads the whole copy before relaying anything: the refusal is the call's.
    let err = fed
        .operator("GTM")
        .fetch_document(pb::FetchDocumentRequest {
            peer_country: "MEX".into(),
            context: puente_e2e::officer::ctx(pb::Purpose::Identification),
            reference: "ref-fabricated".into(),
        })
        .await
        .map(|_| ())
        .expect_err("the copy is not relayed");
    assert_eq!(err.code(), Code::DataLoss, "{}", err.message());
    assert!(
        err.message().contains("a chunk of 0 bytes"),
        "{}",
        err.message()
    );
    assert_eq!(last_entry(&gtm).decision, pb::Decision::Refused as i32);
    gtm.stop().await;
    fake.stop().await;
}
