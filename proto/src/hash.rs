//! Hash functions used on the wire.

use sha2::{Digest as _, Sha256};
use sha3::Keccak256;

/// keccak256 (the Ethereum flavour of SHA-3, with the original padding).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// keccak256 over several byte slices, as if they were concatenated.
pub fn keccak256_concat(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-256, the hash CometBFT uses for transaction hashes.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}
