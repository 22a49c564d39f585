//! What an asker has seen of one counterpart's log, so a counterpart can neither show it
//! two histories nor pass one receipt off for two exchanges. Every checkpoint seen in a
//! receipt (or cosigned as a witness) is remembered by size; one of another root at a
//! size already seen is a split view. The largest checkpoint is the frontier; each
//! request names it, and the receipt must prove that its checkpoint extends each size
//! named. Concurrent answers leave checkpoints behind that are not yet shown to be part
//! of the frontier: a request names up to three of them. One such checkpoint is named by
//! the first request after it was seen and, if no answer has linked it after
//! [`RENAME_AFTER`] more requests, by every request until one does (naming each in all
//! requests from the start had every receipt carry about three proofs where one
//! answer's proof suffices; a peer that fails whatever names a checkpoint to keep it
//! unlinked still ends up failing every request, as before).
//! Entry indices of accepted receipts are remembered: a second exchange answered by an
//! entry already used is a replay. Pure: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet};

use puente_proto::v1 as pb;

use crate::checkpoint::Checkpoint;
use crate::merkle::{self, Hash};

/// Checkpoints remembered per log (smallest sizes forgotten first).
const SEEN: usize = 4096;
/// Checkpoints not yet shown to be part of the frontier, kept per log.
const UNLINKED: usize = 256;
/// Entry indices remembered per log (smallest forgotten first: a replay of an entry
/// that old also fails the request digest, which a random nonce makes unique). About
/// 2 MB per peer at most.
const ENTRIES: usize = 1 << 16;
/// Checkpoints (size, root) of a log that a request names.
pub type Stated = Vec<(u64, Hash)>;

/// Sizes a request names at most.
pub const MAX_KNOWN: usize = 4;
/// Requests to a log after the first that named a checkpoint not yet linked, after
/// which every request names it until an answer links it (the first answer did not: an
/// error, a timeout, a peer hiding it). Above the requests usually in flight to one peer,
/// so the first answer normally comes first.
pub const RENAME_AFTER: u64 = 256;

/// Why a receipt was not accepted against what was seen before.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeenError {
    /// The log shows a history that does not extend one it showed before.
    #[error("receipt.split_view: {0}")]
    SplitView(String),
    /// The receipt's entry already stands for another exchange.
    #[error("receipt.replayed: entry {0} of this log already answered an earlier exchange")]
    Replayed(u64),
}

/// One log as seen by this asker.
#[derive(Debug, Default)]
pub struct LogView {
    seen: BTreeMap<u64, Hash>,
    frontier: Option<(u64, Hash)>,
    unlinked: BTreeMap<u64, Unlinked>,
    entries: BTreeSet<u64>,
    /// Requests that named sizes of this log so far.
    requests: u64,
}

/// A checkpoint not yet shown to be part of the frontier.
#[derive(Debug)]
struct Unlinked {
    root: Hash,
    /// The request (by [`LogView::requests`]) that first named it.
    named: Option<u64>,
}

impl LogView {
    /// The sizes (and roots) the next request names: the frontier, then the oldest
    /// checkpoints not yet shown to be part of it, except those first named less than
    /// [`RENAME_AFTER`] requests ago (their answer is awaited).
    pub fn known(&mut self) -> Stated {
        self.requests += 1;
        let now = self.requests;
        let mut stated: Stated = self.frontier.iter().copied().collect();
        for (size, u) in &mut self.unlinked {
            if stated.len() >= MAX_KNOWN {
                break;
            }
            match u.named {
                Some(at) if now - at < RENAME_AFTER => continue,
                Some(_) => {}
                None => u.named = Some(now),
            }
            stated.push((*size, u.root));
        }
        stated
    }

    /// Checks a checkpoint against everything seen, with the proofs from each of the
    /// `stated` sizes the request named; remembers it when it holds.
    pub fn check(
        &mut self,
        cp: &Checkpoint,
        stated: &[(u64, Hash)],
        proofs: &[pb::ConsistencyProof],
    ) -> Result<(), SeenError> {
        let linked = links(cp, stated, proofs);
        self.apply(cp, linked)
    }

