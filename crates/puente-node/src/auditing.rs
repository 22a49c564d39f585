//! Where exchanges meet the audit log: an entry for every `Exchange` call this node
//! answers and every one it sends, made durable before the response leaves (fail closed:
//! no entry, no answer), with the counterpart's receipt verified and kept on the asking
//! side. Entries hold digests and keyed hashes of the query terms, never the terms.

use prost::Message;
use puente_audit::Entry;
use puente_pki::{CountryCode, PeerIdentity};
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use ring::digest;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tracing::error;

use crate::metrics::Direction;
use crate::services::NodeState;

/// The gRPC metadata key that carries a receipt with a refusal.
pub const RECEIPT_METADATA: &str = "puente-receipt-bin";

/// SHA-256 of bytes.
pub fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, b).as_ref());
    out
}

/// What an exchange did, for its audit entry.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The service.
    pub service: i32,
    /// The purpose.
    pub purpose: i32,
    /// The case reference.
    pub case_reference: String,
    /// The agreement that applied.
    pub agreement_id: String,
    /// Allowed, refused or withheld.
    pub decision: i32,
    /// The deciding rule.
    pub rule: String,
    /// The reason (policy text).
    pub reason: String,
    /// Fields disclosed.
    pub disclosed_fields: Vec<i32>,
    /// Query terms to hash with the audit key (label, value).
    pub terms: Vec<(&'static str, String)>,
    /// SHA-256 of the response (receipt cleared) or of the document.
    pub response_sha256: [u8; 32],
    /// The gRPC status code of the answer (0, OK, unless refused); for metrics only.
    pub code: i32,
    /// Sizes of this node's log the asker named (`RequestContext.known_log_sizes`): its
    /// receipt proves its checkpoint extends each.
    pub known_log_sizes: Vec<u64>,
}

impl Outcome {
    /// An outcome for `service`/`purpose`.
    pub fn new(service: Service, purpose: Purpose, case_reference: &str) -> Self {
        Self {
            service: service as i32,
            purpose: purpose as i32,
            case_reference: case_reference.to_string(),
            decision: pb::Decision::Allowed as i32,
            rule: "agreement.granted".into(),
            ..Self::default()
        }
    }

    /// Takes what the asker's request context says: purpose, case reference, and the
    /// sizes of this node's log it asks the receipt to extend.
    pub fn heard(&mut self, c: &pb::RequestContext) {
        self.purpose = c.purpose;
        self.case_reference = c
            .case_reference
            .chars()
            .take(crate::policy::MAX_CASE_REFERENCE)
            .collect();
        self.known_log_sizes = c
            .known_log_sizes
            .iter()
            .take(puente_audit::seen::MAX_KNOWN)
            .copied()
            .collect();
    }

    /// Marks it refused by `status` (its rule is the text before the first colon).
    pub fn refused(mut self, status: &Status) -> Self {
        let msg = status.message();
        self.code = status.code() as i32;
        self.reason = msg.chars().take(300).collect();
        self.response_sha256 = sha256(msg.as_bytes());
        if self.decision == pb::Decision::Withheld as i32 {
            // The protection rule decided; the refusal the peer sees is only its disguise.
            return self;
        }
        self.decision = pb::Decision::Refused as i32;
        self.rule = match msg.split_once(':') {
            Some((rule, _)) if rule.contains('.') && !rule.contains(' ') => rule.to_string(),
            _ => format!("status.{:?}", status.code()).to_ascii_lowercase(),
        };
        self.reason = msg.chars().take(300).collect();
        self.response_sha256 = sha256(msg.as_bytes());
        self
    }
}

/// The rule name at the front of a refusal message, if any.
pub fn rule_of(status: &Status) -> String {
    Outcome::default().refused(status).rule
}

impl NodeState {
    /// Counts an exchange at the one place every exchange passes: its audit record.
    fn count(&self, direction: Direction, peer: CountryCode, o: &Outcome, code: Code) {
        self.metrics.exchange(
            direction,
            Service::try_from(o.service).unwrap_or(Service::Unspecified),
            peer,
            pb::Decision::try_from(o.decision).unwrap_or(pb::Decision::Unspecified),
            code,
        );
    }

    fn entry(
        &self,
        direction: pb::Direction,
        peer: &str,
        actor: &str,
        request_sha256: [u8; 32],
        o: &Outcome,
        receipt: Option<Vec<u8>>,
    ) -> Entry {
        Entry {
            index: 0,
            time_ms: (self.clock)().unix_timestamp_nanos().div_euclid(1_000_000) as i64,
            direction: direction as i32,
            peer_country: peer.to_string(),
            actor: actor.to_string(),
            service: o.service,
            purpose: o.purpose,
            case_reference: o.case_reference.clone(),
            agreement_id: o.agreement_id.clone(),
            decision: o.decision,
            rule: o.rule.clone(),
            reason: o.reason.clone(),
            disclosed_fields: o.disclosed_fields.clone(),
            request_sha256,
            response_sha256: o.response_sha256,
            query_term_hashes: o
                .terms
                .iter()
                .map(|(label, v)| (label.to_string(), self.node.data_key.audit_hash(label, v)))
                .collect(),
            counterpart_receipt: receipt,
        }
    }

