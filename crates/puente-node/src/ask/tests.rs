//! The asker without TLS: what it refuses before anything is sent, and how it checks a
//! peer's receipt, with real receipts issued by a real responder state (no connection:
//! the responder is called directly).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message;
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use tonic::Code;

use crate::outcome::sha256;
use crate::testing::{agree, country, entries, identity_grant, passport_query, person};

fn local_query(peer: &str, number: &str) -> pb::QueryRequest {
    let q = passport_query(number);
    pb::QueryRequest {
        peer_country: peer.into(),
        context: q.context,
        query: q.query,
        max_matches: 0,
    }
}

#[tokio::test]
async fn a_query_about_a_person_protected_against_the_peer_is_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (country(dir.path(), "MEX"), country(dir.path(), "GTM"));
    mex.trust(&gtm);
    let state = mex.state();
    state
        .records
        .put(&person("R1", "BD1234567", &["GTM"]), None)
        .unwrap();

    // GTM's address is 127.0.0.1:1: had the query been sent, it would fail as unreachable.
    let refusal = state
        .forward_query(&mex.operator(), &local_query("GTM", "BD1234567"))
        .await
        .unwrap_err();
    assert_eq!(refusal.code, Code::PermissionDenied);
    assert_eq!(refusal.rule, "protection.outgoing");
    let log = entries(&state);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].direction, pb::Direction::Outgoing as i32);
    assert_eq!(log[0].decision, pb::Decision::Withheld as i32);
    assert_eq!(log[0].rule, "protection.outgoing");
    assert!(log[0].counterpart_receipt.is_none());
}

#[tokio::test]
async fn own_country_untrusted_peers_and_bad_terms_are_refused_before_anything_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (country(dir.path(), "MEX"), country(dir.path(), "GTM"));
    mex.trust(&gtm);
    let state = mex.state();
    let operator = mex.operator();

    let own = state
        .forward_query(&operator, &local_query("MEX", "BD1"))
        .await
        .unwrap_err();
    assert_eq!(own.code, Code::InvalidArgument);
    assert!(
        own.message.contains("this node's own country"),
        "{}",
        own.message
    );

    let unknown = state
        .forward_query(&operator, &local_query("CRI", "BD1"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code, Code::FailedPrecondition);
    assert!(
        unknown.message.contains("not a trusted peer"),
        "{}",
        unknown.message
    );

    let garbage = state
        .forward_query(&operator, &local_query("X1", "BD1"))
        .await
        .unwrap_err();
    assert_eq!(garbage.code, Code::InvalidArgument);
    assert!(
        garbage.message.starts_with("peer_country: "),
        "{}",
        garbage.message
    );

    let mut no_terms = local_query("GTM", "BD1");
    no_terms.query = None;
    let no_terms = state.forward_query(&operator, &no_terms).await.unwrap_err();
    assert_eq!(no_terms.code, Code::InvalidArgument);

    assert!(
        entries(&state).is_empty(),
        "nothing was asked, nothing is recorded"
    );
}

#[tokio::test]
async fn a_peer_receipt_is_accepted_only_for_the_exchange_it_belongs_to() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (country(dir.path(), "MEX"), country(dir.path(), "GTM"));
    mex.trust(&gtm);
    gtm.trust(&mex);
    agree(&gtm, &mex, "GTM-MEX-U", &identity_grant("GTM", "MEX", 100));
    let (asker, responder) = (mex.state(), gtm.state());
    let operator = mex.operator();

    // What GTM answers MEX's node, with the receipt of GTM's entry.
    let request = passport_query("BD1234567");
    let mut answer = responder.answer_query(&mex.node(), &request).await.unwrap();
    let receipt = answer.receipt.take().unwrap();
    let answered = sha256(&answer.encode_to_vec());

    let open = |request: &pb::QueryIdentityRequest| {
        let mut call = asker.peer_call(
            gtm.code,
            &operator,
            Service::IdentityQuery,
            Purpose::Identification,
            "CASE-1",
            request,
            Vec::new(),
        );
        call.outcome.response_sha256 = answered;
        call
    };

    // Another request than the one the receipt is about: refused, and the receipt kept
    // as evidence in the outgoing entry.
    let other = passport_query("BD7654321");
    let mut call = open(&other);
    let refusal = call.check_receipt(Some(receipt.clone())).await.unwrap_err();
    assert_eq!(refusal.code, Code::DataLoss);
    assert!(
        refusal.message.contains("its answer is not used"),
        "{}",
        refusal.message
    );
    let log = entries(&asker);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].rule, "receipt.other_request");
    assert_eq!(log[0].decision, pb::Decision::Refused as i32);
    assert!(log[0].counterpart_receipt.is_some());

    // No receipt at all.
    let mut call = open(&request);
    let refusal = call.check_receipt(None).await.unwrap_err();
    assert_eq!(refusal.code, Code::DataLoss);
    assert!(
        refusal.message.contains("sent no receipt"),
        "{}",
        refusal.message
    );
    assert_eq!(entries(&asker)[1].rule, "receipt.invalid");

    // The exchange it belongs to: accepted, and recorded with it.
    let mut call = open(&request);
    let accepted = call.check_receipt(Some(receipt.clone())).await.unwrap();
    let index = call.record(Some(&accepted)).await.unwrap();
    let log = entries(&asker);
    assert_eq!(log[index as usize].decision, pb::Decision::Allowed as i32);
    assert_eq!(
        log[index as usize].counterpart_receipt,
        Some(receipt.encode_to_vec())
    );

    // The same receipt a second time (a replay): refused.
    let mut call = open(&request);
    let replay = call.check_receipt(Some(receipt)).await.unwrap_err();
    assert_eq!(replay.code, Code::DataLoss);
}

#[test]
fn a_peers_refusal_reaches_the_operator_with_the_peers_rule() {
    let gtm = puente_pki::CountryCode::parse("GTM").unwrap();
    let status = tonic::Status::invalid_argument("request.watermark: not issued by this node");
    let shown = super::call::peer_status(gtm, &status);
    assert_eq!(shown.code, Code::InvalidArgument);
    assert_eq!(shown.rule, "request.watermark");
    assert_eq!(
        shown.message,
        "GTM found the request invalid: request.watermark: not issued by this node"
    );
    let down = super::call::peer_status(gtm, &tonic::Status::unavailable("connection refused"));
    assert_eq!(down.code, Code::Unavailable);
    assert!(
        down.message.starts_with("peer GTM is unreachable: "),
        "{}",
        down.message
    );
}
