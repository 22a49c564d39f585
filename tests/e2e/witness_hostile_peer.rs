//! Cross-witnessing against a peer that misbehaves on purpose: the test holds GTM's real
//! node certificate and GTM's real signing key, and calls MEX's `Exchange.WitnessCheckpoint`
//! directly with checkpoints of trees it builds itself (valid signatures, valid
//! consistency proofs). MEX must never cosign two roots for one size, however the calls
//! race; must keep each conflict with the note it conflicts with, within a bound; must
//! refuse a flood of witnessing beyond its own rate limit while serving everything else;
//! and must answer an identical repeat without a new audit entry.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use puente_audit::checkpoint::{self, Checkpoint};
use puente_audit::merkle::{self, Hash};
use puente_e2e::{agreement_text, grant, sample, set_server, Federation, TestNode};
use puente_pki::SigningKey;
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_client::ExchangeClient;
use tokio::task::JoinSet;
use tonic::transport::Channel;
use tonic::Code;

/// Limits high enough that only the rule under test refuses anything.
const UNLIMITED: &[(&str, &str)] = &[
    ("peer_rate_per_sec", "100000"),
    ("peer_burst", "1000000"),
    ("witness_per_minute", "1000000"),
    ("witness_burst", "1000000"),
];

/// A log of GTM's that the test makes up: its leaves and GTM's real signing key.
struct Forger {
    key: std::sync::Arc<SigningKey>,
}

impl Forger {
    fn new(fed: &Federation) -> Self {
        Self {
            key: fed.country("GTM").load().signing.clone(),
        }
    }

    /// GTM's signed checkpoint of `leaves`, made at `time`.
    fn note(&self, leaves: &[Hash], time: i64) -> String {
        Checkpoint {
            origin: "puente/GTM/audit".into(),
            size: leaves.len() as u64,
            root: merkle::mth(leaves),
            time,
        }
        .sign(&self.key)
    }

    /// A request to cosign `note` (of `leaves`) with a valid proof from `previous` leaves.
    fn request(leaves: &[Hash], previous: usize, note: &str) -> pb::WitnessCheckpointRequest {
        let proof = if previous == 0 {
            Vec::new()
        } else {
            merkle::consistency_proof(leaves, previous as u64, leaves.len() as u64).unwrap()
        };
        pb::WitnessCheckpointRequest {
            checkpoint: Some(pb::SignedCheckpoint { note: note.into() }),
            previous_size: previous as u64,
            consistency_proof: proof.iter().map(|h| h.to_vec()).collect(),
        }
    }
}

fn leaves(tag: &str, n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| merkle::leaf_hash(format!("{tag} {i}").as_bytes()))
        .collect()
}

fn gtm_client(fed: &Federation) -> ExchangeClient<Channel> {
    ExchangeClient::new(fed.channel("MEX", &fed.country("GTM").identity("node-gtm-1")))
}

/// The evidence MEX keeps about GTM, in key order.
fn evidence(mex: &TestNode) -> Vec<serde_json::Value> {
    mex.state
        .audit()
        .trees()
        .evidence
        .scan_prefix(b"GTM|")
        .map(|kv| serde_json::from_slice(&kv.unwrap().1).unwrap())
        .collect()
}

fn audit_size(node: &TestNode) -> u64 {
    node.state.audit().trees().size().unwrap()
}

