//! Turning the genesis file's `app_state` into the runtime's genesis input.

use anyhow::{bail, Context};
use blyan_chain::genesis::{ChainGenesis, GenesisModelSpec, GenesisValidatorSpec};
use blyan_genesis::GenesisAppState;

pub use blyan_chain::staking::consensus_address;

/// A validator-set change in CometBFT's terms.
pub fn to_abci_update(
    u: &blyan_chain::staking::ValidatorUpdate,
) -> tendermint_proto::v0_38::abci::ValidatorUpdate {
    tendermint_proto::v0_38::abci::ValidatorUpdate {
        pub_key: Some(tendermint_proto::v0_38::crypto::PublicKey {
            sum: Some(tendermint_proto::v0_38::crypto::public_key::Sum::Ed25519(
                u.consensus_key.to_vec(),
            )),
        }),
        power: i64::try_from(u.power).unwrap_or(i64::MAX),
    }
}

/// Parses and validates `app_state` bytes from InitChain; the chain id must match the
/// one CometBFT runs.
pub fn chain_genesis(
    app_state_bytes: &[u8],
    cometbft_chain_id: &str,
) -> anyhow::Result<ChainGenesis> {
    let state = GenesisAppState::from_json(app_state_bytes).context("app_state does not parse")?;
    state.validate().context("app_state is invalid")?;
    if state.chain_id != cometbft_chain_id {
        bail!(
            "app_state chain_id {:?} differs from genesis chain_id {:?}",
            state.chain_id,
            cometbft_chain_id
        );
    }
    let mut validators = Vec::with_capacity(state.validators.len());
    for v in &state.validators {
        validators.push(GenesisValidatorSpec {
            operator: v.operator,
            consensus_key: v.consensus_key_bytes()?,
            moniker: v.name.clone(),
            power: v.power,
        });
    }
    Ok(ChainGenesis {
        chain_id: state.chain_id.clone(),
        tx_params: state.tx.clone(),
        fee_params: state.fees.clone(),
        accounts: state
            .accounts
            .iter()
            .map(|a| (a.address, a.balance))
            .collect(),
        emission_reserve: state.emission_reserve,
        staking_params: state.staking.clone(),
        dag_params: state.dag.clone(),
        pol_params: state.pol.clone(),
        inference_params: state.inference.clone(),
        gov_params: state.gov.clone(),
        validators,
        models: state
            .models
            .iter()
            .map(|m| GenesisModelSpec {
                id: m.id.clone(),
                owner: m.owner,
                arch: m.arch.clone(),
                meta_json: m.meta_json.clone(),
                blocks: m.blocks.clone(),
                validation: m.validation.clone(),
            })
            .collect(),
    })
}
