//! The asker's audit step: the outgoing entry of every exchange this node sends (it holds
//! the peer's receipt), and the check of that receipt: signed by the peer's key in the
//! trust bundle, about this very exchange, consistent with everything seen of the peer's
//! log before.

use prost::Message;
use puente_pki::{CountryCode, PeerIdentity};
use puente_proto::v1 as pb;
use tonic::Code;
use tracing::error;

use crate::error::ExchangeError;
use crate::metrics::Direction;
use crate::outcome::Outcome;
use crate::state::NodeState;

/// Why a peer's receipt is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptProblem {
    /// The peer sent none.
    #[error("sent no receipt")]
    Missing,
    /// The peer's key is not in the trust bundle.
    #[error("{0} is not in the trust bundle")]
    Untrusted(CountryCode),
    /// The receipt is from another log.
    #[error("the receipt names log {got:?}, not {expected}")]
    WrongLog {
        /// The origin the receipt names.
        got: String,
        /// The peer's log.
        expected: String,
    },
    /// The receipt does not verify, is about another exchange, or shows a history that
    /// does not extend what was seen before.
    #[error("{0}")]
    Rejected(#[source] puente_audit::error::AuditError),
}

impl ReceiptProblem {
    /// The rule the receipt broke (`receipt.split_view`, `receipt.other_request`, …), or
    /// `receipt.invalid`.
    pub fn rule(&self) -> String {
        match self {
            Self::Rejected(e) => e
                .to_string()
                .split(|c: char| c.is_whitespace() || c == ':')
                .find(|w| w.starts_with("receipt.") && w.len() > 8)
                .unwrap_or("receipt.invalid")
                .to_string(),
            _ => "receipt.invalid".into(),
        }
    }
}

/// How much of a peer's receipt an outgoing entry keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// A receipt that verified: kept without its consistency proofs. What proves the peer
    /// logged the exchange stays whole — the entry's digests, the signed checkpoint and
    /// the inclusion proof of the entry in it (`puente audit verify` checks them again).
    /// The consistency proofs only showed, when the answer came, that the peer's log
    /// extended the checkpoints of it this node had seen; they were checked then, and the
    /// checkpoints themselves stay in the entries: any two of them can be proved
    /// consistent again later, and two that cannot are the evidence of a split view. They
    /// were most of an outgoing entry (2,830 bytes an entry before, 990 after, at 128
    /// queries in flight). The operator's answer carries the receipt in this form too: the
    /// proofs start from checkpoints only this node holds, so nobody else could check
    /// them.
    Verified,
    /// A receipt that failed its check: kept whole, exactly as the peer sent it.
    AsReceived,
}

/// A verified receipt as it is kept and shown to the operator ([`Kept::Verified`]).
pub fn kept(mut r: pb::Receipt) -> pb::Receipt {
    r.consistency_proofs = Vec::new();
    r
}

/// The encoding of `r` an outgoing entry keeps (see [`Kept`]).
pub fn kept_receipt(r: &pb::Receipt, how: Kept) -> Vec<u8> {
    match how {
        Kept::Verified if !r.consistency_proofs.is_empty() => kept(r.clone()).encode_to_vec(),
        _ => r.encode_to_vec(),
    }
}

impl NodeState {
    /// Records an exchange this node sent, with the peer's receipt (see [`Kept`]).
    pub(crate) async fn record_outgoing(
        &self,
        peer: &str,
        operator: &PeerIdentity,
        request_sha256: [u8; 32],
        o: &Outcome,
        peer_receipt: Option<(&pb::Receipt, Kept)>,
    ) -> Result<u64, ExchangeError> {
        let e = self.entry(
            pb::Direction::Outgoing,
            peer,
            &operator.urn(),
            request_sha256,
            o,
            peer_receipt.map(|(r, kept)| kept_receipt(r, kept)),
        );
        if let Ok(peer) = CountryCode::parse(peer) {
            if peer_receipt.is_some() {
                // Only an answer the peer signed proves it is there.
                self.metrics.peer_contact(peer);
            }
            self.count(Direction::Outgoing, peer, o, Code::from_i32(o.code));
        }
        self.disk.check()?;
        self.audit.append(e).await.map(|r| r.entry_index).map_err(|err| {
            error!("audit append failed for an outgoing exchange: {err}");
            ExchangeError::unavailable(format!("audit.unavailable: the audit log cannot record this exchange ({err}); its answer is withheld; if the store reports an I/O error, free space and restart the node"))
        })
    }

