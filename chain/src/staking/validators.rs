//! Creating and editing validators, and the active set sent to CometBFT.

use blyan_proto::event::{Event, StakingEvent};
use blyan_proto::{Address, ErrorCode};

use blyan_proto::params::StakingParams;

use super::delegation::bond;
use super::state::*;
use super::state_key::{address_at, u128_at, POWER_INDEX_PREFIX};
use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateWrite};

/// Longest moniker, bytes.
pub(super) const MAX_MONIKER_BYTES: usize = 64;

/// A change of voting power for CometBFT (power 0 removes the validator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorUpdate {
    /// ed25519 consensus public key.
    pub consensus_key: [u8; 32],
    /// New voting power.
    pub power: u64,
}

/// CometBFT's address of a consensus key: the first 20 bytes of its SHA-256.
pub fn consensus_address(key: &[u8; 32]) -> [u8; 20] {
    let h = blyan_proto::hash::sha256(key);
    let mut out = [0u8; 20];
    out.copy_from_slice(h.get(..20).unwrap_or(&[0u8; 20]));
    out
}

fn check_moniker(m: &str) -> TxResult<()> {
    if m.is_empty() || m.len() > MAX_MONIKER_BYTES || m.chars().any(char::is_control) {
        return Err(TxError::new(
            ErrorCode::InvalidMoniker,
            format!("a moniker is 1-{MAX_MONIKER_BYTES} bytes of printable text"),
        ));
    }
    Ok(())
}

fn check_commission(bps: u32) -> TxResult<()> {
    if bps > 10_000 {
        return Err(TxError::new(
            ErrorCode::CommissionTooHigh,
            format!("commission {bps} bps is above 10000 (100%)"),
        ));
    }
    Ok(())
}

