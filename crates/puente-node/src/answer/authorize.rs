//! The first step of answering, where the node applies agreements: every `Exchange` call
//! is evaluated here, before any data is touched, against the verified agreements, the
//! verified caller, the node's clock and the persisted quota counters (the one place a
//! daily quota is checked and taken). Refusals become `PERMISSION_DENIED` (or
//! `INVALID_ARGUMENT` for a malformed request) with the rule's name and a message that
//! helps the other country's operator without revealing anything about the data.

use puente_pki::PeerIdentity;
use puente_policy::{evaluate, Field, Permit, Purpose, Refusal, Request, Rule, Service, Term};
use puente_proto::v1::RequestContext;
use tracing::info;

use crate::error::ExchangeError;
use crate::state::NodeState;

/// Longest case reference accepted.
pub const MAX_CASE_REFERENCE: usize = 64;
/// Longest operator id accepted.
pub const MAX_OPERATOR_ID: usize = 128;
/// Longest request id accepted.
pub const MAX_REQUEST_ID: usize = 64;
/// Longest nonce accepted (the contract's is 16 bytes).
pub const MAX_NONCE: usize = 64;

/// A validated request context.
#[derive(Clone, Debug)]
pub struct Context {
    /// The purpose invoked.
    pub purpose: Purpose,
    /// The asker's case reference.
    pub case_reference: String,
    /// The asker's operator id (informational).
    pub operator_id: String,
}

/// Validates the `context` every `Exchange` request carries.
pub fn context(ctx: Option<&RequestContext>) -> Result<Context, ExchangeError> {
    let ctx = ctx.ok_or_else(|| {
        ExchangeError::invalid_argument("context: required (purpose, case reference)")
    })?;
    let purpose = Purpose::try_from(ctx.purpose)
        .ok()
        .filter(|p| *p != Purpose::Unspecified)
        .ok_or_else(|| {
            ExchangeError::invalid_argument(format!(
                "context.purpose: {} is not a purpose; use one of {}",
                ctx.purpose,
                Purpose::names()
            ))
        })?;
    if ctx.case_reference.chars().count() > MAX_CASE_REFERENCE {
        return Err(ExchangeError::invalid_argument(format!(
            "context.case_reference: longer than {MAX_CASE_REFERENCE} characters"
        )));
    }
    if ctx.case_reference.chars().any(char::is_control) {
        return Err(ExchangeError::invalid_argument(
            "context.case_reference: control characters are not allowed",
        ));
    }
    if ctx.operator_id.chars().count() > MAX_OPERATOR_ID {
        return Err(ExchangeError::invalid_argument(format!(
            "context.operator_id: longer than {MAX_OPERATOR_ID} characters"
        )));
    }
    if ctx.request_id.chars().count() > MAX_REQUEST_ID
        || ctx.request_id.chars().any(char::is_control)
    {
        return Err(ExchangeError::invalid_argument(format!(
            "context.request_id: at most {MAX_REQUEST_ID} printable characters"
        )));
    }
    if ctx.nonce.len() > MAX_NONCE {
        return Err(ExchangeError::invalid_argument(format!(
            "context.nonce: at most {MAX_NONCE} bytes (16 random bytes)"
        )));
    }
    if ctx.known_log_sizes.len() > puente_audit::seen::MAX_KNOWN {
        return Err(ExchangeError::invalid_argument(format!(
            "context.known_log_sizes: at most {} sizes",
            puente_audit::seen::MAX_KNOWN
        )));
    }
    Ok(Context {
        purpose,
        case_reference: ctx.case_reference.clone(),
        operator_id: ctx.operator_id.clone(),
    })
}

/// [`context`] for an identity query or a passport copy: these are made for a case file,
/// and both countries' audit logs name it, so an empty case reference is refused.
pub fn case_context(ctx: Option<&RequestContext>) -> Result<Context, ExchangeError> {
    let c = context(ctx)?;
    if c.case_reference.trim().is_empty() {
        return Err(ExchangeError::invalid_argument(
            "context.case_reference: required for identity queries and passport copies (the case file both audit logs name)",
        ));
    }
    Ok(c)
}