    /// The second half of [`LogView::check`], with what [`links`] found (proofs checked
    /// before, outside any lock): refuses a checkpoint of a size seen before with another
    /// root, then the links' verdict; remembers the checkpoint when both hold.
    pub fn apply(
        &mut self,
        cp: &Checkpoint,
        linked: Result<Vec<u64>, SeenError>,
    ) -> Result<(), SeenError> {
        if let Some(root) = self.seen.get(&cp.size) {
            if *root != cp.root {
                return Err(SeenError::SplitView(format!(
                    "two different checkpoints of size {} (the one seen before has root {})",
                    cp.size,
                    hex(root)
                )));
            }
        }
        let linked = linked?;
        for size in &linked {
            self.unlinked.remove(size);
        }
        self.remember(cp.size, cp.root, &linked);
        Ok(())
    }

    /// Takes a checkpoint seen elsewhere (cosigned as a witness): refused if another
    /// root was seen at its size; otherwise remembered, and until a receipt's proofs
    /// link it with the others, the next requests name it.
    pub fn witnessed(&mut self, size: u64, root: Hash) -> Result<(), SeenError> {
        if let Some(seen) = self.seen.get(&size) {
            if *seen != root {
                return Err(SeenError::SplitView(format!(
                    "two different checkpoints of size {size}"
                )));
            }
            return Ok(());
        }
        self.remember(size, root, &[]);
        Ok(())
    }

    fn remember(&mut self, size: u64, root: Hash, linked: &[u64]) {
        self.seen.insert(size, root);
        while self.seen.len() > SEEN {
            self.seen.pop_first();
        }
        match self.frontier {
            None => self.frontier = Some((size, root)),
            Some((f, froot)) if size > f => {
                if !linked.contains(&f) {
                    self.unlink(f, froot);
                }
                self.frontier = Some((size, root));
            }
            // Not (yet) shown to be part of the frontier.
            Some((f, _)) if size < f => self.unlink(size, root),
            Some(_) => {}
        }
        while self.unlinked.len() > UNLINKED {
            self.unlinked.pop_first();
        }
    }

    fn unlink(&mut self, size: u64, root: Hash) {
        self.unlinked
            .entry(size)
            .or_insert(Unlinked { root, named: None });
    }

    /// Claims `index` for one exchange; a second claim is a replay.
    pub fn claim(&mut self, index: u64) -> Result<(), SeenError> {
        if !self.entries.insert(index) {
            return Err(SeenError::Replayed(index));
        }
        while self.entries.len() > ENTRIES {
            self.entries.pop_first();
        }
        Ok(())
    }
}

/// Checks that `cp` extends each checkpoint a request named (`stated`), with the
/// receipt's consistency proofs; the sizes so linked. Pure (no view), so a verifier can
/// run it before taking the lock over its views (issue 20: the proofs' hashing held
/// that lock on every query).
pub fn links(
    cp: &Checkpoint,
    stated: &[(u64, Hash)],
    proofs: &[pb::ConsistencyProof],
) -> Result<Vec<u64>, SeenError> {
    links_known(cp, stated, proofs, |_, _, _| false, &mut Vec::new())
}

/// A consistency link verified by hashing its proof: the size and root it starts from,
/// and the proof's hashes (it ends at the checkpoint checked).
pub type Learned = (u64, Hash, Vec<Hash>);

