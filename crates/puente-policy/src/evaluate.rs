//! Evaluation: a pure function from (verified agreements, who asks, what for, when, usage
//! so far) to a grant or a refusal naming its rule. Default deny: anything not granted by
//! an agreement in force is refused.

use std::collections::BTreeSet;
use std::fmt;

use puente_pki::CountryCode;
use time::OffsetDateTime;

use crate::agreement::{Agreement, Grant};
use crate::vocab::{Field, Mode, Purpose, Service, Term};

/// The rules that can refuse a request. Their names appear in `PERMISSION_DENIED`
/// messages, in logs and in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// The request names no service.
    ServiceUnspecified,
    /// The request names no purpose.
    PurposeUnspecified,
    /// No verified agreement exists between the two countries.
    NoAgreement,
    /// The agreement has not taken effect yet.
    NotYetValid,
    /// The agreement has expired.
    Expired,
    /// The agreement grants the asker nothing of this service.
    ServiceNotGranted,
    /// The purpose is not one the agreement lists for the asker.
    PurposeNotGranted,
    /// A requested field is not granted.
    FieldNotGranted,
    /// Today's quota is used up (or has fewer units left than the call needs).
    QuotaExceeded,
    /// A batch holds more items than the grant allows in one call.
    BatchTooLarge,
}

impl Rule {
    /// The rule's stable name, e.g. `agreement.purpose_not_granted`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::ServiceUnspecified => "request.service_unspecified",
            Rule::PurposeUnspecified => "request.purpose_unspecified",
            Rule::NoAgreement => "agreement.none",
            Rule::NotYetValid => "agreement.not_yet_valid",
            Rule::Expired => "agreement.expired",
            Rule::ServiceNotGranted => "agreement.service_not_granted",
            Rule::PurposeNotGranted => "agreement.purpose_not_granted",
            Rule::FieldNotGranted => "agreement.field_not_granted",
            Rule::QuotaExceeded => "agreement.quota_exceeded",
            Rule::BatchTooLarge => "agreement.batch_too_large",
        }
    }

    /// Whether the fault is in the request itself (INVALID_ARGUMENT) rather than policy.
    pub fn is_bad_request(self) -> bool {
        matches!(self, Rule::ServiceUnspecified | Rule::PurposeUnspecified)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A refusal: the rule and a message that helps the asker without revealing data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The rule that refused.
    pub rule: Rule,
    /// The agreement concerned, if one was found.
    pub agreement_id: Option<String>,
    /// Explanation for the other country's operator.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

/// What an agreement in force allows for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permit {
    /// The agreement that grants it.
    pub agreement_id: String,
    /// The service.
    pub service: Service,
    /// The purpose invoked.
    pub purpose: Purpose,
    /// Fields that may be disclosed (requested ∩ granted; all granted if none requested).
    pub fields: BTreeSet<Field>,
    /// Full answer or hit/no-hit.
    pub mode: Mode,
    /// Most matches to return.
    pub max_matches: u32,
    /// Days the receiver may keep the answer.
    pub retention_days: u32,
    /// Small-cell threshold (flow counts).
    pub small_cell_threshold: u32,
    /// Secondary suppression (flow counts).
    pub secondary_suppression: bool,
    /// The daily quota that applies, if the service has one.
    pub daily_quota: Option<u32>,
    /// Most travellers in one `manifest_check` batch.
    pub max_batch: u32,
}

/// A request to evaluate.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The country asked (this node).
    pub provider: CountryCode,
    /// The country asking (from its verified certificate).
    pub receiver: CountryCode,
    /// The service called.
    pub service: Service,
    /// The purpose invoked.
    pub purpose: Purpose,
    /// Fields explicitly requested (`None`: whatever the grant allows).
    pub fields: Option<&'a [Field]>,
    /// The time of the request.
    pub now: OffsetDateTime,
}

/// The daily quota a service consumes, if any.
pub fn quota_of(grant: &Grant, service: Service) -> Option<u32> {
    match service {
        Service::IdentityQuery => Some(grant.queries_per_day),
        Service::PassportCopy => Some(grant.copies_per_day),
        Service::ManifestCheck => Some(grant.travellers_per_day),
        _ => None,
    }
}

