//! Slashing and jail: downtime from the commit's signatures, double signing from
//! CometBFT's evidence, and unjailing.

use std::collections::btree_map::{BTreeMap, Entry};

use blyan_proto::event::{Event, StakingEvent};
use blyan_proto::{Address, ErrorCode};

use super::delegation::remove_shares;
use super::state::*;
use super::unbonding::{unbonding_at_risk, unbonding_entries_of};
use super::validators::consensus_address;
use crate::error::{TxError, TxResult};
use crate::math::BPS;
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// Kinds of evidence CometBFT reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Infraction {
    /// Two different votes for one height and round.
    DuplicateVote,
    /// A light-client attack.
    LightClientAttack,
}

/// One piece of evidence from FinalizeBlock's `misbehavior`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misbehavior {
    /// What happened.
    pub kind: Infraction,
    /// CometBFT address of the offender's consensus key.
    pub consensus_address: [u8; 20],
    /// Height of the infraction.
    pub height: u64,
}

fn operator_for<S: StateRead + ?Sized>(state: &S, cons: &[u8; 20]) -> TxResult<Option<Validator>> {
    let Some(op) = crate::consensus::operator_of(state, cons)? else {
        return Ok(None);
    };
    // The consensus-key mapping outlives a pruned validator; an operator that came back
    // under another key must not answer for the old one.
    Ok(validator(state, &op)?.filter(|v| consensus_address(&v.consensus_key) == *cons))
}

/// Burns `bps` of a validator's bonded tokens, of its unbonding entries created at or
/// after `infraction_height`, and of the stake redelegated out of it at or after that
/// height (taken at the destination); returns the amount burned. Delegators lose the same
/// fraction through their shares. Entries and redelegations made before the infraction
/// were not at risk and are left alone. Reads only this validator's entries and records.
fn slash<S: StateWrite + ?Sized>(
    state: &mut S,
    v: &mut Validator,
    bps: u32,
    infraction_height: u64,
) -> TxResult<u128> {
    let bps = u128::from(bps).min(BPS);
    let bonded_cut = mul_div(v.tokens, bps, BPS);
    v.tokens = v.tokens.saturating_sub(bonded_cut);
    if bonded_cut > 0 {
        crate::bank::burn(state, &BONDED_POOL, bonded_cut)?;
    }
    let entries = unbonding_at_risk(state, &v.operator, infraction_height)?;
    let unbonding_cut = cut_entries(state, entries, |e| mul_div(e.amount, bps, BPS))?;
    let mut redelegated_cut: u128 = 0;
    // Each delegator's unbonding entries are read once per slash, not once per record:
    // one delegator holding many records would otherwise make this quadratic.
    let mut entries_of: BTreeMap<Address, Vec<(Vec<u8>, UnbondingEntry)>> = BTreeMap::new();
    for r in super::redelegation::at_risk(state, &v.operator, infraction_height)? {
        let cut = slash_redelegation(state, &r, bps, infraction_height, &mut entries_of)?;
        redelegated_cut = redelegated_cut.saturating_add(cut);
    }
    Ok(bonded_cut
        .saturating_add(unbonding_cut)
        .saturating_add(redelegated_cut))
}

/// Lowers each entry by `cut_of(entry)` (at most its amount) and burns the total from the
/// unbonding pool; returns it.
fn cut_entries<S: StateWrite + ?Sized>(
    state: &mut S,
    entries: Vec<(Vec<u8>, UnbondingEntry)>,
    mut cut_of: impl FnMut(&UnbondingEntry) -> u128,
) -> TxResult<u128> {
    let mut total: u128 = 0;
    for (k, mut e) in entries {
        let cut = cut_of(&e).min(e.amount);
        if cut > 0 {
            e.amount = e.amount.saturating_sub(cut);
            state.put_scale(k, &e);
            total = total.saturating_add(cut);
        }
    }
    if total > 0 {
        crate::bank::burn(state, &UNBONDING_POOL, total)?;
    }
    Ok(total)
}

/// Slashes `bps` of the shares a redelegation received at its destination (Cosmos
/// `SlashRedelegation`): from the delegation still bonded there, and for what the delegator
/// already undelegated from the destination since the redelegation, from those unbonding
/// entries. Burns and returns the tokens taken.
fn slash_redelegation<S: StateWrite + ?Sized>(
    state: &mut S,
    r: &Redelegation,
    bps: u128,
    jail_height: u64,
    entries_of: &mut BTreeMap<Address, Vec<(Vec<u8>, UnbondingEntry)>>,
) -> TxResult<u128> {
    let Some(dst) = validator(state, &r.destination)? else {
        return Ok(0);
    };
    let shares_due = mul_div(r.shares_dst, bps, BPS);
    if shares_due == 0 {
        return Ok(0);
    }
    let held = delegation(state, &r.delegator, &r.destination)?.map_or(0, |d| d.shares);
    let shares_now = shares_due.min(held);
    // What the missing shares are worth at the destination's rate before this cut.
    let missing = tokens_for_shares(&dst, shares_due.saturating_sub(shares_now));
    let mut burned: u128 = 0;
    if shares_now > 0 {
        burned = remove_shares(state, &r.delegator, &r.destination, shares_now, jail_height)?;
        if burned > 0 {
            crate::bank::burn(state, &BONDED_POOL, burned)?;
        }
    }
    if missing > 0 {
        let cached = match entries_of.entry(r.delegator) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(slot) => slot.insert(unbonding_entries_of(state, &r.delegator)?),
        };
        let mut left = missing;
        let mut taken: u128 = 0;
        let at_dst = cached.iter_mut().filter(|(_, e)| {
            e.validator == r.destination && e.creation_height >= r.creation_height
        });
        for (k, e) in at_dst {
            let cut = left.min(e.amount);
            if cut > 0 {
                // the cached entry is cut too, so a later record of this delegator sees it
                e.amount = e.amount.saturating_sub(cut);
                left = left.saturating_sub(cut);
                taken = taken.saturating_add(cut);
                state.put_scale(k.clone(), &*e);
            }
        }
        if taken > 0 {
            crate::bank::burn(state, &UNBONDING_POOL, taken)?;
        }
        burned = burned.saturating_add(taken);
    }
    Ok(burned)
}

