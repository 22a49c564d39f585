//! A peer's answer held to this node's own copy of the agreement it names: the peer may
//! say what it likes, but the officer is shown only what the agreement both countries
//! signed lets it send (its fields, mode, retention and number of matches), under an
//! agreement in force here.

use puente_pki::CountryCode;
use puente_policy::evaluate::{evaluate, Permit, Request};
use puente_policy::{Mode, Purpose, Service};
use puente_proto::v1 as pb;

use crate::state::NodeState;

impl NodeState {
    /// What this node's copy of agreement `id` grants `peer` to send this country for
    /// `service` and `purpose` now, or why it grants nothing.
    pub fn own_permit(
        &self,
        peer: CountryCode,
        id: &str,
        service: Service,
        purpose: Purpose,
    ) -> Result<Permit, String> {
        let set = self.agreements.current();
        if !set.verified.iter().any(|a| a.id == id) {
            return Err(format!(
                "it names agreement {id:?}, which this node does not hold"
            ));
        }
        let request = Request {
            provider: peer,
            receiver: self.node.country(),
            service,
            purpose,
            fields: None,
            now: (self.clock)(),
        };
        // Usually one agreement grants a pair a service: the whole set decides without
        // copying it. Another agreement also granting it is the rare case: then that
        // agreement's copies alone.
        if let Ok(permit) = evaluate(&set.verified, &request, &|_, _| 0) {
            if permit.agreement_id == id {
                return Ok(permit);
            }
        }
        let copies: Vec<_> = set
            .verified
            .iter()
            .filter(|a| a.id == id)
            .cloned()
            .collect();
        evaluate(&copies, &request, &|_, _| 0).map_err(|r| {
            format!(
                "agreement {id:?} as this node holds it does not grant it ({})",
                r.message
            )
        })
    }
}

/// What is wrong with an identity query's answer under `permit` (this node's copy of
/// the agreement the answer names), if anything: fields beyond the grant, another mode
/// or retention, more matches than the grant or the request allow, an outcome that
/// contradicts its matches, a score above 1000 ‰.
pub fn query_answer_problem(
    answer: &pb::QueryIdentityResponse,
    permit: &Permit,
    asked_max: u32,
) -> Option<String> {
    let granted: Vec<i32> = permit.fields.iter().map(|f| *f as i32).collect();
    if let Some(f) = answer
        .disclosed_fields
        .iter()
        .find(|f| !granted.contains(f))
    {
        let name = pb::DisclosableField::try_from(*f)
            .map(|f| f.as_str_name().to_string())
            .unwrap_or_else(|_| f.to_string());
        return Some(format!(
            "it discloses {name}, which agreement {} does not grant",
            permit.agreement_id
        ));
    }
    let mode = match permit.mode {
        Mode::HitNoHit => pb::Mode::HitNoHit,
        _ => pb::Mode::Full,
    } as i32;
    if answer.mode != mode {
        return Some(format!(
            "its mode is {}, the agreement's is {}",
            answer.mode, mode
        ));
    }
    // Shorter is the peer's to ask; longer is not.
    if answer.retention_days > permit.retention_days {
        return Some(format!(
            "it says to keep the answer {} days, the agreement at most {}",
            answer.retention_days, permit.retention_days
        ));
    }
    let most = match (permit.mode, asked_max) {
        // "There is a match" and one reference.
        (Mode::HitNoHit, _) => 1,
        (_, 0) => permit.max_matches,
        (_, n) => n.min(permit.max_matches),
    };
    if answer.matches.len() as u64 > u64::from(most) {
        return Some(format!(
            "it holds {} matches, at most {most} were allowed",
            answer.matches.len()
        ));
    }
    let outcome_holds = match pb::MatchOutcome::try_from(answer.outcome) {
        Ok(pb::MatchOutcome::Match) => !answer.matches.is_empty(),
        Ok(pb::MatchOutcome::NoMatch) => answer.matches.is_empty(),
        _ => false,
    };
    if !outcome_holds {
        return Some(format!(
            "its outcome ({}) contradicts its {} matches",
            answer.outcome,
            answer.matches.len()
        ));
    }
    if let Some(m) = answer.matches.iter().find(|m| m.score_permille > 1000) {
        return Some(format!("a score of {} ‰ is above 1000", m.score_permille));
    }
    if let Some(m) = answer
        .matches
        .iter()
        .find(|m| m.reference.is_empty() || m.reference.len() > crate::refs::MAX_REFERENCE_LEN)
    {
        return Some(format!(
            "a match's reference is {} characters long (1 to {})",
            m.reference.len(),
            crate::refs::MAX_REFERENCE_LEN
        ));
    }
    None
}

