//! Messages: one enum over all modules. Variant indices are stable wire values.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// A message carried by a transaction; each variant belongs to one chain module.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "module", content = "msg", rename_all = "snake_case")]
pub enum Msg {
    /// Balances and transfers.
    #[codec(index = 0)]
    Bank(BankMsg),
    /// Validators, delegation, rewards, jail.
    #[codec(index = 1)]
    Staking(StakingMsg),
    /// Models and parameter blocks.
    #[codec(index = 2)]
    Dag(crate::dag::DagMsg),
    /// Proof-of-Learning submissions and attestations.
    #[codec(index = 3)]
    Pol(crate::pol::PolMsg),
    /// Inference providers and payment channels.
    #[codec(index = 4)]
    Inference(crate::inference::InferenceMsg),
    /// Governance proposals, deposits and votes.
    #[codec(index = 5)]
    Gov(crate::gov::GovMsg),
}

/// Messages of the `bank` module.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BankMsg {
    /// Moves `amount` base units from the signer to `to`.
    #[codec(index = 0)]
    Send {
        /// Recipient.
        to: Address,
        /// Base units (1 BLY = 10^18).
        #[serde(with = "crate::params::u128_string")]
        amount: u128,
    },
}

impl Msg {
    /// The sum of base units this message moves out of the signer's account, if any.
    pub fn outflow(&self) -> u128 {
        match self {
            Msg::Bank(BankMsg::Send { amount, .. }) => *amount,
            Msg::Staking(StakingMsg::CreateValidator { self_stake, .. }) => *self_stake,
            Msg::Staking(StakingMsg::Delegate { amount, .. }) => *amount,
            Msg::Staking(_) => 0,
            Msg::Dag(crate::dag::DagMsg::PublishModel(m)) => m.deposit,
            Msg::Pol(m) => m.outflow(),
            Msg::Inference(m) => m.outflow(),
            Msg::Gov(m) => m.outflow(),
        }
    }

    /// A short kind name used for gas schedules and metrics (`bank.send`).
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Bank(BankMsg::Send { .. }) => "bank.send",
            Msg::Staking(m) => match m {
                StakingMsg::CreateValidator { .. } => "staking.create_validator",
                StakingMsg::EditValidator { .. } => "staking.edit_validator",
                StakingMsg::Delegate { .. } => "staking.delegate",
                StakingMsg::Undelegate { .. } => "staking.undelegate",
                StakingMsg::Redelegate { .. } => "staking.redelegate",
                StakingMsg::Unjail => "staking.unjail",
                StakingMsg::WithdrawRewards { .. } => "staking.withdraw_rewards",
            },
            Msg::Dag(_) => "dag.publish_model",
            Msg::Pol(m) => m.kind(),
            Msg::Inference(m) => m.kind(),
            Msg::Gov(m) => m.kind(),
        }
    }
}

/// Messages of the `staking` module.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StakingMsg {
    /// The signer becomes the operator of a new validator, bonding `self_stake`.
    #[codec(index = 0)]
    CreateValidator {
        /// The ed25519 consensus public key (CometBFT's `priv_validator_key.json`).
        #[serde(with = "crate::msg::hex32")]
        consensus_key: [u8; 32],
        /// Display name.
        moniker: String,
        /// Commission on rewards, basis points.
        commission_bps: u32,
        /// Base units bonded from the signer.
        #[serde(with = "crate::params::u128_string")]
        self_stake: u128,
    },
    /// The operator changes its validator's moniker or commission.
    #[codec(index = 1)]
    EditValidator {
        /// New display name.
        moniker: Option<String>,
        /// New commission, basis points.
        commission_bps: Option<u32>,
    },
    /// Bonds `amount` from the signer to `validator`.
    #[codec(index = 2)]
    Delegate {
        /// Operator address of the validator.
        validator: Address,
        /// Base units.
        #[serde(with = "crate::params::u128_string")]
        amount: u128,
    },
    /// Starts unbonding `amount` (in tokens) of the signer's delegation.
    #[codec(index = 3)]
    Undelegate {
        /// Operator address of the validator.
        validator: Address,
        /// Base units.
        #[serde(with = "crate::params::u128_string")]
        amount: u128,
    },
    /// Moves `amount` of bonded stake from one validator to another at once.
    #[codec(index = 4)]
    Redelegate {
        /// Source validator.
        from: Address,
        /// Destination validator.
        to: Address,
        /// Base units.
        #[serde(with = "crate::params::u128_string")]
        amount: u128,
    },
    /// The operator asks to leave jail after its jail time.
    #[codec(index = 5)]
    Unjail,
    /// Pays the signer's rewards from `validator` (and its commission, if the signer is
    /// the operator).
    #[codec(index = 6)]
    WithdrawRewards {
        /// Operator address of the validator.
        validator: Address,
    },
}

/// Serde helpers for 32-byte keys as hex strings.
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes lowercase hex.
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    /// Reads hex (with or without `0x`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let bytes = hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}
