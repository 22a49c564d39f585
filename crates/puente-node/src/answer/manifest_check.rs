//! Answering `Exchange.CheckManifest` (agreement service `manifest_check`): a batch of a
//! manifest's travellers, each looked up by document (by name when it has none), answered
//! hit/no-hit with a reference and nothing else. The order is the identity query's:
//! validate every traveller, evaluate the agreement (the fields sent must be granted;
//! at most the grant's `max_batch` travellers; one quota unit per traveller, all taken
//! or none), match each traveller for the asking country with the persons the
//! protection rule shields from it set aside (such a person is NO_MATCH, exactly as if
//! not held), then answer.
//!
//! One audit entry per batch: its term is the root of a Merkle tree with one leaf per
//! traveller, each leaf that traveller's keyed hashes ([`traveller_leaves`]), so the
//! entry stays one size whatever the batch and any traveller's part can be proven.

use std::collections::BTreeSet;

use puente_pki::PeerIdentity;
use puente_policy::{Field, Purpose, Service};
use puente_proto::v1 as pb;
use puente_records::store::Stored;
use tracing::info;

use super::audit::digest_of;
use super::query::internal;
use crate::convert::{self, Terms};
use crate::error::ExchangeError;
use crate::outcome::Outcome;
use crate::refs::Reference;
use crate::state::NodeState;

/// Most travellers one request may carry, whatever a grant says (checked before the
/// request is read further).
pub const MAX_TRAVELLERS: usize = puente_policy::agreement::MAX_BATCH_LIMIT as usize;

/// One traveller's terms: by document, by name, or both (document first).
#[derive(Clone, Debug)]
pub struct TravellerTerms {
    /// Document number and issuing state.
    pub document: Option<Terms>,
    /// Names and date of birth.
    pub name: Option<Terms>,
}

impl TravellerTerms {
    /// What a traveller is looked up by: the document when one is given (a miss is a
    /// no-match, as for a document query), else the name.
    pub fn lookup(&self) -> Option<&Terms> {
        self.document.as_ref().or(self.name.as_ref())
    }

    /// The canonical text of the terms, hashed with the audit key for the traveller's
    /// leaf (never stored as such).
    fn canonical(&self, i: usize) -> String {
        let mut parts = vec![i.to_string()];
        for t in [&self.document, &self.name].into_iter().flatten() {
            for (label, v) in t.audit_terms() {
                parts.push(format!("{label}={v}"));
            }
        }
        parts.join("\u{1f}")
    }
}

/// The fields a traveller sets, as grant vocabulary.
pub fn fields_of(t: &pb::ManifestTraveller) -> Vec<Field> {
    let mut f = Vec::new();
    let set = |s: &str| !s.trim().is_empty();
    if set(&t.given_names) {
        f.push(Field::GivenNames);
    }
    if set(&t.surnames) {
        f.push(Field::Surnames);
    }
    if t.date_of_birth.as_ref().is_some_and(|d| d.year > 0) {
        f.push(Field::DateOfBirth);
    }
    if t.sex != pb::Sex::Unspecified as i32 {
        f.push(Field::Sex);
    }
    if set(&t.nationality) {
        f.push(Field::Nationality);
    }
    if set(&t.document_number) {
        f.push(Field::DocumentNumber);
    }
    if set(&t.issuing_state) {
        f.push(Field::IssuingState);
    }
    f
}

