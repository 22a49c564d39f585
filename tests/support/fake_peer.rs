//! A peer that lies on purpose. It listens where a country's node would, presents that
//! country's real node certificate, and signs its audit checkpoints with that country's
//! real signing key over real audit logs (two of them: its honest history and a fork),
//! so every receipt it gives is genuinely signed; what it answers, and which receipt it
//! attaches, is what the test sets with [`FakePeer::lie`].

use std::sync::{Arc, Mutex};

use prost::Message;
use puente_audit::{AuditLog, Entry};
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_server::{Exchange, ExchangeServer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::Federation;

/// How the fake answers `QueryIdentity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// A fabricated person, with a true receipt for this exchange.
    None,
    /// The receipt of its first answer, for every later one.
    ReplayFirstReceipt,
    /// A receipt whose entry records another answer than the one sent.
    OtherResponse,
    /// A receipt from its forked log at a size the asker has already seen.
    ForkSameSize,
    /// A receipt from its forked log, larger than anything seen, with proofs from the fork.
    ForkLarger,
    /// An answer that says it disclosed given names only but carries surnames too.
    FieldsMismatch,
    /// A hit/no-hit answer that carries a person.
    HitWithPerson,
    /// Fails (UNAVAILABLE) every request that names this size of its log, to keep the
    /// asker from linking that checkpoint; answers the others truly.
    FailWhenNamed(u64),
    /// Discloses (and owns up to) the nationality, which the agreement does not grant.
    UngrantedField,
    /// Says the answer may be kept 100 years (the agreement: 30 days).
    LongerRetention,
    /// Names an agreement the asker does not hold.
    OtherAgreement,
    /// Says "no match" and sends a person anyway.
    NoMatchWithPerson,
    /// Six matches where the agreement allows five (a manifest check: a reference of
    /// 100,000 characters).
    TooManyMatches,
    /// A score of 5000 ‰.
    ScoreAbove1000,
    /// A true receipt whose signed note was altered on the way: its signature fails.
    BadSignature,
    /// A passport copy whose one byte comes after empty chunks (which hold a fetch open
    /// while sending nothing).
    EmptyChunks,
    /// Statistics: pages that always say more follow (a new watermark and cell each time).
    EndlessPages,
    /// Statistics: counts of 2 disclosed, the page claiming a threshold of 0 (the
    /// agreement's is 5).
    SmallCells,
    /// Statistics: a cell of December 9999.
    FarFuture,
}

/// The agreement the fake answers under, as both parties signed it: MEX gives GTM
/// identity queries (given names, surnames and birth date, at most 5 matches, kept 30
/// days), flow counts (threshold 5) and manifest checks.
pub const AGREEMENT_ID: &str = "MEX-GTM-T";

struct Logs {
    honest: AuditLog,
    fork: AuditLog,
    first: Mutex<Option<pb::Receipt>>,
    /// The size of the checkpoint in its last true receipt.
    last_true: Mutex<u64>,
    lie: Mutex<Lie>,
    /// Consistency proofs sent in true receipts (one per size the asker named).
    proofs_sent: std::sync::atomic::AtomicU64,
    /// Statistics pages served.
    pages: std::sync::atomic::AtomicU64,
    /// The sizes each request named, in arrival order.
    named: Mutex<Vec<Vec<u64>>>,
    /// Whether the next request's true answer is held until [`FakePeer::release`].
    hold_next: std::sync::atomic::AtomicBool,
    held: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

/// A lying peer, serving until stopped.
pub struct FakePeer {
    logs: Arc<Logs>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

fn sha(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, b).as_ref());
    out
}

/// The size of the log at the checkpoint `r` rests on.
pub fn log_size(r: &pb::Receipt) -> u64 {
    let note = &r.checkpoint.as_ref().expect("checkpoint").note;
    let body = puente_audit::checkpoint::split_note(note).expect("note").0;
    puente_audit::checkpoint::Checkpoint::parse_body(body)
        .expect("body")
        .size
}

