//! Chain parameters, readable through queries and set in genesis.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Limits on transactions, owned by the transaction envelope checks.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TxParams {
    /// Largest accepted encoded transaction, bytes.
    pub max_tx_bytes: u32,
    /// Most messages in one transaction.
    pub max_msgs_per_tx: u32,
    /// Longest memo, bytes.
    pub max_memo_bytes: u32,
}

impl Default for TxParams {
    fn default() -> Self {
        TxParams {
            max_tx_bytes: 32 * 1024,
            max_msgs_per_tx: 64,
            max_memo_bytes: 256,
        }
    }
}

/// EIP-1559 fee market parameters and the gas schedule.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct FeeParams {
    /// Gas available to one block.
    pub block_gas_limit: u64,
    /// Share of the block gas limit the base fee steers toward, basis points (5000 = 50%).
    pub target_gas_bps: u32,
    /// The base fee moves by at most 1/denominator per block (8 = 12.5%).
    pub base_fee_change_denominator: u32,
    /// The base fee never drops below this, base units per gas.
    #[serde(with = "u128_string")]
    pub min_base_fee: u128,
    /// Base fee per gas at genesis.
    #[serde(with = "u128_string")]
    pub initial_base_fee: u128,
    /// Gas every transaction pays.
    pub gas_per_tx: u64,
    /// Gas per encoded byte of the transaction.
    pub gas_per_byte: u64,
    /// Gas per `bank.send` message.
    pub gas_per_bank_send: u64,
}

impl Default for FeeParams {
    fn default() -> Self {
        FeeParams {
            block_gas_limit: 150_000_000,
            target_gas_bps: 5_000,
            base_fee_change_denominator: 8,
            min_base_fee: 1_000_000,
            initial_base_fee: 1_000_000_000,
            gas_per_tx: 10_000,
            gas_per_byte: 10,
            gas_per_bank_send: 5_000,
        }
    }
}

impl FeeParams {
    /// The target gas per block.
    pub fn target_gas(&self) -> u64 {
        let t = u128::from(self.block_gas_limit) * u128::from(self.target_gas_bps) / 10_000;
        u64::try_from(t).unwrap_or(u64::MAX).max(1)
    }
}

/// Serde helpers writing `u128` amounts as decimal strings (JSON numbers lose precision).
pub mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the number as a decimal string.
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Reads a decimal string (or a small JSON number).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            S(String),
            N(u64),
        }
        match Either::deserialize(d)? {
            Either::S(s) => s.parse().map_err(serde::de::Error::custom),
            Either::N(n) => Ok(u128::from(n)),
        }
    }
}
