//! Writing the genesis state.

use blyan_proto::params::{FeeParams, StakingParams, TxParams};
use blyan_proto::pol::PolParams;
use blyan_proto::{Address, ErrorCode};

use crate::error::{TxError, TxResult};
use crate::state::{StateWrite, StateWriteExt};

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
    /// Proof-of-Learning parameters.
    pub pol_params: PolParams,
    /// Inference payment parameters.
    pub inference_params: blyan_proto::inference::InferenceParams,
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

/// Writes the genesis state; rejects duplicate accounts and supplies past the cap.
/// Returns the initial validator set for CometBFT.
pub fn init_chain<S: StateWrite + ?Sized>(
    state: &mut S,
    g: &ChainGenesis,
) -> TxResult<Vec<crate::staking::ValidatorUpdate>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut total = g.emission_reserve;
    for (addr, amount) in &g.accounts {
        if !seen.insert(*addr) {
            return Err(TxError::new(
                ErrorCode::CorruptState,
                format!("genesis lists {addr} twice"),
            ));
        }
        total = total
            .checked_add(*amount)
            .filter(|t| *t <= blyan_proto::SUPPLY_CAP)
            .ok_or_else(|| {
                TxError::new(ErrorCode::AmountOverflow, "genesis supply exceeds the cap")
            })?;
    }
    state.put_scale(crate::auth::state_key::CHAIN_ID.to_vec(), &g.chain_id);
    state.put_scale(crate::auth::state_key::TX_PARAMS.to_vec(), &g.tx_params);
    crate::fees::init(state, &g.fee_params);
    state.put_scale(crate::bank::state_key::SUPPLY.to_vec(), &0u128);
    state.put_scale(
        crate::bank::state_key::EMISSION_RESERVE.to_vec(),
        &g.emission_reserve,
    );
    for (addr, amount) in &g.accounts {
        crate::bank::mint(state, addr, *amount)?;
    }
    crate::staking::set_params(state, &g.staking_params);
    g.pol_params
        .validate()
        .map_err(|e| TxError::new(ErrorCode::CorruptState, e))?;
    crate::pol::set_params(state, &g.pol_params);
    g.inference_params
        .validate()
        .map_err(|e| TxError::new(ErrorCode::CorruptState, e))?;
    crate::inference::set_params(state, &g.inference_params);
    for m in &g.models {
        crate::dag::publish_model(
            state,
            &m.owner,
            &m.id,
            &m.arch,
            &m.meta_json,
            &m.blocks,
            0,
            0,
            crate::dag::PublishOptions {
                charge_deposit: false,
            },
        )
        .map_err(|e| TxError::new(e.code, format!("genesis model {:?}: {}", m.id, e.log)))?;
        let mut rec = crate::dag::must_model(state, &m.id)?;
        rec.loss_micro = m.validation.as_ref().map(|v| v.baseline_loss_micro);
        rec.validation = m.validation.clone();
        crate::dag::set_model(state, &m.id, &rec);
    }
    for v in &g.validators {
        crate::staking::init_genesis_validator(
            state,
            &v.operator,
            &v.consensus_key,
            &v.moniker,
            v.power,
        )?;
    }
    crate::staking::update_validator_set(state)
}
