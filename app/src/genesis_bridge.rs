//! Turning the genesis file's `app_state` into the runtime's genesis input.

use anyhow::{bail, Context};
use blyan_chain::genesis::ChainGenesis;
use blyan_genesis::GenesisAppState;
use sha2::{Digest, Sha256};

/// CometBFT's address of an ed25519 consensus key: the first 20 bytes of its SHA-256.
pub fn consensus_address(pub_key: &[u8; 32]) -> [u8; 20] {
    let h = Sha256::digest(pub_key);
    let mut out = [0u8; 20];
    out.copy_from_slice(&h[..20]);
    out
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
        validators.push((consensus_address(&v.consensus_key_bytes()?), v.operator));
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
        validators,
    })
}
