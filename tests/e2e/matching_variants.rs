//! A peer asks by name the ways its officers write it: the birth date with day and month
//! swapped, the name in Haitian Creole spelling. Through real nodes, the responder finds
//! the person; and a person protected against the asking country stays invisible under
//! these variant queries too: the answer is the one a store without that person gives,
//! while a country the person is not protected against finds them with the same queries.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::holdings::import_rows;
use puente_e2e::officer::{ask, name};
use puente_e2e::{agreement_text, grant, Federation};
use puente_proto::v1 as pb;

/// MEX's holdings. R1 and R2 are looked for with variants; R3 and R4 are their
/// near-namesakes. P1 is a Haitian refugee protected against GTM; N1, born the same day
/// with one given name more, is a weaker match that P1 pushes below the relative cut-off
/// under each variant query of P1.
fn rows(with_p1: bool) -> Vec<String> {
    let mut rows = vec![
        "R1,HABIBULLAH,CHOWDHURY,1990-01-12,M,BGD,passport,BX1234567,BGD,2030-05-01,,,none,,,2026-03-01,Tapachula,detection,GTM,".to_string(),
        "R2,JEAN BAPTISTE,LOUIS,1984-06-30,M,HTI,passport,HT1111111,HTI,2030-05-01,,,none,,,2026-03-02,Tapachula,entry,GTM,".into(),
        "R3,MARIE,LOUIS,1984-06-30,F,HTI,passport,HT2222222,HTI,2030-05-01,,,none,,,2026-03-02,Tapachula,entry,GTM,".into(),
        "R4,SHAHIDA,CHOWDHURY,1990-12-01,F,BGD,passport,BX7654321,BGD,2030-05-01,,,none,,,2026-03-03,Tapachula,entry,GTM,".into(),
        "N1,PIERRE MICHEL,JOSEPH,1985-03-08,M,HTI,passport,HT4444444,HTI,2030-05-01,,,none,,,2026-03-04,Tapachula,entry,GTM,".into(),
    ];
    if with_p1 {
        rows.push("P1,PIERRE,JOSEPH,1985-03-08,M,HTI,passport,HT3333333,HTI,2030-05-01,,,refugee,GTM,,2026-03-05,Tapachula,asylum_claim,GTM,".into());
    }
    rows
}

/// `provider` grants `receiver` name queries with names, date, nationality and the
/// passport number (which identifies the answers here).
fn agreement(fed: &Federation, receiver: &str) {
    fed.agree(
        "MEX",
        receiver,
        &format!("mex-{}.toml", receiver.to_ascii_lowercase()),
        &agreement_text(
            &format!("MEX-{receiver}-T"),
            ["MEX", receiver],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                receiver,
                &["identity_query"],
                &["identification"],
                &[
                    "given_names",
                    "surnames",
                    "date_of_birth",
                    "nationality",
                    "document_number",
                    "issuing_state",
                ],
                "queries_per_day = 100",
            )],
        ),
    );
}

/// What an answer says, in the terms that could tell a withheld person from an absent
/// one: outcome, and each match's number and score, in order.
fn seen(r: &pb::QueryResponse) -> (i32, Vec<(String, u32)>) {
    (
        r.outcome,
        r.matches
            .iter()
            .map(|m| {
                let number = m
                    .person
                    .as_ref()
                    .and_then(|p| p.document_number.clone())
                    .unwrap_or_default();
                (number, m.score_permille)
            })
            .collect(),
    )
}

fn numbers(r: &pb::QueryResponse) -> Vec<String> {
    seen(r).1.into_iter().map(|(n, _)| n).collect()
}

/// The variant queries of P1 (PIERRE JOSEPH, 1985-03-08).
fn p1_variants() -> Vec<(&'static str, pb::IdentityQuery)> {
    vec![
        ("swapped date", name("PIERRE", "JOSEPH", 1985, 8, 3)),
        ("Creole spelling", name("PYE", "JOSEPH", 1985, 3, 8)),
        ("Creole and swapped", name("PYE", "JOSEPH", 1985, 8, 3)),
        ("year only", name("PYE", "JOSEPH", 1985, 0, 0)),
    ]
}

