//! Checking a manifest with a counterpart (issue 21, agreement service `manifest_check`):
//! MEX's officer has GTM check a bus manifest in one call and gets, per traveller, a
//! match with a reference or no match; a person GTM protects against MEX is a no-match
//! like any other. GTM records the batch in one audit entry whose term is the Merkle root
//! of one leaf per traveller. A hostile MEX node calling GTM's `Exchange.CheckManifest`
//! directly is refused a batch over the grant's `max_batch`, fields the grant does not
//! list and a batch bigger than the quota left (nothing taken then); a replayed request
//! costs quota again and is recorded again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_e2e::holdings::import_rows;
use puente_e2e::{agreement_text, grant, Federation};
use puente_proto::v1 as pb;
use puente_proto::v1::audit_client::AuditClient;
use puente_proto::v1::exchange_client::ExchangeClient;
use tonic::Code;

use super::manifests::{manifest_client, BUS_JSON};

/// GTM holds the bus's first passenger (by document) and second (by name); the third is
/// a Mexican asylum seeker in GTM: shielded from MEX.
async fn federation(fields: &[&str], extra: &str) -> Federation {
    let fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-APIS",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "GTM",
                "MEX",
                &["manifest_check"],
                &["identification"],
                fields,
                extra,
            )],
        ),
    );
    import_rows(
        &fed,
        "GTM",
        &[
            "G1,Carlos Alberto,Hernández López,1988-07-21,M,HND,passport,F1234567,HND,2029-03-01,,,none,,,2026-11-01,Tecún Umán,entry,HND,",
            "G2,Rose,Jean-Baptiste,1995,F,HTI,,,,,,,none,,,2026-10-01,Tecún Umán,detection,MEX,",
            "G3,Yusuf,Okafor,1979-11,M,MEX,passport,A0F334211,NGA,,,,asylum_seeker,,,2026-09-01,Tecún Umán,asylum_claim,MEX,",
        ],
    );
    fed
}

const FIELDS: &[&str] = &[
    "given_names",
    "surnames",
    "date_of_birth",
    "document_number",
    "issuing_state",
];

fn context(nonce: u8) -> Option<pb::RequestContext> {
    Some(pb::RequestContext {
        purpose: pb::Purpose::Identification as i32,
        case_reference: "APIS-2026-77".into(),
        operator_id: "hostile".into(),
        request_id: String::new(),
        nonce: vec![nonce; 16],
        known_log_sizes: Vec::new(),
    })
}

fn traveller(surnames: &str, number: &str) -> pb::ManifestTraveller {
    pb::ManifestTraveller {
        given_names: "Ana".into(),
        surnames: surnames.into(),
        date_of_birth: Some(pb::PartialDate {
            year: 1990,
            month: 1,
            day: 1,
        }),
        document_number: number.into(),
        issuing_state: "HND".into(),
        ..Default::default()
    }
}

