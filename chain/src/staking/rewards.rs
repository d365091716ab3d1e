//! Block rewards from the emission reserve, and their withdrawal.

use blyan_proto::event::{Event, StakingEvent};
use blyan_proto::{Address, ErrorCode};

use super::state::*;
use super::SCALE;
use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateWrite};

/// Moves a delegation's rewards earned since its last settlement into `pending`.
pub fn settle(v: &Validator, del: &mut Delegation) {
    let delta = v.reward_per_share.saturating_sub(del.reward_per_share_paid);
    let owed = mul_div(del.shares, delta, SCALE);
    del.pending = del.pending.saturating_add(owed);
    del.reward_per_share_paid = v.reward_per_share;
}

/// Begin-block: mints this block's validation reward from the emission reserve and
/// credits it to the active validators by voting power, commission first, the rest to
/// their delegators through the per-share accumulator. O(active validators).
pub fn distribute_block_rewards<S: StateWrite + ?Sized>(state: &mut S) -> TxResult<Option<Event>> {
    let p = params(state)?;
    let active = active_set(state)?;
    let total_power: u128 = active.iter().map(|(_, pw)| u128::from(*pw)).sum();
    let reserve = crate::bank::emission_reserve(state)?;
    let budget = p.validation_reward_per_block().min(reserve);
    if budget == 0 || total_power == 0 {
        return Ok(None);
    }
    let mut minted: u128 = 0;
    for (op, power) in &active {
        let Some(mut v) = validator(state, op)? else {
            continue;
        };
        let share = mul_div(budget, u128::from(*power), total_power);
        let mut commission = crate::math::bps_of(share, v.commission_bps);
        let rest = share.saturating_sub(commission);
        if v.shares > 0 {
            v.reward_per_share = v
                .reward_per_share
                .saturating_add(mul_div(rest, SCALE, v.shares));
        } else {
            commission = share;
        }
        v.commission_accrued = v.commission_accrued.saturating_add(commission);
        set_validator(state, &v)?;
        minted = minted.saturating_add(share);
    }
    crate::bank::mint_from_reserve(state, &REWARDS_POOL, minted)?;
    Ok(Some(Event::Staking(StakingEvent::BlockRewards { minted })))
}

/// Rewards `delegator` could withdraw from `op` now: (delegation rewards, commission).
pub fn pending_rewards<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
    op: &Address,
) -> TxResult<(u128, u128)> {
    let v = must_validator(state, op)?;
    let rewards = match delegation(state, delegator, op)? {
        Some(mut d) => {
            settle(&v, &mut d);
            d.pending
        }
        None => 0,
    };
    let commission = if delegator == op {
        v.commission_accrued
    } else {
        0
    };
    Ok((rewards, commission))
}

/// `MsgWithdrawRewards`: pays settled rewards (and the operator's commission).
pub fn withdraw_rewards<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
) -> TxResult<Vec<Event>> {
    let mut v = must_validator(state, op)?;
    let mut del = delegation(state, delegator, op)?;
    if del.is_none() && delegator != op {
        return Err(TxError::new(
            ErrorCode::NoDelegation,
            format!("{delegator} has no stake with {op}"),
        ));
    }
    let mut rewards = 0;
    if let Some(d) = del.as_mut() {
        settle(&v, d);
        rewards = d.pending;
        d.pending = 0;
    }
    let commission = if delegator == op {
        std::mem::take(&mut v.commission_accrued)
    } else {
        0
    };
    let total = rewards.saturating_add(commission);
    if total > 0 {
        crate::bank::transfer(state, &REWARDS_POOL, delegator, total)?;
    }
    if let Some(d) = del {
        set_delegation(state, delegator, op, &d)?;
    }
    set_validator(state, &v)?;
    Ok(vec![Event::Staking(StakingEvent::WithdrawRewards {
        delegator: *delegator,
        validator: *op,
        rewards,
        commission,
    })])
}
