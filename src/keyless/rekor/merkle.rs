//! RFC 6962 Merkle tree hashing and inclusion proofs (RFC 9162 §2.1.3.2 verification).
//!
//! A Rekor inclusion proof shows that the entry's leaf, `SHA-256(0x00 || canonicalizedBody)`,
//! is at `index` in a tree of `tree_size` leaves whose root is `root_hash`: hashing the leaf
//! up the audit path `hashes` (each step `SHA-256(0x01 || left || right)`) must give the root.

use sha2::{Digest as _, Sha256};

/// A Merkle hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(data)
        .finalize()
        .into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// Why an inclusion proof does not lead to a root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error(
        "the proof has {got} hashes, a leaf at index {index} of a tree of {size} needs {want}"
    )]
    WrongLength {
        index: u64,
        size: u64,
        got: usize,
        want: usize,
    },
}

/// The root hash an inclusion proof leads to, from the leaf hash at `index` in a tree of
/// `size` leaves. The proof's length must be exactly what that position needs.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let want = proof_length(index, size);
    if proof.len() != want {
        return Err(MerkleError::WrongLength {
            index,
            size,
            got: proof.len(),
            want,
        });
    }
    // RFC 9162 §2.1.3.2, with fn = index and sn = size - 1.
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    Ok(r)
}

/// How many hashes the audit path of leaf `index` in a tree of `size` has: the number of
/// steps the RFC 9162 loop takes before `sn` reaches zero.
fn proof_length(index: u64, size: u64) -> usize {
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut n = 0;
    while sn != 0 {
        if fn_ & 1 == 1 || fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
        n += 1;
    }
    n
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// MTH of RFC 6962 §2.1, straight from the definition.
    pub(crate) fn tree_hash(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = split(n);
                node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
            }
        }
    }

    /// PATH(m, D[n]) of RFC 6962 §2.1.1, straight from the definition.
    pub(crate) fn audit_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        if m < k {
            let mut path = audit_path(m, &leaves[..k]);
            path.push(tree_hash(&leaves[k..]));
            path
        } else {
            let mut path = audit_path(m - k, &leaves[k..]);
            path.push(tree_hash(&leaves[..k]));
            path
        }
    }

    /// The largest power of two smaller than n.
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves_to_the_definition_root() {
        for size in 1..=33usize {
            let leaves = leaves(size);
            let root = tree_hash(&leaves);
            for index in 0..size {
                let path = audit_path(index, &leaves);
                let got =
                    root_from_inclusion_proof(index as u64, size as u64, &leaves[index], &path)
                        .unwrap();
                assert_eq!(got, root, "leaf {index} of {size}");
                // Any other leaf, or one flipped bit in the path, leads elsewhere.
                let other = leaves[(index + 1) % size];
                if size > 1 {
                    assert_ne!(
                        root_from_inclusion_proof(index as u64, size as u64, &other, &path)
                            .unwrap(),
                        root
                    );
                }
                if let Some(first) = path.first() {
                    let mut bad = path.clone();
                    bad[0] = {
                        let mut h = *first;
                        h[0] ^= 1;
                        h
                    };
                    assert_ne!(
                        root_from_inclusion_proof(index as u64, size as u64, &leaves[index], &bad)
                            .unwrap(),
                        root
                    );
                }
            }
        }
    }

    #[test]
    fn wrong_lengths_and_indexes_are_refused() {
        let leaves = leaves(7);
        let path = audit_path(3, &leaves);
        let mut long = path.clone();
        long.push([0u8; 32]);
        assert!(matches!(
            root_from_inclusion_proof(3, 7, &leaves[3], &long),
            Err(MerkleError::WrongLength { .. })
        ));
        assert!(matches!(
            root_from_inclusion_proof(3, 7, &leaves[3], &path[1..]),
            Err(MerkleError::WrongLength { .. })
        ));
        assert!(matches!(
            root_from_inclusion_proof(7, 7, &leaves[3], &path),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
    }

    #[test]
    fn rfc6962_hashes() {
        // Known answers (also in sigstore-rs's and transparency-dev's tests).
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            hex::encode(leaf_hash(b"L123456")),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
        );
        let node: Hash = Sha256::new()
            .chain_update([1u8])
            .chain_update(b"N123")
            .chain_update(b"N456")
            .finalize()
            .into();
        assert_eq!(
            hex::encode(node),
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
        );
    }
}
