//! Staking state: keys, stored types and typed accessors.

use blyan_proto::params::StakingParams;
use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::{Decode, Encode};

use crate::error::{TxError, TxResult};
use crate::state::{key, StateRead, StateReadExt, StateWrite, StateWriteExt};

/// Holds every validator's bonded tokens (a fixed address no key can sign for).
pub const BONDED_POOL: Address = Address(*b"module/bonded_pool__");
/// Holds tokens in unbonding entries.
pub const UNBONDING_POOL: Address = Address(*b"module/unbond_pool__");
/// Holds minted rewards until they are withdrawn.
pub const REWARDS_POOL: Address = Address(*b"module/reward_pool__");

pub(super) use super::state_key;
pub use crate::math::mul_div;

/// A validator.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Validator {
    /// Operator account.
    pub operator: Address,
    /// ed25519 consensus public key.
    pub consensus_key: [u8; 32],
    /// Display name.
    pub moniker: String,
    /// Commission, basis points.
    pub commission_bps: u32,
    /// Bonded tokens.
    pub tokens: u128,
    /// Shares issued to delegators.
    pub shares: u128,
    /// Out of the set until unjailed.
    pub jailed: bool,
    /// Unjail allowed from this height.
    pub jailed_until: u64,
    /// Banned forever (double signing).
    pub tombstoned: bool,
    /// Accumulated rewards per share, × [`super::SCALE`].
    pub reward_per_share: u128,
    /// Commission earned, not withdrawn.
    pub commission_accrued: u128,
}

/// A delegation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct Delegation {
    /// Shares held.
    pub shares: u128,
    /// The validator's `reward_per_share` up to which rewards are settled.
    pub reward_per_share_paid: u128,
    /// Settled rewards not yet withdrawn.
    pub pending: u128,
}

/// A stake waiting out the unbonding period.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct UnbondingEntry {
    /// Whose stake.
    pub delegator: Address,
    /// From which validator.
    pub validator: Address,
    /// Base units (lowered by slashes of the validator).
    pub amount: u128,
    /// Paid out at the end of this height.
    pub completion_height: u64,
    /// Height of the undelegation; a slash for an infraction at height `h` reaches the
    /// entry only when `creation_height >= h` (stake that left earlier was not at risk).
    pub creation_height: u64,
}

/// Bonded stake moved at once from one validator to another. Kept for the unbonding
/// period so that a slash of the source for an infraction at or before `creation_height`
/// still reaches the stake at the destination.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Redelegation {
    /// Whose stake.
    pub delegator: Address,
    /// Validator the stake left.
    pub source: Address,
    /// Validator the stake joined.
    pub destination: Address,
    /// Height of the redelegation.
    pub creation_height: u64,
    /// The record is dropped at the end of this height.
    pub completion_height: u64,
    /// Tokens moved.
    pub initial_balance: u128,
    /// Shares received at the destination.
    pub shares_dst: u128,
}

/// What still refers to a validator, so it can be pruned only when nothing does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode)]
pub struct ValidatorRefs {
    /// Delegation records naming the validator (shares or unpaid rewards).
    pub delegations: u64,
    /// Unbonding entries from the validator.
    pub unbonding_entries: u64,
    /// Redelegation records out of the validator (still slashable through it).
    pub redelegations_from: u64,
}

impl ValidatorRefs {
    /// True when nothing refers to the validator.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Liveness bookkeeping of one consensus address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct SigningInfo {
    /// Blocks counted since tracking (re)started.
    pub counted: u64,
    /// Missed blocks within the window.
    pub missed: u64,
}

fn corrupt(what: &str) -> TxError {
    TxError::new(
        ErrorCode::CorruptState,
        format!("{what} missing from state"),
    )
}

/// Staking parameters.
pub fn params<S: StateRead + ?Sized>(state: &S) -> TxResult<StakingParams> {
    state
        .get_scale(state_key::PARAMS)?
        .ok_or_else(|| corrupt("staking params"))
}

/// Writes staking parameters (genesis); the active set is recomputed at the end of the
/// block, since power and set size depend on them.
pub fn set_params<S: StateWrite + ?Sized>(state: &mut S, p: &StakingParams) {
    state.put_scale(state_key::PARAMS.to_vec(), p);
    put_marker(state, state_key::SET_CHANGED.to_vec());
}

/// A validator, if it exists.
pub fn validator<S: StateRead + ?Sized>(state: &S, op: &Address) -> TxResult<Option<Validator>> {
    state.get_scale(&state_key::validator(op))
}

