//! Vouchers: a user's signed promise that a channel owes its provider a cumulative amount
//! for a model, with the per-block usage it agrees to. Each request carries a voucher with
//! a higher cumulative amount; the provider only ever needs to redeem the latest one.
//!
//! Signing hash: keccak256(`"\x19Blyan Voucher:\n"` ‖ u32 BE length of chain id ‖ chain id ‖
//! SCALE(voucher)), signed like a transaction (recoverable secp256k1, 65 bytes). SCALE field
//! order: `channel` (u64 LE), `provider` (20 bytes), `cumulative` (u128 LE), `model`
//! (compact length ‖ UTF-8), `usage_root` (32 bytes).
//!
//! `usage_root` commits to the usage the provider will report when it redeems this voucher:
//! [`usage_root`] of the channel's tokens per block since it opened, sorted by block name,
//! zero entries left out. The chain refuses a redemption whose usage or model differs, so a
//! provider cannot route the contributors' share to blocks (or a model) of its choosing.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::BlockUsage;
use crate::hash::{keccak256, keccak256_concat};
use crate::keys::{recover_address, KeyError};
use crate::{Address, SecretKey};

/// Domain tag of voucher signatures.
pub const VOUCHER_DOMAIN: &[u8] = b"\x19Blyan Voucher:\n";

/// The signed content of a voucher.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Voucher {
    /// Channel.
    pub channel: super::ChannelId,
    /// The channel's provider (a voucher is only good for it).
    pub provider: Address,
    /// Total owed on this channel so far, base units.
    #[serde(with = "crate::params::u128_string")]
    pub cumulative: u128,
    /// The model served (a redemption must name the same one).
    pub model: String,
    /// [`usage_root`] of the usage a redemption of this voucher reports, hex in JSON.
    #[serde(with = "crate::msg::hex32")]
    pub usage_root: [u8; 32],
}

/// The commitment to a usage report: keccak256(SCALE(`Vec<BlockUsage>`)), that is of the
/// compact entry count, then per entry the compact length and UTF-8 bytes of the block
/// name and the tokens as u64 LE. The chain only accepts usage sorted by block name with
/// no zero entries, so each usage has one root.
pub fn usage_root(usage: &[BlockUsage]) -> [u8; 32] {
    keccak256(&usage.encode())
}

/// A voucher with the user's signature.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedVoucher {
    /// Content.
    pub voucher: Voucher,
    /// Recoverable signature (r ‖ s ‖ v), hex in JSON.
    #[serde(with = "sig_hex")]
    pub sig: [u8; 65],
}

/// The digest a voucher is signed over.
pub fn voucher_digest(chain_id: &str, v: &Voucher) -> [u8; 32] {
    let len = u32::try_from(chain_id.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    keccak256_concat(&[VOUCHER_DOMAIN, &len, chain_id.as_bytes(), &v.encode()])
}

impl Voucher {
    /// Signs for `chain_id`.
    pub fn sign(self, chain_id: &str, key: &SecretKey) -> SignedVoucher {
        let sig = key.sign_digest(&voucher_digest(chain_id, &self));
        SignedVoucher { voucher: self, sig }
    }
}

impl SignedVoucher {
    /// The account that signed it.
    pub fn signer(&self, chain_id: &str) -> Result<Address, KeyError> {
        recover_address(&voucher_digest(chain_id, &self.voucher), &self.sig)
    }
}

mod sig_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8; 65], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(v)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 65], D::Error> {
        let s = String::deserialize(d)?;
        let b = hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
        b.try_into()
            .map_err(|_| serde::de::Error::custom("a signature is 65 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vouchers_recover_their_signer_and_bind_chain_and_content() {
        let user = SecretKey::from_seed("user");
        let v = Voucher {
            channel: 3,
            provider: SecretKey::from_seed("p").address(),
            cumulative: 1_000,
            model: "m".into(),
            usage_root: usage_root(&[]),
        };
        let sv = v.clone().sign("blyan-test", &user);
        assert_eq!(sv.signer("blyan-test").unwrap(), user.address());
        assert_ne!(sv.signer("other-chain").ok(), Some(user.address()));
        let mut tampered = sv.clone();
        tampered.voucher.cumulative = 2_000;
        assert_ne!(tampered.signer("blyan-test").ok(), Some(user.address()));
        let mut other_model = sv.clone();
        other_model.voucher.model = "other".into();
        assert_ne!(other_model.signer("blyan-test").ok(), Some(user.address()));
        let mut other_usage = sv.clone();
        other_usage.voucher.usage_root = usage_root(&[BlockUsage {
            block: "embed".into(),
            tokens: 1,
        }]);
        assert_ne!(other_usage.signer("blyan-test").ok(), Some(user.address()));
        let json = serde_json::to_string(&sv).unwrap();
        assert_eq!(serde_json::from_str::<SignedVoucher>(&json).unwrap(), sv);
    }
}
