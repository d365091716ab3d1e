//! Delegating, undelegating (through the unbonding queue) and redelegating.

use blyan_proto::event::Event;
use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::Decode;

use super::rewards::settle;
use super::state::*;
use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

fn nonzero(amount: u128) -> TxResult<()> {
    if amount == 0 {
        return Err(TxError::new(ErrorCode::ZeroStake, "a stake amount of zero"));
    }
    Ok(())
}

/// Adds `amount` of bonded tokens to `op` on behalf of `delegator` (tokens already in the
/// bonded pool when `from_balance` is false).
fn add_stake<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    amount: u128,
    from_balance: bool,
) -> TxResult<()> {
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
    set_validator(state, &v);
    set_delegation(state, delegator, op, &del);
    Ok(())
}

/// Bonds `amount` from `delegator`'s balance to validator `op`.
pub fn bond<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    amount: u128,
) -> TxResult<()> {
    add_stake(state, delegator, op, amount, true)
}

/// `MsgDelegate`.
pub fn delegate<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    amount: u128,
) -> TxResult<Vec<Event>> {
    bond(state, delegator, op, amount)?;
    Ok(vec![Event::Delegate {
        delegator: *delegator,
        validator: *op,
        amount,
    }])
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
    let mut v = must_validator(state, op)?;
    let mut del = delegation(state, delegator, op)?
        .filter(|d| d.shares > 0)
        .ok_or_else(|| {
            TxError::new(
                ErrorCode::NoDelegation,
                format!("{delegator} has no stake with {op}"),
            )
        })?;
    settle(&v, &mut del);
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
    set_validator(state, &v);
    set_delegation(state, delegator, op, &del);
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
    let seq: u64 = state.get_scale(state_key::UNBONDING_SEQ)?.unwrap_or(0);
    state.put_scale(state_key::UNBONDING_SEQ.to_vec(), &seq.saturating_add(1));
    state.put_scale(
        state_key::unbonding(completion, seq),
        &UnbondingEntry {
            delegator: *delegator,
            validator: *op,
            amount: tokens,
            completion_height: completion,
        },
    );
    put_marker(
        state,
        state_key::unbonding_index(delegator, completion, seq),
    );
    Ok(vec![Event::Undelegate {
        delegator: *delegator,
        validator: *op,
        amount: tokens,
        completion_height: completion,
    }])
}

/// `MsgRedelegate`: bonded tokens move at once from one validator to another.
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
    let tokens = remove_stake(state, delegator, from, amount, height)?;
    add_stake(state, delegator, to, tokens, false)?;
    Ok(vec![Event::Redelegate {
        delegator: *delegator,
        from: *from,
        to: *to,
        amount: tokens,
    }])
}

/// A delegator's unbonding entries, by completion height.
pub fn unbonding_of<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
) -> TxResult<Vec<UnbondingEntry>> {
    let prefix = join(state_key::UNBONDING_INDEX_PREFIX, delegator.as_bytes());
    let mut out = Vec::new();
    for (k, _) in state.prefix_raw(&prefix) {
        let tail = k.get(prefix.len()..).unwrap_or_default();
        let (c, s) = tail.split_at(tail.len().min(8));
        let completion = u64::from_be_bytes(c.try_into().unwrap_or([0; 8]));
        let seq = u64::from_be_bytes(s.try_into().unwrap_or([0; 8]));
        if let Some(e) =
            state.get_scale::<UnbondingEntry>(&state_key::unbonding(completion, seq))?
        {
            out.push(e);
        }
    }
    Ok(out)
}

/// Every unbonding entry with its queue key (slashing and invariants; O(entries)).
pub fn all_unbonding<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<(Vec<u8>, UnbondingEntry)>> {
    state
        .prefix_raw(state_key::UNBONDING_PREFIX)
        .into_iter()
        .map(|(k, v)| {
            UnbondingEntry::decode(&mut v.as_slice())
                .map(|e| (k, e))
                .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed unbonding entry"))
        })
        .collect()
}

/// End-block: pays out the entries that complete at `height` (each entry is visited
/// exactly once, at its own height).
pub fn complete_unbonding<S: StateWrite + ?Sized>(
    state: &mut S,
    height: u64,
) -> TxResult<Vec<Event>> {
    let prefix = join(state_key::UNBONDING_PREFIX, &height.to_be_bytes());
    let mut events = Vec::new();
    for (k, v) in state.prefix_raw(&prefix) {
        let e = UnbondingEntry::decode(&mut v.as_slice())
            .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed unbonding entry"))?;
        let seq = k.get(prefix.len()..).unwrap_or_default();
        let seq = u64::from_be_bytes(seq.try_into().unwrap_or([0; 8]));
        if e.amount > 0 {
            crate::bank::transfer(state, &UNBONDING_POOL, &e.delegator, e.amount)?;
        }
        state.delete_raw(&k);
        state.delete_raw(&state_key::unbonding_index(&e.delegator, height, seq));
        events.push(Event::UnbondingComplete {
            delegator: e.delegator,
            validator: e.validator,
            amount: e.amount,
        });
    }
    Ok(events)
}