async fn gtm_entries(fed: &Federation) -> Vec<pb::AuditEntry> {
    let auditor = fed.country("GTM").identity("auditor-auditor");
    AuditClient::new(fed.channel("GTM", &auditor))
        .list_entries(pb::ListEntriesRequest {
            service: pb::Service::ManifestCheck as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries
}

#[tokio::test]
async fn an_officer_checks_a_manifest_with_a_counterpart_in_one_call() {
    let mut fed = federation(FIELDS, "travellers_per_day = 50\nmax_batch = 10").await;
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let r = manifest_client(&fed, "MEX", "MEX", "operator-officer")
        .check_with_peer(pb::CheckWithPeerRequest {
            peer_country: "GTM".into(),
            context: Some(pb::RequestContext {
                purpose: pb::Purpose::Identification as i32,
                case_reference: "APIS-1".into(),
                ..Default::default()
            }),
            manifest: Some(pb::SubmitManifestRequest {
                format: pb::ManifestFormat::BusJson as i32,
                content: BUS_JSON.as_bytes().to_vec(),
                file_name: String::new(),
            }),
            manifest_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.agreement_id, "MEX-GTM-APIS");
    let outcomes: Vec<i32> = r.travellers.iter().map(|t| t.outcome).collect();
    assert_eq!(
        outcomes,
        [
            pb::MatchOutcome::Match as i32,
            pb::MatchOutcome::Match as i32,
            // Okafor is held by GTM, protected against MEX: no match, like a stranger.
            pb::MatchOutcome::NoMatch as i32,
        ]
    );
    assert!(!r.travellers[0].reference.is_empty() && !r.travellers[1].reference.is_empty());
    assert!(r.travellers[2].reference.is_empty());
    assert_eq!(r.travellers[0].name, "Hernández López, Carlos Alberto");
    // MEX: the outgoing entry holding GTM's receipt, at the index the officer was told.
    let auditor = fed.country("MEX").identity("auditor-auditor");
    let mex_log = AuditClient::new(fed.channel("MEX", &auditor))
        .list_entries(pb::ListEntriesRequest {
            service: pb::Service::ManifestCheck as i32,
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(mex_log.len(), 1);
    assert_eq!(mex_log[0].index, r.audit_index);
    assert_eq!(mex_log[0].direction, pb::Direction::Outgoing as i32);
    assert_eq!(mex_log[0].peer_country, "GTM");

    // GTM: one entry for the batch, withheld (the protection rule applied to one),
    // holding the Merkle root over one leaf per traveller's keyed hash.
    let entries = gtm_entries(&fed).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e.decision, pb::Decision::Withheld as i32);
    assert!(e.rule.starts_with("protection."), "{}", e.rule);
    assert_eq!(e.query_term_hashes.len(), 2);
    let key = puente_records::DataKey::load(&fed.country("GTM").pki().join("data.key")).unwrap();
    let sent: Vec<pb::ManifestTraveller> = puente_manifest::parse(
        BUS_JSON.as_bytes(),
        puente_manifest::Format::BusJson,
        time::OffsetDateTime::now_utc().date(),
    )
    .unwrap()
    .passengers
    .iter()
    .map(|p| {
        puente_node::ask::manifest_check::traveller(
            p,
            &FIELDS
                .iter()
                .map(|f| <puente_policy::Field as puente_policy::Term>::parse(f).unwrap())
                .collect(),
        )
    })
    .collect();
    let terms: Vec<_> = sent
        .iter()
        .enumerate()
        .map(|(i, t)| puente_node::answer::manifest_check::traveller_terms(i, t).unwrap())
        .collect();
    let root = puente_audit::merkle::mth(&puente_node::answer::manifest_check::traveller_leaves(
        &key, &terms,
    ));
    assert_eq!(
        e.query_term_hashes[0],
        key.audit_hash("manifest_travellers_root", &hex::encode(root))
            .to_vec(),
        "the entry commits to one leaf per traveller"
    );
    // No name or number in the entry.
    let text = format!("{} {} {}", e.reason, e.rule, e.case_reference);
    for p in ["Okafor", "F1234567", "Jean-Baptiste"] {
        assert!(!text.contains(p), "{text}");
    }
}

#[tokio::test]
async fn a_hostile_peer_is_held_to_the_batch_size_the_fields_and_the_quota() {
    let mut fed = federation(FIELDS, "travellers_per_day = 12\nmax_batch = 5").await;
    let _mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    let mex_node = fed.country("MEX").identity("node-mex-1");
    let mut hostile = ExchangeClient::new(fed.channel("GTM", &mex_node));
    let batch = |n: usize, nonce: u8| pb::CheckManifestRequest {
        context: context(nonce),
        travellers: (0..n)
            .map(|i| traveller("Lopez", &format!("X{i:07}")))
            .collect(),
    };

    // Over the grant's max_batch: refused whole, no unit taken.
    let e = hostile.check_manifest(batch(6, 1)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().starts_with("agreement.batch_too_large"),
        "{}",
        e.message()
    );
    // Over the hard cap, whatever a grant says: refused before the request is read.
    let e = hostile.check_manifest(batch(1001, 2)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());

    // A field the grant does not list (nationality): refused, no unit taken.
    let mut with_nationality = batch(2, 3);
    with_nationality.travellers[1].nationality = "HND".into();
    let e = hostile.check_manifest(with_nationality).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().starts_with("agreement.field_not_granted"),
        "{}",
        e.message()
    );
    assert!(e.message().contains("nationality"), "{}", e.message());
    // A traveller that cannot be looked up: refused naming it.
    let mut nameless = batch(2, 4);
    nameless.travellers[1] = pb::ManifestTraveller::default();
    let e = hostile.check_manifest(nameless).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("travellers[1]"), "{}", e.message());

    // The quota (12 a day) was untouched by all that: 5 + 5 pass.
    let first = batch(5, 5);
    let a = hostile
        .check_manifest(first.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.results.len(), 5);
    assert!(a
        .results
        .iter()
        .all(|r| r.outcome == pb::MatchOutcome::NoMatch as i32 && r.reference.is_empty()));
    // A replay of the very same request is charged and recorded again.
    let b = hostile
        .check_manifest(first.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.results, a.results);
    assert_ne!(
        a.receipt.as_ref().unwrap().entry_index,
        b.receipt.as_ref().unwrap().entry_index
    );
    // A restart of GTM forgets nothing: the units are counted again from its log, five
    // for each of the two batches (their entries keep the batch size as a keyed hash).
    gtm.stop().await;
    let _gtm = fed.start("GTM").await;
    let mut hostile = ExchangeClient::new(fed.channel("GTM", &mex_node));
    // Two left, five asked: refused whole, nothing checked, nothing taken.
    let e = hostile.check_manifest(batch(5, 6)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().starts_with("agreement.quota_exceeded"),
        "{}",
        e.message()
    );
    assert!(
        e.message().contains("has 2 left and this call needs 5"),
        "{}",
        e.message()
    );
    // The two left are still there; then none. A traveller listed by initials only is
    // no name to search by: NO_MATCH for it, not a failed batch.
    let mut two = batch(2, 7);
    two.travellers[1] = pb::ManifestTraveller {
        given_names: "J".into(),
        surnames: "K".into(),
        date_of_birth: Some(pb::PartialDate {
            year: 1990,
            month: 0,
            day: 0,
        }),
        ..Default::default()
    };
    let answered = hostile.check_manifest(two).await.unwrap().into_inner();
    assert_eq!(answered.results.len(), 2);
    assert_eq!(
        answered.results[1].outcome,
        pb::MatchOutcome::NoMatch as i32
    );
    let e = hostile.check_manifest(first).await.unwrap_err();
    assert!(
        e.message().starts_with("agreement.quota_exceeded"),
        "{}",
        e.message()
    );

    // Every call, refused or answered, is one entry of GTM's log.
    let entries = gtm_entries(&fed).await;
    let rules: Vec<&str> = entries.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(entries.len(), 9, "{rules:?}");
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.decision == pb::Decision::Allowed as i32)
            .count(),
        3
    );
}