/// Validates traveller `i` into its terms.
pub fn traveller_terms(
    i: usize,
    t: &pb::ManifestTraveller,
) -> Result<TravellerTerms, ExchangeError> {
    let at = |e: ExchangeError| {
        ExchangeError::invalid_argument(format!("travellers[{i}]: {}", e.message))
    };
    let document = if t.document_number.trim().is_empty() && t.issuing_state.trim().is_empty() {
        None
    } else {
        let q = pb::IdentityQuery {
            terms: Some(pb::identity_query::Terms::Document(pb::DocumentTerms {
                document_number: t.document_number.clone(),
                issuing_state: t.issuing_state.clone(),
                document_type: pb::DocumentType::Passport as i32,
            })),
        };
        Some(convert::terms(Some(&q)).map_err(at)?)
    };
    let has_name = !t.surnames.trim().is_empty() || !t.given_names.trim().is_empty();
    let name = if has_name {
        let q = pb::IdentityQuery {
            terms: Some(pb::identity_query::Terms::Name(pb::NameTerms {
                given_names: t.given_names.clone(),
                surnames: t.surnames.clone(),
                date_of_birth: t.date_of_birth,
                nationality: t.nationality.clone(),
                sex: (t.sex != pb::Sex::Unspecified as i32).then_some(t.sex),
            })),
        };
        Some(convert::terms(Some(&q)).map_err(at)?)
    } else {
        None
    };
    if document.is_none() && name.is_none() {
        return Err(ExchangeError::invalid_argument(format!(
            "travellers[{i}]: give document_number with issuing_state, or a name with date_of_birth"
        )));
    }
    Ok(TravellerTerms { document, name })
}

/// How many quota units the exchange of an audit entry took, for the recount at start
/// ([`crate::store::Store::recount_quota`]): one, but a manifest check one per traveller.
/// Its entry keeps the batch size only as a keyed hash (term `manifest_travellers`), so
/// the size is found among the hashes of every size a batch may have; an entry whose
/// size is not found counts [`MAX_TRAVELLERS`] (never fewer units than were taken).
pub fn units_of(key: &puente_records::DataKey) -> impl Fn(&puente_audit::EntryRef) -> u64 {
    let sizes: std::collections::HashMap<[u8; 32], u64> = (1..=MAX_TRAVELLERS as u64)
        .map(|n| (key.audit_hash(TRAVELLERS_TERM, &n.to_string()), n))
        .collect();
    move |e: &puente_audit::EntryRef| {
        if e.service != Service::ManifestCheck as i32 {
            return 1;
        }
        e.query_term_hashes()
            .find(|(label, _)| *label == TRAVELLERS_TERM)
            .and_then(|(_, h)| sizes.get(&h).copied())
            .unwrap_or(MAX_TRAVELLERS as u64)
    }
}

/// The audit term holding a manifest check's batch size.
pub(crate) const TRAVELLERS_TERM: &str = "manifest_travellers";

/// The Merkle leaves of a batch: one per traveller, the leaf hash of its position and
/// the keyed hash (audit key) of its terms.
pub fn traveller_leaves(
    key: &puente_records::DataKey,
    terms: &[TravellerTerms],
) -> Vec<puente_audit::merkle::Hash> {
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let keyed = key.audit_hash("manifest_traveller", &t.canonical(i));
            puente_audit::merkle::leaf_hash(&keyed)
        })
        .collect()
}

impl NodeState {
    /// Answers `Exchange.CheckManifest`, recording the batch in one audit entry before
    /// the answer (or the refusal) leaves.
    pub async fn answer_manifest_check(
        &self,
        caller: &PeerIdentity,
        req: &pb::CheckManifestRequest,
    ) -> Result<pb::CheckManifestResponse, ExchangeError> {
        let mut audited = self.audited(
            caller,
            Service::ManifestCheck,
            Purpose::Unspecified,
            req,
            req.context.as_ref(),
        );
        let answer = self.check_inner(caller, req, &mut audited.outcome).await;
        let (mut answer, receipt) = audited.close(answer, digest_of).await?;
        answer.receipt = Some(receipt);
        Ok(answer)
    }

