//! Answering identity queries from peers (passport copies: [`super::document`]). Order matters:
//! validate the request, evaluate the agreement (before any data is touched), match for
//! the asking country (persons the protection rule shields from it are set aside before
//! any cap, ranking or cut-off), screen again, then disclose only granted fields. A
//! withheld person leaves the answer exactly as if they were not in the store.

use std::collections::BTreeSet;

use puente_pki::PeerIdentity;
use puente_policy::protection::{screen, Withheld};
use puente_policy::{Mode, Permit, Purpose, Service};
use puente_proto::v1 as pb;
use puente_records::matcher;
use puente_records::store::Stored;
use tracing::info;

use super::audit::digest_of;
use crate::convert::{self, disclose, Terms};
use crate::error::ExchangeError;
use crate::outcome::Outcome;
use crate::refs::Reference;
use crate::state::NodeState;

/// Hard cap on matches per answer, whatever an agreement says.
pub const MAX_MATCHES: usize = 100;

/// What the matching step found.
#[derive(Debug, Default)]
pub struct Found {
    /// Candidates with scores, best first.
    pub candidates: Vec<(Stored, f64)>,
    /// Persons set aside for the audience who would have matched (audit log only).
    pub withheld: Vec<u64>,
}

/// The records store failed: logged here, refused without detail.
pub(crate) fn internal(e: impl std::fmt::Display) -> ExchangeError {
    tracing::error!("records store: {e}");
    ExchangeError::unavailable("the node's records store is unavailable")
}

impl NodeState {
    /// Runs the terms against the records, as answered to `audience` (persons shielded
    /// from it set aside first; `None` sees everyone, for this country's own use). A
    /// document or MRZ query is a point lookup in the index (tens of microseconds) and
    /// runs in place; a name query, which may score many candidates, runs on the
    /// blocking pool.
    pub async fn find(
        &self,
        terms: &Terms,
        limit: usize,
        audience: Option<puente_pki::CountryCode>,
    ) -> Result<Found, ExchangeError> {
        let records = self.records.clone();
        let threshold = self.node.config.records.match_threshold;
        let current_year = (self.clock)().year();
        let run = move |terms: &Terms| -> Result<Found, ExchangeError> {
            let audience = audience.as_ref().map(|c| c.as_str());
            let exact = |found: (Vec<Stored>, Vec<u64>)| Found {
                candidates: found.0.into_iter().map(|s| (s, 1.0)).collect(),
                withheld: found.1,
            };
            Ok(match terms {
                Terms::Document {
                    issuing_state,
                    number,
                } => exact(
                    records
                        .by_document_for(issuing_state, number, audience)
                        .map_err(internal)?,
                ),
                Terms::Mrz(m) => {
                    // The MRZ also states the birth date: a record that disagrees is not
                    // the person.
                    let born = |r: &puente_records::PersonRecord| {
                        let d = r.date_of_birth;
                        d.year == m.birth_date.birth_year(current_year)
                            && d.month.is_none_or(|mm| mm == m.birth_date.mm)
                            && d.day.is_none_or(|dd| dd == m.birth_date.dd)
                    };
                    let (mut found, withheld) = records
                        .by_document_for(&m.issuing_state, &m.document_number, audience)
                        .map_err(internal)?;
                    found.retain(|s| born(&s.record));
                    exact((found, withheld))
                }
                Terms::Name(q) => {
                    let found = matcher::search_with_stats(
                        &records,
                        q,
                        threshold,
                        limit.max(1) * 4,
                        audience,
                        &mut Default::default(),
                    )
                    .map_err(|e| ExchangeError::invalid_argument(e.to_string()))?;
                    Found {
                        candidates: found
                            .matches
                            .into_iter()
                            .map(|m| (m.stored, m.score))
                            .collect(),
                        withheld: found.withheld,
                    }
                }
            })
        };
        // Matching reads under the records' view: an import or deletion being applied
        // is seen whole or not at all. A point lookup runs in place unless a change is
        // being applied (then it waits on the blocking pool, not on an async worker).
        if !matches!(terms, Terms::Name(_)) {
            if let Some(_view) = self.records.try_view() {
                return run(terms);
            }
        }
        let terms = terms.clone();
        let records = self.records.clone();
        tokio::task::spawn_blocking(move || {
            let _view = records.view();
            run(&terms)
        })
        .await
        .map_err(internal)?
    }

    /// Answers `Exchange.QueryIdentity` for a verified `caller`, recording the exchange in
    /// the audit log before the answer (or the refusal) leaves.
    pub async fn answer_query(
        &self,
        caller: &PeerIdentity,
        req: &pb::QueryIdentityRequest,
    ) -> Result<pb::QueryIdentityResponse, ExchangeError> {
        let mut audited = self.audited(
            caller,
            Service::IdentityQuery,
            Purpose::Unspecified,
            req,
            req.context.as_ref(),
        );
        let answer = self
            .answer_query_inner(caller, req, &mut audited.outcome)
            .await;
        let (mut answer, receipt) = audited.close(answer, digest_of).await?;
        answer.receipt = Some(receipt);
        Ok(answer)
    }

