//! Where a judged round's tokens go: slashed or kept bonds, submission fees and
//! harmful-submission fees (burned or to the PoL reward pool, a param), learning rewards to
//! admitted miners in proportion to their own measured improvement (base loss − median
//! phase-1 loss: the submission's marginal improvement of the round's aggregate; equal
//! shares when none improved; the declared samples buy nothing),
//! validation rewards to the validators that agreed on the accepted aggregate in proportion
//! to their power. Rewards are paid from the reward pool first, then minted from the
//! emission reserve (never beyond it).

use blyan_proto::event::Event;
use blyan_proto::pol::{
    PolEvent, PolParams, RewardKind, RoundInfo, SubmissionInfo, SubmissionStatus,
};
use blyan_proto::Address;

use super::state::*;
use crate::error::TxResult;
use crate::math::mul_div;
use crate::state::StateWrite;

pub(super) use crate::math::bps_of;

/// Takes `amount` from `from` for good (a slash, a fee): burned, or moved to the reward
/// pool when `slash_to_reward_pool` is set.
pub(super) fn take<S: StateWrite + ?Sized>(
    state: &mut S,
    p: &PolParams,
    from: &Address,
    amount: u128,
) -> TxResult<()> {
    if amount == 0 {
        return Ok(());
    }
    if p.slash_to_reward_pool {
        crate::bank::transfer(state, from, &REWARD_POOL, amount)?;
        Ok(())
    } else {
        crate::bank::burn(state, from, amount)
    }
}

/// Takes `amount` out of the bond pool: burned, or moved to the reward pool.
pub(super) fn take_from_bond<S: StateWrite + ?Sized>(
    state: &mut S,
    p: &PolParams,
    amount: u128,
) -> TxResult<()> {
    take(state, p, &BOND_POOL, amount)
}

/// Pays `amount` to `to` from the reward pool, then from the emission reserve; returns
/// what was paid (less when both run dry).
fn pay<S: StateWrite + ?Sized>(state: &mut S, to: &Address, amount: u128) -> TxResult<u128> {
    let from_pool = crate::bank::balance(state, &REWARD_POOL)?.min(amount);
    if from_pool > 0 {
        crate::bank::transfer(state, &REWARD_POOL, to, from_pool)?;
    }
    let rest = amount.saturating_sub(from_pool);
    let minted = rest.min(crate::bank::emission_reserve(state)?);
    crate::bank::mint_from_reserve(state, to, minted)?;
    Ok(from_pool.saturating_add(minted))
}

/// Splits `budget` over `weights` (floor); dust stays unpaid.
fn split(budget: u128, weights: &[u128]) -> Vec<u128> {
    let total: u128 = weights.iter().fold(0u128, |a, w| a.saturating_add(*w));
    weights.iter().map(|w| mul_div(budget, *w, total)).collect()
}

/// Pays the learning and validation rewards of an accepted round.
pub(super) fn pay_round<S: StateWrite + ?Sized>(
    state: &mut S,
    p: &PolParams,
    r: &mut RoundInfo,
    subs: &[SubmissionInfo],
    validators: &[(Address, u64)],
    base_loss: u64,
) -> TxResult<Vec<Event>> {
    let mut events = Vec::new();
    let admitted: Vec<&SubmissionInfo> = subs
        .iter()
        .filter(|s| s.status == SubmissionStatus::Admitted)
        .collect();
    // Each admitted submission's measured contribution: how far the validators' median
    // loss is below the base loss, i.e. its median marginal improvement of the round's
    // aggregate (leave-one-out; a worker attests recorded loss − contribution). The
    // declared samples play no part.
    let mut weights: Vec<u128> = admitted
        .iter()
        .map(|s| u128::from(base_loss.saturating_sub(s.median_loss_micro.unwrap_or(base_loss))))
        .collect();
    if weights.iter().all(|w| *w == 0) {
        // nobody improved alone (the aggregate did): equal shares
        weights = vec![1; admitted.len()];
    }
    for (s, amount) in admitted
        .iter()
        .zip(split(p.learning_reward_per_round, &weights))
    {
        let paid = pay(state, &s.miner, amount)?;
        if paid > 0 {
            let mut rec = s.to_owned().clone();
            rec.reward = paid;
            set_submission(state, &rec);
            r.learning_rewards = r.learning_rewards.saturating_add(paid);
            events.push(Event::Pol(PolEvent::Rewarded {
                round: r.id,
                account: s.miner,
                kind: RewardKind::Learning,
                amount: paid,
            }));
        }
    }
    let vw: Vec<u128> = validators.iter().map(|(_, pw)| u128::from(*pw)).collect();
    for ((v, _), amount) in validators
        .iter()
        .zip(split(p.validation_reward_per_round, &vw))
    {
        let paid = pay(state, v, amount)?;
        if paid > 0 {
            r.validation_rewards = r.validation_rewards.saturating_add(paid);
            events.push(Event::Pol(PolEvent::Rewarded {
                round: r.id,
                account: *v,
                kind: RewardKind::Validation,
                amount: paid,
            }));
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_floor_and_never_exceed_the_budget() {
        assert_eq!(split(100, &[1, 1, 1]), vec![33, 33, 33]);
        assert_eq!(split(100, &[0, 0]), vec![0, 0]);
        assert_eq!(split(u128::MAX, &[u128::MAX, 1]).len(), 2);
        let s = split(1_000, &[3, 1]);
        assert_eq!(s, vec![750, 250]);
        assert_eq!(bps_of(10_000, 1_000), 1_000);
    }
}
