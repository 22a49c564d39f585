//! The one way this node calls a peer: [`PeerCall`] holds the exchange as its outgoing
//! audit entry will say it, runs the call under the peer timeout, checks the peer's
//! receipt against this very request and answer, and writes the entry (with the receipt,
//! or with the failure and the receipt that failed as evidence) before anything reaches
//! whoever asked. Witnessing uses the timeout and the receipt check but writes no entry:
//! the cosignature it gets is stored in the log itself.

use std::future::Future;
use std::time::Duration;

use prost::Message;
use puente_audit::seen::Stated;
use puente_pki::{CountryCode, PeerIdentity};
use puente_policy::{Purpose, Service};
use puente_proto::v1 as pb;
use puente_proto::v1::exchange_client::ExchangeClient;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tracing::warn;

use super::receipt::{kept, Kept, ReceiptProblem};
use crate::client::{exchange_client, status_text};
use crate::error::ExchangeError;
use crate::limits::within;
use crate::outcome::{sha256, Outcome};
use crate::peers::PeerLink;
use crate::state::NodeState;

/// A peer's refusal or failure as this node's operator should see it; its rule stays the
/// one the peer named.
pub fn peer_status(peer: CountryCode, s: &Status) -> ExchangeError {
    let rule = ExchangeError::from_peer(s).rule;
    let text = match s.code() {
        Code::PermissionDenied => format!("{peer} refused: {}", s.message()),
        Code::InvalidArgument => format!("{peer} found the request invalid: {}", s.message()),
        Code::NotFound => format!("{peer}: {}", s.message()),
        Code::Unimplemented => format!("{peer} does not serve this yet: {}", s.message()),
        Code::Unavailable | Code::Unknown | Code::DeadlineExceeded | Code::Cancelled => {
            return ExchangeError {
                rule,
                ..ExchangeError::unavailable(format!(
                    "peer {peer} is unreachable: {}",
                    status_text(s)
                ))
            };
        }
        _ => format!("{peer}: {}", status_text(s)),
    };
    ExchangeError {
        rule,
        ..ExchangeError::new(s.code(), text)
    }
}

/// One call to a peer, from opening to its outgoing audit entry.
#[derive(Debug)]
pub struct PeerCall<'a> {
    state: &'a NodeState,
    /// The peer asked.
    pub peer: CountryCode,
    actor: &'a PeerIdentity,
    service: Service,
    request_sha256: [u8; 32],
    stated: Stated,
    timeout: Duration,
    /// What the exchange did so far (the entry records it).
    pub outcome: Outcome,
}

impl<'a> PeerCall<'a> {
    /// A client of the peer over its pooled channel.
    pub fn client(link: &PeerLink) -> ExchangeClient<Channel> {
        exchange_client(link.channel.channel.clone())
    }

    /// How long the call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The digest of the request sent.
    pub fn request_sha256(&self) -> [u8; 32] {
        self.request_sha256
    }