    async fn check_inner(
        &self,
        caller: &PeerIdentity,
        req: &pb::CheckManifestRequest,
        o: &mut Outcome,
    ) -> Result<pb::CheckManifestResponse, ExchangeError> {
        let ctx = super::authorize::context(req.context.as_ref())?;
        let n = req.travellers.len();
        if n == 0 {
            return Err(ExchangeError::invalid_argument(
                "travellers: give at least one",
            ));
        }
        if n > MAX_TRAVELLERS {
            return Err(ExchangeError::invalid_argument(format!(
                "travellers: {n} in one call; at most {MAX_TRAVELLERS}"
            )));
        }
        let mut sent: BTreeSet<Field> = BTreeSet::new();
        let mut terms = Vec::with_capacity(n);
        for (i, t) in req.travellers.iter().enumerate() {
            sent.extend(fields_of(t));
            terms.push(traveller_terms(i, t)?);
        }
        let root = puente_audit::merkle::mth(&traveller_leaves(&self.node.data_key, &terms));
        o.terms = vec![
            ("manifest_travellers_root", hex::encode(root)),
            (TRAVELLERS_TERM, n.to_string()),
        ];
        let fields: Vec<Field> = sent.into_iter().collect();
        let permit = self
            .authorize_units(
                caller,
                Service::ManifestCheck,
                ctx.purpose,
                Some(&fields),
                u32::try_from(n).unwrap_or(u32::MAX),
            )
            .await?;
        o.agreement_id = permit.agreement_id.clone();
        let now = (self.clock)();
        let ttl = time::Duration::minutes(
            i64::try_from(self.node.config.records.reference_ttl_minutes).unwrap_or(60),
        );
        let mut results = Vec::with_capacity(n);
        let mut withheld_rule = None;
        let mut hits = 0usize;
        for t in &terms {
            let (hit, withheld) = self.check_one(caller, t).await?;
            if withheld.is_some() {
                withheld_rule = withheld;
            }
            results.push(match hit {
                Some(stored) => {
                    hits += 1;
                    pb::TravellerResult {
                        outcome: pb::MatchOutcome::Match as i32,
                        reference: self
                            .refs
                            .issue(&Reference {
                                record: stored.id,
                                country: caller.country.to_string(),
                                agreement: permit.agreement_id.clone(),
                                full: false,
                                expires: (now + ttl).unix_timestamp(),
                            })
                            .map_err(internal)?,
                    }
                }
                None => pb::TravellerResult {
                    outcome: pb::MatchOutcome::NoMatch as i32,
                    reference: String::new(),
                },
            });
        }
        if let Some(rule) = withheld_rule {
            // The audit log records it; the answer does not show it.
            o.decision = pb::Decision::Withheld as i32;
            o.rule = rule.to_string();
        }
        info!(caller = %caller.urn(), travellers = n, hits, agreement = %permit.agreement_id, "manifest checked");
        Ok(pb::CheckManifestResponse {
            results,
            agreement_id: permit.agreement_id,
            retention_days: permit.retention_days,
            receipt: None,
        })
    }

    /// One traveller: the best candidate by document (or by name without one), for `caller`'s
    /// country; persons shielded from it are set aside (and named in the second value).
    async fn check_one(
        &self,
        caller: &PeerIdentity,
        t: &TravellerTerms,
    ) -> Result<(Option<Stored>, Option<&'static str>), ExchangeError> {
        let Some(terms) = t.lookup() else {
            return Ok((None, None));
        };
        let found = match self.find(terms, 1, Some(caller.country)).await {
            Ok(found) => found,
            // A traveller known by initials only gives no name to search by: no match
            // for that traveller, not a failed batch.
            Err(e)
                if e.code == tonic::Code::InvalidArgument
                    && e.message.contains(puente_records::matcher::ONLY_INITIALS) =>
            {
                Default::default()
            }
            Err(e) => return Err(e),
        };
        let (kept, w) = self.screen(caller, found.candidates);
        let withheld = (w.is_some() || !found.withheld.is_empty())
            .then(|| w.unwrap_or("protection.withheld_from_asker"));
        Ok((kept.into_iter().next().map(|(s, _)| s), withheld))
    }
}