    async fn answer_query_inner(
        &self,
        caller: &PeerIdentity,
        req: &pb::QueryIdentityRequest,
        o: &mut Outcome,
    ) -> Result<pb::QueryIdentityResponse, ExchangeError> {
        let ctx = super::authorize::case_context(req.context.as_ref())?;
        let terms = convert::terms(req.query.as_ref())?;
        o.terms = terms.audit_terms();
        let permit = self
            .authorize(caller, Service::IdentityQuery, ctx.purpose, None)
            .await?;
        o.agreement_id = permit.agreement_id.clone();
        let limit = match req.max_matches {
            0 => permit.max_matches,
            n => n.min(permit.max_matches),
        } as usize;
        let limit = limit.min(MAX_MATCHES);
        let found = self.find(&terms, limit, Some(caller.country)).await?;
        // Already set aside by the search; screened again in case a record changed.
        let (kept, mut withheld) = self.screen(caller, found.candidates);
        if let (Some(id), None) = (found.withheld.first(), withheld) {
            let records = self.records.clone();
            let id = *id;
            let record = tokio::task::spawn_blocking(move || records.get(id))
                .await
                .map_err(internal)?
                .map_err(internal)?;
            withheld = record.and_then(|r| protection_verdict(&r, caller).err().map(|w| w.rule()));
        }
        if let Some(rule) = withheld {
            // The audit log records it; the answer does not show it.
            o.decision = pb::Decision::Withheld as i32;
            o.rule = rule.to_string();
            info!(caller = %caller.urn(), "candidates withheld by the protection rule");
        }
        let answer = self.respond(caller, &permit, kept.into_iter().take(limit).collect())?;
        o.disclosed_fields = answer.disclosed_fields.clone();
        Ok(answer)
    }

    /// Drops every candidate the protection rule forbids disclosing to `caller`.
    pub fn screen(
        &self,
        caller: &PeerIdentity,
        candidates: Vec<(Stored, f64)>,
    ) -> (Vec<(Stored, f64)>, Option<&'static str>) {
        let mut withheld = None;
        let kept = candidates
            .into_iter()
            .filter(|(s, _)| match protection_verdict(&s.record, caller) {
                Ok(()) => true,
                Err(w) => {
                    withheld = Some(w.rule());
                    false
                }
            })
            .collect();
        (kept, withheld)
    }

    fn respond(
        &self,
        caller: &PeerIdentity,
        permit: &Permit,
        matches: Vec<(Stored, f64)>,
    ) -> Result<pb::QueryIdentityResponse, ExchangeError> {
        let now = (self.clock)();
        let ttl = time::Duration::minutes(
            i64::try_from(self.node.config.records.reference_ttl_minutes).unwrap_or(60),
        );
        let full = permit.mode != Mode::HitNoHit;
        // A hit/no-hit answer says "match" and gives one reference: no score, no count
        // of namesakes, no person.
        let shown = if full {
            matches.len()
        } else {
            matches.len().min(1)
        };
        let mut out = Vec::with_capacity(shown);
        let mut disclosed_fields: BTreeSet<puente_policy::Field> = BTreeSet::new();
        for (stored, score) in matches.iter().take(shown) {
            let reference = self
                .refs
                .issue(&Reference {
                    record: stored.id,
                    country: caller.country.to_string(),
                    agreement: permit.agreement_id.clone(),
                    full,
                    expires: (now + ttl).unix_timestamp(),
                })
                .map_err(internal)?;
            let (person, score_permille) = if full {
                let (p, filled) = disclose(&stored.record, &permit.fields);
                disclosed_fields.extend(filled);
                (Some(p), (score * 1000.0).round().clamp(0.0, 1000.0) as u32)
            } else {
                (None, 0)
            };
            out.push(pb::PersonMatch {
                reference,
                score_permille,
                person,
            });
        }
        let outcome = if out.is_empty() {
            pb::MatchOutcome::NoMatch
        } else {
            pb::MatchOutcome::Match
        };
        Ok(pb::QueryIdentityResponse {
            outcome: outcome as i32,
            mode: match permit.mode {
                Mode::HitNoHit => pb::Mode::HitNoHit,
                _ => pb::Mode::Full,
            } as i32,
            matches: out,
            agreement_id: permit.agreement_id.clone(),
            disclosed_fields: disclosed_fields.into_iter().map(|f| f as i32).collect(),
            receipt: None,
            retention_days: permit.retention_days,
        })
    }
}

/// Whether `record` may be disclosed to `caller` under the protection rule.
pub fn protection_verdict(
    record: &puente_records::PersonRecord,
    caller: &PeerIdentity,
) -> Result<(), Withheld> {
    screen(
        &[record.nationality.as_str()],
        &record.protection(),
        caller.country,
    )
}
