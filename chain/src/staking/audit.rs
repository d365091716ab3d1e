//! The full staking audit (tests, `invariants::check_full_staking`): every pool, running
//! total, counter and index checked against a scan of the primary records. O(state).

use std::collections::BTreeMap;

use blyan_proto::Address;
use parity_scale_codec::Decode;

use super::index::{bonded_tokens, power_entry, refs};
use super::redelegation::all_redelegations;
use super::rewards::settle;
use super::state::*;
use super::state_key::{address_at, u64_at};
use super::unbonding::all_unbonding;
use crate::state::StateRead;

fn err(e: crate::TxError) -> String {
    e.log
}

fn count<S: StateRead + ?Sized>(state: &S, prefix: &[u8]) -> usize {
    state.prefix_raw(prefix).len()
}

/// Checks, against full scans: the bonded pool, the running token total and the sum of
/// validators' tokens agree; the unbonding pool holds the entries' amounts; delegation
/// shares add up to each validator's shares and the rewards pool covers what is owed;
/// every reference count, the power index, the unbonding indexes and the redelegation
/// queue and index match the records they stand for.
pub fn check_full<S: StateRead + ?Sized>(state: &S) -> Result<(), String> {
    let validators = all_validators(state).map_err(err)?;
    let total: u128 = validators.iter().map(|v| v.tokens).sum();
    let running = bonded_tokens(state).map_err(err)?;
    let pool = crate::bank::balance(state, &BONDED_POOL).map_err(err)?;
    if total != running || total != pool {
        return Err(format!(
            "validators hold {total}, running total {running}, bonded pool {pool}"
        ));
    }
    let mut want = BTreeMap::<Address, ValidatorRefs>::new();
    let mut shares = BTreeMap::<Address, u128>::new();
    let mut owed: u128 = 0;
    let by_op: BTreeMap<Address, &Validator> = validators.iter().map(|v| (v.operator, v)).collect();
    for (k, raw) in state.prefix_raw(state_key::DELEGATION_PREFIX) {
        let op = address_at(&k, state_key::DELEGATION_PREFIX.len().saturating_add(20));
        let mut d = Delegation::decode(&mut raw.as_slice()).map_err(|e| e.to_string())?;
        let v = by_op
            .get(&op)
            .ok_or_else(|| format!("a delegation names missing validator {op}"))?;
        let held = shares.entry(op).or_default();
        *held = held.saturating_add(d.shares);
        settle(v, &mut d);
        owed = owed.saturating_add(d.pending);
        let w = want.entry(op).or_default();
        w.delegations = w.delegations.saturating_add(1);
    }
    for v in &validators {
        let held = shares.get(&v.operator).copied().unwrap_or(0);
        if held != v.shares {
            return Err(format!(
                "validator {} issued {} shares but delegations hold {held}",
                v.operator, v.shares
            ));
        }
        owed = owed.saturating_add(v.commission_accrued);
    }
    let rewards = crate::bank::balance(state, &REWARDS_POOL).map_err(err)?;
    if rewards < owed {
        return Err(format!("rewards pool holds {rewards} but {owed} is owed"));
    }
    let entries = all_unbonding(state).map_err(err)?;
    let unbonding: u128 = entries.iter().map(|(_, e)| e.amount).sum();
    let pool = crate::bank::balance(state, &UNBONDING_POOL).map_err(err)?;
    if pool != unbonding {
        return Err(format!(
            "unbonding pool holds {pool} but entries hold {unbonding}"
        ));
    }
    for (k, e) in &entries {
        let seq = u64_at(k, state_key::UNBONDING_PREFIX.len().saturating_add(8));
        let c = e.completion_height;
        if state
            .get_raw(&state_key::unbonding_index(&e.delegator, c, seq))
            .is_none()
            || state
                .get_raw(&state_key::unbonding_by_validator(
                    &e.validator,
                    e.creation_height,
                    c,
                    seq,
                ))
                .is_none()
        {
            return Err(format!("unbonding entry {e:?} is missing from an index"));
        }
        let w = want.entry(e.validator).or_default();
        w.unbonding_entries = w.unbonding_entries.saturating_add(1);
    }
    let indexed = count(state, state_key::UNBONDING_INDEX_PREFIX);
    let by_validator = count(state, state_key::UNBONDING_BY_VALIDATOR_PREFIX);
    if indexed != entries.len() || by_validator != entries.len() {
        return Err(format!(
            "{} unbonding entries but {indexed} delegator and {by_validator} validator index entries",
            entries.len()
        ));
    }
    let records = all_redelegations(state).map_err(err)?;
    for (k, r) in &records {
        let seq = u64_at(k, state_key::REDELEGATION_PREFIX.len().saturating_add(28));
        let c = r.completion_height;
        if state
            .get_raw(&state_key::redelegation_queue(c, seq))
            .is_none()
            || state
                .get_raw(&state_key::redelegation_into(
                    &r.delegator,
                    &r.destination,
                    c,
                    seq,
                ))
                .is_none()
        {
            return Err(format!(
                "redelegation {r:?} is missing from its queue or index"
            ));
        }
        let w = want.entry(r.source).or_default();
        w.redelegations_from = w.redelegations_from.saturating_add(1);
    }
    let queued = count(state, state_key::REDELEGATION_QUEUE_PREFIX);
    let into = count(state, state_key::REDELEGATION_INTO_PREFIX);
    if queued != records.len() || into != records.len() {
        return Err(format!(
            "{} redelegations but {queued} queued and {into} indexed",
            records.len()
        ));
    }
    check_refs_and_power_index(state, &validators, &want)
}

fn check_refs_and_power_index<S: StateRead + ?Sized>(
    state: &S,
    validators: &[Validator],
    want: &BTreeMap<Address, ValidatorRefs>,
) -> Result<(), String> {
    for (op, w) in want {
        if validator(state, op).map_err(err)?.is_none() {
            return Err(format!("{w:?} refer to missing validator {op}"));
        }
    }
    let mut eligible = 0usize;
    for v in validators {
        let have = refs(state, &v.operator).map_err(err)?;
        let w = want.get(&v.operator).copied().unwrap_or_default();
        if have != w {
            return Err(format!(
                "validator {} counts {have:?} but holds {w:?}",
                v.operator
            ));
        }
        if let Some(k) = power_entry(v) {
            eligible = eligible.saturating_add(1);
            if state.get_raw(&k).as_deref() != Some(v.consensus_key.as_slice()) {
                return Err(format!(
                    "validator {} is missing from the power index",
                    v.operator
                ));
            }
        }
    }
    let counted = count(state, state_key::REFS_PREFIX);
    let nonempty = validators
        .iter()
        .filter(|v| want.get(&v.operator).is_some_and(|w| !w.is_empty()))
        .count();
    if counted != nonempty {
        return Err(format!(
            "{counted} reference records for {nonempty} referred validators"
        ));
    }
    let indexed = count(state, state_key::POWER_INDEX_PREFIX);
    if indexed != eligible {
        return Err(format!(
            "power index holds {indexed} entries for {eligible} eligible validators"
        ));
    }
    for (op, _) in active_set(state).map_err(err)? {
        if validator(state, &op).map_err(err)?.is_none() {
            return Err(format!("active validator {op} was pruned"));
        }
    }
    Ok(())
}
