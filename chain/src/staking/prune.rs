//! Pruning empty validators, so that state and end-block work do not grow with every
//! validator ever created.
//!
//! A validator is looked at only in the block it was marked (its tokens and shares fell to
//! zero, or a delegation, unbonding entry or redelegation record naming it went away), and
//! removed when nothing refers to it any more: no tokens, no shares, no unpaid commission,
//! no delegation record (shares or unpaid rewards), no unbonding entry, no redelegation
//! record out of it (still slashable through it), and not in the active set. Its
//! consensus-key mapping stays, so the key can never be registered again; a tombstoned
//! operator leaves a tombstone, so it can never create a validator again.

use blyan_proto::Address;

use super::index::{power_entry, refs};
use super::state::*;
use super::state_key::{address_at, PRUNE_CANDIDATE_PREFIX};
use super::validators::consensus_address;
use crate::error::TxResult;
use crate::state::StateWrite;

/// End-block: prunes the validators marked this block that nothing refers to
/// (O(validators marked)); `active` is the set just computed.
pub(super) fn prune_validators<S: StateWrite + ?Sized>(
    state: &mut S,
    active: &[(Address, u64)],
) -> TxResult<()> {
    for (k, _) in state.prefix_raw(PRUNE_CANDIDATE_PREFIX) {
        state.delete_raw(&k);
        let op = address_at(&k, PRUNE_CANDIDATE_PREFIX.len());
        let Some(v) = validator(state, &op)? else {
            continue;
        };
        let empty = v.tokens == 0 && v.shares == 0 && v.commission_accrued == 0;
        if !empty || !refs(state, &op)?.is_empty() || active.iter().any(|(o, _)| *o == op) {
            continue;
        }
        if let Some(pk) = power_entry(&v) {
            state.delete_raw(&pk);
        }
        state.delete_raw(&state_key::validator(&op));
        let cons = consensus_address(&v.consensus_key);
        state.delete_raw(&state_key::signing(&cons));
        for (m, _) in state.prefix_raw(&state_key::missed_of(&cons)) {
            state.delete_raw(&m);
        }
        if v.tombstoned {
            put_marker(state, state_key::tombstone(&op));
        }
    }
    Ok(())
}