/// Evaluates `request` against verified `agreements`. `used_today(agreement_id, service)`
/// gives what the receiver already consumed today under that agreement.
pub fn evaluate(
    agreements: &[Agreement],
    request: &Request<'_>,
    used_today: &dyn Fn(&str, Service) -> u64,
) -> Result<Permit, Refusal> {
    let refuse = |rule: Rule, id: Option<&str>, message: String| Refusal {
        rule,
        agreement_id: id.map(str::to_string),
        message,
    };
    if request.service == Service::Unspecified {
        return Err(refuse(
            Rule::ServiceUnspecified,
            None,
            "the request names no service".into(),
        ));
    }
    if request.purpose == Purpose::Unspecified {
        return Err(refuse(
            Rule::PurposeUnspecified,
            None,
            "the request names no purpose; every exchange must state one".into(),
        ));
    }
    let mut candidates: Vec<&Agreement> =
        crate::agreement::current_versions(agreements, request.now)
            .into_iter()
            .filter(|a| a.is_party(request.provider) && a.is_party(request.receiver))
            .collect();
    candidates.sort_by(|a, b| a.id.cmp(&b.id));
    if candidates.is_empty() {
        return Err(refuse(
            Rule::NoAgreement,
            None,
            format!(
                "no signed agreement between {} and {} is in force",
                request.provider, request.receiver
            ),
        ));
    }
    // Try every agreement; keep the refusal that got furthest.
    let mut best: Option<Refusal> = None;
    for a in candidates {
        match evaluate_one(a, request, used_today) {
            Ok(permit) => return Ok(permit),
            Err(r) => {
                if best.as_ref().is_none_or(|b| r.rule > b.rule) {
                    best = Some(r);
                }
            }
        }
    }
    Err(best.unwrap_or_else(|| refuse(Rule::NoAgreement, None, "no agreement".into())))
}

fn evaluate_one(
    a: &Agreement,
    r: &Request<'_>,
    used_today: &dyn Fn(&str, Service) -> u64,
) -> Result<Permit, Refusal> {
    let id = Some(a.id.clone());
    let refuse = |rule: Rule, message: String| Refusal {
        rule,
        agreement_id: id.clone(),
        message,
    };
    if r.now < a.valid_from {
        return Err(refuse(
            Rule::NotYetValid,
            format!("agreement {} takes effect on {}", a.id, a.valid_from.date()),
        ));
    }
    if r.now >= a.valid_until {
        return Err(refuse(
            Rule::Expired,
            format!(
                "agreement {} expired at the end of {}",
                a.id,
                (a.valid_until - time::Duration::days(1)).date()
            ),
        ));
    }
    let Some(grant) = a
        .grant(r.provider, r.receiver)
        .filter(|g| g.services.contains(&r.service))
    else {
        return Err(refuse(
            Rule::ServiceNotGranted,
            format!(
                "agreement {} does not grant {} {} from {}",
                a.id,
                r.receiver,
                r.service.name(),
                r.provider
            ),
        ));
    };
    if !grant.purposes.contains(&r.purpose) {
        return Err(refuse(
            Rule::PurposeNotGranted,
            format!(
                "agreement {} does not list purpose {} for {} from {}; listed: {}",
                a.id,
                r.purpose.name(),
                r.service.name(),
                r.provider,
                grant
                    .purposes
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let fields: BTreeSet<Field> = match r.fields {
        None => grant.fields.clone(),
        Some(requested) => {
            let denied: Vec<String> = requested
                .iter()
                .filter(|f| !grant.fields.contains(f))
                .map(|f| f.name())
                .collect();
            if !denied.is_empty() {
                return Err(refuse(
                    Rule::FieldNotGranted,
                    format!(
                        "agreement {} does not grant the field(s) {}",
                        a.id,
                        denied.join(", ")
                    ),
                ));
            }
            requested.iter().copied().collect()
        }
    };
    let daily_quota = quota_of(grant, r.service);
    if let Some(limit) = daily_quota {
        let used = used_today(&a.id, r.service);
        if used >= u64::from(limit) {
            return Err(refuse(
                Rule::QuotaExceeded,
                format!(
                    "the daily quota of {limit} for {} under agreement {} is used up; it resets at 00:00 UTC",
                    r.service.name(),
                    a.id
                ),
            ));
        }
    }
    Ok(Permit {
        agreement_id: a.id.clone(),
        service: r.service,
        purpose: r.purpose,
        fields,
        mode: grant.mode(r.service),
        max_matches: grant.max_matches,
        retention_days: grant.retention_days,
        small_cell_threshold: grant.small_cell_threshold,
        secondary_suppression: grant.secondary_suppression,
        daily_quota,
        max_batch: grant.max_batch,
    })
}
