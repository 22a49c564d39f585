//! `Manifest.CheckWithPeer` on the asking side: an operator has a manifest (held by this
//! node, or given as a file) checked by a peer in one `Exchange.CheckManifest` call.
//! This node's own copy of the agreement decides what is sent before anything is: only
//! the fields the grant lists for `manifest_check`, at most its `max_batch` travellers.
//! A traveller this country holds as protected against the peer is not sent at all (the
//! non-refoulement rule on the asking side). The answer must hold one result per
//! traveller sent, a reference only on a match; then the receipt is checked and the
//! outgoing entry written, as for any query.

use std::collections::BTreeSet;

use prost::Message;
use puente_manifest::{Manifest, Passenger};
use puente_pki::{PeerIdentity, Role};
use puente_policy::{evaluate, Field, Purpose, Request, Service};
use puente_proto::v1 as pb;
use tracing::{info, warn};

use super::call::{peer_status, PeerCall};
use crate::answer::manifest_check::{traveller_leaves, traveller_terms};
use crate::answer::query::protection_verdict;
use crate::error::ExchangeError;
use crate::limits::timed;
use crate::outcome::sha256;
use crate::state::NodeState;

/// A passenger as a traveller of the request, with only the `granted` fields.
pub fn traveller(p: &Passenger, granted: &BTreeSet<Field>) -> pb::ManifestTraveller {
    let g = |f: Field| granted.contains(&f);
    let doc = p.document.as_ref();
    pb::ManifestTraveller {
        given_names: if g(Field::GivenNames) {
            p.given_names.clone()
        } else {
            String::new()
        },
        surnames: if g(Field::Surnames) {
            p.surnames.clone()
        } else {
            String::new()
        },
        date_of_birth: g(Field::DateOfBirth).then(|| pb::PartialDate {
            year: p.date_of_birth.year.max(0) as u32,
            month: p.date_of_birth.month.map(u32::from).unwrap_or(0),
            day: p.date_of_birth.day.map(u32::from).unwrap_or(0),
        }),
        sex: if g(Field::Sex) {
            match p.sex {
                puente_records::model::Sex::M => pb::Sex::Male,
                puente_records::model::Sex::F => pb::Sex::Female,
                puente_records::model::Sex::X => pb::Sex::X,
            }
        } else {
            pb::Sex::Unspecified
        } as i32,
        nationality: if g(Field::Nationality) {
            p.nationality.clone()
        } else {
            String::new()
        },
        document_number: doc
            .filter(|_| g(Field::DocumentNumber) && g(Field::IssuingState))
            .map(|d| d.number.clone())
            .unwrap_or_default(),
        issuing_state: doc
            .filter(|_| g(Field::DocumentNumber) && g(Field::IssuingState))
            .map(|d| d.issuing_state.clone())
            .unwrap_or_default(),
    }
}

fn name_of(p: &Passenger) -> String {
    format!("{}, {}", p.surnames, p.given_names)
}

impl NodeState {
    /// The manifest an operator names: one held (by id) or a file sent with the call.
    async fn manifest_for_check(
        &self,
        req: &pb::CheckWithPeerRequest,
    ) -> Result<Manifest, ExchangeError> {
        if !req.manifest_id.is_empty() && req.manifest.is_some() {
            return Err(ExchangeError::invalid_argument(
                "manifest, manifest_id: give one, not both",
            ));
        }
        if !req.manifest_id.is_empty() {
            let manifests = self.manifests.clone();
            let id = req.manifest_id.clone();
            let found = tokio::task::spawn_blocking(move || manifests.get(&id))
                .await
                .map_err(|e| ExchangeError::unavailable(e.to_string()))?
                .map_err(|e| {
                    tracing::error!("manifest store: {e}");
                    ExchangeError::unavailable("the node's manifest store is unavailable")
                })?;
            return found.map(|s| s.manifest).ok_or_else(|| {
                ExchangeError::invalid_argument(format!(
                    "manifest_id: {} is not held (never received, or erased)",
                    req.manifest_id
                ))
            });
        }
        let Some(file) = &req.manifest else {
            return Err(ExchangeError::invalid_argument(
                "manifest: give a manifest file or a manifest_id",
            ));
        };
        let format = match pb::ManifestFormat::try_from(file.format) {
            Ok(pb::ManifestFormat::Paxlst) => puente_manifest::Format::Paxlst,
            Ok(pb::ManifestFormat::BusJson) => puente_manifest::Format::BusJson,
            Ok(pb::ManifestFormat::BusCsv) => puente_manifest::Format::BusCsv,
            Ok(pb::ManifestFormat::Unspecified) => puente_manifest::Format::sniff(&file.content),
            Err(_) => {
                return Err(ExchangeError::invalid_argument(format!(
                    "manifest.format: {} is not a ManifestFormat",
                    file.format
                )))
            }
        };
        let content = file.content.clone();
        let today = self.now().date();
        tokio::task::spawn_blocking(move || puente_manifest::parse(&content, format, today))
            .await
            .map_err(|e| ExchangeError::unavailable(e.to_string()))?
            .map_err(|e| ExchangeError::invalid_argument(format!("manifest.invalid: {e}")))
    }

