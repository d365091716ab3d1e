//! Writing the genesis state.

use blyan_proto::params::{FeeParams, StakingParams, TxParams};
use blyan_proto::pol::PolParams;
use blyan_proto::Address;

use crate::error::TxResult;
use crate::module::DynWrite;
use crate::state::StateWrite;

/// Everything the runtime needs to write its first state (the app converts the genesis
/// file into this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainGenesis {
    /// Chain id.
    pub chain_id: String,
    /// Transaction envelope parameters.
    pub tx_params: TxParams,
    /// Fee market parameters.
    pub fee_params: FeeParams,
    /// Initial balances (minted).
    pub accounts: Vec<(Address, u128)>,
    /// Base units reserved for emission (not minted).
    pub emission_reserve: u128,
    /// Staking parameters.
    pub staking_params: StakingParams,
    /// DAG parameters.
    pub dag_params: blyan_proto::dag::DagParams,
    /// Proof-of-Learning parameters.
    pub pol_params: PolParams,
    /// Inference payment parameters.
    pub inference_params: blyan_proto::inference::InferenceParams,
    /// Governance parameters.
    pub gov_params: blyan_proto::gov::GovParams,
    /// The initial validators; each bonds `power × power_reduction` from its operator's
    /// genesis balance.
    pub validators: Vec<GenesisValidatorSpec>,
    /// Models published at genesis (same validation as `MsgPublishModel`, no deposit).
    pub models: Vec<GenesisModelSpec>,
}

/// A model published at genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisModelSpec {
    /// Model id.
    pub id: String,
    /// Owner.
    pub owner: Address,
    /// Architecture.
    pub arch: blyan_proto::dag::ModelArch,
    /// Meta config JSON.
    pub meta_json: String,
    /// Every block.
    pub blocks: Vec<blyan_proto::dag::BlockSpec>,
    /// Public validation set with the baseline loss.
    pub validation: Option<blyan_proto::dag::ValidationSet>,
}

/// A validator of the initial set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisValidatorSpec {
    /// Operator account.
    pub operator: Address,
    /// ed25519 consensus public key.
    pub consensus_key: [u8; 32],
    /// Display name.
    pub moniker: String,
    /// Voting power.
    pub power: u64,
}

/// Writes the genesis state: every module of [`crate::modules::MODULES`] in order (bank
/// rejects duplicate accounts and supplies past the cap). Returns the initial validator
/// set for CometBFT.
pub fn init_chain<S: StateWrite + ?Sized>(
    state: &mut S,
    g: &ChainGenesis,
) -> TxResult<Vec<crate::staking::ValidatorUpdate>> {
    let mut state = DynWrite(state);
    for m in crate::modules::MODULES {
        m.init_chain(&mut state, g)?;
    }
    let mut updates = Vec::new();
    for m in crate::modules::MODULES {
        updates.extend(m.validator_updates(&mut state)?);
    }
    Ok(updates)
}
