//! The genesis `app_state`: chain parameters, initial balances and the initial validators.

use blyan_proto::params::{u128_string, FeeParams, StakingParams, TxParams};
use blyan_proto::Address;
use serde::{Deserialize, Serialize};

use crate::validate::GenesisError;

/// The `app_state` inside CometBFT's `genesis.json`, handed to the application in InitChain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAppState {
    /// The chain id; must equal the `chain_id` of the surrounding `genesis.json`.
    pub chain_id: String,
    /// Transaction envelope limits.
    pub tx: TxParams,
    /// Fee market parameters and gas schedule.
    pub fees: FeeParams,
    /// Balances minted at genesis.
    pub accounts: Vec<GenesisAccount>,
    /// BLY kept unminted for future emission rewards, base units.
    #[serde(with = "u128_string")]
    pub emission_reserve: u128,
    /// The initial validator set.
    pub validators: Vec<GenesisValidator>,
    /// Staking, reward and slashing parameters (defaults when absent).
    #[serde(default)]
    pub staking: StakingParams,
    /// DAG parameters (defaults when absent; written only when they differ from the
    /// defaults, so existing genesis files keep their bytes).
    #[serde(default, skip_serializing_if = "is_default_dag")]
    pub dag: blyan_proto::dag::DagParams,
    /// Proof-of-Learning parameters (defaults when absent).
    #[serde(default)]
    pub pol: blyan_proto::pol::PolParams,
    /// Inference payment parameters (defaults when absent).
    #[serde(default)]
    pub inference: blyan_proto::inference::InferenceParams,
    /// Governance parameters (defaults when absent).
    #[serde(default)]
    pub gov: blyan_proto::gov::GovParams,
    /// Models published at genesis (none when absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<GenesisModel>,
}

fn is_default_dag(p: &blyan_proto::dag::DagParams) -> bool {
    *p == blyan_proto::dag::DagParams::default()
}

/// A model published at genesis: the same checks as `MsgPublishModel`, no deposit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisModel {
    /// Model id (`[a-z0-9_-]{1,64}`).
    pub id: String,
    /// Owner account.
    pub owner: Address,
    /// What the chain checks block names against.
    pub arch: blyan_proto::dag::ModelArch,
    /// The architecture config JSON (the meta block, inline).
    pub meta_json: String,
    /// Every block with its CID and payload hash.
    pub blocks: Vec<blyan_proto::dag::BlockSpec>,
    /// The public validation set and the baseline loss of these blocks on it.
    #[serde(default)]
    pub validation: Option<blyan_proto::dag::ValidationSet>,
}

/// One account funded at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The account address (EIP-55 string in JSON).
    pub address: Address,
    /// Balance in base units (decimal string in JSON).
    #[serde(with = "u128_string")]
    pub balance: u128,
    /// A human note on what the account is for (`"foundation"`, `"dev-0"`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One validator of the initial set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Display name (the CometBFT moniker in a localnet).
    pub name: String,
    /// The account that operates the validator.
    pub operator: Address,
    /// The ed25519 consensus public key, base64 of its 32 bytes, exactly as in
    /// `genesis.json` `validators[].pub_key.value`.
    pub consensus_pub_key: String,
    /// Voting power.
    pub power: u64,
}

impl GenesisAppState {
    /// The sum of all genesis balances, base units; an overflow is an error.
    pub fn total_minted(&self) -> Result<u128, GenesisError> {
        self.accounts.iter().try_fold(0u128, |sum, a| {
            sum.checked_add(a.balance)
                .ok_or(GenesisError::BalanceOverflow)
        })
    }

    /// Parses the JSON of an `app_state` (the bytes InitChain carries).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The JSON value written into `genesis.json`.
    pub fn to_json_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}