/// Registers a validator for `operator`, bonding `self_stake` from its balance.
pub fn create_validator<S: StateWrite + ?Sized>(
    state: &mut S,
    operator: &Address,
    consensus_key: &[u8; 32],
    moniker: &str,
    commission_bps: u32,
    self_stake: u128,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    check_moniker(moniker)?;
    check_commission(commission_bps)?;
    if self_stake < p.min_self_stake {
        return Err(TxError::new(
            ErrorCode::StakeBelowMinimum,
            format!(
                "self-stake {self_stake} is below the minimum {}",
                p.min_self_stake
            ),
        ));
    }
    if *consensus_key == [0u8; 32] {
        return Err(TxError::new(
            ErrorCode::InvalidConsensusKey,
            "the consensus key is all zeros",
        ));
    }
    if validator(state, operator)?.is_some() {
        return Err(TxError::new(
            ErrorCode::ValidatorExists,
            format!("{operator} already operates a validator"),
        ));
    }
    if is_pruned_tombstone(state, operator) {
        return Err(TxError::new(
            ErrorCode::Tombstoned,
            format!("{operator} operated a validator that double-signed and can never return"),
        ));
    }
    let cons = consensus_address(consensus_key);
    if crate::consensus::operator_of(state, &cons)?.is_some() {
        return Err(TxError::new(
            ErrorCode::DuplicateConsensusKey,
            "another validator already uses this consensus key",
        ));
    }
    set_validator(
        state,
        &Validator {
            operator: *operator,
            consensus_key: *consensus_key,
            moniker: moniker.to_string(),
            commission_bps,
            tokens: 0,
            shares: 0,
            jailed: false,
            jailed_until: 0,
            tombstoned: false,
            reward_per_share: 0,
            commission_accrued: 0,
        },
    )?;
    crate::consensus::set_operator(state, &cons, operator);
    bond(state, operator, operator, self_stake)?;
    Ok(vec![
        Event::Staking(StakingEvent::CreateValidator {
            operator: *operator,
            consensus_address: hex_upper(&cons),
            self_stake,
        }),
        Event::Staking(StakingEvent::Delegate {
            delegator: *operator,
            validator: *operator,
            amount: self_stake,
        }),
    ])
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// A genesis validator: bonds `power × power_reduction` from the operator's balance.
pub fn init_genesis_validator<S: StateWrite + ?Sized>(
    state: &mut S,
    operator: &Address,
    consensus_key: &[u8; 32],
    moniker: &str,
    power: u64,
) -> TxResult<()> {
    let p = params(state)?;
    let stake = u128::from(power)
        .checked_mul(p.power_reduction)
        .ok_or_else(|| {
            TxError::new(
                ErrorCode::AmountOverflow,
                "genesis validator stake overflows",
            )
        })?;
    create_validator(state, operator, consensus_key, moniker, 500, stake)
        .map_err(|e| TxError::new(e.code, format!("genesis validator {moniker}: {}", e.log)))?;
    Ok(())
}

/// The operator changes moniker or commission.
pub fn edit_validator<S: StateWrite + ?Sized>(
    state: &mut S,
    operator: &Address,
    moniker: Option<&str>,
    commission_bps: Option<u32>,
) -> TxResult<Vec<Event>> {
    let mut v = must_validator(state, operator)?;
    if let Some(m) = moniker {
        check_moniker(m)?;
        v.moniker = m.to_string();
    }
    if let Some(c) = commission_bps {
        check_commission(c)?;
        v.commission_bps = c;
    }
    set_validator(state, &v)?;
    Ok(Vec::new())
}

/// End-block, the last staking hook: when a power changed since the last time (the
/// `SET_CHANGED` mark), the top `max_validators` by power from the power index (ties by
/// operator), returned as the changes against the set last sent to CometBFT; then prunes
/// the validators that became empty this block. O(validators that can be in the set) in a
/// block where a power changed, O(1) plus what changed otherwise; validators that are
/// jailed, tombstoned or empty are never read.
pub fn update_validator_set<S: StateWrite + ?Sized>(
    state: &mut S,
) -> TxResult<Vec<ValidatorUpdate>> {
    let updates = if state.get_raw(state_key::SET_CHANGED).is_some() {
        state.delete_raw(state_key::SET_CHANGED);
        recompute_active_set(state)?
    } else {
        Vec::new()
    };
    let active = active_set(state)?;
    super::prune::prune_validators(state, &active)?;
    Ok(updates)
}

/// The top `max_validators` of the power index as `(power, operator, consensus key)`,
/// sorted by power then operator. The index is sorted by tokens, so every validator of
/// the boundary power is read before the cut.
fn top_validators<S: StateRead + ?Sized>(
    state: &S,
    p: &StakingParams,
) -> Vec<(u64, Address, [u8; 32])> {
    let max = usize::try_from(p.max_validators).unwrap_or(usize::MAX);
    let at = POWER_INDEX_PREFIX.len();
    let mut chosen: Vec<(u64, Address, [u8; 32])> = Vec::new();
    for (k, key) in state.prefix_raw(POWER_INDEX_PREFIX) {
        let power = power_of(!u128_at(&k, at), p);
        if power == 0 {
            break;
        }
        if chosen.len() >= max && chosen.last().is_none_or(|(last, _, _)| power < *last) {
            break;
        }
        let Ok(consensus_key) = <[u8; 32]>::try_from(key.as_slice()) else {
            continue;
        };
        chosen.push((power, address_at(&k, at.saturating_add(16)), consensus_key));
    }
    chosen.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    chosen.truncate(max);
    chosen
}

fn recompute_active_set<S: StateWrite + ?Sized>(state: &mut S) -> TxResult<Vec<ValidatorUpdate>> {
    let p = params(state)?;
    let candidates = top_validators(state, &p);
    let old = active_set(state)?;
    let mut new: Vec<(Address, u64)> = candidates.iter().map(|(pw, op, _)| (*op, *pw)).collect();
    new.sort();
    let mut updates = Vec::new();
    for (op, _) in &old {
        if new.binary_search_by(|(o, _)| o.cmp(op)).is_err() {
            if let Some(v) = validator(state, op)? {
                updates.push(ValidatorUpdate {
                    consensus_key: v.consensus_key,
                    power: 0,
                });
            }
        }
    }
    for (power, op, key) in &candidates {
        let before = old.iter().find(|(o, _)| o == op).map(|(_, p)| *p);
        if before != Some(*power) {
            updates.push(ValidatorUpdate {
                consensus_key: *key,
                power: *power,
            });
        }
    }
    if new != old {
        set_active_set(state, &new);
    }
    Ok(updates)
}