/// True when `op` operated a validator that was tombstoned and then pruned.
pub fn is_pruned_tombstone<S: StateRead + ?Sized>(state: &S, op: &Address) -> bool {
    state.get_raw(&state_key::tombstone(op)).is_some()
}

/// A validator that must exist (a pruned tombstoned one answers `Tombstoned`).
pub fn must_validator<S: StateRead + ?Sized>(state: &S, op: &Address) -> TxResult<Validator> {
    validator(state, op)?.ok_or_else(|| {
        if is_pruned_tombstone(state, op) {
            TxError::new(
                ErrorCode::Tombstoned,
                format!("validator {op} double-signed and can never return"),
            )
        } else {
            TxError::new(
                ErrorCode::UnknownValidator,
                format!("no validator is operated by {op}"),
            )
        }
    })
}

/// Stores a validator, keeping the power index, the bonded-token total and the pruning
/// marks in step (see [`super::index`]).
pub(crate) fn set_validator<S: StateWrite + ?Sized>(state: &mut S, v: &Validator) -> TxResult<()> {
    let old = validator(state, &v.operator)?;
    super::index::on_validator_write(state, old.as_ref(), v)?;
    state.put_scale(state_key::validator(&v.operator), v);
    Ok(())
}

/// Every validator, by operator (queries and tests: O(validators)).
pub fn all_validators<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<Validator>> {
    state
        .prefix_raw(state_key::VALIDATOR_PREFIX)
        .into_iter()
        .map(|(_, v)| {
            Validator::decode(&mut v.as_slice()).map_err(|_| corrupt("a valid validator"))
        })
        .collect()
}

/// A delegation (default when absent).
pub fn delegation<S: StateRead + ?Sized>(
    state: &S,
    d: &Address,
    v: &Address,
) -> TxResult<Option<Delegation>> {
    state.get_scale(&state_key::delegation(d, v))
}

/// Stores a delegation, deleting it when it holds nothing; keeps the validator's
/// delegation count in step.
pub(crate) fn set_delegation<S: StateWrite + ?Sized>(
    state: &mut S,
    d: &Address,
    v: &Address,
    del: &Delegation,
) -> TxResult<()> {
    let k = state_key::delegation(d, v);
    let existed = state.get_raw(&k).is_some();
    let keep = del.shares > 0 || del.pending > 0;
    if keep {
        state.put_scale(k, del);
    } else {
        state.delete_raw(&k);
    }
    match (existed, keep) {
        (false, true) => super::index::adjust_refs(state, v, |r| {
            r.delegations = r.delegations.saturating_add(1);
        }),
        (true, false) => super::index::adjust_refs(state, v, |r| {
            r.delegations = r.delegations.saturating_sub(1);
        }),
        _ => Ok(()),
    }
}

/// The active set last sent to CometBFT: `(operator, power)` by operator.
pub fn active_set<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<(Address, u64)>> {
    Ok(state.get_scale(state_key::ACTIVE_SET)?.unwrap_or_default())
}

/// Stores the active set.
pub(crate) fn set_active_set<S: StateWrite + ?Sized>(state: &mut S, set: &[(Address, u64)]) {
    state.put_scale(state_key::ACTIVE_SET.to_vec(), &set.to_vec());
}

/// Voting power of `tokens`.
pub fn power_of(tokens: u128, p: &StakingParams) -> u64 {
    u64::try_from(tokens.checked_div(p.power_reduction).unwrap_or(0)).unwrap_or(u64::MAX)
}

/// Tokens a number of shares is worth at a validator (floor).
pub fn tokens_for_shares(v: &Validator, shares: u128) -> u128 {
    mul_div(shares, v.tokens, v.shares)
}

/// Stores a raw key (helper for modules that keep markers).
pub(crate) fn put_marker<S: StateWrite + ?Sized>(state: &mut S, k: Vec<u8>) {
    state.put_raw(k, vec![1]);
}

/// Builds a key from parts.
pub fn join(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    key(prefix, rest)
}

/// Takes and increments a sequence counter.
pub fn next_seq<S: StateWrite + ?Sized>(state: &mut S, counter: &[u8]) -> TxResult<u64> {
    let seq: u64 = state.get_scale(counter)?.unwrap_or(0);
    state.put_scale(counter.to_vec(), &seq.saturating_add(1));
    Ok(seq)
}