impl NodeState {
    /// Evaluates a call from `caller` and, when permitted, takes one unit of its daily
    /// quota. Fails closed: a store error refuses the call.
    pub async fn authorize(
        &self,
        caller: &PeerIdentity,
        service: Service,
        purpose: Purpose,
        fields: Option<&[Field]>,
    ) -> Result<Permit, ExchangeError> {
        self.authorize_units(caller, service, purpose, fields, 1)
            .await
    }

    /// [`NodeState::authorize`] for a call that costs `units` quota units (a
    /// `manifest_check` batch: one per traveller), taken all or none; a batch over the
    /// grant's `max_batch` is refused before any unit is taken.
    pub async fn authorize_units(
        &self,
        caller: &PeerIdentity,
        service: Service,
        purpose: Purpose,
        fields: Option<&[Field]>,
        units: u32,
    ) -> Result<Permit, ExchangeError> {
        let now = (self.clock)();
        let today = now.date();
        let set = self.agreements.current();
        let request = Request {
            provider: self.node.country(),
            receiver: caller.country,
            service,
            purpose,
            fields,
            now,
        };
        let receiver = caller.country.to_string();
        let used = |id: &str, svc: Service| {
            self.store
                .used(id, &receiver, svc, today)
                .unwrap_or(u64::MAX)
        };
        let outcome = evaluate(&set.verified, &request, &used).and_then(|permit| {
            if service == Service::ManifestCheck && units > permit.max_batch {
                return Err(Refusal {
                    rule: Rule::BatchTooLarge,
                    agreement_id: Some(permit.agreement_id.clone()),
                    message: format!(
                        "the batch holds {units} travellers; agreement {} allows at most {} in one call",
                        permit.agreement_id, permit.max_batch
                    ),
                });
            }
            let Some(limit) = permit.daily_quota else { return Ok(permit) };
            let left = u64::from(limit).saturating_sub(used(&permit.agreement_id, service));
            match self.store.try_consume_n(&permit.agreement_id, &receiver, service, today, u64::from(limit), u64::from(units)) {
                Ok(Some(_)) => Ok(permit),
                Ok(None) if units > 1 => Err(Refusal {
                    rule: Rule::QuotaExceeded,
                    agreement_id: Some(permit.agreement_id.clone()),
                    message: format!(
                        "the daily quota of {limit} for {} under agreement {} has {left} left and this call needs {units}; nothing was checked; it resets at 00:00 UTC",
                        service.name(),
                        permit.agreement_id
                    ),
                }),
                Ok(None) => Err(Refusal {
                    rule: Rule::QuotaExceeded,
                    agreement_id: Some(permit.agreement_id.clone()),
                    message: format!(
                        "the daily quota of {limit} for {} under agreement {} is used up; it resets at 00:00 UTC",
                        service.name(),
                        permit.agreement_id
                    ),
                }),
                Err(e) => {
                    tracing::error!("quota store failed, refusing: {e}");
                    Err(Refusal {
                        rule: Rule::QuotaExceeded,
                        agreement_id: Some(permit.agreement_id.clone()),
                        message: "the quota could not be checked; try again later".into(),
                    })
                }
            }
        });
        match &outcome {
            Ok(p) => {
                // The quota unit just taken is made durable by this call's audit entry,
                // which names the agreement: every caller writes it before answering, and
                // a starting node counts the units again from the log
                // (`Store::recount_quota`). Counters with a file and fsync of their own
                // cost a second sync per batch.
                info!(caller = %caller.urn(), service = service.name(), purpose = purpose.name(), agreement = %p.agreement_id, "permitted");
            }
            Err(r) => {
                info!(caller = %caller.urn(), service = service.name(), purpose = purpose.name(), rule = r.rule.name(), "refused: {}", r.message)
            }
        }
        outcome.map_err(ExchangeError::from)
    }
}