/// The media types a passport copy may have (the contract's).
pub const COPY_MEDIA_TYPES: [&str; 3] = ["image/jpeg", "image/png", "application/pdf"];

/// What is wrong with a passport copy's header under `permit`, if anything.
pub fn copy_header_problem(header: &pb::DocumentHeader, permit: &Permit) -> Option<String> {
    if !COPY_MEDIA_TYPES.contains(&header.media_type.as_str()) {
        return Some(format!(
            "its media type {:?} is none of the contract's ({})",
            header.media_type.chars().take(64).collect::<String>(),
            COPY_MEDIA_TYPES.join(", ")
        ));
    }
    if header.retention_days > permit.retention_days {
        return Some(format!(
            "it says to keep the copy {} days, the agreement at most {}",
            header.retention_days, permit.retention_days
        ));
    }
    // An ICAO issuing-state code: 1-3 capital letters (D is Germany's), '<' as filler;
    // empty when the record holds none or the agreement does not disclose it.
    let state = header.issuing_state.as_str();
    if state.len() > 3 || !state.bytes().all(|b| b.is_ascii_uppercase() || b == b'<') {
        return Some(format!(
            "its issuing state {:?} is not an ICAO code (1-3 capital letters)",
            state.chars().take(16).collect::<String>()
        ));
    }
    if pb::DocumentType::try_from(header.document_type).is_err() {
        return Some(format!(
            "its document type {} is not one of the contract's",
            header.document_type
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permit() -> Permit {
        Permit {
            agreement_id: "MEX-GTM-1".into(),
            service: Service::PassportCopy,
            purpose: Purpose::Identification,
            fields: Default::default(),
            mode: Mode::Full,
            max_matches: 5,
            retention_days: 30,
            small_cell_threshold: 0,
            secondary_suppression: false,
            daily_quota: Some(10),
            max_batch: 0,
        }
    }

    #[test]
    fn a_copy_header_is_held_to_the_contract_and_the_agreement() {
        let good = pb::DocumentHeader {
            media_type: "image/png".into(),
            size_bytes: 10,
            sha256: vec![0; 32],
            document_type: pb::DocumentType::Passport as i32,
            issuing_state: "HND".into(),
            agreement_id: "MEX-GTM-1".into(),
            retention_days: 30,
        };
        assert_eq!(copy_header_problem(&good, &permit()), None);
        let shorter = pb::DocumentHeader {
            retention_days: 7,
            ..good.clone()
        };
        assert_eq!(copy_header_problem(&shorter, &permit()), None);
        for state in ["D", ""] {
            let other = pb::DocumentHeader {
                issuing_state: state.into(),
                ..good.clone()
            };
            assert_eq!(copy_header_problem(&other, &permit()), None, "{state:?}");
        }
        for (bad, says) in [
            (
                pb::DocumentHeader {
                    media_type: "text/html".into(),
                    ..good.clone()
                },
                "media type",
            ),
            (
                pb::DocumentHeader {
                    retention_days: 3650,
                    ..good.clone()
                },
                "3650 days",
            ),
            (
                pb::DocumentHeader {
                    issuing_state: "ZZZZ".into(),
                    ..good.clone()
                },
                "issuing state",
            ),
            (
                pb::DocumentHeader {
                    issuing_state: "x".repeat(100_000),
                    ..good.clone()
                },
                "issuing state",
            ),
            (
                pb::DocumentHeader {
                    document_type: 999,
                    ..good.clone()
                },
                "document type 999",
            ),
        ] {
            let problem = copy_header_problem(&bad, &permit()).expect("refused");
            assert!(problem.contains(says), "{problem}");
        }
    }
}
