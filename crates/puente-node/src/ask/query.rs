//! `Local.Query` on the asking side: an operator's identity query, forwarded by this node
//! to the named peer under the node's own identity, with the operator's id (from the
//! operator's verified certificate), purpose and case reference. Before a query leaves,
//! the node refuses to ask a country about a person it holds as protected against that
//! country; after it returns, the answer must carry exactly the fields it says.

use std::collections::BTreeSet;

use prost::Message;
use puente_pki::{PeerIdentity, Role};
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use tracing::{info, warn};

use super::call::{peer_status, PeerCall};
use super::held;
use crate::answer::query::protection_verdict;
use crate::convert;
use crate::error::ExchangeError;
use crate::limits::timed;
use crate::outcome::sha256;
use crate::state::NodeState;

impl NodeState {
    /// `Local.Query`: forward an operator's identity query to a peer. The answer reaches
    /// the operator only after the peer's receipt verified and this node's own outgoing
    /// entry (holding that receipt) is durable.
    pub async fn forward_query(
        &self,
        operator: &PeerIdentity,
        req: &pb::QueryRequest,
    ) -> Result<pb::QueryResponse, ExchangeError> {
        let (peer, link) = self.link(&req.peer_country)?;
        let (context, stated) =
            self.outgoing_context(peer, operator, req.context.as_ref(), true)?;
        let terms = convert::terms(req.query.as_ref())?;
        let purpose = Purpose::try_from(context.purpose).unwrap_or(Purpose::Unspecified);
        let case_reference = context.case_reference.clone();
        let request = pb::QueryIdentityRequest {
            context: Some(context),
            query: req.query.clone(),
            max_matches: req.max_matches,
        };
        let mut call = self.peer_call(
            peer,
            operator,
            Service::IdentityQuery,
            purpose,
            &case_reference,
            &request,
            stated,
        );
        call.outcome.terms = terms.audit_terms();
        // Non-refoulement on the asking side: never ask a country about a person this
        // country protects against it.
        let own = self.find(&terms, 20, None).await?;
        let peer_id = PeerIdentity {
            country: peer,
            role: Role::Node,
            name: String::new(),
        };
        if own
            .candidates
            .iter()
            .any(|(s, _)| protection_verdict(&s.record, &peer_id).is_err())
        {
            warn!(operator = %operator.name, peer = %peer, "query not sent: a matching person is protected against the peer");
            let refusal = ExchangeError::permission_denied(format!(
                "protection.outgoing: this country holds a person matching these terms who is protected against {peer}; the query is not sent"
            ));
            call.outcome = call.outcome.clone().refused(&refusal);
            call.outcome.decision = pb::Decision::Withheld as i32;
            call.record(None).await?;
            return Err(refusal);
        }
        let mut client = PeerCall::client(&link);
        let sent = call
            .send(
                "QueryIdentity",
                client.query_identity(timed(request, call.timeout())),
            )
            .await;
        let mut answer = match sent {
            Ok(answer) => answer,
            Err(status) => {
                call.refused(&status).await?;
                return Err(peer_status(peer, &status));
            }
        };
        let receipt = answer.receipt.take();
        call.outcome.response_sha256 = sha256(&answer.encode_to_vec());
        call.outcome.agreement_id = answer.agreement_id.clone();
        call.outcome.disclosed_fields = answer.disclosed_fields.clone();
        let receipt = call.check_receipt(receipt).await?;
        check_disclosure(&mut call, &answer, &receipt).await?;
        let held = self
            .own_permit(peer, &answer.agreement_id, Service::IdentityQuery, purpose)
            .map(|permit| held::query_answer_problem(&answer, &permit, req.max_matches));
        if let Some(problem) = held.unwrap_or_else(Some) {
            return Err(not_granted(&mut call, &receipt, problem).await);
        }
        let audit_index = call.record(Some(&receipt)).await?;
        info!(operator = %operator.name, peer = %peer, matches = answer.matches.len(), "query answered");
        Ok(pb::QueryResponse {
            peer_country: peer.to_string(),
            outcome: answer.outcome,
            mode: answer.mode,
            matches: answer.matches,
            disclosed_fields: answer.disclosed_fields,
            agreement_id: answer.agreement_id,
            retention_days: answer.retention_days,
            receipt_verified: true,
            audit_index,
            peer_receipt: Some(receipt),
        })
    }
}

/// Requires an answer to carry exactly the fields it says it disclosed, and a hit/no-hit
/// answer nothing but references; records the failure otherwise.
async fn check_disclosure(
    call: &mut PeerCall<'_>,
    answer: &pb::QueryIdentityResponse,
    receipt: &pb::Receipt,
) -> Result<(), ExchangeError> {
    let said: BTreeSet<i32> = answer.disclosed_fields.iter().copied().collect();
    let carried: BTreeSet<i32> = answer
        .matches
        .iter()
        .filter_map(|m| m.person.as_ref())
        .flat_map(convert::present_fields)
        .map(|f| f as i32)
        .collect();
    let problem = if answer.mode == pb::Mode::HitNoHit as i32
        && answer
            .matches
            .iter()
            .any(|m| m.person.is_some() || m.score_permille != 0)
    {
        "a hit/no-hit answer carries persons or scores".to_string()
    } else if said != carried {
        format!("the answer says it disclosed fields {said:?} but carries {carried:?}")
    } else {
        return Ok(());
    };
    let peer = call.peer;
    call.outcome.code = tonic::Code::DataLoss as i32;
    call.fail(
        "answer.fields_mismatch",
        format!("{peer} {problem}"),
        Some(receipt),
    )
    .await?;
    warn!(peer = %peer, "answer discarded: {problem}");
    Err(ExchangeError::data_loss(format!(
        "answer.fields_mismatch: {peer}'s answer is not used: {problem}"
    )))
}

/// Records that the peer's answer goes beyond this node's copy of the agreement it names
/// (rule `answer.not_granted`, its receipt kept) and gives the operator's error.
pub(super) async fn not_granted(
    call: &mut PeerCall<'_>,
    receipt: &pb::Receipt,
    problem: String,
) -> ExchangeError {
    let peer = call.peer;
    call.outcome.code = tonic::Code::DataLoss as i32;
    if let Err(e) = call
        .fail(
            "answer.not_granted",
            format!("{peer}'s answer goes beyond the agreement: {problem}"),
            Some(receipt),
        )
        .await
    {
        return e;
    }
    warn!(peer = %peer, "answer discarded: {problem}");
    ExchangeError::data_loss(format!(
        "answer.not_granted: {peer}'s answer is not used: {problem}"
    ))
}
