//! Identity queries and passport copies between real nodes, on records imported into the
//! responder: granted fields only, hit/no-hit, the protection rule (indistinguishable from
//! no match for the protected-against country, found by another), and the refusals of
//! document fetches.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use prost::Message;
use puente_e2e::holdings::import_rows;
use puente_e2e::officer::{ask, doc, fetch, name};
use puente_e2e::{agreement_text, grant, Federation, ManualClock};
use puente_proto::v1 as pb;
use tonic::Code;

/// MEX's holdings: a Bangladeshi migrant with a passport copy, a Guatemalan asylum seeker,
/// an Eritrean refugee recorded as protected against CRI.
fn mex_records(fed: &Federation) {
    let rows = [
        "R1,MOHAMMAD ABDUL,HOSSAIN,1990-04-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,none,,trafficking_victim,2026-03-01,Tapachula,detection,GTM,copies/r1.png",
        "R2,JOSÉ LUIS,PÉREZ GARCÍA,1988-05-05,M,GTM,passport,GT5551234,GTM,2029-01-01,,,asylum_seeker,,,2026-02-10,Tapachula,asylum_claim,GTM,",
        "R3,SEMERE,TESFAY,1996-07-20,M,ERI,passport,ER7654321,ERI,2028-01-01,,,refugee,CRI,,2026-01-05,Tenosique,entry,GTM,",
    ];
    import_rows(fed, "MEX", &rows);
}

fn agreements(fed: &Federation, cri_copies: bool) {
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-T",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["identity_query", "passport_copy"],
                &["identification", "return"],
                &[
                    "given_names",
                    "surnames",
                    "date_of_birth",
                    "nationality",
                    "document_number",
                    "issuing_state",
                ],
                "queries_per_day = 100\ncopies_per_day = 10",
            )],
        ),
    );
    let services: &[&str] = if cri_copies {
        &["identity_query", "passport_copy"]
    } else {
        &["identity_query"]
    };
    let extra = if cri_copies {
        "queries_per_day = 100\ncopies_per_day = 10\nmodes = { identity_query = \"hit_no_hit\" }"
    } else {
        "queries_per_day = 100\nmodes = { identity_query = \"hit_no_hit\" }"
    };
    fed.agree(
        "MEX",
        "CRI",
        "mex-cri.toml",
        &agreement_text(
            "MEX-CRI-T",
            ["MEX", "CRI"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "CRI",
                services,
                &["identification", "protection_referral"],
                &["nationality"],
                extra,
            )],
        ),
    );
}

fn field_names(fields: &[i32]) -> Vec<String> {
    use puente_policy::Term;
    fields
        .iter()
        .map(|f| puente_policy::Field::from_number(*f).unwrap().name())
        .collect()
}