    /// Runs `call` under the peer timeout (`what` names the method in the error).
    pub async fn send<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, Status> {
        within(self.timeout, what, call)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Checks the peer's receipt for this request and the answer whose digest is in
    /// [`PeerCall::outcome`].
    pub fn verify(&self, receipt: Option<&pb::Receipt>) -> Result<(), ReceiptProblem> {
        let r = receipt.ok_or(ReceiptProblem::Missing)?;
        self.state.accept_receipt(
            self.peer,
            r,
            &self.request_sha256,
            Some(&self.outcome.response_sha256),
            &self.stated,
        )
    }

    /// Requires the peer's receipt to hold (see [`PeerCall::verify`]) and returns it as
    /// kept ([`Kept::Verified`]: without its consistency proofs, checked here against this
    /// node's view of the peer's log); records the failure otherwise, keeping the receipt
    /// that failed whole as evidence.
    pub async fn check_receipt(
        &mut self,
        receipt: Option<pb::Receipt>,
    ) -> Result<pb::Receipt, ExchangeError> {
        let problem = match self.verify(receipt.as_ref()) {
            Ok(()) => {
                return receipt
                    .map(kept)
                    .ok_or_else(|| ExchangeError::data_loss("no receipt"))
            }
            Err(p) => p,
        };
        let peer = self.peer;
        let rule = problem.rule();
        if rule == "receipt.split_view" {
            tracing::error!(peer = %peer, "SPLIT VIEW: {peer}'s log as shown in this receipt does not extend what it showed before; the receipt is kept in this node's audit entry as evidence: {problem}");
        }
        self.outcome.code = Code::DataLoss as i32;
        // The receipt that failed is kept whole, as the peer sent it: evidence.
        self.fail_as(
            &rule,
            format!("{peer} {problem}"),
            receipt.as_ref(),
            Kept::AsReceived,
        )
        .await?;
        warn!(peer = %peer, "answer discarded: the receipt does not hold: {problem}");
        Err(ExchangeError::data_loss(format!(
            "{peer}'s receipt does not hold ({problem}); its answer is not used"
        )))
    }

    /// Records that this node refuses the peer's answer by `rule` (its receipt, which
    /// held, kept as [`Kept::Verified`]).
    pub async fn fail(
        &mut self,
        rule: &str,
        reason: String,
        receipt: Option<&pb::Receipt>,
    ) -> Result<u64, ExchangeError> {
        self.fail_as(rule, reason, receipt, Kept::Verified).await
    }

    async fn fail_as(
        &mut self,
        rule: &str,
        reason: String,
        receipt: Option<&pb::Receipt>,
        kept: Kept,
    ) -> Result<u64, ExchangeError> {
        self.outcome.decision = pb::Decision::Refused as i32;
        self.outcome.rule = rule.to_string();
        self.outcome.reason = reason;
        self.record_as(receipt, kept).await
    }

    /// The peer refused or could not be reached (`audited` is what the entry records):
    /// records it with the peer's receipt when that holds for the refusal it sent.
    pub async fn refused(self, audited: &Status) -> Result<(), ExchangeError> {
        let said = sha256(audited.message().as_bytes());
        let receipt = crate::error::receipt_of(audited).filter(|r| {
            self.state
                .accept_receipt(
                    self.peer,
                    r,
                    &self.request_sha256,
                    Some(&said),
                    &self.stated,
                )
                .is_ok()
        });
        let outcome = self
            .outcome
            .clone()
            .refused(&ExchangeError::from_peer(audited));
        self.state
            .record_outgoing(
                self.peer.as_str(),
                self.actor,
                self.request_sha256,
                &outcome,
                receipt.as_ref().map(|r| (r, Kept::Verified)),
            )
            .await
            .map(|_| ())
    }

    /// Writes the outgoing entry (with the peer's receipt, verified); its index. An
    /// answered query or copy also counts against this node's own tally of what it used
    /// of the peer's daily quota (`puente status` shows it beside the peer's limit).
    pub async fn record(&self, receipt: Option<&pb::Receipt>) -> Result<u64, ExchangeError> {
        self.record_as(receipt, Kept::Verified).await
    }

    async fn record_as(
        &self,
        receipt: Option<&pb::Receipt>,
        kept: Kept,
    ) -> Result<u64, ExchangeError> {
        let index = self
            .state
            .record_outgoing(
                self.peer.as_str(),
                self.actor,
                self.request_sha256,
                &self.outcome,
                receipt.map(|r| (r, kept)),
            )
            .await?;
        let counted = matches!(self.service, Service::IdentityQuery | Service::PassportCopy);
        if counted
            && self.outcome.decision == pb::Decision::Allowed as i32
            && !self.outcome.agreement_id.is_empty()
        {
            let own = self.state.country();
            let today = self.state.now().date();
            let _ = self.state.store.try_consume(
                &self.outcome.agreement_id,
                own.as_str(),
                self.service,
                today,
                u64::MAX,
            );
        }
        Ok(index)
    }
}

impl NodeState {
    /// Opens a call to `peer` on behalf of `actor` (an operator, or this node itself):
    /// `request` is what will be sent, `stated` the checkpoints of the peer's log it
    /// names.
    #[allow(clippy::too_many_arguments)]
    pub fn peer_call<'a, M: Message>(
        &'a self,
        peer: CountryCode,
        actor: &'a PeerIdentity,
        service: Service,
        purpose: Purpose,
        case_reference: &str,
        request: &M,
        stated: Stated,
    ) -> PeerCall<'a> {
        PeerCall {
            state: self,
            peer,
            actor,
            service,
            request_sha256: sha256(&request.encode_to_vec()),
            stated,
            timeout: self.peer_timeout(),
            outcome: Outcome::new(service, purpose, case_reference),
        }
    }

    /// The link to a peer an operator named, refusing this country itself, an unknown
    /// peer, and any call this node could not record (disk reserve).
    pub(crate) fn link(
        &self,
        peer_country: &str,
    ) -> Result<(CountryCode, PeerLink), ExchangeError> {
        let peer = CountryCode::parse(peer_country.trim())
            .map_err(|e| ExchangeError::invalid_argument(format!("peer_country: {e}")))?;
        if peer == self.node.country() {
            return Err(ExchangeError::invalid_argument(format!("peer_country: {peer} is this node's own country; search own records with `puente records search`")));
        }
        // Nothing is asked that this node could not record.
        self.disk.check()?;
        let link = self.peer_link(peer).ok_or_else(|| {
            ExchangeError::failed_precondition(format!(
                "peer_country: {peer} is not a trusted peer of this node"
            ))
        })?;
        Ok((peer, link))
    }

    /// The link to a peer this node calls by itself (sync, alerts, witnessing).
    pub(crate) fn own_link(&self, peer: CountryCode) -> Result<PeerLink, ExchangeError> {
        self.peer_link(peer)
            .ok_or_else(|| ExchangeError::failed_precondition(format!("{peer} is not a peer")))
    }

    /// How long one call to a peer may take (`server.peer_timeout_secs`).
    pub fn peer_timeout(&self) -> Duration {
        Duration::from_secs(self.node.config.server.peer_timeout_secs)
    }

    /// The context of a request to `peer` on behalf of `operator`, and the checkpoints of
    /// `peer`'s log it names (its receipt must extend each). With `case_required` (an
    /// identity query, a passport copy), an empty case reference is refused here, before
    /// anything is sent.
    pub(crate) fn outgoing_context(
        &self,
        peer: CountryCode,
        operator: &PeerIdentity,
        ctx: Option<&pb::RequestContext>,
        case_required: bool,
    ) -> Result<(pb::RequestContext, Stated), ExchangeError> {
        use ring::rand::SecureRandom;
        let checked = if case_required {
            crate::answer::authorize::case_context(ctx)?
        } else {
            crate::answer::authorize::context(ctx)?
        };
        let mut nonce = vec![0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| ExchangeError::unavailable("the system's random source failed"))?;
        let stated = self.receipts.known(&format!("puente/{peer}/audit"));
        Ok((
            pb::RequestContext {
                purpose: checked.purpose as i32,
                case_reference: checked.case_reference,
                // Who asks is the operator's certificate, not what the request claims.
                operator_id: operator.name.clone(),
                request_id: ctx.map(|c| c.request_id.clone()).unwrap_or_default(),
                nonce,
                known_log_sizes: stated.iter().map(|s| s.0).collect(),
            },
            stated,
        ))
    }
}