impl FakePeer {
    /// Serves as country `code`'s node, on its address, instead of the real one, under
    /// [`AGREEMENT_ID`] with GTM (installed at both).
    pub async fn start(fed: &mut Federation, code: &str) -> Self {
        fed.agree(
            code,
            "GTM",
            "fake-peer.toml",
            &crate::agreement_text(
                AGREEMENT_ID,
                [code, "GTM"],
                "2026-01-01",
                "2099-12-31",
                &[crate::grant(
                    code,
                    "GTM",
                    &["identity_query", "passport_copy", "flow_counts", "manifest_check"],
                    &["identification", "statistics"],
                    &["given_names", "surnames", "date_of_birth"],
                    "queries_per_day = 100000\ncopies_per_day = 100\nsmall_cell_threshold = 5\ntravellers_per_day = 100000\nmax_batch = 100",
                )],
            ),
        );
        let loaded = fed.country(code).load();
        let country = fed.country_mut(code);
        let listener = match country.listener.take() {
            Some(l) => l,
            None => TcpListener::bind(country.addr).await.expect("rebind"),
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let origin = format!("puente/{code}/audit");
        let open = |name: &str| {
            let db = sled::Config::new().temporary(true).open().expect("sled");
            AuditLog::open(
                &db,
                &dir.path().join(name),
                origin.clone(),
                loaded.signing.clone(),
            )
            .expect("audit log")
        };
        let logs = Arc::new(Logs {
            honest: open("honest"),
            fork: open("fork"),
            first: Mutex::new(None),
            last_true: Mutex::new(0),
            lie: Mutex::new(Lie::None),
            proofs_sent: Default::default(),
            pages: Default::default(),
            named: Mutex::new(Vec::new()),
            hold_next: Default::default(),
            held: Default::default(),
            release: Default::default(),
        });
        let server = puente_pki::tls::server_config(&loaded.tls, &loaded.anchors()).expect("tls");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let (tx, rx) = mpsc::channel::<Result<_, std::io::Error>>(16);
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                // As a node does: small answers are not held back by Nagle's algorithm
                // waiting on a delayed ACK (40 ms a call).
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = tx.send(Ok(tls)).await;
                    }
                });
            }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let svc = ExchangeServer::new(Fake { logs: logs.clone() });
        let handle = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(ReceiverStream::new(rx), async {
                    let _ = stopped.await;
                })
                .await;
            accept.abort();
        });
        Self {
            logs,
            shutdown: Some(stop),
            handle: Some(handle),
            _dir: dir,
        }
    }

    /// Sets how it answers from now on.
    pub fn lie(&self, lie: Lie) {
        *self.logs.lie.lock().expect("lie") = lie;
    }

    /// Statistics pages served so far.
    pub fn pages_served(&self) -> u64 {
        self.logs.pages.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Consistency proofs sent so far in true receipts: one for each size of its log the
    /// asker said it had seen, so none means the asker named none.
    pub fn consistency_proofs_sent(&self) -> u64 {
        self.logs
            .proofs_sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The sizes of its log each request named, in arrival order.
    pub fn named(&self) -> Vec<Vec<u64>> {
        self.logs.named.lock().expect("named").clone()
    }

    /// Holds the true answer to the next request (its entry appended, its receipt made)
    /// until [`FakePeer::release`]: answers that come back in another order than their
    /// entries were logged, as under concurrency.
    pub fn hold_next(&self) {
        self.logs
            .hold_next
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until the answer to hold is made and held.
    pub async fn held(&self) {
        self.logs.held.notified().await;
    }

    /// Sends the held answer.
    pub fn release(&self) {
        self.logs.release.notify_one();
    }

    /// Stops serving.
    pub async fn stop(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

struct Fake {
    logs: Arc<Logs>,
}

impl Fake {
    async fn append(
        &self,
        log: &AuditLog,
        request_sha256: [u8; 32],
        response_sha256: [u8; 32],
    ) -> Result<pb::Receipt, Status> {
        log.append(Entry {
            direction: pb::Direction::Incoming as i32,
            peer_country: "GTM".into(),
            request_sha256,
            response_sha256,
            ..Entry::default()
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))
    }
}

impl Fake {
    /// Appends the exchange to `log` and proves, for each size of it the request named,
    /// that the checkpoint extends it (what a true receipt carries).
    async fn proven(
        &self,
        log: &AuditLog,
        request_sha256: [u8; 32],
        response_sha256: [u8; 32],
        known: &[u64],
    ) -> Result<pb::Receipt, Status> {
        let mut r = self.append(log, request_sha256, response_sha256).await?;
        let size = log_size(&r);
        for from in known.iter().filter(|k| **k > 0 && **k < size) {
            let hashes = log
                .consistency(*from, size)
                .map_err(|e| Status::internal(e.to_string()))?;
            r.consistency_proofs.push(pb::ConsistencyProof {
                from_size: *from,
                hashes: hashes.iter().map(|h| h.to_vec().into()).collect(),
            });
        }
        Ok(r)
    }
}

#[tonic::async_trait]
impl Exchange for Fake {
    async fn query_identity(
        &self,
        request: Request<pb::QueryIdentityRequest>,
    ) -> Result<Response<pb::QueryIdentityResponse>, Status> {
        let req = request.into_inner();
        let request_sha = sha(&req.encode_to_vec());
        let known = req
            .context
            .as_ref()
            .map(|c| c.known_log_sizes.clone())
            .unwrap_or_default();
        let lie = *self.logs.lie.lock().expect("lie");
        self.logs.named.lock().expect("named").push(known.clone());
        if let Lie::FailWhenNamed(hidden) = lie {
            if known.contains(&hidden) {
                return Err(Status::unavailable("busy, try again later"));
            }
        }
        let hold = self
            .logs
            .hold_next
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        let person = pb::DisclosedPerson {
            given_names: Some("FABRICATED".into()),
            surnames: Some("PERSON".into()),
            ..Default::default()
        };
        let mut answer = pb::QueryIdentityResponse {
            outcome: pb::MatchOutcome::Match as i32,
            mode: pb::Mode::Full as i32,
            matches: vec![pb::PersonMatch {
                reference: "ref-fabricated".into(),
                score_permille: 990,
                person: Some(person),
            }],
            agreement_id: AGREEMENT_ID.into(),
            disclosed_fields: vec![
                pb::DisclosableField::GivenNames as i32,
                pb::DisclosableField::Surnames as i32,
            ],
            receipt: None,
            retention_days: 30,
        };
        match lie {
            Lie::FieldsMismatch => {
                answer.disclosed_fields = vec![pb::DisclosableField::GivenNames as i32];
            }
            Lie::HitWithPerson => {
                answer.mode = pb::Mode::HitNoHit as i32;
                answer.disclosed_fields.clear();
            }
            Lie::UngrantedField => {
                answer
                    .disclosed_fields
                    .push(pb::DisclosableField::Nationality as i32);
                if let Some(p) = answer.matches[0].person.as_mut() {
                    p.nationality = Some("BGD".into());
                }
            }
            Lie::LongerRetention => answer.retention_days = 36_500,
            Lie::OtherAgreement => answer.agreement_id = "NO-SUCH-AGREEMENT".into(),
            Lie::NoMatchWithPerson => answer.outcome = pb::MatchOutcome::NoMatch as i32,
            Lie::TooManyMatches => {
                let one = answer.matches[0].clone();
                answer.matches = (0..6)
                    .map(|i| pb::PersonMatch {
                        reference: format!("ref-{i}"),
                        ..one.clone()
                    })
                    .collect();
            }
            Lie::ScoreAbove1000 => answer.matches[0].score_permille = 5000,
            _ => {}
        }
        let response_sha = sha(&answer.encode_to_vec());
        let honest = &self.logs.honest;
        let receipt = match lie {
            Lie::ReplayFirstReceipt => self
                .logs
                .first
                .lock()
                .expect("first")
                .clone()
                .ok_or_else(|| Status::internal("no first receipt yet"))?,
            Lie::OtherResponse => self.append(honest, request_sha, [7; 32]).await?,
            Lie::ForkSameSize | Lie::ForkLarger => {
                // The fork's history: other entries up to the size wanted.
                let seen = *self.logs.last_true.lock().expect("last");
                let want = if lie == Lie::ForkSameSize {
                    seen
                } else {
                    seen + 3
                };
                let fork = &self.logs.fork;
                while fork
                    .trees()
                    .size()
                    .map_err(|e| Status::internal(e.to_string()))?
                    + 1
                    < want
                {
                    self.append(fork, [9; 32], [9; 32]).await?;
                }
                self.proven(fork, request_sha, response_sha, &known).await?
            }
            _ => {
                let r = self
                    .proven(honest, request_sha, response_sha, &known)
                    .await?;
                let size = log_size(&r);
                self.logs.proofs_sent.fetch_add(
                    r.consistency_proofs.len() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                self.logs
                    .first
                    .lock()
                    .expect("first")
                    .get_or_insert_with(|| r.clone());
                *self.logs.last_true.lock().expect("last") = size;
                r
            }
        };
        let mut receipt = receipt;
        if lie == Lie::BadSignature {
            if let Some(cp) = receipt.checkpoint.as_mut() {
                cp.note = cp.note.replacen('\n', " \n", 1);
            }
        }
        if hold {
            self.logs.held.notify_one();
            self.logs.release.notified().await;
        }
        answer.receipt = Some(receipt);
        Ok(Response::new(answer))
    }

    async fn get_document(
        &self,
        request: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<puente_node::services::exchange::DocumentStream>, Status> {
        use pb::get_document_response::Part;
        if *self.logs.lie.lock().expect("lie") != Lie::EmptyChunks {
            return Err(Status::unimplemented("the fake peer holds no documents"));
        }
        // A true copy, trickled: empty chunks before its one byte.
        let req = request.into_inner();
        let copy = b"x".to_vec();
        let receipt = self
            .append(&self.logs.honest, sha(&req.encode_to_vec()), sha(&copy))
            .await?;
        let mut parts = vec![Part::Header(pb::DocumentHeader {
            media_type: "image/png".into(),
            size_bytes: 1,
            sha256: sha(&copy).to_vec(),
            document_type: pb::DocumentType::Passport as i32,
            issuing_state: "BGD".into(),
            agreement_id: AGREEMENT_ID.into(),
            retention_days: 30,
        })];
        parts.extend((0..3).map(|_| Part::Chunk(Vec::new())));
        parts.push(Part::Chunk(copy));
        parts.push(Part::Trailer(pb::DocumentTrailer {
            receipt: Some(receipt),
        }));
        let stream = tokio_stream::iter(
            parts
                .into_iter()
                .map(|p| Ok(pb::GetDocumentResponse { part: Some(p) })),
        );
        Ok(Response::new(Box::pin(stream)))
    }

    async fn pull_statistics(
        &self,
        request: Request<pb::PullStatisticsRequest>,
    ) -> Result<Response<pb::PullStatisticsResponse>, Status> {
        let req = request.into_inner();
        let request_sha = sha(&req.encode_to_vec());
        let lie = *self.logs.lie.lock().expect("lie");
        let pages = self
            .logs
            .pages
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let (period, count, threshold) = match lie {
            Lie::SmallCells => ((2026, 11), 2, 0),
            Lie::FarFuture => ((9999, 12), 7, 5),
            _ => ((2026, 11), 7, 5),
        };
        let key = puente_stats::CellKey::new(
            puente_stats::Period::month(period.0, period.1).expect("period"),
            "VEN",
            pb::Sex::Female,
            pb::AgeGroup::Age1829,
            "MEX-EP1",
            pb::EncounterEvent::Entry,
        )
        .expect("cell");
        let mut page = pb::PullStatisticsResponse {
            cells: vec![key.to_proto("MEX", puente_stats::Value::Count(count), pages)],
            next_watermark: format!("page-{pages}").into_bytes(),
            has_more: lie == Lie::EndlessPages,
            small_cell_threshold: threshold,
            agreement_id: if lie == Lie::OtherAgreement {
                "NO-SUCH-AGREEMENT".into()
            } else {
                AGREEMENT_ID.into()
            },
            ..Default::default()
        };
        let response_sha = sha(&page.encode_to_vec());
        let mut receipt = self
            .append(&self.logs.honest, request_sha, response_sha)
            .await?;
        if lie == Lie::BadSignature {
            if let Some(cp) = receipt.checkpoint.as_mut() {
                cp.note = cp.note.replacen('\n', " \n", 1);
            }
        }
        page.receipt = Some(receipt);
        Ok(Response::new(page))
    }

    async fn witness_checkpoint(
        &self,
        _: Request<pb::WitnessCheckpointRequest>,
    ) -> Result<Response<pb::WitnessCheckpointResponse>, Status> {
        Err(Status::unimplemented("the fake peer witnesses nothing"))
    }

    async fn check_manifest(
        &self,
        request: Request<pb::CheckManifestRequest>,
    ) -> Result<Response<pb::CheckManifestResponse>, Status> {
        let req = request.into_inner();
        let request_sha = sha(&req.encode_to_vec());
        let lie = *self.logs.lie.lock().expect("lie");
        let mut answer = pb::CheckManifestResponse {
            results: req
                .travellers
                .iter()
                .map(|_| pb::TravellerResult {
                    outcome: pb::MatchOutcome::NoMatch as i32,
                    reference: String::new(),
                })
                .collect(),
            agreement_id: AGREEMENT_ID.into(),
            retention_days: 30,
            receipt: None,
        };
        match lie {
            Lie::OtherAgreement => answer.agreement_id = "NO-SUCH-AGREEMENT".into(),
            Lie::LongerRetention => answer.retention_days = 36_500,
            Lie::TooManyMatches => {
                if let Some(first) = answer.results.first_mut() {
                    first.outcome = pb::MatchOutcome::Match as i32;
                    first.reference = "R".repeat(100_000);
                }
            }
            _ => {}
        }
        let response_sha = sha(&answer.encode_to_vec());
        let known = req
            .context
            .as_ref()
            .map(|c| c.known_log_sizes.clone())
            .unwrap_or_default();
        let honest = &self.logs.honest;
        let r = self
            .proven(honest, request_sha, response_sha, &known)
            .await?;
        *self.logs.last_true.lock().expect("last") = log_size(&r);
        answer.receipt = Some(r);
        Ok(Response::new(answer))
    }

    async fn publish_alert(
        &self,
        _: Request<pb::PublishAlertRequest>,
    ) -> Result<Response<pb::PublishAlertResponse>, Status> {
        Err(Status::unimplemented("the fake peer takes no alerts"))
    }
}