#[tokio::test]
async fn granted_fields_only_name_variants_hit_no_hit_and_copies() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    agreements(&fed, false);
    mex_records(&fed);
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let cri = fed.start("CRI").await;

    // By document: exactly the granted fields.
    let r = ask(&fed, "GTM", "MEX", doc("BX 1234567", "BGD"))
        .await
        .unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::Match as i32);
    assert_eq!(r.matches.len(), 1);
    let p = r.matches[0].person.as_ref().unwrap();
    assert_eq!(p.given_names.as_deref(), Some("MOHAMMAD ABDUL"));
    assert_eq!(p.surnames.as_deref(), Some("HOSSAIN"));
    assert_eq!(p.document_number.as_deref(), Some("BX1234567"));
    assert!(
        p.sex.is_none()
            && p.route.is_empty()
            && p.vulnerability_flags.is_empty()
            && p.last_encounter_place.is_none()
            && p.passport_copy_available.is_none(),
        "ungranted fields leaked: {p:?}"
    );
    assert_eq!(
        field_names(&r.disclosed_fields),
        [
            "given_names",
            "surnames",
            "date_of_birth",
            "nationality",
            "document_number",
            "issuing_state"
        ]
    );
    assert_eq!(r.agreement_id, "MEX-GTM-T");

    // By name, misspelled and transliterated, and with the split unknown.
    for q in [
        name("MUHAMMAD ABDUL", "HUSAIN", 1990, 4, 12),
        name("", "HOSSAIN MD ABDUL", 1990, 0, 0),
    ] {
        let r = ask(&fed, "GTM", "MEX", q.clone()).await.unwrap();
        assert_eq!(r.outcome, pb::MatchOutcome::Match as i32, "{q:?}");
        assert_eq!(
            r.matches[0]
                .person
                .as_ref()
                .unwrap()
                .document_number
                .as_deref(),
            Some("BX1234567")
        );
        assert!(r.matches[0].score_permille >= 800);
    }

    // Hit/no-hit for CRI: a reference and nothing else.
    let r = ask(&fed, "CRI", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::Match as i32);
    assert_eq!(r.mode, pb::Mode::HitNoHit as i32);
    assert!(r.matches[0].person.is_none());
    assert!(r.disclosed_fields.is_empty());
    assert!(!r.matches[0].reference.is_empty());

    // The passport copy: GTM fetches it by the reference it received.
    let r = ask(&fed, "GTM", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap();
    let (header, bytes) = fetch(&fed, "GTM", "MEX", &r.matches[0].reference)
        .await
        .unwrap();
    assert_eq!(bytes, puente_synth::specimen::specimen_png(42).unwrap());
    assert_eq!(header.media_type, "image/png");
    assert_eq!(header.agreement_id, "MEX-GTM-T");

    // CRI has no passport_copy grant: refused by policy, even with a valid reference.
    let cri_ref = ask(&fed, "CRI", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap()
        .matches[0]
        .reference
        .clone();
    let err = fetch(&fed, "CRI", "MEX", &cri_ref).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{}", err.message());
    assert!(
        err.message().contains("agreement.service_not_granted"),
        "{}",
        err.message()
    );

    // No prior hit: an invented reference is unknown.
    let err = fetch(&fed, "GTM", "MEX", "ref-00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{}", err.message());
    // One longer than any reference the contract allows is malformed, not unknown.
    let err = fetch(&fed, "GTM", "MEX", &"r".repeat(201))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(
        err.message().contains("reference: longer than 200"),
        "{}",
        err.message()
    );

    // Malformed query terms are INVALID_ARGUMENT, not a search.
    let err = ask(&fed, "GTM", "MEX", name("", "", 1990, 0, 0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    let bad_mrz = pb::IdentityQuery {
        terms: Some(pb::identity_query::Terms::Mrz(pb::MrzTerms {
            line1: "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<".into(),
            line2: "L898902C37UTO7408122F1204159ZE184226B<<<<<10".into(),
        })),
    };
    let err = ask(&fed, "GTM", "MEX", bad_mrz).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("document number"),
        "{}",
        err.message()
    );

    // A document number with characters the normalization would drop (full-width
    // digits, punctuation) is refused, not turned into another number; an undefined
    // Sex is named as such.
    for number in ["BX１２３４５６７", "BX123!4567", "BX\u{200b}1234567"] {
        let err = ask(&fed, "GTM", "MEX", doc(number, "BGD"))
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{number}: {}",
            err.message()
        );
        assert!(
            err.message().contains("document_number"),
            "{}",
            err.message()
        );
    }
    let mut odd_sex = name("AMA", "MENSAH", 1990, 0, 0);
    if let Some(pb::identity_query::Terms::Name(n)) = odd_sex.terms.as_mut() {
        n.sex = Some(7);
    }
    let err = ask(&fed, "GTM", "MEX", odd_sex).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("7 is not a Sex"),
        "{}",
        err.message()
    );

    // The request context within the contract's bounds, from a peer's node directly and
    // from an officer through the own node (which then sends nothing).
    let peer_node = fed.country("GTM").identity("node-gtm-1");
    let mut exchange =
        puente_proto::v1::exchange_client::ExchangeClient::new(fed.channel("MEX", &peer_node));
    let good = pb::RequestContext {
        purpose: pb::Purpose::Identification as i32,
        case_reference: "EXP-1".into(),
        nonce: vec![7; 16],
        ..Default::default()
    };
    for (bad, field) in [
        (
            pb::RequestContext {
                case_reference: String::new(),
                ..good.clone()
            },
            "context.case_reference",
        ),
        (
            pb::RequestContext {
                request_id: "r".repeat(65),
                ..good.clone()
            },
            "context.request_id",
        ),
        (
            pb::RequestContext {
                nonce: vec![0; 65],
                ..good.clone()
            },
            "context.nonce",
        ),
        (
            pb::RequestContext {
                known_log_sizes: vec![1, 2, 3, 4, 5],
                ..good.clone()
            },
            "context.known_log_sizes",
        ),
    ] {
        let err = exchange
            .query_identity(pb::QueryIdentityRequest {
                context: Some(bad),
                query: Some(doc("BX1234567", "BGD")),
                max_matches: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{field}: {}",
            err.message()
        );
        assert!(err.message().starts_with(field), "{}", err.message());
    }
    let officer = fed.country("GTM").identity("operator-officer");
    let gtm_log = || gtm.state.audit().trees().size().unwrap();
    let before = gtm_log();
    let err = puente_proto::v1::local_client::LocalClient::new(fed.channel("GTM", &officer))
        .query(pb::QueryRequest {
            peer_country: "MEX".into(),
            context: Some(pb::RequestContext {
                purpose: pb::Purpose::Identification as i32,
                ..Default::default()
            }),
            query: Some(doc("BX1234567", "BGD")),
            max_matches: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(
        err.message().contains("context.case_reference: required"),
        "{}",
        err.message()
    );
    assert_eq!(gtm_log(), before, "nothing was sent, so nothing to record");

    mex.stop().await;
    gtm.stop().await;
    cri.stop().await;
}

#[tokio::test]
async fn a_protected_person_is_indistinguishable_from_no_match() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    agreements(&fed, false);
    mex_records(&fed);
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let cri = fed.start("CRI").await;

    // R2 is a Guatemalan asylum seeker: GTM must not learn anything.
    let mut protected = ask(&fed, "GTM", "MEX", doc("GT5551234", "GTM"))
        .await
        .unwrap();
    let mut nobody = ask(&fed, "GTM", "MEX", doc("GT0000000", "GTM"))
        .await
        .unwrap();
    assert_eq!(protected.outcome, pb::MatchOutcome::NoMatch as i32);
    // Each answer carries its own receipt (another audit entry); the rest is identical.
    for r in [&mut protected, &mut nobody] {
        assert!(r.receipt_verified);
        r.peer_receipt = None;
        r.audit_index = 0;
    }
    assert_eq!(
        protected.encode_to_vec(),
        nobody.encode_to_vec(),
        "the answers must be byte-for-byte the same"
    );
    let by_name = ask(
        &fed,
        "GTM",
        "MEX",
        name("JOSE LUIS", "PEREZ GARCIA", 1988, 5, 5),
    )
    .await
    .unwrap();
    assert_eq!(by_name.outcome, pb::MatchOutcome::NoMatch as i32);

    // The same person is found by CRI, which may know (hit/no-hit).
    let r = ask(&fed, "CRI", "MEX", doc("GT5551234", "GTM"))
        .await
        .unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::Match as i32);

    // R3 is recorded as protected against CRI: hidden from CRI, visible to GTM.
    let r = ask(&fed, "CRI", "MEX", doc("ER7654321", "ERI"))
        .await
        .unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::NoMatch as i32);
    let r = ask(&fed, "GTM", "MEX", doc("ER7654321", "ERI"))
        .await
        .unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::Match as i32);

    // The asking side: MEX will not ask GTM about a person it protects against GTM.
    let err = ask(&fed, "MEX", "GTM", doc("GT5551234", "GTM"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("protection.outgoing"),
        "{}",
        err.message()
    );
    mex.stop().await;
    gtm.stop().await;
    cri.stop().await;
}