/// Refused as inconsistent, with the contract's code: INVALID_ARGUMENT for a proof that
/// does not verify, FAILED_PRECONDITION for a checkpoint that cannot extend the one
/// cosigned.
fn assert_inconsistent(s: &tonic::Status, what: &str) {
    let code = if s
        .message()
        .contains("the consistency proof does not verify")
    {
        Code::InvalidArgument
    } else {
        Code::FailedPrecondition
    };
    assert_eq!(s.code(), code, "{what}: {}", s.message());
    assert!(
        s.message().contains("witness.inconsistent"),
        "{what}: {}",
        s.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_forks_get_one_cosignature_per_size_and_the_rest_are_kept_as_evidence() {
    const ROUNDS: usize = 16;
    const FORKS: usize = 8;
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    let mut limits = UNLIMITED.to_vec();
    limits.push(("witness_evidence_per_peer", "10000"));
    set_server(&fed, "MEX", &limits);
    let mex = fed.start("MEX").await;
    let mex_key = fed.country("MEX").load().signing.verifying_key();
    let gtm = Forger::new(&fed);
    let client = gtm_client(&fed);

    // What MEX cosigned so far, and every (cosigned, conflicting) pair it must keep.
    let mut base: Vec<Hash> = Vec::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for round in 0..ROUNDS {
        // FORKS trees of the same size, each extending `base` by a different leaf.
        let forks: Vec<(Vec<Hash>, String)> = (0..FORKS)
            .map(|i| {
                let mut l = base.clone();
                l.push(merkle::leaf_hash(
                    format!("round {round} fork {i}").as_bytes(),
                ));
                let note = gtm.note(&l, 1_800_000_000 + round as i64);
                (l, note)
            })
            .collect();
        let mut calls = JoinSet::new();
        for (i, (l, note)) in forks.iter().enumerate() {
            let req = Forger::request(l, base.len(), note);
            let mut c = client.clone();
            calls.spawn(async move { (i, c.witness_checkpoint(req).await) });
        }
        let mut cosigned = Vec::new();
        let mut refused = Vec::new();
        while let Some(joined) = calls.join_next().await {
            match joined.unwrap() {
                (i, Ok(r)) => cosigned.push((i, r.into_inner())),
                (i, Err(s)) => {
                    assert_inconsistent(&s, &format!("round {round} fork {i}"));
                    refused.push(i);
                }
            }
        }
        assert_eq!(
            cosigned.len(),
            1,
            "round {round}: MEX cosigned {} different roots for size {}",
            cosigned.len(),
            base.len() + 1
        );
        let (winner, answer) = &cosigned[0];
        let (won_leaves, won_note) = &forks[*winner];
        assert_eq!(answer.witnessed_size, won_leaves.len() as u64);
        let body = checkpoint::split_note(won_note).unwrap().0;
        checkpoint::verify_cosignature(body, &answer.cosignature_line, &mex_key).unwrap();
        for i in refused {
            pairs.push((won_note.clone(), forks[i].1.clone()));
        }
        base = won_leaves.clone();
    }

    let kept = evidence(&mex);
    assert_eq!(kept.len(), ROUNDS * (FORKS - 1), "one record per conflict");
    for (cosigned, presented) in &pairs {
        assert!(
            kept.iter()
                .any(|e| e["cosigned"] == cosigned.as_str() && e["presented"] == presented.as_str()),
            "the pair ({cosigned:?}, {presented:?}) is kept"
        );
    }
    mex.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_root_for_a_cosigned_size_is_refused_however_presented() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    set_server(&fed, "MEX", UNLIMITED);
    let mex = fed.start("MEX").await;
    let gtm = Forger::new(&fed);
    let mut client = gtm_client(&fed);
    let log = leaves("gtm", 5);
    let note = gtm.note(&log, 1_800_000_000);
    client
        .witness_checkpoint(Forger::request(&log, 0, &note))
        .await
        .unwrap();
    // The same tree signed later is the same history: cosigned again.
    let later = gtm.note(&log, 1_800_000_060);
    client
        .witness_checkpoint(Forger::request(&log, 5, &later))
        .await
        .unwrap();

    // Another root at the size already cosigned is a fork (no proof is needed between
    // equal sizes): refused and kept with the note it conflicts with, whatever
    // previous size the request names.
    let other = leaves("other", 5);
    let forged = gtm.note(&other, 1_800_000_120);
    for previous in [5, 0, 3] {
        let err = client
            .witness_checkpoint(Forger::request(&other, previous, &forged))
            .await
            .unwrap_err();
        assert_inconsistent(
            &err,
            &format!("a second root for size 5, previous {previous}"),
        );
    }
    let kept = evidence(&mex);
    assert_eq!(kept.len(), 3);
    for e in &kept {
        assert_eq!(e["peer"], "GTM");
        assert_eq!(e["cosigned"], later.as_str());
        assert_eq!(e["presented"], forged.as_str());
    }
    mex.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identical_repeat_gets_the_same_answer_without_an_audit_entry() {
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    set_server(&fed, "MEX", UNLIMITED);
    let mex = fed.start("MEX").await;
    let gtm = Forger::new(&fed);
    let mut client = gtm_client(&fed);

    let log = leaves("gtm", 5);
    let note = gtm.note(&log, 1_800_000_000);
    let first = client
        .witness_checkpoint(Forger::request(&log, 0, &note))
        .await
        .unwrap()
        .into_inner();
    assert!(first.receipt.is_some(), "a new cosignature is audited");
    let size = audit_size(&mex);

    // The same note again, as a retrying asker sends it (from the size it now holds, or
    // the same request as before): the answer given, and no new durable entry.
    for previous in [5, 0, 5, 5] {
        let again = client
            .witness_checkpoint(Forger::request(&log, previous, &note))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            audit_size(&mex),
            size,
            "identical repeats add no audit entry"
        );
        assert_eq!(again.cosignature_line, first.cosignature_line);
        assert_eq!(again.witnessed_size, 5);
        assert_eq!(again.witnessed_at, first.witnessed_at);
    }
    assert_eq!(
        audit_size(&mex),
        size,
        "identical repeats add no audit entry"
    );

    // The same tree signed later is the same history: cosigned again, and audited.
    let later = gtm.note(&log, 1_800_000_060);
    let r = client
        .witness_checkpoint(Forger::request(&log, 5, &later))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(r.cosignature_line, first.cosignature_line);
    assert_eq!(audit_size(&mex), size + 1);

    mex.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_inconsistent_checkpoints_keep_a_bounded_evidence() {
    const CONFLICTS: usize = 1000;
    let mut fed = Federation::new(&["MEX", "GTM"]).await;
    set_server(&fed, "MEX", UNLIMITED);
    let mex = fed.start("MEX").await;
    let bound = mex.state.loaded().config.server.witness_evidence_per_peer as usize;
    assert!(bound < 100, "the default bound is small: {bound}");
    let gtm = Forger::new(&fed);
    let mut client = gtm_client(&fed);
    let log = leaves("gtm", 3);
    client
        .witness_checkpoint(Forger::request(&log, 0, &gtm.note(&log, 1_800_000_000)))
        .await
        .unwrap();

    // Conflicts of two kinds: another root at size 3, and a larger tree whose proof does
    // not verify. The first is sent alone, then the rest race.
    let conflict = |i: usize| {
        if i.is_multiple_of(2) {
            let other = leaves(&format!("fork {i}"), 3);
            let note = gtm.note(&other, 1_800_000_000 + i as i64);
            Forger::request(&other, 3, &note)
        } else {
            let longer = leaves(&format!("fork {i}"), 7);
            let note = gtm.note(&longer, 1_800_000_000 + i as i64);
            Forger::request(&longer, 3, &note)
        }
    };
    let first = conflict(0);
    let first_note = first.checkpoint.as_ref().unwrap().note.clone();
    let err = client.witness_checkpoint(first).await.unwrap_err();
    assert_inconsistent(&err, "the first conflict");
    for wave in (1..CONFLICTS).collect::<Vec<_>>().chunks(50) {
        let mut calls = JoinSet::new();
        for &i in wave {
            let (req, mut c) = (conflict(i), client.clone());
            calls.spawn(async move { (i, c.witness_checkpoint(req).await) });
        }
        while let Some(joined) = calls.join_next().await {
            let (i, r) = joined.unwrap();
            assert_inconsistent(&r.unwrap_err(), &format!("conflict {i}"));
        }
    }

    let kept = evidence(&mex);
    assert_eq!(kept.len(), bound, "at most the bound is kept");
    assert_eq!(
        kept[0]["presented"],
        first_note.as_str(),
        "the first is kept"
    );
    let dropped = sample(
        &mex.scrape().await,
        "puente_witness_evidence_dropped_total{peer=\"GTM\"}",
    );
    assert_eq!(dropped, Some((CONFLICTS - bound) as f64));
    // The honest continuation of what was cosigned is still cosigned.
    let grown = [log.clone(), leaves("more", 2)].concat();
    client
        .witness_checkpoint(Forger::request(&grown, 3, &gtm.note(&grown, 1_800_001_000)))
        .await
        .unwrap();
    mex.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witnessing_flood_is_refused_by_its_own_limit_and_the_node_keeps_serving() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    fed.agree(
        "MEX",
        "GTM",
        "mex-gtm.toml",
        &agreement_text(
            "MEX-GTM-W",
            ["MEX", "GTM"],
            "2026-01-01",
            "2027-12-31",
            &[grant(
                "MEX",
                "GTM",
                &["identity_query"],
                &["identification"],
                &["nationality"],
                "queries_per_day = 100",
            )],
        ),
    );
    set_server(
        &fed,
        "MEX",
        &[("witness_per_minute", "1"), ("witness_burst", "3")],
    );
    let mex = fed.start("MEX").await;
    let gtm = Forger::new(&fed);
    let mut client = gtm_client(&fed);

    // The burst: three honest, growing checkpoints.
    let log = leaves("gtm", 6);
    for (n, previous) in [(2, 0), (4, 2), (6, 4)] {
        let note = gtm.note(&log[..n], 1_800_000_000 + n as i64);
        client
            .witness_checkpoint(Forger::request(&log[..n], previous, &note))
            .await
            .unwrap();
    }
    let size = audit_size(&mex);
    // Beyond it, every call is refused before any work: no entry, no evidence.
    for i in 0..20 {
        let other = leaves(&format!("flood {i}"), 6);
        let note = gtm.note(&other, 1_800_000_100 + i);
        let err = client
            .witness_checkpoint(Forger::request(&other, 6, &note))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{}", err.message());
        assert!(
            err.message().contains("rate.witness_limit"),
            "{}",
            err.message()
        );
    }
    assert_eq!(audit_size(&mex), size, "refused floods cost no audit entry");
    assert!(evidence(&mex).is_empty());
    assert!(!mex.refusals_matching("rate.witness_limit").is_empty());

    // GTM's other calls are served …
    let answer = client
        .query_identity(puente_e2e::document_query("C-1", "X1234567"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.outcome, pb::MatchOutcome::NoMatch as i32);
    // … and another peer's witnessing has its own bucket.
    let cri_key = fed.country("CRI").load().signing.clone();
    let cri_log = leaves("cri", 4);
    let cri_note = Checkpoint {
        origin: "puente/CRI/audit".into(),
        size: 4,
        root: merkle::mth(&cri_log),
        time: 1_800_000_000,
    }
    .sign(&cri_key);
    ExchangeClient::new(fed.channel("MEX", &fed.country("CRI").identity("node-cri-1")))
        .witness_checkpoint(Forger::request(&cri_log, 0, &cri_note))
        .await
        .unwrap();
    mex.stop().await;
}
