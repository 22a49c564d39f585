//! RFC 6962 / RFC 9162 Merkle tree hashing and proofs. Pure: proofs are generated from
//! any [`HashSource`] that can give the hash of a range of leaves, and verified from the
//! proof alone.

use ring::digest;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A proof as its protobuf field holds it: one buffer, each hash a slice of it (one
/// allocation for the whole proof, not one per hash).
pub fn proof_bytes(proof: &[Hash]) -> Vec<prost::bytes::Bytes> {
    let all = prost::bytes::Bytes::from(proof.concat());
    (0..proof.len())
        .map(|i| all.slice(i * 32..i * 32 + 32))
        .collect()
}

/// The hash of a leaf: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0u8], data])
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[1u8], left, right])
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// The largest power of two strictly below `n` (`n` ≥ 2).
pub fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Something that knows the Merkle tree hash of `leaves[start..end]`.
pub trait HashSource {
    /// The error a lookup can fail with.
    type Error;
    /// MTH of the leaves in `start..end` (`start < end`).
    fn range_hash(&self, start: u64, end: u64) -> Result<Hash, Self::Error>;
}

/// The root of the first `size` leaves.
pub fn root<S: HashSource + ?Sized>(src: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        Ok(empty_root())
    } else {
        src.range_hash(0, size)
    }
}

/// The MTH of a slice of leaf hashes, computed directly (reference for tests and small trees).
pub fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// Leaf hashes in memory as a [`HashSource`].
impl HashSource for [Hash] {
    type Error = std::convert::Infallible;
    fn range_hash(&self, start: u64, end: u64) -> Result<Hash, Self::Error> {
        Ok(mth(&self[start as usize..end as usize]))
    }
}

/// Why a proof cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    /// The request is outside the tree.
    #[error("{0}")]
    Range(String),
    /// The hash source failed.
    #[error("hash source: {0:?}")]
    Source(E),
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof<S: HashSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::Range(format!(
            "leaf index {index} is not below tree size {size}"
        )));
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof).map_err(ProofError::Source)?;
    Ok(proof)
}

fn path<S: HashSource + ?Sized>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, start, start + k, out)?;
        out.push(src.range_hash(start + k, end)?);
    } else {
        path(src, m - k, start + k, end, out)?;
        out.push(src.range_hash(start, start + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `old` and `new` leaves.
pub fn consistency_proof<S: HashSource + ?Sized>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old > new {
        return Err(ProofError::Range(format!(
            "old size {old} is larger than new size {new}"
        )));
    }
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    subproof(src, old, 0, new, true, &mut proof).map_err(ProofError::Source)?;
    Ok(proof)
}

fn subproof<S: HashSource + ?Sized>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(src.range_hash(start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, start + k, whole, out)?;
        out.push(src.range_hash(start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(src.range_hash(start, start + k)?);
    }
    Ok(())
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves with `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Verifies that the tree of `old` leaves with `old_root` is a prefix of the tree of
/// `new` leaves with `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Hash {
        let v = hex::decode(s).unwrap();
        v.try_into().unwrap()
    }

    fn leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|x| leaf_hash(&hex::decode(x).unwrap()))
        .collect()
    }

    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn roots_match_rfc6962_vectors() {
        let l = leaves();
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(root(&l[..], n as u64).unwrap(), h(want), "size {n}");
        }
    }

    #[test]
    fn inclusion_vectors() {
        let l = leaves();
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, want) in cases {
            let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
            let got = inclusion_proof(&l[..], index, size).unwrap();
            assert_eq!(got, want, "index {index} size {size}");
            assert!(verify_inclusion(
                index,
                size,
                &l[index as usize],
                &got,
                &h(ROOTS[size as usize])
            ));
        }
    }

    #[test]
    fn consistency_vectors() {
        let l = leaves();
        let cases: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in cases {
            let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
            let got = consistency_proof(&l[..], old, new).unwrap();
            assert_eq!(got, want, "{old} → {new}");
            assert!(verify_consistency(
                old,
                new,
                &h(ROOTS[old as usize]),
                &h(ROOTS[new as usize]),
                &got
            ));
        }
    }

    #[test]
    fn edge_cases_that_bite() {
        let l = leaves();
        let r8 = h(ROOTS[8]);
        // Index at or beyond the size; wrong sizes; empty proof for a 1-leaf tree.
        assert!(inclusion_proof(&l[..], 8, 8).is_err());
        assert!(!verify_inclusion(8, 8, &l[0], &[], &r8));
        assert!(verify_inclusion(0, 1, &l[0], &[], &h(ROOTS[1])));
        assert!(
            !verify_inclusion(0, 1, &l[0], &[l[1]], &h(ROOTS[1])),
            "extra proof element"
        );
        assert!(
            !verify_inclusion(0, 0, &l[0], &[], &h(ROOTS[0])),
            "size 0 holds nothing"
        );
        let p = inclusion_proof(&l[..], 5, 8).unwrap();
        // A size that changes the shape of the path fails (size and root travel together in a
        // signed checkpoint, so a size that keeps the shape still pins the same root).
        assert!(!verify_inclusion(5, 6, &l[5], &p, &r8), "wrong tree size");
        assert!(!verify_inclusion(5, 16, &l[5], &p, &r8), "wrong tree size");
        assert!(
            !verify_inclusion(5, 8, &l[5], &p, &h(ROOTS[7])),
            "wrong root"
        );
        assert!(!verify_inclusion(4, 8, &l[5], &p, &r8), "wrong index");
        assert!(!verify_inclusion(5, 8, &l[5], &p[..2], &r8), "short proof");
        let mut long = p.clone();
        long.push(l[0]);
        assert!(!verify_inclusion(5, 8, &l[5], &long, &r8), "long proof");
        // Consistency: from 0 is trivially fine with an empty proof; sizes reversed fail.
        assert!(verify_consistency(0, 8, &h(ROOTS[0]), &r8, &[]));
        assert!(!verify_consistency(8, 1, &r8, &h(ROOTS[1]), &[]));
        assert!(consistency_proof(&l[..], 8, 1).is_err());
        assert!(
            !verify_consistency(6, 8, &h(ROOTS[6]), &r8, &[]),
            "empty proof between distinct sizes"
        );
        assert!(
            !verify_consistency(8, 8, &h(ROOTS[7]), &r8, &[]),
            "same size, different roots"
        );
    }

    #[test]
    fn every_proof_of_every_shape_verifies_and_nothing_else_does() {
        let l: Vec<Hash> = (0..37u8)
            .map(|i| leaf_hash(&[i, i.wrapping_mul(7)]))
            .collect();
        for size in 1..=l.len() as u64 {
            let r = root(&l[..], size).unwrap();
            for i in 0..size {
                let p = inclusion_proof(&l[..], i, size).unwrap();
                assert!(verify_inclusion(i, size, &l[i as usize], &p, &r));
                assert!(!verify_inclusion(i, size, &leaf_hash(b"other"), &p, &r));
            }
            for old in 1..=size {
                let p = consistency_proof(&l[..], old, size).unwrap();
                let ro = root(&l[..], old).unwrap();
                assert!(verify_consistency(old, size, &ro, &r, &p), "{old} → {size}");
                if old < size {
                    assert!(!verify_consistency(
                        old,
                        size,
                        &leaf_hash(b"forged"),
                        &r,
                        &p
                    ));
                }
            }
        }
    }
}