/// [`links`], skipping the hashing of a proof that `proven(size, root, hashes)` says is
/// the very proof verified before for the link from that checkpoint to `cp`'s (a
/// consistency proof between two sizes is unique, so an honest log always sends the same
/// bytes; any other bytes are hashed and judged). The proof must still be in the receipt:
/// a peer that leaves it out breaks the protocol however much this asker already knows.
/// Each proof it does hash and find valid is added to `learned`.
pub fn links_known(
    cp: &Checkpoint,
    stated: &[(u64, Hash)],
    proofs: &[pb::ConsistencyProof],
    proven: impl Fn(u64, &Hash, &[prost::bytes::Bytes]) -> bool,
    learned: &mut Vec<Learned>,
) -> Result<Vec<u64>, SeenError> {
    let mut linked = Vec::with_capacity(stated.len());
    for (size, root) in stated {
        if *size > cp.size {
            return Err(SeenError::SplitView(format!(
                "its checkpoint of size {} is older than the one of size {size} it showed before this request",
                cp.size
            )));
        }
        if *size == cp.size {
            if *root != cp.root {
                return Err(SeenError::SplitView(format!(
                    "two different checkpoints of size {size}"
                )));
            }
        } else {
            let proof = proofs
                .iter()
                .find(|p| p.from_size == *size)
                .ok_or_else(|| {
                    SeenError::SplitView(format!(
                        "no consistency proof from size {size} to {}, which the request asked for",
                        cp.size
                    ))
                })?;
            if proven(*size, root, &proof.hashes) {
                linked.push(*size);
                continue;
            }
            let hashes: Vec<Hash> = proof
                .hashes
                .iter()
                .map(|h| <[u8; 32]>::try_from(&h[..]))
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    SeenError::SplitView(format!(
                        "the consistency proof from size {size} holds a hash that is not 32 bytes"
                    ))
                })?;
            if !merkle::verify_consistency(*size, cp.size, root, &cp.root, &hashes) {
                return Err(SeenError::SplitView(format!(
                    "the checkpoint of size {} does not extend the one of size {size} seen before",
                    cp.size
                )));
            }
            learned.push((*size, *root, hashes));
        }
        linked.push(*size);
    }
    Ok(linked)
}

