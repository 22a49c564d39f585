//! The audit step of answering: every exchange this node answers, allowed or refused,
//! goes through one [`Audited`] guard, which writes its entry durably before the answer
//! (or the refusal) leaves and hands back the receipt for the asker. Fail closed: no
//! entry, no answer.

use prost::Message;
use puente_pki::PeerIdentity;
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use tonic::Code;
use tracing::error;

use crate::error::ExchangeError;
use crate::metrics::Direction;
use crate::outcome::{sha256, Outcome};
use crate::state::NodeState;

/// One exchange being answered: opened before anything is decided, closed with the
/// answer or the refusal. The handler fills in [`Audited::outcome`] as it learns the
/// agreement, the terms, the fields disclosed or a protection verdict.
#[derive(Debug)]
pub struct Audited<'a> {
    state: &'a NodeState,
    caller: &'a PeerIdentity,
    request_sha256: [u8; 32],
    /// What the exchange did so far.
    pub outcome: Outcome,
}

impl<'a> Audited<'a> {
    /// Records the exchange and returns the answer with the receipt of its entry, or the
    /// refusal with that receipt attached. `digest` is the SHA-256 of the answer as it
    /// leaves (receipt cleared), or of the document's bytes.
    pub async fn close<T>(
        self,
        result: Result<T, ExchangeError>,
        digest: impl FnOnce(&T) -> [u8; 32],
    ) -> Result<(T, pb::Receipt), ExchangeError> {
        let Audited {
            state,
            caller,
            request_sha256,
            mut outcome,
        } = self;
        match result {
            Ok(answer) => {
                outcome.response_sha256 = digest(&answer);
                let receipt = state
                    .record_incoming(caller, request_sha256, &outcome)
                    .await?;
                Ok((answer, receipt))
            }
            Err(refusal) => {
                let outcome = outcome.refused(&refusal);
                let receipt = state
                    .record_incoming(caller, request_sha256, &outcome)
                    .await?;
                Err(refusal.with_receipt(receipt))
            }
        }
    }
}

/// The SHA-256 of a message as encoded.
pub fn digest_of<M: Message>(m: &M) -> [u8; 32] {
    sha256(&m.encode_to_vec())
}

impl NodeState {
    /// Opens the audit record of one `service` call from `caller`: the request's digest,
    /// and what its context says (purpose, case reference, log sizes to prove).
    pub fn audited<'a, M: Message>(
        &'a self,
        caller: &'a PeerIdentity,
        service: Service,
        purpose: Purpose,
        request: &M,
        context: Option<&pb::RequestContext>,
    ) -> Audited<'a> {
        let mut outcome = Outcome::new(service, purpose, "");
        if let Some(c) = context {
            outcome.heard(c);
        }
        Audited {
            state: self,
            caller,
            request_sha256: digest_of(request),
            outcome,
        }
    }

    /// Records an exchange this node answers; returns the receipt to hand the asker.
    async fn record_incoming(
        &self,
        caller: &PeerIdentity,
        request_sha256: [u8; 32],
        o: &Outcome,
    ) -> Result<pb::Receipt, ExchangeError> {
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
            ExchangeError::unavailable(format!(
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
                hashes: self.audit.consistency_bytes(*from, size)?,
            });
        }
        Ok(())
    }
}
