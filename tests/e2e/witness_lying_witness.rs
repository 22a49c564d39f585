//! The asking side of cross-witnessing against a witness that lies on purpose: a fake GTM
//! node (GTM's real node certificate and signing key, in MEX's trust entry for GTM)
//! answers MEX's `WitnessCheckpoint` with a cosignature over another body, by another
//! key, or with a witnessed size that is not the one asked. MEX must refuse each answer
//! and store no cosignature from it; an honest answer is stored.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};

use puente_audit::checkpoint::{self, Checkpoint};
use puente_e2e::{set_peer_address, Federation};
use puente_pki::{CountryCode, SigningKey};
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_client::ExchangeClient;
use puente_proto::v1::exchange_server::{Exchange, ExchangeServer};
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// How the fake witness answers.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Honest,
    /// Cosigns a checkpoint of the same size with another root.
    OtherBody,
    /// Cosigns the body sent, with another country's key.
    OtherKey,
    /// Cosigns the body sent but says it witnessed another size.
    OtherSize,
    /// A true cosignature dated ten years ahead.
    FutureTime,
}

struct FakeWitness {
    gtm: Arc<SigningKey>,
    cri: Arc<SigningKey>,
    answer: Arc<Mutex<Answer>>,
}

#[tonic::async_trait]
impl Exchange for FakeWitness {
    async fn witness_checkpoint(
        &self,
        request: Request<pb::WitnessCheckpointRequest>,
    ) -> Result<Response<pb::WitnessCheckpointResponse>, Status> {
        let note = request.into_inner().checkpoint.unwrap().note;
        let body = checkpoint::split_note(&note).unwrap().0.to_string();
        let cp = Checkpoint::parse_body(&body).unwrap();
        let answer = *self.answer.lock().unwrap();
        let (signed_body, key, size) = match answer {
            Answer::Honest => (body, &self.gtm, cp.size),
            Answer::OtherBody => (
                Checkpoint {
                    root: [7; 32],
                    ..cp.clone()
                }
                .body(),
                &self.gtm,
                cp.size,
            ),
            Answer::OtherKey => (body, &self.cri, cp.size),
            Answer::OtherSize => (body, &self.gtm, cp.size + 1000),
            Answer::FutureTime => (body, &self.gtm, cp.size),
        };
        let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap();
        let time = match answer {
            // Ten years ahead: it would pass for a fresh cosignature for ten years.
            Answer::FutureTime => now + 10 * 365 * 86_400,
            _ => now,
        };
        Ok(Response::new(pb::WitnessCheckpointResponse {
            cosignature_line: checkpoint::cosign(&signed_body, key, time),
            witnessed_size: size,
            witnessed_at: None,
            receipt: None,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_asker_refuses_a_cosignature_of_another_body_key_or_size() {
    let mut fed = Federation::new(&["MEX", "GTM", "CRI"]).await;
    // The fake GTM listens where MEX's trust entry for GTM points.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr = listener.local_addr().unwrap();
    set_peer_address(&fed, "MEX", "GTM", &fake_addr.to_string());
    let pki = fed.country("GTM").pki();
    let identity = Identity::from_pem(
        std::fs::read(pki.join("node-gtm-1.pem")).unwrap(),
        std::fs::read(pki.join("node-gtm-1.key")).unwrap(),
    );
    let answer = Arc::new(Mutex::new(Answer::OtherBody));
    let fake = FakeWitness {
        gtm: fed.country("GTM").load().signing.clone(),
        cri: fed.country("CRI").load().signing.clone(),
        answer: answer.clone(),
    };
    let server = tokio::spawn(
        Server::builder()
            .tls_config(ServerTlsConfig::new().identity(identity))
            .unwrap()
            .add_service(ExchangeServer::new(fake))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let mex = fed.start("MEX").await;

    // Something in MEX's log to witness: a call it refuses (no agreement) is audited.
    let cri_node = fed.country("CRI").identity("node-cri-1");
    let _ = ExchangeClient::new(fed.channel("MEX", &cri_node))
        .query_identity(puente_e2e::document_query("C-1", "X1234567"))
        .await
        .unwrap_err();
    let size = mex.state.audit().trees().size().unwrap();
    assert!(size > 0);
    let gtm = CountryCode::parse("GTM").unwrap();
    let cosigned_by_gtm = || {
        mex.state
            .audit()
            .trees()
            .cosignatures_at(size)
            .unwrap()
            .into_iter()
            .any(|(c, _)| c == "GTM")
    };

    for (lie, expect) in [
        (Answer::OtherBody, "witness.bad_cosignature"),
        (Answer::OtherKey, "witness.bad_cosignature"),
        (Answer::OtherSize, "witness.wrong_size"),
        (Answer::FutureTime, "witness.implausible"),
    ] {
        *answer.lock().unwrap() = lie;
        let err = mex.state.request_witness(gtm).await.unwrap_err();
        assert!(err.to_string().contains(expect), "{lie:?}: {err}");
        assert!(!cosigned_by_gtm(), "{lie:?}: nothing is stored");
    }
    *answer.lock().unwrap() = Answer::Honest;
    assert_eq!(mex.state.request_witness(gtm).await.unwrap(), size);
    assert!(cosigned_by_gtm(), "an honest cosignature is stored");
    mex.stop().await;
    server.abort();
}