fn hex(h: &Hash) -> String {
    h.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, mth, HashSource};

    struct Leaves(Vec<Hash>);
    impl HashSource for Leaves {
        type Error = std::convert::Infallible;
        fn range_hash(&self, start: u64, end: u64) -> Result<Hash, Self::Error> {
            Ok(mth(&self.0[start as usize..end as usize]))
        }
    }

    fn log(n: usize, salt: u8) -> Leaves {
        Leaves(
            (0..n)
                .map(|i| merkle::leaf_hash(&[salt, i as u8]))
                .collect(),
        )
    }

    fn cp(l: &Leaves, size: u64) -> Checkpoint {
        Checkpoint {
            origin: "puente/MEX/audit".into(),
            size,
            root: mth(&l.0[..size as usize]),
            time: 0,
        }
    }

    fn proof(l: &Leaves, from: u64, to: u64) -> pb::ConsistencyProof {
        pb::ConsistencyProof {
            from_size: from,
            hashes: merkle::proof_bytes(&consistency_proof(l, from, to).unwrap()),
        }
    }

    #[test]
    fn a_log_that_extends_what_was_seen_is_accepted_and_a_fork_is_not() {
        let honest = log(20, 0);
        // The same first 5 entries, then another history.
        let mut forked = log(20, 1);
        forked.0[..5].copy_from_slice(&honest.0[..5]);
        let mut v = LogView::default();
        v.check(&cp(&honest, 5), &[], &[]).unwrap();
        let known = v.known();
        assert_eq!(known, vec![(5, cp(&honest, 5).root)]);
        v.check(&cp(&honest, 9), &known, &[proof(&honest, 5, 9)])
            .unwrap();
        // Same size, other root.
        let err = v.check(&cp(&forked, 9), &[], &[]).unwrap_err();
        assert!(matches!(err, SeenError::SplitView(_)), "{err}");
        // A larger forked checkpoint with a proof from its own history.
        let known = v.known();
        let err = v
            .check(&cp(&forked, 12), &known, &[proof(&forked, 9, 12)])
            .unwrap_err();
        assert!(matches!(err, SeenError::SplitView(_)), "{err}");
        // No proof at all for a stated size.
        let err = v.check(&cp(&honest, 12), &known, &[]).unwrap_err();
        assert!(matches!(err, SeenError::SplitView(_)), "{err}");
        // An older checkpoint than one stated.
        let err = v.check(&cp(&honest, 7), &known, &[]).unwrap_err();
        assert!(matches!(err, SeenError::SplitView(_)), "{err}");
        v.check(&cp(&honest, 12), &known, &[proof(&honest, 9, 12)])
            .unwrap();
    }

    /// A view of `honest` after two answers to requests sent with the same knowledge
    /// (size 4) came back larger first: frontier 10, size 8 not yet shown part of it.
    fn size_8_left_behind(honest: &Leaves) -> LogView {
        let mut v = LogView::default();
        v.check(&cp(honest, 4), &[], &[]).unwrap();
        let stated = v.known();
        v.check(&cp(honest, 10), &stated, &[proof(honest, 4, 10)])
            .unwrap();
        v.check(&cp(honest, 8), &stated, &[proof(honest, 4, 8)])
            .unwrap();
        v
    }

    #[test]
    fn concurrent_answers_leave_checkpoints_that_the_next_request_links() {
        let honest = log(30, 0);
        let mut v = size_8_left_behind(&honest);
        let known = v.known();
        assert_eq!(
            known.iter().map(|k| k.0).collect::<Vec<_>>(),
            [10, 8],
            "size 8 is not yet shown to be part of 10"
        );
        v.check(
            &cp(&honest, 15),
            &known,
            &[proof(&honest, 10, 15), proof(&honest, 8, 15)],
        )
        .unwrap();
        assert_eq!(v.known().iter().map(|k| k.0).collect::<Vec<_>>(), [15]);
    }

    #[test]
    fn a_checkpoint_left_behind_is_named_by_one_request_at_a_time_until_linked() {
        let honest = log(40, 0);
        let mut v = size_8_left_behind(&honest);
        let sizes = |k: &Stated| k.iter().map(|k| k.0).collect::<Vec<_>>();
        // The first request names it; those sent while its answer is awaited do not.
        let first = v.known();
        assert_eq!(sizes(&first), [10, 8]);
        for _ in 1..RENAME_AFTER {
            assert_eq!(sizes(&v.known()), [10], "named by a request in flight");
        }
        // That answer never came (an error, a timeout, a peer failing whatever names
        // it): from now on every request names it, until one links it.
        for _ in 0..RENAME_AFTER {
            assert_eq!(sizes(&v.known()), [10, 8]);
        }
        let again = v.known();
        assert_eq!(sizes(&again), [10, 8]);
        // A receipt that does not link it is refused like any other.
        let err = v
            .check(&cp(&honest, 12), &again, &[proof(&honest, 10, 12)])
            .unwrap_err();
        assert!(matches!(err, SeenError::SplitView(_)), "{err}");
        // Linked: never named again.
        v.check(
            &cp(&honest, 12),
            &again,
            &[proof(&honest, 10, 12), proof(&honest, 8, 12)],
        )
        .unwrap();
        for _ in 0..2 * RENAME_AFTER {
            assert_eq!(sizes(&v.known()), [12]);
        }
    }

    #[test]
    fn a_cosigned_checkpoint_must_agree_with_the_receipts_and_is_then_linked() {
        let honest = log(20, 0);
        let mut forked = log(20, 1);
        forked.0[..2].copy_from_slice(&honest.0[..2]);
        let mut v = LogView::default();
        v.check(&cp(&honest, 6), &[], &[]).unwrap();
        assert!(v.witnessed(6, cp(&forked, 6).root).is_err());
        v.witnessed(9, cp(&honest, 9).root).unwrap();
        // Not yet shown to extend size 6: the next request names both.
        let known = v.known();
        assert_eq!(known.iter().map(|k| k.0).collect::<Vec<_>>(), [9, 6]);
        v.check(
            &cp(&honest, 12),
            &known,
            &[proof(&honest, 9, 12), proof(&honest, 6, 12)],
        )
        .unwrap();
        assert_eq!(v.known().iter().map(|k| k.0).collect::<Vec<_>>(), [12]);
    }

    #[test]
    fn an_entry_answers_one_exchange() {
        let mut v = LogView::default();
        v.claim(3).unwrap();
        assert_eq!(v.claim(3), Err(SeenError::Replayed(3)));
        v.claim(4).unwrap();
    }
}
