//! secp256k1 keys (an Ethereum key is a Blyan key) and recoverable signatures.

use k256::ecdsa::{Signature, SigningKey};

use crate::address::Address;

/// Why a key or signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The bytes are not a valid secp256k1 secret scalar.
    #[error("invalid secret key: {0}")]
    InvalidSecret(String),
    /// The signature bytes do not form a valid, low-s, recoverable signature.
    #[error("invalid signature: {0}")]
    InvalidSignature(&'static str),
    /// A transaction signature whose recovery id `v` is not 0 or 1 (27/28, the Ethereum
    /// habit, would give the same transaction a second encoding and a second hash).
    #[error("non-canonical signature: v is {0}, a transaction signature must have v = 0 or 1 (subtract 27 from an Ethereum-style v)")]
    NonCanonicalRecoveryId(u8),
}

/// A secp256k1 secret key.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh random key from the operating system's generator (wallets only; never used
    /// in state transitions).
    pub fn generate() -> Self {
        SecretKey(SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// Parses 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        SigningKey::from_slice(bytes)
            .map(SecretKey)
            .map_err(|e| KeyError::InvalidSecret(e.to_string()))
    }

    /// Parses 64 hex digits, with or without `0x`.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        let body = s.strip_prefix("0x").unwrap_or(s);
        let bytes = hex::decode(body).map_err(|e| KeyError::InvalidSecret(e.to_string()))?;
        if bytes.len() != 32 {
            return Err(KeyError::InvalidSecret(format!(
                "expected 32 bytes, got {}",
                bytes.len()
            )));
        }
        Self::from_bytes(&bytes)
    }

    /// Deterministic key for tests and dev accounts: keccak256 of a seed string.
    pub fn from_seed(seed: &str) -> Self {
        let mut h = crate::hash::keccak256(seed.as_bytes());
        loop {
            if let Ok(k) = SigningKey::from_slice(&h) {
                return SecretKey(k);
            }
            h = crate::hash::keccak256(&h);
        }
    }

    /// The 32 secret bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        Address::from_verifying_key(self.0.verifying_key())
    }

    /// Signs a 32-byte digest: `r (32) || s (32) || v (1)` with low s and `v` in {0, 1}.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> [u8; 65] {
        let mut out = [0u8; 65];
        // Signing a 32-byte prehash with a valid key cannot fail; fall back to an all-zero
        // signature (which never verifies) rather than panicking.
        if let Ok((sig, rec)) = self.0.sign_prehash_recoverable(digest) {
            out[..64].copy_from_slice(&sig.to_bytes());
            out[64] = rec.to_byte();
        }
        out
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.address())
    }
}

/// Recovers the signer's address from a 65-byte signature over a 32-byte digest.
///
/// `v` may be 0/1 or 27/28 (the Ethereum `personal_sign` habit); transactions accept 0/1
/// only ([`crate::SignedTx::recover_signer`]). High-s signatures are rejected so that a
/// signed message has one valid `(r, s)`.
pub fn recover_address(digest: &[u8; 32], sig: &[u8; 65]) -> Result<Address, KeyError> {
    let v = match sig[64] {
        0 | 27 => 0u8,
        1 | 28 => 1u8,
        _ => {
            return Err(KeyError::InvalidSignature(
                "recovery id must be 0, 1, 27 or 28",
            ))
        }
    };
    let signature = Signature::from_slice(&sig[..64])
        .map_err(|_| KeyError::InvalidSignature("r or s out of range"))?;
    if signature.normalize_s().is_some() {
        return Err(KeyError::InvalidSignature("high-s signature"));
    }
    // Recovery runs on libsecp256k1 (about 4x faster than the pure-Rust k256 path); k256
    // above only parsed the scalars and enforced low s.
    let rec = secp256k1::ecdsa::RecoveryId::try_from(i32::from(v))
        .map_err(|_| KeyError::InvalidSignature("bad recovery id"))?;
    let rsig = secp256k1::ecdsa::RecoverableSignature::from_compact(&sig[..64], rec)
        .map_err(|_| KeyError::InvalidSignature("r or s out of range"))?;
    let key = secp256k1::SECP256K1
        .recover_ecdsa(&secp256k1::Message::from_digest(*digest), &rsig)
        .map_err(|_| KeyError::InvalidSignature("no public key recovers from it"))?;
    let point = key.serialize_uncompressed();
    let hash = crate::hash::keccak256(&point[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    Ok(Address(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_private_key_to_address() {
        let key = SecretKey::from_hex(
            "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
        )
        .unwrap();
        assert_eq!(
            key.address().to_checksum(),
            "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
        );
    }

    #[test]
    fn sign_then_recover_gives_the_signer() {
        let key = SecretKey::from_seed("alice");
        let digest = crate::hash::keccak256(b"hello");
        let sig = key.sign_digest(&digest);
        assert_eq!(recover_address(&digest, &sig).unwrap(), key.address());
        let mut eth_style = sig;
        eth_style[64] += 27;
        assert_eq!(recover_address(&digest, &eth_style).unwrap(), key.address());
        let mut bad = sig;
        bad[64] = 5;
        assert!(recover_address(&digest, &bad).is_err());
    }
}
