//! Invariants checked after every block. A violation means a bug: the node must halt
//! rather than commit.

use parity_scale_codec::Decode;

use crate::bank::state_key::{BALANCE_PREFIX, EMISSION_RESERVE, SUPPLY};
use crate::error::InvariantError;
use crate::state::{StateRead, WriteSet};

/// Every module account the runtime keeps (pools whose balance its records must match).
/// Users cannot credit any of them ([`crate::bank::check_recipient`]).
pub const MODULE_ACCOUNTS: [blyan_proto::Address; 10] = [
    crate::staking::BONDED_POOL,
    crate::staking::UNBONDING_POOL,
    crate::staking::REWARDS_POOL,
    crate::dag::DEPOSIT_POOL,
    crate::pol::BOND_POOL,
    crate::pol::REWARD_POOL,
    crate::pol::POL_MODULE,
    crate::inference::CHANNEL_POOL,
    crate::gov::GOV_ESCROW,
    crate::gov::COMMUNITY_POOL,
];

fn decode_amount(v: Option<&[u8]>) -> Result<u128, InvariantError> {
    match v {
        None => Ok(0),
        Some(mut b) => u128::decode(&mut b).map_err(|e| InvariantError::BadAmount(e.to_string())),
    }
}

fn signed_delta(old: u128, new: u128) -> Result<i128, InvariantError> {
    let o = i128::try_from(old).map_err(|_| InvariantError::Overflow("amount beyond i128"))?;
    let n = i128::try_from(new).map_err(|_| InvariantError::Overflow("amount beyond i128"))?;
    n.checked_sub(o)
        .ok_or(InvariantError::Overflow("delta overflow"))
}

/// Supply invariant over one block's writes, in O(keys written): the balances written
/// changed by exactly as much as the total supply did, and supply plus the emission
/// reserve stays within the cap.
pub fn check_block_supply<S: StateRead + ?Sized>(
    base: &S,
    writes: &WriteSet,
) -> Result<(), InvariantError> {
    let mut balance_delta: i128 = 0;
    for (k, v) in writes
        .range(BALANCE_PREFIX.to_vec()..)
        .take_while(|(k, _)| k.starts_with(BALANCE_PREFIX))
    {
        let old = decode_amount(base.get_raw(k).as_deref())?;
        let new = decode_amount(v.as_deref())?;
        balance_delta = balance_delta
            .checked_add(signed_delta(old, new)?)
            .ok_or(InvariantError::Overflow("balance delta overflow"))?;
    }
    let read = |key: &[u8]| -> Result<(u128, u128), InvariantError> {
        let old = decode_amount(base.get_raw(key).as_deref())?;
        let new = match writes.get(key) {
            Some(v) => decode_amount(v.as_deref())?,
            None => old,
        };
        Ok((old, new))
    };
    let (old_supply, new_supply) = read(SUPPLY)?;
    let (_, new_reserve) = read(EMISSION_RESERVE)?;
    let supply_delta = signed_delta(old_supply, new_supply)?;
    if balance_delta != supply_delta {
        return Err(InvariantError::BlockSupply {
            balances: balance_delta,
            supply: supply_delta,
        });
    }
    if new_supply.saturating_add(new_reserve) > blyan_proto::SUPPLY_CAP {
        return Err(InvariantError::SupplyCap {
            supply: new_supply,
            reserve: new_reserve,
        });
    }
    Ok(())
}

/// Full supply invariant in O(accounts): the sum of every balance equals the total supply.
pub fn check_full_supply<S: StateRead + ?Sized>(state: &S) -> Result<(), InvariantError> {
    let balances = crate::bank::all_balances(state)?;
    let mut sum: u128 = 0;
    for (_, b) in &balances {
        sum = sum
            .checked_add(*b)
            .ok_or(InvariantError::Overflow("balance sum overflow"))?;
    }
    let supply = crate::bank::supply(state)?;
    if sum != supply {
        return Err(InvariantError::FullSupply { sum, supply });
    }
    Ok(())
}

/// Proof-of-Learning invariant, O(rounds in progress): the bond pool holds exactly the
/// bonds of the rounds that have not ended.
pub fn check_pol_bonds<S: StateRead + ?Sized>(state: &S) -> Result<(), InvariantError> {
    let held = crate::bank::balance(state, &crate::pol::BOND_POOL)?;
    let owed = crate::pol::bonds_in_progress(state)?;
    if held != owed {
        return Err(InvariantError::PolBonds { held, owed });
    }
    Ok(())
}

/// Payment-channel invariant, O(1): the channel pool holds exactly the running total of
/// what open channels have not paid out (tests check that total against a full scan).
pub fn check_channels<S: StateRead + ?Sized>(state: &S) -> Result<(), InvariantError> {
    let held = crate::bank::balance(state, &crate::inference::CHANNEL_POOL)?;
    let owed = crate::inference::held(state)?;
    if held != owed {
        return Err(InvariantError::Channels { held, owed });
    }
    Ok(())
}

/// Staking invariant, O(1): the bonded pool holds exactly the running total of the
/// validators' tokens (kept in step by every validator write; [`check_full_staking`]
/// checks that total against a full scan).
pub fn check_staking<S: StateRead + ?Sized>(state: &S) -> Result<(), InvariantError> {
    let total = crate::staking::index::bonded_tokens(state)?;
    let pool = crate::bank::balance(state, &crate::staking::BONDED_POOL)?;
    if pool != total {
        return Err(InvariantError::BondedPool { pool, total });
    }
    Ok(())
}

/// Delegation invariant over one block's writes, O(keys written): every delegation
/// written names an existing validator.
pub fn check_block_delegations<S: StateRead + ?Sized>(
    base: &S,
    writes: &WriteSet,
) -> Result<(), InvariantError> {
    use crate::staking::state_key::{validator, DELEGATION_PREFIX};
    let overlay_get = |k: &[u8]| match writes.get(k) {
        Some(v) => v.clone(),
        None => base.get_raw(k),
    };
    for (k, v) in writes
        .range(DELEGATION_PREFIX.to_vec()..)
        .take_while(|(k, _)| k.starts_with(DELEGATION_PREFIX))
    {
        if v.is_none() {
            continue;
        }
        let op: [u8; 20] = k
            .get(k.len().saturating_sub(20)..)
            .and_then(|b| b.try_into().ok())
            .ok_or(InvariantError::DelegationKey)?;
        if overlay_get(&validator(&blyan_proto::Address(op))).is_none() {
            return Err(InvariantError::MissingValidator(blyan_proto::Address(op)));
        }
    }
    Ok(())
}

/// Full staking invariants in O(everything) (tests): see [`crate::staking::check_full`].
pub fn check_full_staking<S: StateRead + ?Sized>(state: &S) -> Result<(), InvariantError> {
    check_staking(state)?;
    crate::staking::check_full(state).map_err(InvariantError::Audit)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_module_account_carries_the_module_prefix() {
        for a in super::MODULE_ACCOUNTS {
            assert!(a.is_module(), "{a} lacks the module prefix");
        }
    }
}
