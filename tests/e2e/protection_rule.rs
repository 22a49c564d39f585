//! The protection rule is invisible, not only silent: for the country a person is
//! protected against, the answer is the one a store without that person would give.
//! Each test here tries to tell a withheld person from an absent one, through real nodes:
//! a namesake pushed out by the protected person's better score, a reference issued
//! before the person became protected, a hit/no-hit answer's score and count, a
//! passport copy's header.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::holdings::import_rows;
use puente_e2e::officer::{ask, doc, fetch, name};
use puente_e2e::{agreement_text, grant, Federation};
use puente_proto::v1 as pb;

/// R1 holds a passport copy; R2 is a Guatemalan asylum seeker; R4 is R2's near-namesake
/// (one given name fewer), not protected; R5 and R6 are namesakes of R1.
/// `r1_protection` is R1's status and the countries it is protected against.
fn rows(r1_protection: (&str, &str)) -> Vec<String> {
    let (status, against) = r1_protection;
    vec![
        format!("R1,MOHAMMAD ABDUL,HOSSAIN,1990-04-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,{status},{against},,2026-03-01,Tapachula,detection,GTM,copies/r1.png"),
        "R2,JOSE LUIS,PEREZ GARCIA,1988-05-05,M,GTM,passport,GT5551234,GTM,2029-01-01,,,asylum_seeker,,,2026-02-10,Tapachula,asylum_claim,GTM,".into(),
        "R4,JOSE,PEREZ GARCIA,1988-05-05,M,GTM,passport,GT7777777,GTM,2029-01-01,,,none,,,2026-02-11,Tapachula,entry,GTM,".into(),
        "R5,MOHAMMAD ABDUL,HOSSAIN,1990-04,M,BGD,passport,BX0000005,BGD,2030-05-01,,,none,,,2026-03-02,Tapachula,entry,GTM,".into(),
        "R6,MOHAMMAD ABDUL,HOSSAIN,1990,M,BGD,passport,BX0000006,BGD,2030-05-01,,,none,,,2026-03-03,Tapachula,entry,GTM,".into(),
    ]
}

/// GTM may query and fetch copies in full (issuing state granted, document type not);
/// CRI, when `cri`, only hit/no-hit.
fn agreements(fed: &Federation, cri: bool) {
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
                    "document_number",
                    "issuing_state",
                ],
                "queries_per_day = 100\ncopies_per_day = 10",
            )],
        ),
    );
    if !cri {
        return;
    }
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
                &["identity_query", "passport_copy"],
                &["identification"],
                &["given_names", "surnames", "nationality"],
                "queries_per_day = 100\ncopies_per_day = 10\nmodes = { identity_query = \"hit_no_hit\" }",
            )],
        ),
    );
}

fn numbers(r: &pb::QueryResponse) -> Vec<String> {
    r.matches
        .iter()
        .map(|m| {
            m.person
                .as_ref()
                .and_then(|p| p.document_number.clone())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn a_protected_person_does_not_push_out_a_namesake() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    agreements(&fed, true);
    import_rows(&fed, "MEX", &rows(("none", "")));
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let cri = fed.start("CRI").await;

    // R2 scores 1.00 and would leave R4 (about 0.89) below the relative cut-off; for GTM,
    // which R2 is protected against, the answer is the one without R2: R4.
    let q = name("JOSE LUIS", "PEREZ GARCIA", 1988, 5, 5);
    let r = ask(&fed, "GTM", "MEX", q.clone()).await.unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::Match as i32, "{r:?}");
    assert_eq!(numbers(&r), ["GT7777777"]);
    let score = r.matches[0].score_permille;
    assert!((850..950).contains(&score), "R4 scores {score}");

    // CRI may know R2 exists, but only as a hit: one reference, no score, no count of
    // the namesakes, no person.
    let r = ask(&fed, "CRI", "MEX", q).await.unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::Match as i32);
    assert_eq!(r.mode, pb::Mode::HitNoHit as i32);
    let r = ask(
        &fed,
        "CRI",
        "MEX",
        name("MOHAMMAD ABDUL", "HOSSAIN", 1990, 4, 12),
    )
    .await
    .unwrap();
    assert_eq!(r.matches.len(), 1, "three namesakes, one hit: {r:?}");
    assert_eq!(r.matches[0].score_permille, 0);
    assert!(r.matches[0].person.is_none() && r.disclosed_fields.is_empty());
    assert!(!r.matches[0].reference.is_empty());
    // Its reference came with a hit/no-hit answer: it fetches nothing.
    let err = fetch(&fed, "CRI", "MEX", &r.matches[0].reference)
        .await
        .unwrap_err();
    let unknown = fetch(&fed, "CRI", "MEX", "ref-unknown").await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (unknown.code(), unknown.message())
    );

    mex.stop().await;
    gtm.stop().await;
    cri.stop().await;
}

#[tokio::test]
async fn a_reference_to_a_person_now_protected_answers_as_an_unknown_one() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreements(&fed, false);
    import_rows(&fed, "MEX", &rows(("none", "")));
    // GTM reaches MEX through a proxy, which follows MEX when it comes back on a new port.
    let proxy = puente_e2e::fault_proxy::FaultProxy::start(fed.country("MEX").addr).await;
    puente_e2e::set_peer_address(&fed, "GTM", "MEX", &proxy.addr.to_string());
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;

    let by_doc = ask(&fed, "GTM", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap();
    let with_copy = by_doc.matches[0].reference.clone();
    // The header carries only granted fields: issuing state yes, document type no.
    let (header, bytes) = fetch(&fed, "GTM", "MEX", &with_copy).await.unwrap();
    assert_eq!(bytes, puente_synth::specimen::specimen_png(42).unwrap());
    assert_eq!(header.issuing_state, "BGD");
    assert_eq!(header.document_type, pb::DocumentType::Unspecified as i32);
    // A person without a copy.
    let without_copy = ask(&fed, "GTM", "MEX", doc("BX0000005", "BGD"))
        .await
        .unwrap()
        .matches[0]
        .reference
        .clone();
    let unknown = fetch(
        &fed,
        "GTM",
        "MEX",
        "ref-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .await
    .unwrap_err();
    let no_copy = fetch(&fed, "GTM", "MEX", &without_copy).await.unwrap_err();
    assert_eq!(
        (no_copy.code(), no_copy.message()),
        (unknown.code(), unknown.message()),
        "no copy held must look like an unknown reference"
    );

    // R1 asks for asylum and is recorded as protected against GTM; GTM still holds the
    // reference it got before.
    mex.stop().await;
    import_rows(&fed, "MEX", &rows(("refugee", "GTM")));
    let mex = fed.start_on_new_port("MEX").await;
    proxy.retarget(fed.country("MEX").addr);
    let now_protected = fetch(&fed, "GTM", "MEX", &with_copy).await.unwrap_err();
    assert_eq!(
        (now_protected.code(), now_protected.message()),
        (unknown.code(), unknown.message()),
        "a reference to a person now protected must look like an unknown one"
    );
    // And a new query finds nobody: R1 is shielded, the others hold other numbers.
    let r = ask(&fed, "GTM", "MEX", doc("BX1234567", "BGD"))
        .await
        .unwrap();
    assert_eq!(r.outcome, pb::MatchOutcome::NoMatch as i32);

    mex.stop().await;
    gtm.stop().await;
}
