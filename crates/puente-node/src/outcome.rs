//! What one exchange did, as its audit entry says it: the [`Outcome`] both sides fill
//! in, and the [`Entry`] built from it. The responder records it through
//! [`crate::answer::audit`], the asker through [`crate::ask::receipt`]. Entries hold
//! digests and keyed hashes of the query terms, never the terms.

use puente_audit::Entry;
use puente_pki::CountryCode;
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use ring::digest;
use tonic::Code;

use crate::error::ExchangeError;
use crate::metrics::Direction;
use crate::state::NodeState;

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
            .take(crate::answer::authorize::MAX_CASE_REFERENCE)
            .collect();
        self.known_log_sizes = c
            .known_log_sizes
            .iter()
            .take(puente_audit::seen::MAX_KNOWN)
            .copied()
            .collect();
    }

    /// Marks it refused by `e` (a refusal of this node's or one a peer sent).
    pub fn refused(mut self, e: &ExchangeError) -> Self {
        let msg = e.message.as_str();
        self.code = e.code as i32;
        self.reason = msg.chars().take(300).collect();
        self.response_sha256 = sha256(msg.as_bytes());
        if self.decision != pb::Decision::Withheld as i32 {
            // When the protection rule decided, the refusal the peer sees is only its
            // disguise: the entry keeps the protection rule.
            self.decision = pb::Decision::Refused as i32;
            self.rule = e.rule.clone();
        }
        self
    }
}

impl NodeState {
    /// Counts an exchange at the one place every exchange passes: its audit record.
    pub(crate) fn count(&self, direction: Direction, peer: CountryCode, o: &Outcome, code: Code) {
        self.metrics.exchange(
            direction,
            Service::try_from(o.service).unwrap_or(Service::Unspecified),
            peer,
            pb::Decision::try_from(o.decision).unwrap_or(pb::Decision::Unspecified),
            code,
        );
    }

    pub(crate) fn entry(
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
}
