//! Bookkeeping kept in step with the primary staking records, so that no end-block hook
//! has to scan every validator ever created:
//! - the power index (validators that can be in the active set, by tokens) and the
//!   `SET_CHANGED` mark, so the active set is recomputed only when a power changed;
//! - the running total of validators' tokens, which the bonded pool must match;
//! - per-validator reference counts and pruning marks, so an empty validator is found
//!   and removed in the block it becomes empty.

use blyan_proto::Address;

use super::state::*;
use crate::error::TxResult;
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// The power-index key of a validator that can be in the active set, else `None`.
pub fn power_entry(v: &Validator) -> Option<Vec<u8>> {
    (!v.jailed && !v.tombstoned && v.tokens > 0)
        .then(|| state_key::power_index(v.tokens, &v.operator))
}

/// Called by [`set_validator`] before it stores `new` over `old`.
pub fn on_validator_write<S: StateWrite + ?Sized>(
    state: &mut S,
    old: Option<&Validator>,
    new: &Validator,
) -> TxResult<()> {
    let before = old.and_then(power_entry);
    let after = power_entry(new);
    let key_changed = old.map(|o| o.consensus_key) != Some(new.consensus_key);
    if before != after || (after.is_some() && key_changed) {
        if let Some(k) = before {
            state.delete_raw(&k);
        }
        if let Some(k) = after {
            state.put_raw(k, new.consensus_key.to_vec());
        }
        put_marker(state, state_key::SET_CHANGED.to_vec());
    }
    let old_tokens = old.map_or(0, |o| o.tokens);
    if old_tokens != new.tokens {
        let total = bonded_tokens(state)?;
        let diff = new.tokens.abs_diff(old_tokens);
        let total = if new.tokens > old_tokens {
            total.saturating_add(diff)
        } else {
            total.saturating_sub(diff)
        };
        state.put_scale(state_key::BONDED_TOKENS.to_vec(), &total);
    }
    if old.is_some() && new.tokens == 0 && new.shares == 0 {
        mark_prune_candidate(state, &new.operator);
    }
    Ok(())
}

/// The running total of every validator's tokens.
pub fn bonded_tokens<S: StateRead + ?Sized>(state: &S) -> TxResult<u128> {
    Ok(state.get_scale(state_key::BONDED_TOKENS)?.unwrap_or(0))
}

/// What still refers to validator `op`.
pub fn refs<S: StateRead + ?Sized>(state: &S, op: &Address) -> TxResult<ValidatorRefs> {
    Ok(state.get_scale(&state_key::refs(op))?.unwrap_or_default())
}

/// Changes `op`'s reference counts; a count that went down marks `op` for pruning.
pub fn adjust_refs<S: StateWrite + ?Sized>(
    state: &mut S,
    op: &Address,
    change: impl FnOnce(&mut ValidatorRefs),
) -> TxResult<()> {
    let before = refs(state, op)?;
    let mut after = before;
    change(&mut after);
    if after.is_empty() {
        state.delete_raw(&state_key::refs(op));
    } else {
        state.put_scale(state_key::refs(op), &after);
    }
    if after.delegations < before.delegations
        || after.unbonding_entries < before.unbonding_entries
        || after.redelegations_from < before.redelegations_from
    {
        mark_prune_candidate(state, op);
    }
    Ok(())
}

/// Marks `op` to be looked at by the end-block pruning.
pub fn mark_prune_candidate<S: StateWrite + ?Sized>(state: &mut S, op: &Address) {
    put_marker(state, state_key::prune_candidate(op));
}
