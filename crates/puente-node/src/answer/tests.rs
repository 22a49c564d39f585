//! The responder without TLS: real stores in a temp dir, callers given as the gate would
//! have read them from their certificates. Every refusal is audited with the rule that
//! decided it and carries the receipt of its entry, as every answer does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use puente_proto::v1 as pb;
use tonic::Code;

use crate::testing::{agree, country, entries, identity_grant, passport_query, person};

fn decision(e: &puente_audit::Entry) -> pb::Decision {
    pb::Decision::try_from(e.decision).unwrap()
}

#[tokio::test]
async fn without_an_agreement_the_query_is_refused_audited_and_receipted() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (country(dir.path(), "MEX"), country(dir.path(), "GTM"));
    mex.trust(&gtm);
    let state = mex.state();
    state
        .records
        .put(&person("R1", "BD1234567", &[]), None)
        .unwrap();

    let refusal = state
        .answer_query(&gtm.node(), &passport_query("BD1234567"))
        .await
        .unwrap_err();
    assert_eq!(refusal.code, Code::PermissionDenied);
    assert_eq!(refusal.rule, "agreement.none");
    assert!(
        refusal.message.starts_with("agreement.none: "),
        "{}",
        refusal.message
    );
    let receipt = refusal
        .receipt
        .clone()
        .expect("a refusal carries its receipt");

    // Over the wire: the same code and message, the receipt in the metadata.
    let status = tonic::Status::from(refusal);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().starts_with("agreement.none: "));
    assert_eq!(crate::error::receipt_of(&status), Some(*receipt));

    let log = entries(&state);
    assert_eq!(log.len(), 1);
    assert_eq!(decision(&log[0]), pb::Decision::Refused);
    assert_eq!(log[0].rule, "agreement.none");
    assert_eq!(log[0].peer_country, "GTM");
    assert_eq!(log[0].direction, pb::Direction::Incoming as i32);
}

#[tokio::test]
async fn a_malformed_request_is_invalid_argument_and_still_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (country(dir.path(), "MEX"), country(dir.path(), "GTM"));
    mex.trust(&gtm);
    agree(&mex, &gtm, "MEX-GTM-U", &identity_grant("MEX", "GTM", 100));
    let state = mex.state();

    let mut no_context = passport_query("BD1234567");
    no_context.context = None;
    let refusal = state
        .answer_query(&gtm.node(), &no_context)
        .await
        .unwrap_err();
    assert_eq!(refusal.code, Code::InvalidArgument);
    assert_eq!(
        refusal.message,
        "context: required (purpose, case reference)"
    );
    assert_eq!(refusal.rule, "status.invalidargument");

    let mut bad_purpose = passport_query("BD1234567");
    bad_purpose.context.as_mut().unwrap().purpose = 999;
    let refusal = state
        .answer_query(&gtm.node(), &bad_purpose)
        .await
        .unwrap_err();
    assert_eq!(refusal.code, Code::InvalidArgument);
    assert_eq!(refusal.rule, "context.purpose");

    let log = entries(&state);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].rule, "status.invalidargument");
    assert_eq!(log[1].rule, "context.purpose");
    assert!(log.iter().all(|e| decision(e) == pb::Decision::Refused));
}