    /// Accepts a peer's receipt for one exchange: signed by the peer's key in the trust
    /// bundle, its entry about `request_sha256` and (when known) `response_sha256`, its
    /// checkpoint consistent with every one of that peer's log seen before (the request
    /// named `stated`), its entry not used by an earlier exchange.
    pub fn accept_receipt(
        &self,
        peer: CountryCode,
        r: &pb::Receipt,
        request_sha256: &[u8; 32],
        response_sha256: Option<&[u8; 32]>,
        stated: &[(u64, [u8; 32])],
    ) -> Result<(), ReceiptProblem> {
        let key = self.peer_key(peer).ok_or(ReceiptProblem::Untrusted(peer))?;
        let origin = format!("puente/{peer}/audit");
        if r.origin != origin {
            return Err(ReceiptProblem::WrongLog {
                got: r.origin.clone(),
                expected: origin,
            });
        }
        let expected = puente_audit::receipt::Expected {
            request_sha256,
            response_sha256,
            stated,
        };
        self.receipts
            .accept(r, &key, expected)
            .map(|_| ())
            .map_err(ReceiptProblem::Rejected)
    }
}

/// Most of this node's latest entries read at start for the receipts they keep.
pub const RESTORE_SCAN: u64 = 20_000;

impl NodeState {
    /// What this node had seen of each peer's log before it stopped, taken back at start
    /// so that a peer cannot show another history (or roll back) across a restart: the
    /// largest checkpoint of each peer's log in a receipt this node accepted (its latest
    /// [`RESTORE_SCAN`] entries, durable before any answer was used), and the one this
    /// node last cosigned for the peer as its witness. The next request names them, and
    /// the peer's receipt must prove its log extends them. A conflict between the two is
    /// a split view, logged as an error. Returns the checkpoints taken back.
    pub fn restore_peer_views(&self) -> usize {
        let peers = self.peer_countries();
        let mut best: std::collections::BTreeMap<CountryCode, pb::Receipt> = Default::default();
        let trees = self.audit.trees();
        let size = trees.size().unwrap_or(0);
        for index in (size.saturating_sub(RESTORE_SCAN)..size).rev() {
            if best.len() == peers.len() {
                break;
            }
            let Ok(Some(bytes)) = trees.entry_bytes(index) else {
                continue;
            };
            let Ok(e) = puente_audit::Entry::decode(&bytes) else {
                continue;
            };
            // Receipts kept as evidence of a failure are not what was accepted.
            if e.direction != pb::Direction::Outgoing as i32
                || puente_audit::verify::keeps_evidence(&e)
            {
                continue;
            }
            let (Ok(peer), Some(raw)) =
                (CountryCode::parse(&e.peer_country), &e.counterpart_receipt)
            else {
                continue;
            };
            if best.contains_key(&peer) || !peers.contains(&peer) {
                continue;
            }
            if let Ok(r) = pb::Receipt::decode(raw.as_slice()) {
                best.insert(peer, r);
            }
        }
        let mut restored = 0;
        for peer in peers {
            let Some(key) = self.peer_key(peer) else {
                continue;
            };
            let origin = format!("puente/{peer}/audit");
            let mut seen = Vec::new();
            if let Some(cp) = best
                .get(&peer)
                .and_then(|r| self.receipts.verify(r, &key).ok())
            {
                seen.push((cp.size, cp.root, "a receipt it accepted"));
            }
            if let Ok(Some(v)) = trees.witnessed.get(peer.as_str()) {
                if let Some(w) = crate::sync::witness::state::Witnessed::decode(&v) {
                    seen.push((w.size, w.root, "the checkpoint this node cosigned"));
                }
            }
            for (size, root, what) in seen {
                match self.receipts.witnessed(&origin, size, root) {
                    Ok(()) => restored += 1,
                    Err(e) => {
                        error!(peer = %peer, "SPLIT VIEW: {what} of {peer}'s log at size {size} conflicts with another seen before this start: {e}")
                    }
                }
            }
        }
        restored
    }
}
