//! `staking`: validators, delegation, unbonding, rewards, jail and slashing.
//!
//! Stake is held by module accounts, so the bank's supply invariant covers it: bonded
//! tokens sit in [`BONDED_POOL`], unbonding ones in [`UNBONDING_POOL`], minted but unpaid
//! rewards in [`REWARDS_POOL`]. A validator owns `tokens` and has issued `shares` to its
//! delegators (the operator's self-stake is a delegation like any other); a slash lowers
//! `tokens` so every share loses the same fraction.
//!
//! Rewards use a per-validator accumulator: each block adds `reward × SCALE / shares` to
//! the validator's `reward_per_share`; a delegation owes `shares × (current − paid)`. The
//! per-block cost is O(active validators), never O(delegations).
//!
//! No hook scans every validator or every unbonding entry: unbonding entries and
//! redelegation records are indexed by validator (a slash reads only the offender's),
//! the active set comes from a power index and is recomputed only when a power changed,
//! the bonded-pool invariant compares against a running total, and empty validators are
//! pruned in the block they become empty ([`index`]).

mod audit;
mod delegation;
pub mod index;
mod module;
mod prune;
mod query;
mod redelegation;
mod rewards;
mod slashing;
mod state;
pub mod state_key;
mod unbonding;
mod validators;

pub use audit::check_full;
pub use delegation::{delegate, redelegate, undelegate};
pub use module::Staking;
pub use query::answer as answer_query;
pub use redelegation::all_redelegations;
pub use rewards::{
    distribute_block_rewards, pending_rewards, settle as settle_for_invariants, withdraw_rewards,
};
pub use slashing::{handle_downtime, handle_misbehavior, unjail, Infraction, Misbehavior};
pub use state::*;
pub use unbonding::{all_unbonding, complete_unbonding, unbonding_of};
pub use validators::{
    consensus_address, create_validator, edit_validator, init_genesis_validator,
    update_validator_set, ValidatorUpdate,
};

use blyan_proto::event::Event;
use blyan_proto::{Address, StakingMsg};

use crate::error::TxResult;
use crate::state::StateWrite;

/// Fixed-point scale of `reward_per_share`.
pub const SCALE: u128 = 1_000_000_000_000_000_000;

/// Executes a staking message signed by `signer` at `height`.
pub fn execute<S: StateWrite + ?Sized>(
    state: &mut S,
    signer: &Address,
    msg: &StakingMsg,
    height: u64,
) -> TxResult<Vec<Event>> {
    match msg {
        StakingMsg::CreateValidator {
            consensus_key,
            moniker,
            commission_bps,
            self_stake,
        } => create_validator(
            state,
            signer,
            consensus_key,
            moniker,
            *commission_bps,
            *self_stake,
        ),
        StakingMsg::EditValidator {
            moniker,
            commission_bps,
        } => edit_validator(state, signer, moniker.as_deref(), *commission_bps),
        StakingMsg::Delegate { validator, amount } => delegate(state, signer, validator, *amount),
        StakingMsg::Undelegate { validator, amount } => {
            undelegate(state, signer, validator, *amount, height)
        }
        StakingMsg::Redelegate { from, to, amount } => {
            redelegate(state, signer, from, to, *amount, height)
        }
        StakingMsg::Unjail => unjail(state, signer, height),
        StakingMsg::WithdrawRewards { validator } => withdraw_rewards(state, signer, validator),
    }
}
