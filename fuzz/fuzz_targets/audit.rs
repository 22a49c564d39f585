//! The audit log's formats: checkpoint notes (C2SP signed note), cosignature lines,
//! inclusion and consistency proofs, receipts and log entries.
//!
//! Input: a selector byte, then the data. Properties: nothing panics; a parsed checkpoint
//! body writes back to a body that parses equal; signing then opening returns the same
//! checkpoint and cosigning then verifying the same time; proofs made by the log verify
//! and fail once a hash is changed; an entry that decodes re-encodes to one that decodes
//! equal; nothing the input signed verifies against keys made in this process.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use puente_audit::checkpoint::{self, Checkpoint};
use puente_audit::merkle::{self, Hash};
use puente_audit::receipt::ReceiptVerifier;
use puente_audit::Entry;
use puente_fuzz::{keys, select};
use puente_proto::v1 as pb;

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    for (i, v) in b.iter().skip(at).take(8).enumerate() {
        x[i] = *v;
    }
    u64::from_le_bytes(x)
}

fn hashes(b: &[u8]) -> Vec<Hash> {
    b.chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = select(data) else {
        return;
    };
    let k = keys();
    match which % 6 {
        0 => {
            // A note: parse, open, and sign-then-open.
            let note = String::from_utf8_lossy(rest);
            assert!(checkpoint::open(&note, &k.a.verifying_key()).is_err());
            let Ok((body, _sigs)) = checkpoint::split_note(&note) else {
                return;
            };
            let Ok(cp) = Checkpoint::parse_body(body) else {
                return;
            };
            let again = Checkpoint::parse_body(&cp.body())
                .unwrap_or_else(|e| panic!("{cp:?} written back does not parse: {e}"));
            assert_eq!(again, cp);
            let signed = cp.sign(&k.a);
            let opened = checkpoint::open(&signed, &k.a.verifying_key())
                .unwrap_or_else(|e| panic!("a note signed here does not open: {e}"));
            assert_eq!(opened, cp);
            assert!(checkpoint::open(&signed, &k.b.verifying_key()).is_err());
        }
        1 => {
            // A cosignature line (line 1) on a body (the rest).
            let text = String::from_utf8_lossy(rest);
            let (line, body) = text.split_once('\n').unwrap_or((&text, ""));
            assert!(checkpoint::verify_cosignature(body, line, &k.b.verifying_key()).is_err());
            let time = u64_at(rest, 0);
            let mine = checkpoint::cosign(body, &k.b, time);
            assert_eq!(
                checkpoint::verify_cosignature(body, &mine, &k.b.verifying_key()).ok(),
                Some(time)
            );
            assert!(checkpoint::verify_cosignature(body, &mine, &k.a.verifying_key()).is_err());
        }
        2 => {
            // Arbitrary inclusion and consistency proofs.
            let (a, b) = (u64_at(rest, 0), u64_at(rest, 8));
            let hs = hashes(rest.get(16..).unwrap_or(&[]));
            let (x, y) = (
                hs.first().copied().unwrap_or([0; 32]),
                hs.get(1).copied().unwrap_or([1; 32]),
            );
            let proof = hs.get(2..).unwrap_or(&[]);
            let _ = merkle::verify_inclusion(a, b, &x, proof, &y);
            let _ = merkle::verify_consistency(a, b, &x, &y, proof);
            let _ = merkle::verify_consistency(a % 64, b % 64, &x, &y, proof);
            let _ = merkle::verify_inclusion(a % 64, b % 64, &x, proof, &y);
        }
        3 => {
            // Real proofs over a small tree whose leaves come from the input.
            let leaves: Vec<Hash> = rest
                .iter()
                .take(40)
                .enumerate()
                .map(|(i, v)| merkle::leaf_hash(&[*v, i as u8]))
                .collect();
            let n = leaves.len() as u64;
            if n == 0 {
                return;
            }
            let root = merkle::mth(&leaves);
            let pick = |at: usize| u64::from(rest.get(at).copied().unwrap_or(0)) % n;
            let (i, old) = (pick(0), pick(1) + 1);
            let proof = merkle::inclusion_proof(leaves.as_slice(), i, n)
                .unwrap_or_else(|_| panic!("inclusion proof of {i} in {n}"));
            assert!(merkle::verify_inclusion(
                i,
                n,
                &leaves[i as usize],
                &proof,
                &root
            ));
            if let Some(first) = proof.first() {
                let mut bad = proof.clone();
                bad[0] = merkle::node_hash(first, first);
                assert!(!merkle::verify_inclusion(
                    i,
                    n,
                    &leaves[i as usize],
                    &bad,
                    &root
                ));
            }
            let old_root = merkle::mth(&leaves[..old as usize]);
            let proof = merkle::consistency_proof(leaves.as_slice(), old, n)
                .unwrap_or_else(|_| panic!("consistency proof of {old} in {n}"));
            assert!(merkle::verify_consistency(old, n, &old_root, &root, &proof));
            if let Some(first) = proof.first() {
                let mut bad = proof.clone();
                bad[0] = merkle::node_hash(first, first);
                assert!(!merkle::verify_consistency(old, n, &old_root, &root, &bad));
            }
        }
        4 => {
            // A receipt as received from a peer.
            let Ok(r) = pb::Receipt::decode(rest) else {
                return;
            };
            let v = ReceiptVerifier::default();
            assert!(v.verify(&r, &k.a.verifying_key()).is_err());
        }
        _ => {
            // A stored log entry.
            let Ok(e) = Entry::decode(rest) else { return };
            let again = Entry::decode(&e.encode())
                .unwrap_or_else(|err| panic!("{e:?} re-encoded does not decode: {err}"));
            assert_eq!(again, e);
        }
    }
});
