//! The audit log across real nodes: an entry on each side of every exchange (allowed or
//! refused), receipts that the asker verifies and keeps, auditors' proofs, cross-witnessing
//! that refuses a forked history, and no personal data in any entry.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_audit::{checkpoint, merkle};
use puente_e2e::{agreement_text, grant, Federation};
use puente_proto::v1 as pb;
use puente_proto::v1::audit_client::AuditClient;
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_proto::v1::local_client::LocalClient;
use tonic::Code;

fn doc(number: &str, issuer: &str) -> pb::IdentityQuery {
    pb::IdentityQuery {
        terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
            document_number: number.into(),
            issuing_state: issuer.into(),
            document_type: pb::DocumentType::Passport as i32,
        })),
    }
}

fn ctx() -> Option<pb::RequestContext> {
    Some(pb::RequestContext {
        purpose: pb::Purpose::Identification as i32,
        case_reference: "EXP-9".into(),
        operator_id: String::new(),
        request_id: String::new(),
        ..Default::default()
    })
}

async fn setup() -> (Federation, puente_e2e::TestNode, puente_e2e::TestNode) {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    fed.agree(
        "MEX",
        "GTM",
        "a.toml",
        &agreement_text(
            "MEX-GTM-A",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["identity_query"],
                &["identification"],
                &["surnames", "document_number"],
                "queries_per_day = 100",
            )],
        ),
    );
    // MEX holds one person.
    let dir = fed.temp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("p.csv");
    std::fs::write(&csv, "record_id,given_names,surnames,date_of_birth,sex,nationality,document_type,document_number,issuing_state\nR1,AMA,MENSAH,1992-01-01,F,GHA,passport,G7654321,GHA\n").unwrap();
    {
        let (_s, records) = puente::records::open(&fed.country("MEX").config).unwrap();
        puente_records::import::import(
            &records,
            &csv,
            time::macros::date!(2026 - 11 - 28),
            &mut |_, _| {},
        )
        .unwrap();
    }
    let mex = fed.start("MEX").await;
    let gtm = fed.start("GTM").await;
    (fed, mex, gtm)
}