    /// Records an exchange this node answers; returns the receipt to hand the asker.
    pub async fn record_incoming(
        &self,
        caller: &PeerIdentity,
        request_sha256: [u8; 32],
        o: &Outcome,
    ) -> Result<pb::Receipt, Status> {
        let e = self.entry(
            pb::Direction::Incoming,
            caller.country.as_str(),
            &caller.urn(),
            request_sha256,
            o,
            None,
        );
        let appended = self.audit.append(e).await.and_then(|mut r| {
            self.prove_extension(&mut r, &o.known_log_sizes)?;
            Ok(r)
        });
        // The peer's node reached us through mTLS: it is alive, whatever the answer.
        self.metrics.peer_contact(caller.country);
        let code = match &appended {
            Ok(_) => Code::from_i32(o.code),
            Err(_) => Code::Unavailable,
        };
        self.count(Direction::Incoming, caller.country, o, code);
        appended.map_err(|err| {
            error!("audit append failed, refusing the exchange: {err}");
            Status::unavailable(format!(
                "audit.unavailable: the audit log cannot record this exchange ({err}), so it is refused; if the store reports an I/O error, free space and restart the node"
            ))
        })
    }

    /// Adds to a receipt a consistency proof from each size the asker named (at most
    /// [`puente_audit::seen::MAX_KNOWN`], each above 0 and not above the receipt's
    /// checkpoint; others are left out and the asker sees the proof missing).
    fn prove_extension(
        &self,
        r: &mut pb::Receipt,
        known: &[u64],
    ) -> Result<(), puente_audit::error::AuditError> {
        if known.is_empty() {
            return Ok(());
        }
        let note = r
            .checkpoint
            .as_ref()
            .map(|c| c.note.as_str())
            .unwrap_or_default();
        let size = puente_audit::checkpoint::Checkpoint::parse_body(
            puente_audit::checkpoint::split_note(note)?.0,
        )?
        .size;
        for from in known.iter().take(puente_audit::seen::MAX_KNOWN) {
            if *from == 0 || *from >= size {
                continue;
            }
            r.consistency_proofs.push(pb::ConsistencyProof {
                from_size: *from,
                hashes: self
                    .audit
                    .consistency(*from, size)?
                    .iter()
                    .map(|h| h.to_vec())
                    .collect(),
            });
        }
        Ok(())
    }

    /// Records a refusal this node answers, attaching the receipt to the status.
    pub async fn refuse_incoming(
        &self,
        caller: &PeerIdentity,
        request_sha256: [u8; 32],
        o: Outcome,
        status: Status,
    ) -> Status {
        let o = o.refused(&status);
        match self.record_incoming(caller, request_sha256, &o).await {
            Ok(receipt) => with_receipt(status, &receipt),
            Err(s) => s,
        }
    }

    /// Records an exchange this node sent, with the peer's receipt (already verified).
    pub async fn record_outgoing(
        &self,
        peer: &str,
        operator: &PeerIdentity,
        request_sha256: [u8; 32],
        o: &Outcome,
        peer_receipt: Option<&pb::Receipt>,
    ) -> Result<u64, Status> {
        let e = self.entry(
            pb::Direction::Outgoing,
            peer,
            &operator.urn(),
            request_sha256,
            o,
            peer_receipt.map(|r| r.encode_to_vec()),
        );
        if let Ok(peer) = CountryCode::parse(peer) {
            if peer_receipt.is_some() {
                // Only an answer the peer signed proves it is there.
                self.metrics.peer_contact(peer);
            }
            self.count(Direction::Outgoing, peer, o, Code::from_i32(o.code));
        }
        self.disk.check().map_err(Status::unavailable)?;
        self.audit.append(e).await.map(|r| r.entry_index).map_err(|err| {
            error!("audit append failed for an outgoing exchange: {err}");
            Status::unavailable(format!("audit.unavailable: the audit log cannot record this exchange ({err}); its answer is withheld; if the store reports an I/O error, free space and restart the node"))
        })
    }

    /// Accepts a peer's receipt for one exchange: signed by the peer's key in the trust
    /// bundle, its entry about `request_sha256` and (when known) `response_sha256`, its
    /// checkpoint consistent with every one of that peer's log seen before (the request
    /// named `stated`), its entry not used by an earlier exchange.
    pub fn accept_receipt(
        &self,
        peer: CountryCode,
        r: &pb::Receipt,
        request_sha256: &[u8; 32],
        response_sha256: Option<&[u8; 32]>,
        stated: &[(u64, [u8; 32])],
    ) -> Result<(), String> {
        let key = self
            .peer_key(peer)
            .ok_or_else(|| format!("{peer} is not in the trust bundle"))?;
        let origin = format!("puente/{peer}/audit");
        if r.origin != origin {
            return Err(format!(
                "the receipt names log {:?}, not {origin}",
                r.origin
            ));
        }
        let expected = puente_audit::receipt::Expected {
            request_sha256,
            response_sha256,
            stated,
        };
        self.receipts
            .accept(r, &key, expected)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Attaches a receipt to a refusal (binary metadata).
pub fn with_receipt(mut status: Status, r: &pb::Receipt) -> Status {
    status.metadata_mut().insert_bin(
        RECEIPT_METADATA,
        MetadataValue::from_bytes(&r.encode_to_vec()),
    );
    status
}

/// The receipt attached to a refusal, if any.
pub fn receipt_of(status: &Status) -> Option<pb::Receipt> {
    let v = status.metadata().get_bin(RECEIPT_METADATA)?;
    let bytes = v.to_bytes().ok()?;
    pb::Receipt::decode(bytes.as_ref()).ok()
}
