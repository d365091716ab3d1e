//! The binary Merkle tree of a TensorBlock (sha3-256, RFC 6962-style domain separation) and
//! the payload hash type. See the module doc of [`crate::tensorblock`] for the definition.

use std::fmt;
use std::str::FromStr;

use sha3::{Digest, Sha3_256};

/// A 32-byte sha3-256 digest: a block's payload hash (its Merkle root), or a tree node.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PayloadHash(pub [u8; 32]);

impl fmt::Display for PayloadHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PayloadHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayloadHash({self})")
    }
}

impl FromStr for PayloadHash {
    type Err = hex::FromHexError;

    /// Parses 64 hex digits, with or without a `0x` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(s), &mut out)?;
        Ok(Self(out))
    }
}

impl serde::Serialize for PayloadHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for PayloadHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `sha3-256(0x00 || parts...)`: the hash of a leaf whose bytes are the concatenation of
/// `parts`.
pub fn leaf_hash(parts: &[&[u8]]) -> PayloadHash {
    let mut h = Sha3_256::new();
    h.update([0u8]);
    for p in parts {
        h.update(p);
    }
    PayloadHash(h.finalize().into())
}

/// `sha3-256(0x01 || left || right)`: an inner node.
pub fn node_hash(left: &PayloadHash, right: &PayloadHash) -> PayloadHash {
    let mut h = Sha3_256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    PayloadHash(h.finalize().into())
}

/// One level up: neighbours paired left to right, an odd last node carried up unchanged.
fn parent_level(level: &[PayloadHash]) -> Vec<PayloadHash> {
    level
        .chunks(2)
        .map(|c| match c {
            [l, r] => node_hash(l, r),
            [only] => *only,
            _ => PayloadHash::default(),
        })
        .collect()
}

/// The root over `leaves` (already leaf-hashed). An empty list has the all-zero root; the
/// format never builds one (leaf 0, the header, always exists).
pub fn root(leaves: &[PayloadHash]) -> PayloadHash {
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = parent_level(&level);
    }
    level.first().copied().unwrap_or_default()
}

/// The sibling path of one leaf: enough, with the leaf, to recompute the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleProof {
    /// Index of the leaf (0 = the header leaf, `1 + i` = tile `i`).
    pub leaf_index: u64,
    /// Number of leaves in the tree.
    pub leaf_count: u64,
    /// Siblings from the bottom up; levels where the node was carried up have none.
    pub siblings: Vec<PayloadHash>,
}

impl MerkleProof {
    /// The proof for leaf `index` among `leaves` (None if out of range).
    pub fn build(leaves: &[PayloadHash], index: usize) -> Option<Self> {
        if index >= leaves.len() {
            return None;
        }
        let mut siblings = Vec::new();
        let mut level = leaves.to_vec();
        let mut i = index;
        while level.len() > 1 {
            let sib = i ^ 1;
            if let Some(s) = level.get(sib) {
                siblings.push(*s);
            }
            level = parent_level(&level);
            i /= 2;
        }
        Some(Self {
            leaf_index: index as u64,
            leaf_count: leaves.len() as u64,
            siblings,
        })
    }

    /// Whether `leaf` at this proof's position hashes up to `root`.
    pub fn verify(&self, leaf: &PayloadHash, root: &PayloadHash) -> bool {
        if self.leaf_index >= self.leaf_count {
            return false;
        }
        let (mut i, mut n, mut acc) = (self.leaf_index, self.leaf_count, *leaf);
        let mut sibs = self.siblings.iter();
        while n > 1 {
            let sib = i ^ 1;
            if sib < n {
                let Some(s) = sibs.next() else { return false };
                acc = if i % 2 == 0 {
                    node_hash(&acc, s)
                } else {
                    node_hash(s, &acc)
                };
            }
            i /= 2;
            n = n.div_ceil(2);
        }
        sibs.next().is_none() && acc == *root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_verify_for_every_leaf_and_tree_size() {
        for n in 1..=17usize {
            let leaves: Vec<_> = (0..n)
                .map(|i| leaf_hash(&[&(i as u64).to_le_bytes()]))
                .collect();
            let r = root(&leaves);
            for (i, l) in leaves.iter().enumerate() {
                let p = MerkleProof::build(&leaves, i).unwrap();
                assert!(p.verify(l, &r), "n={n} i={i}");
                let other = leaf_hash(&[b"x"]);
                assert!(!p.verify(&other, &r));
            }
        }
    }

    #[test]
    fn leaf_and_node_are_domain_separated() {
        let a = leaf_hash(&[b"a"]);
        let b = leaf_hash(&[b"b"]);
        let n = node_hash(&a, &b);
        let mut cat = a.0.to_vec();
        cat.extend_from_slice(&b.0);
        assert_ne!(n, leaf_hash(&[&cat]));
    }

    #[test]
    fn hash_hex_round_trip() {
        let h = leaf_hash(&[b"z"]);
        assert_eq!(h.to_string().parse::<PayloadHash>().unwrap(), h);
        assert_eq!(format!("0x{h}").parse::<PayloadHash>().unwrap(), h);
        assert!("12".parse::<PayloadHash>().is_err());
    }
}
