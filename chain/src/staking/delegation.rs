//! Delegating, undelegating (through the unbonding queue) and redelegating (recorded
//! for slashing).

use blyan_proto::event::{Event, StakingEvent};
use blyan_proto::{Address, ErrorCode};

use super::rewards::settle;
use super::state::*;
use super::unbonding::{add_entry, unbonding_of};
use crate::error::{TxError, TxResult};
use crate::state::StateWrite;

fn nonzero(amount: u128) -> TxResult<()> {
    if amount == 0 {
        return Err(TxError::new(ErrorCode::ZeroStake, "a stake amount of zero"));
    }
    Ok(())
}

/// Adds `amount` of bonded tokens to `op` on behalf of `delegator` (tokens already in the
/// bonded pool when `from_balance` is false); returns the shares issued.
fn add_stake<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    amount: u128,
    from_balance: bool,
) -> TxResult<u128> {
    nonzero(amount)?;
    let mut v = must_validator(state, op)?;
    if v.tombstoned {
        return Err(TxError::new(
            ErrorCode::Tombstoned,
            format!("validator {op} is tombstoned and takes no stake"),
        ));
    }
    let mut del = delegation(state, delegator, op)?.unwrap_or_default();
    settle(&v, &mut del);
    let shares = if v.shares == 0 || v.tokens == 0 {
        amount
    } else {
        mul_div(amount, v.shares, v.tokens)
    };
    if from_balance {
        crate::bank::transfer(state, delegator, &BONDED_POOL, amount)?;
    }
    let overflow = || TxError::new(ErrorCode::AmountOverflow, "stake overflows");
    v.tokens = v.tokens.checked_add(amount).ok_or_else(overflow)?;
    v.shares = v.shares.checked_add(shares).ok_or_else(overflow)?;
    del.shares = del.shares.checked_add(shares).ok_or_else(overflow)?;
    set_validator(state, &v)?;
    set_delegation(state, delegator, op, &del)?;
    Ok(shares)
}

/// Bonds `amount` from `delegator`'s balance to validator `op`.
pub(super) fn bond<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    amount: u128,
) -> TxResult<()> {
    add_stake(state, delegator, op, amount, true).map(|_| ())
}

/// `MsgDelegate`.
pub fn delegate<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    amount: u128,
) -> TxResult<Vec<Event>> {
    bond(state, delegator, op, amount)?;
    Ok(vec![Event::Staking(StakingEvent::Delegate {
        delegator: *delegator,
        validator: *op,
        amount,
    })])
}

/// Removes `amount` worth of tokens from a delegation; returns the tokens removed.
fn remove_stake<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    amount: u128,
    height: u64,
) -> TxResult<u128> {
    nonzero(amount)?;
    let v = must_validator(state, op)?;
    let del = delegation(state, delegator, op)?
        .filter(|d| d.shares > 0)
        .ok_or_else(|| {
            TxError::new(
                ErrorCode::NoDelegation,
                format!("{delegator} has no stake with {op}"),
            )
        })?;
    let held = tokens_for_shares(&v, del.shares);
    if amount > held {
        return Err(TxError::new(
            ErrorCode::InsufficientDelegation,
            format!("{delegator} has {held} bonded with {op}, cannot remove {amount}"),
        ));
    }
    let shares = if amount == held {
        del.shares
    } else {
        // Round the shares up so a delegator never takes out more than it holds.
        let s = mul_div(amount, v.shares, v.tokens);
        let exact = mul_div(s, v.tokens, v.shares) == amount;
        if exact { s } else { s.saturating_add(1) }.min(del.shares)
    };
    remove_shares(state, delegator, op, shares, height)
}

/// Takes up to `shares` of `delegator`'s shares at `op` out of the validator (rewards
/// settled first); returns the tokens they were worth, still in the bonded pool. An
/// operator whose self-stake falls below the minimum is jailed.
pub(super) fn remove_shares<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    shares: u128,
    height: u64,
) -> TxResult<u128> {
    let mut v = must_validator(state, op)?;
    let mut del = delegation(state, delegator, op)?.unwrap_or_default();
    settle(&v, &mut del);
    let shares = shares.min(del.shares);
    let tokens = if shares == v.shares {
        v.tokens
    } else {
        tokens_for_shares(&v, shares)
    };
    v.tokens = v.tokens.saturating_sub(tokens);
    v.shares = v.shares.saturating_sub(shares);
    del.shares = del.shares.saturating_sub(shares);
    if delegator == op && !v.jailed {
        let p = params(state)?;
        if tokens_for_shares(&v, del.shares) < p.min_self_stake {
            // An operator whose self-stake falls below the minimum leaves the set.
            v.jailed = true;
            v.jailed_until = height;
        }
    }
    set_validator(state, &v)?;
    set_delegation(state, delegator, op, &del)?;
    Ok(tokens)
}

/// `MsgUndelegate`: the tokens wait `unbonding_blocks` in the unbonding pool.
pub fn undelegate<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    amount: u128,
    height: u64,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    let pending = unbonding_of(state, delegator)?
        .iter()
        .filter(|e| e.validator == *op)
        .count();
    if pending >= usize::try_from(p.max_unbonding_entries).unwrap_or(usize::MAX) {
        return Err(TxError::new(
            ErrorCode::TooManyUnbondingEntries,
            format!("{pending} unbonding entries already pending with {op}"),
        ));
    }
    let tokens = remove_stake(state, delegator, op, amount, height)?;
    if tokens > 0 {
        crate::bank::transfer(state, &BONDED_POOL, &UNBONDING_POOL, tokens)?;
    }
    let completion = height.saturating_add(p.unbonding_blocks.max(1));
    add_entry(state, delegator, op, tokens, height, completion)?;
    Ok(vec![Event::Staking(StakingEvent::Undelegate {
        delegator: *delegator,
        validator: *op,
        amount: tokens,
        completion_height: completion,
    })])
}

/// `MsgRedelegate`: bonded tokens move at once from one validator to another; a record
/// keeps them answerable for the source's infractions for the unbonding period.
pub fn redelegate<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    from: &Address,
    to: &Address,
    amount: u128,
    height: u64,
) -> TxResult<Vec<Event>> {
    if from == to {
        return Err(TxError::new(
            ErrorCode::SelfRedelegation,
            "redelegation to the same validator",
        ));
    }
    must_validator(state, to)?;
    let p = params(state)?;
    super::redelegation::check_allowed(state, delegator, from, to, p.max_unbonding_entries)?;
    let tokens = remove_stake(state, delegator, from, amount, height)?;
    let shares = add_stake(state, delegator, to, tokens, false)?;
    super::redelegation::record(
        state,
        &Redelegation {
            delegator: *delegator,
            source: *from,
            destination: *to,
            creation_height: height,
            completion_height: height.saturating_add(p.unbonding_blocks.max(1)),
            initial_balance: tokens,
            shares_dst: shares,
        },
    )?;
    Ok(vec![Event::Staking(StakingEvent::Redelegate {
        delegator: *delegator,
        from: *from,
        to: *to,
        amount: tokens,
    })])
}
