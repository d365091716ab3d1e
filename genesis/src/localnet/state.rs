//! The localnet's keys (all derived from seeds, so every run of the same spec gets the same
//! accounts) and its genesis state.

use blyan_proto::params::{FeeParams, TxParams};
use blyan_proto::{Address, SecretKey, BLY};

use super::LocalnetError;
use crate::app_state::{GenesisAppState, GenesisValidator};
use crate::tokenomics::default_allocation;

/// Balance of each dev account, carved out of the ecosystem share: 1,000,000 BLY.
pub const DEV_ACCOUNT_BALANCE: u128 = 1_000_000 * BLY;

/// Balance of each validator operator, carved out of the ecosystem share: 1,000 BLY.
pub const OPERATOR_BALANCE: u128 = 1_000 * BLY;

/// Voting power of each localnet validator.
pub const VALIDATOR_POWER: u64 = 10;

/// The operator key of validator `index`: seed `"{chain_id}/validator/{index}"`.
pub fn operator_key(chain_id: &str, index: usize) -> SecretKey {
    SecretKey::from_seed(&format!("{chain_id}/validator/{index}"))
}

/// Dev account `index`: seed `"{chain_id}/dev/{index}"`.
pub fn dev_key(chain_id: &str, index: usize) -> SecretKey {
    SecretKey::from_seed(&format!("{chain_id}/dev/{index}"))
}

/// A treasury key (`"foundation"`, `"team"` or `"ecosystem"`): seed `"{chain_id}/{name}"`.
pub fn fund_key(chain_id: &str, name: &str) -> SecretKey {
    SecretKey::from_seed(&format!("{chain_id}/{name}"))
}

/// Staking parameters for a localnet: short windows so unbonding, downtime and jail can
/// be watched within a minute (1 BLY of stake per unit of voting power).
pub(super) fn localnet_staking_params() -> blyan_proto::params::StakingParams {
    blyan_proto::params::StakingParams {
        unbonding_blocks: 20,
        signed_blocks_window: 20,
        min_signed_bps: 5_000,
        downtime_jail_blocks: 10,
        ..Default::default()
    }
}

/// Proof-of-Learning parameters for a localnet: rounds of about half a minute, a light
/// stamp and small bonds, so a whole round can be watched in a test.
pub fn localnet_pol_params() -> blyan_proto::pol::PolParams {
    blyan_proto::pol::PolParams {
        round_blocks: 20,
        phase1_blocks: 15,
        phase2_blocks: 15,
        hashcash_bits: 12,
        ..Default::default()
    }
}

/// Governance parameters for a localnet: a 10 BLY deposit and voting periods of 20
/// blocks, so a proposal's whole life can be watched within a minute.
pub fn localnet_gov_params() -> blyan_proto::gov::GovParams {
    blyan_proto::gov::GovParams {
        min_deposit: 10 * BLY,
        max_deposit_period_blocks: 20,
        voting_period_blocks: 20,
        ..Default::default()
    }
}

/// The localnet genesis state, validated: the default allocation with each operator funded
/// with [`OPERATOR_BALANCE`] and each dev account with [`DEV_ACCOUNT_BALANCE`], default tx
/// and fee params, and the given validators.
pub fn localnet_app_state(
    chain_id: &str,
    validators: Vec<GenesisValidator>,
    dev_accounts: &[Address],
) -> Result<GenesisAppState, LocalnetError> {
    let mut carved: Vec<(Address, u128)> = validators
        .iter()
        .map(|v| (v.operator, OPERATOR_BALANCE))
        .collect();
    carved.extend(dev_accounts.iter().map(|a| (*a, DEV_ACCOUNT_BALANCE)));
    let (mut accounts, emission_reserve) = default_allocation(
        fund_key(chain_id, "foundation").address(),
        fund_key(chain_id, "team").address(),
        fund_key(chain_id, "ecosystem").address(),
        &carved,
    )?;
    for account in accounts.iter_mut().filter(|a| a.label.is_none()) {
        account.label = validators
            .iter()
            .find(|v| v.operator == account.address)
            .map(|v| format!("{}-operator", v.name))
            .or_else(|| {
                dev_accounts
                    .iter()
                    .position(|d| *d == account.address)
                    .map(|j| format!("dev-{j}"))
            });
    }
    let state = GenesisAppState {
        chain_id: chain_id.to_string(),
        tx: TxParams::default(),
        fees: FeeParams::default(),
        accounts,
        emission_reserve,
        validators,
        staking: localnet_staking_params(),
        pol: localnet_pol_params(),
        dag: Default::default(),
        inference: Default::default(),
        gov: localnet_gov_params(),
        models: Vec::new(),
    };
    state.validate()?;
    Ok(state)
}