#[tokio::test]
async fn a_peer_finds_a_person_by_a_swapped_date_and_a_creole_spelling() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    agreement(&fed, "GTM");
    import_rows(&fed, "MEX", &rows(true));
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;

    // HABIBULLAH, born 12 January, asked as born 1 December: found, below an exact
    // answer's score; SHAHIDA CHOWDHURY, really born 1 December, is not him.
    let exact = ask(
        &fed,
        "GTM",
        "MEX",
        name("HABIBULLAH", "CHOWDHURY", 1990, 1, 12),
    )
    .await
    .unwrap();
    assert_eq!(numbers(&exact), ["BX1234567"], "{exact:?}");
    let swapped = ask(
        &fed,
        "GTM",
        "MEX",
        name("HABIBULLAH", "CHOWDHURY", 1990, 12, 1),
    )
    .await
    .unwrap();
    assert_eq!(
        swapped.outcome,
        pb::MatchOutcome::Match as i32,
        "{swapped:?}"
    );
    assert_eq!(numbers(&swapped), ["BX1234567"], "{swapped:?}");
    let (full, variant) = (
        exact.matches[0].score_permille,
        swapped.matches[0].score_permille,
    );
    assert!(
        (850..full).contains(&variant),
        "exact {full}, swapped {variant}"
    );
    // The person disclosed is the one on record, date as recorded.
    let person = swapped.matches[0].person.as_ref().unwrap();
    let dob = person.date_of_birth.as_ref().unwrap();
    assert_eq!((dob.year, dob.month, dob.day), (1990, 1, 12));

    // JEAN BAPTISTE LOUIS written the Creole way, split and joined; MARIE LOUIS, born
    // the same day, stays out.
    for (given, surnames) in [
        ("JANBATIS", "LWI"),
        ("JAN BATIS", "LWI"),
        ("JAN BAPTISTE", "LOUIS"),
    ] {
        let r = ask(&fed, "GTM", "MEX", name(given, surnames, 1984, 6, 30))
            .await
            .unwrap();
        assert_eq!(numbers(&r), ["HT1111111"], "{given} {surnames}: {r:?}");
        assert!(r.matches[0].score_permille >= 850, "{r:?}");
    }

    mex.stop().await;
    gtm.stop().await;
}

#[tokio::test]
async fn a_protected_person_stays_invisible_under_variant_queries() {
    // Federation A: P1 held, protected against GTM; CRI is not protected against.
    let mut with = Federation::new(&["MEX", "GTM", "CRI"]).await;
    agreement(&with, "GTM");
    agreement(&with, "CRI");
    import_rows(&with, "MEX", &rows(true));
    // Federation B: the same holdings without P1.
    let mut without = Federation::new(&["MEX", "GTM"]).await;
    agreement(&without, "GTM");
    import_rows(&without, "MEX", &rows(false));

    let mex_a = with.start("MEX").await;
    let gtm_a = with.start("GTM").await;
    let cri_a = with.start("CRI").await;
    let mex_b = without.start("MEX").await;
    let gtm_b = without.start("GTM").await;

    // P1 outscores N1 (born the same day, one given name more) under every variant and
    // pushes it below the relative cut-off: CRI, which P1 is not protected against,
    // hears of P1 alone. For GTM the answer is N1, exactly as from a store without P1:
    // same outcome, same numbers, same scores, same fields.
    for (label, q) in p1_variants() {
        let cri = ask(&with, "CRI", "MEX", q.clone()).await.unwrap();
        assert_eq!(numbers(&cri), ["HT3333333"], "{label}: CRI {cri:?}");
        let shielded = ask(&with, "GTM", "MEX", q.clone()).await.unwrap();
        let absent = ask(&without, "GTM", "MEX", q).await.unwrap();
        assert_eq!(
            numbers(&shielded),
            ["HT4444444"],
            "{label}: GTM {shielded:?}"
        );
        assert_eq!(seen(&shielded), seen(&absent), "{label}");
        assert_eq!(
            shielded.disclosed_fields, absent.disclosed_fields,
            "{label}"
        );
    }

    mex_a.stop().await;
    gtm_a.stop().await;
    cri_a.stop().await;
    mex_b.stop().await;
    gtm_b.stop().await;
}
