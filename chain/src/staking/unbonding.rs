//! The unbonding queue: entries by completion height (paid out in end-block), indexed by
//! delegator (queries, entry limits) and by validator then creation height (slashing).

use blyan_proto::event::{Event, StakingEvent};
use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::Decode;

use super::index::adjust_refs;
use super::state::*;
use super::state_key::{u64_at, UNBONDING_BY_VALIDATOR_PREFIX, UNBONDING_INDEX_PREFIX};
use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

fn malformed() -> TxError {
    TxError::new(ErrorCode::CorruptState, "malformed unbonding entry")
}

/// Queues `amount` (already in the unbonding pool) for `delegator`, created at `height`
/// and paid out at the end of `completion`.
pub(super) fn add_entry<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    op: &Address,
    amount: u128,
    height: u64,
    completion: u64,
) -> TxResult<()> {
    let seq = next_seq(state, state_key::UNBONDING_SEQ)?;
    state.put_scale(
        state_key::unbonding(completion, seq),
        &UnbondingEntry {
            delegator: *delegator,
            validator: *op,
            amount,
            completion_height: completion,
            creation_height: height,
        },
    );
    put_marker(
        state,
        state_key::unbonding_index(delegator, completion, seq),
    );
    put_marker(
        state,
        state_key::unbonding_by_validator(op, height, completion, seq),
    );
    adjust_refs(state, op, |r| {
        r.unbonding_entries = r.unbonding_entries.saturating_add(1);
    })
}

/// A delegator's unbonding entries with their queue keys, by completion height.
pub(super) fn unbonding_entries_of<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
) -> TxResult<Vec<(Vec<u8>, UnbondingEntry)>> {
    let at = UNBONDING_INDEX_PREFIX.len().saturating_add(20);
    let mut out = Vec::new();
    for (k, _) in state.prefix_raw(&join(UNBONDING_INDEX_PREFIX, delegator.as_bytes())) {
        let queue_key = state_key::unbonding(u64_at(&k, at), u64_at(&k, at.saturating_add(8)));
        if let Some(e) = state.get_scale::<UnbondingEntry>(&queue_key)? {
            out.push((queue_key, e));
        }
    }
    Ok(out)
}

/// A delegator's unbonding entries, by completion height.
pub fn unbonding_of<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
) -> TxResult<Vec<UnbondingEntry>> {
    Ok(unbonding_entries_of(state, delegator)?
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

/// Validator `op`'s unbonding entries created at or after `from_height`, with their queue
/// keys, by creation height. Reads only `op`'s index (O(its entries)).
pub(super) fn unbonding_at_risk<S: StateRead + ?Sized>(
    state: &S,
    op: &Address,
    from_height: u64,
) -> TxResult<Vec<(Vec<u8>, UnbondingEntry)>> {
    let at = UNBONDING_BY_VALIDATOR_PREFIX.len().saturating_add(20);
    let mut out = Vec::new();
    for (k, _) in state.prefix_raw(&state_key::unbonding_by_validator_of(op)) {
        if u64_at(&k, at) < from_height {
            continue;
        }
        let completion = u64_at(&k, at.saturating_add(8));
        let seq = u64_at(&k, at.saturating_add(16));
        let queue_key = state_key::unbonding(completion, seq);
        if let Some(e) = state.get_scale::<UnbondingEntry>(&queue_key)? {
            out.push((queue_key, e));
        }
    }
    Ok(out)
}

/// Every unbonding entry with its queue key (invariants and tests; O(entries)).
pub fn all_unbonding<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<(Vec<u8>, UnbondingEntry)>> {
    state
        .prefix_raw(state_key::UNBONDING_PREFIX)
        .into_iter()
        .map(|(k, v)| {
            UnbondingEntry::decode(&mut v.as_slice())
                .map(|e| (k, e))
                .map_err(|_| malformed())
        })
        .collect()
}

/// End-block: pays out the entries that complete at `height` (each entry is visited
/// exactly once, at its own height) and drops the redelegation records that expire.
pub fn complete_unbonding<S: StateWrite + ?Sized>(
    state: &mut S,
    height: u64,
) -> TxResult<Vec<Event>> {
    let prefix = join(state_key::UNBONDING_PREFIX, &height.to_be_bytes());
    let mut events = Vec::new();
    for (k, v) in state.prefix_raw(&prefix) {
        let e = UnbondingEntry::decode(&mut v.as_slice()).map_err(|_| malformed())?;
        let seq = u64_at(&k, prefix.len());
        if e.amount > 0 {
            crate::bank::transfer(state, &UNBONDING_POOL, &e.delegator, e.amount)?;
        }
        state.delete_raw(&k);
        state.delete_raw(&state_key::unbonding_index(&e.delegator, height, seq));
        state.delete_raw(&state_key::unbonding_by_validator(
            &e.validator,
            e.creation_height,
            height,
            seq,
        ));
        adjust_refs(state, &e.validator, |r| {
            r.unbonding_entries = r.unbonding_entries.saturating_sub(1);
        })?;
        events.push(Event::Staking(StakingEvent::UnbondingComplete {
            delegator: e.delegator,
            validator: e.validator,
            amount: e.amount,
        }));
    }
    super::redelegation::expire(state, height)?;
    Ok(events)
}