async fn entries(fed: &Federation, country: &str) -> Vec<pb::AuditEntry> {
    let auditor = fed.country(country).identity("auditor-auditor");
    AuditClient::new(fed.channel(country, &auditor))
        .list_entries(pb::ListEntriesRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries
}

#[tokio::test]
async fn each_side_records_the_exchange_and_the_asker_keeps_the_receipt() {
    let (fed, mex, gtm) = setup().await;
    let officer = fed.country("GTM").identity("operator-officer");
    let answer = LocalClient::new(fed.channel("GTM", &officer))
        .query(pb::QueryRequest {
            peer_country: "MEX".into(),
            context: ctx(),
            query: Some(doc("G7654321", "GHA")),
            max_matches: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(answer.receipt_verified);
    let receipt = answer.peer_receipt.clone().unwrap();

    let mex_log = entries(&fed, "MEX").await;
    let incoming = mex_log
        .iter()
        .find(|e| e.index == receipt.entry_index)
        .unwrap();
    assert_eq!(incoming.direction, pb::Direction::Incoming as i32);
    assert_eq!(incoming.peer_country, "GTM");
    assert_eq!(incoming.actor, "urn:puente:GTM:node:gtm-1");
    assert_eq!(incoming.decision, pb::Decision::Allowed as i32);
    assert_eq!(incoming.case_reference, "EXP-9");
    assert_eq!(
        incoming.leaf_hash, receipt.leaf_hash,
        "the receipt names MEX's entry"
    );
    assert_eq!(
        puente_audit::entry::leaf_of(&incoming.encoded).to_vec(),
        incoming.leaf_hash
    );
    // The receipt commits to GTM's request: MEX's entry is about this exchange.
    assert_eq!(incoming.encoded[4..36], receipt.request_sha256[..]);

    let gtm_log = entries(&fed, "GTM").await;
    let outgoing = gtm_log
        .iter()
        .find(|e| e.index == answer.audit_index)
        .unwrap();
    assert_eq!(outgoing.direction, pb::Direction::Outgoing as i32);
    assert_eq!(
        outgoing.actor, "urn:puente:GTM:operator:officer",
        "the operator is recorded"
    );
    assert_eq!(
        outgoing.counterpart_receipt.as_ref().unwrap(),
        &receipt,
        "GTM keeps MEX's signed word"
    );
    assert_eq!(
        outgoing.request_sha256, incoming.request_sha256,
        "both sides hashed the same request"
    );
    assert_eq!(
        outgoing.response_sha256, incoming.response_sha256,
        "and the same response"
    );

    // No personal data in any entry: neither the name nor the document number.
    for e in mex_log.iter().chain(&gtm_log) {
        let text = String::from_utf8_lossy(&e.encoded);
        assert!(
            !text.contains("MENSAH") && !text.contains("G7654321") && !text.contains("AMA"),
            "{text}"
        );
    }
    mex.stop().await;
    gtm.stop().await;
}

#[tokio::test]
async fn refusals_are_recorded_with_a_receipt_too() {
    let (fed, mex, gtm) = setup().await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let err = ExchangeClient::new(fed.channel("MEX", &gtm_node))
        .query_identity(pb::QueryIdentityRequest {
            context: Some(pb::RequestContext {
                purpose: pb::Purpose::Statistics as i32,
                case_reference: "EXP-9".into(),
                ..Default::default()
            }),
            query: Some(doc("X1", "GHA")),
            max_matches: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let receipt = puente_node::auditing::receipt_of(&err).expect("a refusal carries a receipt");
    let key = fed.country("MEX").load().signing.verifying_key();
    puente_audit::receipt::ReceiptVerifier::default()
        .verify(&receipt, &key)
        .unwrap();
    let log = entries(&fed, "MEX").await;
    let e = log.iter().find(|e| e.index == receipt.entry_index).unwrap();
    assert_eq!(e.decision, pb::Decision::Refused as i32);
    assert_eq!(e.rule, "agreement.purpose_not_granted");

    // An identity query without a case reference (the contract requires one): refused
    // as malformed, and recorded with a receipt like any refusal.
    let err = ExchangeClient::new(fed.channel("MEX", &gtm_node))
        .query_identity(pb::QueryIdentityRequest {
            context: Some(pb::RequestContext {
                purpose: pb::Purpose::Identification as i32,
                case_reference: "  ".into(),
                ..Default::default()
            }),
            query: Some(doc("X1", "GHA")),
            max_matches: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(
        err.message()
            .starts_with("context.case_reference: required"),
        "{}",
        err.message()
    );
    let receipt = puente_node::auditing::receipt_of(&err).expect("a refusal carries a receipt");
    let log = entries(&fed, "MEX").await;
    let e = log.iter().find(|e| e.index == receipt.entry_index).unwrap();
    assert_eq!(e.decision, pb::Decision::Refused as i32);
    mex.stop().await;
    gtm.stop().await;
}

#[tokio::test]
async fn auditors_get_proofs_that_verify_against_signed_checkpoints() {
    let (fed, mex, gtm) = setup().await;
    let officer = fed.country("GTM").identity("operator-officer");
    for _ in 0..5 {
        LocalClient::new(fed.channel("GTM", &officer))
            .query(pb::QueryRequest {
                peer_country: "MEX".into(),
                context: ctx(),
                query: Some(doc("G7654321", "GHA")),
                max_matches: 0,
            })
            .await
            .unwrap();
    }
    let auditor = fed.country("MEX").identity("auditor-auditor");
    let mut audit = AuditClient::new(fed.channel("MEX", &auditor));
    let key = fed.country("MEX").load().signing.verifying_key();
    let cp_note = audit
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap()
        .note;
    let cp = checkpoint::open(&cp_note, &key).unwrap();
    assert_eq!(cp.size, 5);
    let p = audit
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            index: 3,
            tree_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let proof: Vec<merkle::Hash> = p
        .proof
        .iter()
        .map(|h| h.as_slice().try_into().unwrap())
        .collect();
    assert!(merkle::verify_inclusion(
        3,
        cp.size,
        &p.leaf_hash.as_slice().try_into().unwrap(),
        &proof,
        &cp.root
    ));
    let c = audit
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: 2,
            new_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let old = checkpoint::open(
        &audit
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                index: 0,
                tree_size: 2,
            })
            .await
            .unwrap()
            .into_inner()
            .checkpoint
            .unwrap()
            .note,
        &key,
    )
    .unwrap();
    let proof: Vec<merkle::Hash> = c
        .proof
        .iter()
        .map(|h| h.as_slice().try_into().unwrap())
        .collect();
    assert!(merkle::verify_consistency(
        2, 5, &old.root, &cp.root, &proof
    ));
    // Out of range requests are refused clearly.
    let err = audit
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            index: 5,
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange);
    // Filters.
    let refused = audit
        .list_entries(pb::ListEntriesRequest {
            decision: pb::Decision::Refused as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(refused.entries.is_empty());
    let by_peer = audit
        .list_entries(pb::ListEntriesRequest {
            peer_country: "GTM".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_peer.entries.len(), 2);
    assert!(!by_peer.next_page_token.is_empty());
    // The token continues that listing, and only that one: with another filter, another
    // start, or edited, it is refused (a client bug would otherwise mix two listings).
    let by_peer_request = pb::ListEntriesRequest {
        peer_country: "GTM".into(),
        page_size: 2,
        page_token: by_peer.next_page_token.clone(),
        ..Default::default()
    };
    let second = audit
        .list_entries(by_peer_request.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(second
        .entries
        .first()
        .is_none_or(|e| e.index > by_peer.entries[1].index));
    let (index, digest) = by_peer.next_page_token.split_once('.').unwrap();
    for bad in [
        pb::ListEntriesRequest {
            peer_country: "CRI".into(),
            ..by_peer_request.clone()
        },
        pb::ListEntriesRequest {
            start_index: 1,
            ..by_peer_request.clone()
        },
        pb::ListEntriesRequest {
            page_token: format!("+{index}.{digest}"),
            ..by_peer_request.clone()
        },
        pb::ListEntriesRequest {
            page_token: index.to_string(),
            ..by_peer_request.clone()
        },
    ] {
        let err = audit.list_entries(bad.clone()).await.unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{bad:?}: {}",
            err.message()
        );
        assert!(
            err.message().starts_with("page_token:"),
            "{}",
            err.message()
        );
    }
    // A listing reads the log as it was at its first page: entries appended while an
    // auditor pages through it are not part of it (the next listing has them).
    let first = audit
        .list_entries(pb::ListEntriesRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.tree_size, first.next_index), (5, 2));
    for _ in 0..2 {
        LocalClient::new(fed.channel("GTM", &officer))
            .query(pb::QueryRequest {
                peer_country: "MEX".into(),
                context: ctx(),
                query: Some(doc("G7654321", "GHA")),
                max_matches: 0,
            })
            .await
            .unwrap();
    }
    let rest = audit
        .list_entries(pb::ListEntriesRequest {
            page_size: 1000,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.tree_size, 5);
    assert_eq!(
        rest.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert!(rest.next_page_token.is_empty() && rest.next_index == 0);
    let now = audit
        .list_entries(pb::ListEntriesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(now.tree_size >= 7);
    assert_eq!(now.entries.len() as u64, now.tree_size);
    // Filters outside the contract are refused, naming the field, not read as "none".
    for (bad, field) in [
        (
            pb::ListEntriesRequest {
                service: 99,
                ..Default::default()
            },
            "service",
        ),
        (
            pb::ListEntriesRequest {
                decision: -5,
                ..Default::default()
            },
            "decision",
        ),
        (
            pb::ListEntriesRequest {
                peer_country: "G".into(),
                ..Default::default()
            },
            "peer_country",
        ),
        (
            pb::ListEntriesRequest {
                since: Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                }),
                ..Default::default()
            },
            "since",
        ),
        (
            pb::ListEntriesRequest {
                until: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -5,
                }),
                ..Default::default()
            },
            "until",
        ),
    ] {
        let err = audit.list_entries(bad).await.unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{field}: {}",
            err.message()
        );
        assert!(err.message().starts_with(field), "{}", err.message());
    }
    // A consistency proof from the empty tree is not one the contract serves.
    let err = audit
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: 0,
            new_size: 2,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    mex.stop().await;
    gtm.stop().await;
}

#[tokio::test]
async fn witnesses_cosign_and_refuse_a_forked_history() {
    let (fed, mex, gtm) = setup().await;
    let officer = fed.country("GTM").identity("operator-officer");
    LocalClient::new(fed.channel("GTM", &officer))
        .query(pb::QueryRequest {
            peer_country: "MEX".into(),
            context: ctx(),
            query: Some(doc("G7654321", "GHA")),
            max_matches: 0,
        })
        .await
        .unwrap();
    // MEX has GTM cosign its log, over the real link.
    let mex_node = fed.country("MEX").load();
    let gtm_node_id = fed.country("MEX").identity("node-mex-1");
    let mut to_gtm = ExchangeClient::new(fed.channel("GTM", &gtm_node_id));
    let auditor = fed.country("MEX").identity("auditor-auditor");
    let note = AuditClient::new(fed.channel("MEX", &auditor))
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap()
        .note;
    let r = to_gtm
        .witness_checkpoint(pb::WitnessCheckpointRequest {
            checkpoint: Some(pb::SignedCheckpoint { note: note.clone() }),
            previous_size: 0,
            consistency_proof: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let gtm_key = fed.country("GTM").load().signing.verifying_key();
    let body = checkpoint::split_note(&note).unwrap().0.to_string();
    checkpoint::verify_cosignature(&body, &r.cosignature_line, &gtm_key).unwrap();

    // A forked history: MEX's key signs a different tree of a larger size.
    let cp = checkpoint::Checkpoint::parse_body(&body).unwrap();
    let forged = checkpoint::Checkpoint {
        origin: cp.origin.clone(),
        size: cp.size + 3,
        root: [9; 32],
        time: cp.time + 10,
    }
    .sign(&mex_node.signing);
    let err = to_gtm
        .witness_checkpoint(pb::WitnessCheckpointRequest {
            checkpoint: Some(pb::SignedCheckpoint {
                note: forged.clone(),
            }),
            previous_size: cp.size,
            consistency_proof: vec![vec![1; 32]],
        })
        .await
        .unwrap_err();
    // The contract: a proof that does not verify is INVALID_ARGUMENT.
    assert_eq!(err.code(), Code::InvalidArgument);
    // Over the contract's bounds, refused before anything is parsed or kept: a proof
    // of 65 hashes, a note of 9,000 bytes.
    for (note, proof, says) in [
        (forged.clone(), vec![vec![1; 32]; 65], "at most 64"),
        (
            format!("{forged}{}", "x".repeat(9000)),
            Vec::new(),
            "more than a checkpoint's",
        ),
    ] {
        let err = to_gtm
            .witness_checkpoint(pb::WitnessCheckpointRequest {
                checkpoint: Some(pb::SignedCheckpoint { note }),
                previous_size: cp.size,
                consistency_proof: proof,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
        assert!(err.message().contains(says), "{}", err.message());
    }
    assert!(
        err.message().contains("witness.inconsistent"),
        "{}",
        err.message()
    );
    // A stale previous size is answered with the size the witness holds.
    let err = to_gtm
        .witness_checkpoint(pb::WitnessCheckpointRequest {
            checkpoint: Some(pb::SignedCheckpoint { note: forged }),
            previous_size: 0,
            consistency_proof: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.metadata()
            .get("puente-witnessed-size")
            .unwrap()
            .to_str()
            .unwrap(),
        cp.size.to_string()
    );
    // A checkpoint signed by someone else is refused.
    let fake = checkpoint::Checkpoint {
        origin: cp.origin.clone(),
        size: cp.size,
        root: cp.root,
        time: cp.time,
    }
    .sign(&fed.country("GTM").load().signing);
    let err = to_gtm
        .witness_checkpoint(pb::WitnessCheckpointRequest {
            checkpoint: Some(pb::SignedCheckpoint { note: fake }),
            previous_size: cp.size,
            consistency_proof: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    mex.stop().await;
    gtm.stop().await;
    // The fork is kept as evidence in GTM's store.
    let store =
        puente_node::store::Store::open(&fed.country("GTM").load().config.node.data_dir).unwrap();
    let trees = puente_audit::log::Trees::open(store.db(), &store.audit_dir()).unwrap();
    assert_eq!(
        trees.evidence.len(),
        1,
        "the inconsistent checkpoint is kept"
    );
}

#[tokio::test]
async fn a_peer_cannot_fish_with_initials_and_a_birth_year() {
    let (fed, mex, gtm) = setup().await;
    let gtm_node = fed.country("GTM").identity("node-gtm-1");
    let name = |given: &str, surnames: &str| pb::IdentityQuery {
        terms: Some(pb::identity_query::Terms::Name(pb::NameTerms {
            given_names: given.into(),
            surnames: surnames.into(),
            date_of_birth: Some(pb::PartialDate {
                year: 1992,
                month: 0,
                day: 0,
            }),
            ..Default::default()
        })),
    };
    let ask = |query: pb::IdentityQuery| {
        let channel = fed.channel("MEX", &gtm_node);
        async move {
            ExchangeClient::new(channel)
                .query_identity(pb::QueryIdentityRequest {
                    context: ctx(),
                    query: Some(query),
                    max_matches: 0,
                })
                .await
        }
    };
    // A. M. born 1992 would be every such person MEX holds: refused, and logged.
    let err = ask(name("A", "M")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(err.message().contains("initials"), "{}", err.message());
    let log = entries(&fed, "MEX").await;
    assert_eq!(log.last().unwrap().decision, pb::Decision::Refused as i32);
    // With one whole name it is a query like any other.
    let found = ask(name("A", "MENSAH")).await.unwrap().into_inner();
    assert_eq!(found.outcome, pb::MatchOutcome::Match as i32);
    mex.stop().await;
    gtm.stop().await;
}