    /// `Manifest.CheckWithPeer`: the manifest's travellers checked by `peer_country`.
    pub async fn forward_manifest_check(
        &self,
        operator: &PeerIdentity,
        req: &pb::CheckWithPeerRequest,
    ) -> Result<pb::CheckWithPeerResponse, ExchangeError> {
        let (peer, link) = self.link(&req.peer_country)?;
        let (context, stated) =
            self.outgoing_context(peer, operator, req.context.as_ref(), false)?;
        let purpose = Purpose::try_from(context.purpose).unwrap_or(Purpose::Unspecified);
        let manifest = self.manifest_for_check(req).await?;
        // What this node's copy of the agreement lets it send.
        let set = self.agreements.current();
        let permit = evaluate(
            &set.verified,
            &Request {
                provider: peer,
                receiver: self.country(),
                service: Service::ManifestCheck,
                purpose,
                fields: None,
                now: self.now(),
            },
            &|_, _| 0,
        )
        .map_err(|r| {
            ExchangeError::permission_denied(format!(
                "{}: {} (checked by this node before anything was sent)",
                r.rule.name(),
                r.message
            ))
        })?;
        // Non-refoulement on the asking side: a passenger this country protects against
        // the peer is not sent.
        let peer_id = PeerIdentity {
            country: peer,
            role: Role::Node,
            name: String::new(),
        };
        let mut sent_positions = Vec::new();
        let mut travellers = Vec::new();
        let mut protected = Vec::new();
        for (i, p) in manifest.passengers.iter().enumerate() {
            let t = traveller(p, &permit.fields);
            let terms = traveller_terms(i, &t)
                .map_err(|e| ExchangeError::invalid_argument(format!("{} (the grant's fields for manifest_check do not let this passenger be looked up)", e.message)))?;
            let mut shielded = false;
            if let Some(own) = terms.lookup() {
                let found = self.find(own, 5, None).await?;
                if found
                    .candidates
                    .iter()
                    .any(|(s, _)| protection_verdict(&s.record, &peer_id).is_err())
                {
                    shielded = true;
                }
            }
            if shielded {
                protected.push(i);
            } else {
                sent_positions.push(i);
                travellers.push(t);
            }
        }
        if travellers.len() > permit.max_batch as usize {
            return Err(ExchangeError::permission_denied(format!(
                "agreement.batch_too_large: the manifest has {} travellers to check; agreement {} allows {} in one call (checked by this node before anything was sent)",
                travellers.len(),
                permit.agreement_id,
                permit.max_batch
            )));
        }
        let fields_sent: Vec<i32> = travellers
            .iter()
            .flat_map(crate::answer::manifest_check::fields_of)
            .collect::<BTreeSet<Field>>()
            .into_iter()
            .map(|f| f as i32)
            .collect();
        let mut result = vec![pb::CheckedTraveller::default(); manifest.passengers.len()];
        for (i, p) in manifest.passengers.iter().enumerate() {
            result[i].position = i as u32 + 1;
            result[i].name = name_of(p);
        }
        if travellers.is_empty() {
            return Err(ExchangeError::permission_denied(format!(
                "protection.outgoing: every passenger is protected against {peer}; nothing is sent"
            )));
        }
        let case_reference = context.case_reference.clone();
        let request = pb::CheckManifestRequest {
            context: Some(context),
            travellers,
        };
        let mut call = self.peer_call(
            peer,
            operator,
            Service::ManifestCheck,
            purpose,
            &case_reference,
            &request,
            stated,
        );
        let terms: Vec<_> = request
            .travellers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| traveller_terms(i, t).ok())
            .collect();
        let root = puente_audit::merkle::mth(&traveller_leaves(&self.node.data_key, &terms));
        call.outcome.terms = vec![
            ("manifest_travellers_root", hex::encode(root)),
            (
                crate::answer::manifest_check::TRAVELLERS_TERM,
                request.travellers.len().to_string(),
            ),
        ];
        let mut client = PeerCall::client(&link);
        let sent = call
            .send(
                "CheckManifest",
                client.check_manifest(timed(request.clone(), call.timeout())),
            )
            .await;
        let mut answer = match sent {
            Ok(a) => a,
            Err(status) => {
                call.refused(&status).await?;
                return Err(peer_status(peer, &status));
            }
        };
        let receipt = answer.receipt.take();
        call.outcome.response_sha256 = sha256(&answer.encode_to_vec());
        call.outcome.agreement_id = answer.agreement_id.clone();
        let receipt = call.check_receipt(receipt).await?;
        let problem = if answer.results.len() != request.travellers.len() {
            Some(format!(
                "answered {} results for {} travellers",
                answer.results.len(),
                request.travellers.len()
            ))
        } else if answer.results.iter().any(|r| {
            let hit = r.outcome == pb::MatchOutcome::Match as i32;
            let miss = r.outcome == pb::MatchOutcome::NoMatch as i32;
            !(hit || miss) || (miss && !r.reference.is_empty()) || (hit && r.reference.is_empty())
        }) {
            Some("a result is neither a match with a reference nor a no-match without one".into())
        } else if let Some(r) = answer
            .results
            .iter()
            .find(|r| r.reference.len() > crate::refs::MAX_REFERENCE_LEN)
        {
            Some(format!(
                "a reference is {} characters long (at most {})",
                r.reference.len(),
                crate::refs::MAX_REFERENCE_LEN
            ))
        } else {
            // Held to this node's own copy of the agreement the answer names.
            match self.own_permit(peer, &answer.agreement_id, Service::ManifestCheck, purpose) {
                Err(why) => Some(why),
                Ok(p) if answer.retention_days > p.retention_days => Some(format!(
                    "it says to keep the answer {} days, the agreement at most {}",
                    answer.retention_days, p.retention_days
                )),
                Ok(_) => None,
            }
        };
        if let Some(problem) = problem {
            call.outcome.code = tonic::Code::DataLoss as i32;
            call.fail(
                "answer.batch_mismatch",
                format!("{peer} {problem}"),
                Some(&receipt),
            )
            .await?;
            warn!(peer = %peer, "answer discarded: {problem}");
            return Err(ExchangeError::data_loss(format!(
                "answer.batch_mismatch: {peer}'s answer is not used: {problem}"
            )));
        }
        let audit_index = call.record(Some(&receipt)).await?;
        for (pos, r) in sent_positions.iter().zip(&answer.results) {
            result[*pos].outcome = r.outcome;
            result[*pos].reference = r.reference.clone();
        }
        for pos in &protected {
            result[*pos].outcome = pb::MatchOutcome::Unspecified as i32;
            result[*pos].reference = format!("not sent: protected against {peer}");
        }
        let hits = answer
            .results
            .iter()
            .filter(|r| r.outcome == pb::MatchOutcome::Match as i32)
            .count();
        info!(operator = %operator.name, peer = %peer, travellers = answer.results.len(), hits,
            withheld = protected.len(), "manifest checked with a peer");
        Ok(pb::CheckWithPeerResponse {
            travellers: result,
            agreement_id: answer.agreement_id,
            retention_days: answer.retention_days,
            fields_sent,
            audit_index,
        })
    }
}
