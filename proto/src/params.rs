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
    /// Gas per staking, dag or pol message.
    pub gas_per_staking_msg: u64,
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
            gas_per_staking_msg: 20_000,
        }
    }
}

impl FeeParams {
    /// Checks the parameters make sense (genesis and parameter-change proposals): a
    /// positive block gas limit, a target share in 1..=10,000 bps, a positive change
    /// denominator and an initial base fee not below the floor.
    pub fn validate(&self) -> Result<(), String> {
        if self.block_gas_limit == 0 {
            return Err("fees: block_gas_limit must be greater than zero".into());
        }
        if !(1..=10_000).contains(&self.target_gas_bps) {
            return Err(format!(
                "fees: target_gas_bps is {}; it must be within 1..=10000",
                self.target_gas_bps
            ));
        }
        if self.base_fee_change_denominator == 0 {
            return Err("fees: base_fee_change_denominator must be at least 1".into());
        }
        if self.initial_base_fee < self.min_base_fee {
            return Err(format!(
                "fees: initial_base_fee {} is below min_base_fee {}",
                self.initial_base_fee, self.min_base_fee
            ));
        }
        Ok(())
    }

    /// Gas a message needs.
    pub fn msg_gas(&self, msg: &crate::Msg) -> u64 {
        match msg {
            crate::Msg::Bank(_) => self.gas_per_bank_send,
            crate::Msg::Staking(_) => self.gas_per_staking_msg,
            // Block records and submissions are priced mostly through the per-byte gas.
            // Governance is priced like staking: a fixed part plus the per-byte gas
            // (proposals carry their text and parameters).
            crate::Msg::Dag(_)
            | crate::Msg::Pol(_)
            | crate::Msg::Inference(_)
            | crate::Msg::Gov(_) => self.gas_per_staking_msg,
        }
    }

    /// Gas a transaction of `tx_len` encoded bytes needs: per transaction, per byte and per
    /// message. Saturates (a saturated figure exceeds every gas limit and is rejected).
    pub fn tx_gas(&self, tx: &crate::Tx, tx_len: usize) -> u64 {
        let len = u64::try_from(tx_len).unwrap_or(u64::MAX);
        tx.msgs.iter().fold(
            self.gas_per_tx
                .saturating_add(self.gas_per_byte.saturating_mul(len)),
            |acc, m| acc.saturating_add(self.msg_gas(m)),
        )
    }

    /// The target gas per block.
    pub fn target_gas(&self) -> u64 {
        let t = u128::from(self.block_gas_limit).saturating_mul(u128::from(self.target_gas_bps))
            / 10_000;
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

/// Staking, rewards and slashing parameters.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StakingParams {
    /// Size of the active validator set (top validators by bonded stake).
    pub max_validators: u32,
    /// Smallest self-stake a validator may create with or keep to unjail, base units.
    #[serde(with = "u128_string")]
    pub min_self_stake: u128,
    /// Blocks an undelegation waits before paying out.
    pub unbonding_blocks: u64,
    /// Most unbonding entries per (delegator, validator) pair.
    pub max_unbonding_entries: u32,
    /// Base units per unit of CometBFT voting power.
    #[serde(with = "u128_string")]
    pub power_reduction: u128,
    /// Blocks in the downtime window.
    pub signed_blocks_window: u64,
    /// Share of the window a validator must sign, basis points.
    pub min_signed_bps: u32,
    /// Slash for downtime, basis points of bonded and unbonding stake (10 = 0.1%).
    pub downtime_slash_bps: u32,
    /// Blocks a validator stays jailed after downtime.
    pub downtime_jail_blocks: u64,
    /// Slash for double signing, basis points (1000 = 10%); the validator is tombstoned.
    pub double_sign_slash_bps: u32,
    /// Most emission per year, base units (10% of the cap).
    #[serde(with = "u128_string")]
    pub max_annual_emission: u128,
    /// Share of the emission paid to validators and delegators, basis points.
    pub validation_reward_bps: u32,
    /// Blocks per year, to turn the annual emission into a per-block amount.
    pub blocks_per_year: u64,
}

impl Default for StakingParams {
    fn default() -> Self {
        StakingParams {
            max_validators: 100,
            min_self_stake: crate::BLY,
            unbonding_blocks: 100_800,
            max_unbonding_entries: 7,
            power_reduction: crate::BLY,
            signed_blocks_window: 10_000,
            min_signed_bps: 5_000,
            downtime_slash_bps: 10,
            downtime_jail_blocks: 600,
            double_sign_slash_bps: 1_000,
            max_annual_emission: crate::SUPPLY_CAP / 10,
            validation_reward_bps: 1_000,
            blocks_per_year: 31_536_000,
        }
    }
}

impl StakingParams {
    /// Checks the parameters make sense (genesis and parameter-change proposals): a
    /// non-empty set, positive windows, every basis-point share at most 10,000
    /// (`power_reduction` is not checked: genesis samples use 0, and a proposal may not
    /// change it).
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("unbonding_blocks", self.unbonding_blocks),
            ("signed_blocks_window", self.signed_blocks_window),
            ("blocks_per_year", self.blocks_per_year),
            ("max_validators", u64::from(self.max_validators)),
            (
                "max_unbonding_entries",
                u64::from(self.max_unbonding_entries),
            ),
        ] {
            if v == 0 {
                return Err(format!("staking: {name} must be positive"));
            }
        }
        for (name, v) in [
            ("min_signed_bps", self.min_signed_bps),
            ("downtime_slash_bps", self.downtime_slash_bps),
            ("double_sign_slash_bps", self.double_sign_slash_bps),
            ("validation_reward_bps", self.validation_reward_bps),
        ] {
            if v > 10_000 {
                return Err(format!("staking: {name} {v} is above 10000"));
            }
        }
        Ok(())
    }

    /// The validation reward minted per block (before the reserve cap).
    pub fn validation_reward_per_block(&self) -> u128 {
        let yearly = self
            .max_annual_emission
            .saturating_mul(u128::from(self.validation_reward_bps))
            / 10_000;
        yearly
            .checked_div(u128::from(self.blocks_per_year.max(1)))
            .unwrap_or(0)
    }
}