/// Begin-block: double signing → slash `double_sign_slash_bps`, jail forever (tombstone).
pub fn handle_misbehavior<S: StateWrite + ?Sized>(
    state: &mut S,
    evidence: &[Misbehavior],
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    let mut events = Vec::new();
    for m in evidence {
        let Some(mut v) = operator_for(state, &m.consensus_address)? else {
            continue;
        };
        if v.tombstoned {
            continue;
        }
        let burned = slash(state, &mut v, p.double_sign_slash_bps, m.height)?;
        v.jailed = true;
        v.tombstoned = true;
        v.jailed_until = u64::MAX;
        set_validator(state, &v)?;
        events.push(Event::Staking(StakingEvent::Slash {
            validator: v.operator,
            reason: match m.kind {
                Infraction::DuplicateVote => "double_sign",
                Infraction::LightClientAttack => "light_client_attack",
            },
            burned,
            jailed_until: u64::MAX,
        }));
    }
    Ok(events)
}

/// Begin-block: records who signed the previous block; a validator that missed more
/// than the window allows is slashed `downtime_slash_bps` and jailed. O(voters).
pub fn handle_downtime<S: StateWrite + ?Sized>(
    state: &mut S,
    votes: &[([u8; 20], bool)],
    height: u64,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    let window = p.signed_blocks_window.max(1);
    let min_signed = mul_div(
        u128::from(window),
        u128::from(p.min_signed_bps.min(10_000)),
        10_000,
    );
    let max_missed = u128::from(window).saturating_sub(min_signed);
    let mut events = Vec::new();
    for (cons, signed) in votes {
        let Some(mut v) = operator_for(state, cons)? else {
            continue;
        };
        if v.jailed {
            continue;
        }
        let mut info: SigningInfo = state
            .get_scale(&state_key::signing(cons))?
            .unwrap_or_default();
        let mark = state_key::missed(cons, info.counted.checked_rem(window).unwrap_or(0));
        let was_missed = state.get_raw(&mark).is_some();
        match (signed, was_missed) {
            (false, false) => {
                put_marker(state, mark);
                info.missed = info.missed.saturating_add(1);
            }
            (true, true) => {
                state.delete_raw(&mark);
                info.missed = info.missed.saturating_sub(1);
            }
            _ => {}
        }
        info.counted = info.counted.saturating_add(1);
        if info.counted >= window && u128::from(info.missed) > max_missed {
            // The last missed signature is for the previous block: stake that left before
            // it was not at risk.
            let infraction = height.saturating_sub(1);
            let burned = slash(state, &mut v, p.downtime_slash_bps, infraction)?;
            v.jailed = true;
            v.jailed_until = height.saturating_add(p.downtime_jail_blocks);
            set_validator(state, &v)?;
            for (k, _) in state.prefix_raw(&state_key::missed_of(cons)) {
                state.delete_raw(&k);
            }
            info = SigningInfo::default();
            events.push(Event::Staking(StakingEvent::Slash {
                validator: v.operator,
                reason: "downtime",
                burned,
                jailed_until: v.jailed_until,
            }));
        }
        state.put_scale(state_key::signing(cons), &info);
    }
    Ok(events)
}

/// `MsgUnjail`.
pub fn unjail<S: StateWrite + ?Sized>(
    state: &mut S,
    op: &Address,
    height: u64,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    let mut v = must_validator(state, op)?;
    if v.tombstoned {
        return Err(TxError::new(
            ErrorCode::Tombstoned,
            format!("validator {op} double-signed and can never return"),
        ));
    }
    if !v.jailed {
        return Err(TxError::new(
            ErrorCode::NotJailed,
            format!("validator {op} is not jailed"),
        ));
    }
    if height < v.jailed_until {
        return Err(TxError::new(
            ErrorCode::StillJailed,
            format!("validator {op} is jailed until height {}", v.jailed_until),
        ));
    }
    let own = delegation(state, op, op)?.map_or(0, |d| tokens_for_shares(&v, d.shares));
    if own < p.min_self_stake {
        return Err(TxError::new(
            ErrorCode::StakeBelowMinimum,
            format!("self-stake {own} is below the minimum {}", p.min_self_stake),
        ));
    }
    v.jailed = false;
    set_validator(state, &v)?;
    Ok(vec![Event::Staking(StakingEvent::Unjail {
        validator: *op,
    })])
}
