//! Ethereum-style 20-byte account addresses with EIP-55 checksummed display.

use std::fmt;
use std::str::FromStr;

use k256::ecdsa::VerifyingKey;
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

use crate::hash::keccak256;

/// An account address: the last 20 bytes of keccak256 of the uncompressed secp256k1
/// public key (without its 0x04 prefix), exactly as Ethereum derives it.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode, MaxEncodedLen,
)]
pub struct Address(pub [u8; 20]);

/// Why a string is not a valid address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not `0x` followed by 40 hex digits.
    #[error("an address is 0x followed by 40 hex digits, got {0:?}")]
    Format(String),
    /// Mixed case that does not match the EIP-55 checksum.
    #[error("address {0} has mixed case but fails its EIP-55 checksum")]
    Checksum(String),
}

/// The first bytes of every module account address (`module/pol_bonds____`, …): no key
/// hashes to such an address in practice, and the chain refuses user credits to them.
pub const MODULE_ADDRESS_PREFIX: &[u8; 7] = b"module/";

impl Address {
    /// True for a module account (a pool the chain itself keeps in step with its records:
    /// bonds, channels, stake, rewards). Only the chain moves funds into one.
    pub fn is_module(&self) -> bool {
        self.0.starts_with(MODULE_ADDRESS_PREFIX)
    }

    /// Derives the address of a public key.
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        // An uncompressed SEC1 point: the 0x04 tag, then x and y.
        let hash = keccak256(point.as_bytes().get(1..).unwrap_or_default());
        let mut out = [0u8; 20];
        for (o, h) in out.iter_mut().zip(hash.iter().skip(12)) {
            *o = *h;
        }
        Address(out)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The EIP-55 mixed-case checksummed form, `0x`-prefixed.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let byte = hash.get(i / 2).copied().unwrap_or_default();
            let nibble = (byte >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Accepts all-lowercase, all-uppercase, or correctly checksummed mixed case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        if body.len() != 40 || !body.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AddressError::Format(s.to_string()));
        }
        let mut out = [0u8; 20];
        hex::decode_to_slice(body, &mut out).map_err(|_| AddressError::Format(s.to_string()))?;
        let addr = Address(out);
        let has_lower = body.chars().any(|c| c.is_ascii_lowercase());
        let has_upper = body.chars().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper && addr.to_checksum()[2..] != *body {
            return Err(AddressError::Checksum(s.to_string()));
        }
        Ok(addr)
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_checksum())
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_accounts_are_told_apart_by_their_prefix() {
        assert!(Address(*b"module/pol_bonds____").is_module());
        assert!(!Address(*b"modulE/pol_bonds____").is_module());
        assert!(!Address([0u8; 20]).is_module());
    }

    #[test]
    fn eip55_vectors_round_trip() {
        // Vectors from the EIP-55 specification.
        for s in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_checksum(), s);
        }
    }

    #[test]
    fn bad_checksum_and_format_are_rejected() {
        assert!(matches!(
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD".parse::<Address>(),
            Err(AddressError::Checksum(_))
        ));
        assert!(matches!(
            "0x1234".parse::<Address>(),
            Err(AddressError::Format(_))
        ));
        assert!(
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
                .parse::<Address>()
                .is_ok(),
            "all-lowercase carries no checksum and is accepted"
        );
    }
}