#[tokio::test]
async fn the_asking_node_sends_only_granted_fields_and_no_batch_over_the_grant() {
    // The grant lets MEX send documents only, two travellers at a time.
    let mut fed = federation(
        &["document_number", "issuing_state"],
        "travellers_per_day = 50\nmax_batch = 2",
    )
    .await;
    let _mex = fed.start("MEX").await;
    let _gtm = fed.start("GTM").await;
    let mut officer = manifest_client(&fed, "MEX", "MEX", "operator-officer");
    let request = |content: &str| pb::CheckWithPeerRequest {
        peer_country: "GTM".into(),
        context: Some(pb::RequestContext {
            purpose: pb::Purpose::Identification as i32,
            case_reference: "APIS-2".into(),
            ..Default::default()
        }),
        manifest: Some(pb::SubmitManifestRequest {
            format: pb::ManifestFormat::Unspecified as i32,
            content: content.as_bytes().to_vec(),
            file_name: String::new(),
        }),
        manifest_id: String::new(),
    };
    // The bus as it is: its second passenger has no document, and names are not
    // granted: she cannot be looked up, so nothing is sent.
    let e = officer
        .check_with_peer(request(BUS_JSON))
        .await
        .unwrap_err();
    assert!(e.message().contains("travellers[1]"), "{}", e.message());
    assert!(gtm_entries(&fed).await.is_empty());
    // A format the contract does not define, or a file and an id at once: refused
    // (not guessed, not one of them picked silently), nothing sent.
    let mut odd = request(BUS_JSON);
    if let Some(f) = odd.manifest.as_mut() {
        f.format = 99;
    }
    let e = officer.check_with_peer(odd).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message().contains("99 is not a ManifestFormat"),
        "{}",
        e.message()
    );
    let both = pb::CheckWithPeerRequest {
        manifest_id: "m1-0".into(),
        ..request(BUS_JSON)
    };
    let e = officer.check_with_peer(both).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("not both"), "{}", e.message());
    assert!(gtm_entries(&fed).await.is_empty());
    let mut m = puente_manifest::parse(
        BUS_JSON.as_bytes(),
        puente_manifest::Format::BusJson,
        time::OffsetDateTime::now_utc().date(),
    )
    .unwrap();
    m.passengers.remove(1);
    // Three with documents, two allowed in one call: refused here, nothing sent.
    let mut three = m.clone();
    three.passengers.push(m.passengers[0].clone());
    let e = officer
        .check_with_peer(request(&puente_manifest::write::bus_json(&three)))
        .await
        .unwrap_err();
    assert!(
        e.message().starts_with("agreement.batch_too_large"),
        "{}",
        e.message()
    );
    assert!(
        e.message().contains("before anything was sent"),
        "{}",
        e.message()
    );
    assert!(gtm_entries(&fed).await.is_empty());
    // Two with documents: sent with documents only, answered by document.
    let r = officer
        .check_with_peer(request(&puente_manifest::write::bus_json(&m)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.fields_sent,
        [
            pb::DisclosableField::DocumentNumber as i32,
            pb::DisclosableField::IssuingState as i32
        ]
    );
    assert_eq!(r.travellers[0].outcome, pb::MatchOutcome::Match as i32);
    // Okafor's passport is issued by NGA; GTM holds him protected against MEX.
    assert_eq!(r.travellers[1].outcome, pb::MatchOutcome::NoMatch as i32);
    assert_eq!(gtm_entries(&fed).await.len(), 1);
}
