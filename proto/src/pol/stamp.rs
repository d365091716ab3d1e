//! The hashcash stamp newcomers attach to a submission: a nonce such that the sha3-256 of
//! the stamp input and the nonce starts with `hashcash_bits` zero bits. The input binds the
//! chain, the signer, the transaction nonce and the manifest, so a stamp is good for
//! exactly one submission and cannot be reused or precomputed for another.

use sha3::{Digest as _, Sha3_256};

/// Domain tag of the stamp hash.
const DOMAIN: &[u8] = b"blyan/pol/stamp/v1";

/// What a stamp commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampInput<'a> {
    /// Chain id.
    pub chain_id: &'a str,
    /// The submitting account.
    pub signer: &'a crate::Address,
    /// The nonce of the transaction carrying the submission.
    pub tx_nonce: u64,
    /// The submission's manifest hash.
    pub manifest_hash: &'a [u8; 32],
}

/// sha3-256(domain ‖ len(chain_id) u32 BE ‖ chain_id ‖ signer ‖ tx_nonce BE ‖ manifest_hash
/// ‖ stamp BE).
pub fn stamp_digest(input: &StampInput<'_>, stamp: u64) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(DOMAIN);
    let len = u32::try_from(input.chain_id.len()).unwrap_or(u32::MAX);
    h.update(len.to_be_bytes());
    h.update(input.chain_id.as_bytes());
    h.update(input.signer.0);
    h.update(input.tx_nonce.to_be_bytes());
    h.update(input.manifest_hash);
    h.update(stamp.to_be_bytes());
    h.finalize().into()
}

/// Leading zero bits of a digest.
pub fn leading_zero_bits(d: &[u8; 32]) -> u32 {
    let mut bits = 0u32;
    for b in d {
        if *b == 0 {
            bits = bits.saturating_add(8);
        } else {
            return bits.saturating_add(b.leading_zeros());
        }
    }
    bits
}

/// Finds the smallest stamp meeting `bits` (expected 2^bits hashes).
pub fn solve_stamp(input: &StampInput<'_>, bits: u32) -> u64 {
    let mut n = 0u64;
    while leading_zero_bits(&stamp_digest(input, n)) < bits {
        n = n.wrapping_add(1);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solved_stamps_verify_and_bind_their_input() {
        let signer = crate::SecretKey::from_seed("miner").address();
        let m = [7u8; 32];
        let input = StampInput {
            chain_id: "blyan-test",
            signer: &signer,
            tx_nonce: 3,
            manifest_hash: &m,
        };
        let s = solve_stamp(&input, 10);
        assert!(leading_zero_bits(&stamp_digest(&input, s)) >= 10);
        let other = StampInput {
            tx_nonce: 4,
            ..input
        };
        // the same nonce is (almost surely) not a stamp for another transaction
        let hits = (0..8u64)
            .filter(|k| leading_zero_bits(&stamp_digest(&other, s.wrapping_add(*k))) >= 10)
            .count();
        assert!(hits <= 1);
        assert_eq!(leading_zero_bits(&[0u8; 32]), 256);
        let mut d = [0u8; 32];
        d[1] = 0b0001_0000;
        assert_eq!(leading_zero_bits(&d), 11);
    }
}