#[tokio::test]
async fn references_are_bound_to_the_country_and_expire() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    agreements(&fed, true);
    mex_records(&fed);
    let clock = ManualClock::at(time::macros::datetime!(2026-06-01 10:00 UTC));
    let mex = fed.start_with_clock("MEX", clock.clock()).await;
    let gtm = fed.start("GTM").await;
    let cri = fed.start("CRI").await;

    let gtm_ref = ask(&fed, "GTM", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap()
        .matches[0]
        .reference
        .clone();
    // CRI may fetch copies, but not with GTM's reference.
    let err = fetch(&fed, "CRI", "MEX", &gtm_ref).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{}", err.message());
    // Nor with its own reference: it came with a hit/no-hit answer, which fetches
    // nothing, and the refusal is the one of an unknown reference.
    let cri_ref = ask(&fed, "CRI", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap()
        .matches[0]
        .reference
        .clone();
    let err = fetch(&fed, "CRI", "MEX", &cri_ref).await.unwrap_err();
    let unknown = fetch(&fed, "CRI", "MEX", "ref-AAAA").await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (unknown.code(), unknown.message())
    );
    // After the reference's lifetime, it is unknown.
    clock.set(time::macros::datetime!(2026-06-01 11:00:01 UTC));
    let err = fetch(&fed, "GTM", "MEX", &gtm_ref).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{}", err.message());
    mex.stop().await;
    gtm.stop().await;
    cri.stop().await;
}