#[tokio::test]
async fn a_match_discloses_only_granted_fields_with_a_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (country(dir.path(), "MEX"), country(dir.path(), "GTM"));
    mex.trust(&gtm);
    agree(&mex, &gtm, "MEX-GTM-U", &identity_grant("MEX", "GTM", 100));
    let state = mex.state();
    state
        .records
        .put(&person("R1", "BD1234567", &[]), None)
        .unwrap();

    let answer = state
        .answer_query(&gtm.node(), &passport_query("BD1234567"))
        .await
        .unwrap();
    assert_eq!(answer.outcome, pb::MatchOutcome::Match as i32);
    assert_eq!(answer.agreement_id, "MEX-GTM-U");
    assert!(answer.receipt.is_some());
    let person = answer.matches[0].person.as_ref().unwrap();
    assert_eq!(person.surnames.as_deref(), Some("UDDIN"));
    assert!(
        person.date_of_birth.is_none(),
        "date_of_birth is not granted"
    );
    let granted: Vec<i32> = [
        puente_policy::Field::GivenNames,
        puente_policy::Field::Surnames,
        puente_policy::Field::Nationality,
        puente_policy::Field::DocumentNumber,
        puente_policy::Field::IssuingState,
    ]
    .iter()
    .map(|f| *f as i32)
    .collect();
    assert!(answer.disclosed_fields.iter().all(|f| granted.contains(f)));

    let log = entries(&state);
    assert_eq!(log.len(), 1);
    assert_eq!(decision(&log[0]), pb::Decision::Allowed);
    assert_eq!(log[0].agreement_id, "MEX-GTM-U");
    assert_eq!(log[0].disclosed_fields, answer.disclosed_fields);
}

#[tokio::test]
async fn a_protected_person_looks_like_no_match_and_the_log_says_withheld() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (country(dir.path(), "MEX"), country(dir.path(), "GTM"));
    mex.trust(&gtm);
    agree(&mex, &gtm, "MEX-GTM-U", &identity_grant("MEX", "GTM", 100));
    let state = mex.state();
    state
        .records
        .put(&person("R1", "BD1234567", &["GTM"]), None)
        .unwrap();

    let answer = state
        .answer_query(&gtm.node(), &passport_query("BD1234567"))
        .await
        .unwrap();
    let absent = state
        .answer_query(&gtm.node(), &passport_query("BD0000000"))
        .await
        .unwrap();
    assert_eq!(answer.outcome, pb::MatchOutcome::NoMatch as i32);
    assert_eq!(answer.matches, absent.matches);
    assert_eq!(answer.disclosed_fields, absent.disclosed_fields);

    let log = entries(&state);
    assert_eq!(decision(&log[0]), pb::Decision::Withheld);
    assert_eq!(log[0].rule, "protection.protected_against");
    assert_eq!(decision(&log[1]), pb::Decision::Allowed);
}

#[tokio::test]
async fn the_daily_quota_is_taken_once_per_permitted_call() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (country(dir.path(), "MEX"), country(dir.path(), "GTM"));
    mex.trust(&gtm);
    agree(&mex, &gtm, "MEX-GTM-U", &identity_grant("MEX", "GTM", 2));
    let state = mex.state();
    for _ in 0..2 {
        state
            .answer_query(&gtm.node(), &passport_query("BD1234567"))
            .await
            .unwrap();
    }
    let refusal = state
        .answer_query(&gtm.node(), &passport_query("BD1234567"))
        .await
        .unwrap_err();
    assert_eq!(refusal.code, Code::PermissionDenied);
    assert_eq!(refusal.rule, "agreement.quota_exceeded");
    let log = entries(&state);
    assert_eq!(log.len(), 3);
    assert_eq!(log[2].rule, "agreement.quota_exceeded");
}

#[tokio::test]
async fn a_document_request_without_a_reference_is_refused_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (mex, gtm) = (country(dir.path(), "MEX"), country(dir.path(), "GTM"));
    mex.trust(&gtm);
    agree(&mex, &gtm, "MEX-GTM-U", &identity_grant("MEX", "GTM", 100));
    let state = mex.state();
    let request = pb::GetDocumentRequest {
        context: passport_query("X").context,
        reference: String::new(),
    };
    let refusal = state.document(&gtm.node(), &request).await.unwrap_err();
    assert_eq!(refusal.code, Code::InvalidArgument);
    assert!(refusal.receipt.is_some());
    let unknown = pb::GetDocumentRequest {
        reference: "not-a-reference".into(),
        ..request
    };
    let refusal = state.document(&gtm.node(), &unknown).await.unwrap_err();
    assert_eq!(refusal.code, Code::NotFound);
    let log = entries(&state);
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| decision(e) == pb::Decision::Refused));
}
