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

/// State keys owned by `staking`.
pub mod state_key {
    use blyan_proto::Address;

    use crate::state::key;

    /// Staking parameters.
    pub const PARAMS: &[u8] = b"staking/params";
    /// Prefix of validators by operator.
    pub const VALIDATOR_PREFIX: &[u8] = b"staking/validator/";
    /// Prefix of delegations by delegator then validator.
    pub const DELEGATION_PREFIX: &[u8] = b"staking/delegation/";
    /// Prefix of the unbonding queue by completion height then sequence.
    pub const UNBONDING_PREFIX: &[u8] = b"staking/unbonding/";
    /// Prefix of the per-delegator unbonding index.
    pub const UNBONDING_INDEX_PREFIX: &[u8] = b"staking/unbonding_by/";
    /// Next unbonding sequence number.
    pub const UNBONDING_SEQ: &[u8] = b"staking/unbonding_seq";
    /// The active set last sent to CometBFT.
    pub const ACTIVE_SET: &[u8] = b"staking/active_set";
    /// Prefix of signing info by consensus address.
    pub const SIGNING_PREFIX: &[u8] = b"staking/signing/";
    /// Prefix of missed-block marks by consensus address then window index.
    pub const MISSED_PREFIX: &[u8] = b"staking/missed/";

    /// A validator's key.
    pub fn validator(op: &Address) -> Vec<u8> {
        key(VALIDATOR_PREFIX, op.as_bytes())
    }

    /// A delegation's key.
    pub fn delegation(delegator: &Address, validator: &Address) -> Vec<u8> {
        let mut k = key(DELEGATION_PREFIX, delegator.as_bytes());
        k.extend_from_slice(validator.as_bytes());
        k
    }

    /// Prefix of one delegator's delegations.
    pub fn delegations_of(delegator: &Address) -> Vec<u8> {
        key(DELEGATION_PREFIX, delegator.as_bytes())
    }

    /// An unbonding queue entry.
    pub fn unbonding(completion: u64, seq: u64) -> Vec<u8> {
        let mut k = key(UNBONDING_PREFIX, &completion.to_be_bytes());
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// The per-delegator index entry of an unbonding entry.
    pub fn unbonding_index(delegator: &Address, completion: u64, seq: u64) -> Vec<u8> {
        let mut k = key(UNBONDING_INDEX_PREFIX, delegator.as_bytes());
        k.extend_from_slice(&completion.to_be_bytes());
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    /// Signing info of a consensus address.
    pub fn signing(cons: &[u8; 20]) -> Vec<u8> {
        key(SIGNING_PREFIX, cons)
    }

    /// Prefix of a consensus address's missed marks.
    pub fn missed_of(cons: &[u8; 20]) -> Vec<u8> {
        key(MISSED_PREFIX, cons)
    }

    /// One missed mark.
    pub fn missed(cons: &[u8; 20], index: u64) -> Vec<u8> {
        let mut k = missed_of(cons);
        k.extend_from_slice(&index.to_be_bytes());
        k
    }
}

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

/// Writes staking parameters (genesis).
pub fn set_params<S: StateWrite + ?Sized>(state: &mut S, p: &StakingParams) {
    state.put_scale(state_key::PARAMS.to_vec(), p);
}

/// A validator, if it exists.
pub fn validator<S: StateRead + ?Sized>(state: &S, op: &Address) -> TxResult<Option<Validator>> {
    state.get_scale(&state_key::validator(op))
}

/// A validator that must exist.
pub fn must_validator<S: StateRead + ?Sized>(state: &S, op: &Address) -> TxResult<Validator> {
    validator(state, op)?.ok_or_else(|| {
        TxError::new(
            ErrorCode::UnknownValidator,
            format!("no validator is operated by {op}"),
        )
    })
}

/// Stores a validator.
pub fn set_validator<S: StateWrite + ?Sized>(state: &mut S, v: &Validator) {
    state.put_scale(state_key::validator(&v.operator), v);
}

/// Every validator, by operator.
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

/// Stores a delegation, deleting it when it holds nothing.
pub fn set_delegation<S: StateWrite + ?Sized>(
    state: &mut S,
    d: &Address,
    v: &Address,
    del: &Delegation,
) {
    if del.shares == 0 && del.pending == 0 {
        state.delete_raw(&state_key::delegation(d, v));
    } else {
        state.put_scale(state_key::delegation(d, v), del);
    }
}

/// The active set last sent to CometBFT: `(operator, power)` by operator.
pub fn active_set<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<(Address, u64)>> {
    Ok(state.get_scale(state_key::ACTIVE_SET)?.unwrap_or_default())
}

/// Stores the active set.
pub fn set_active_set<S: StateWrite + ?Sized>(state: &mut S, set: &[(Address, u64)]) {
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

/// `a × b / c` in 256-bit precision, floor; 0 when `c` is 0; saturates at `u128::MAX`.
pub fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    if c == 0 {
        return 0;
    }
    if let Some(p) = a.checked_mul(b) {
        return p.checked_div(c).unwrap_or(0);
    }
    // Long multiplication into (hi, lo), then long division by c.
    let (a_hi, a_lo) = (a >> 64, a & u128::from(u64::MAX));
    let (b_hi, b_lo) = (b >> 64, b & u128::from(u64::MAX));
    let lo_lo = a_lo.wrapping_mul(b_lo);
    let hi_lo = a_hi.wrapping_mul(b_lo);
    let lo_hi = a_lo.wrapping_mul(b_hi);
    let hi_hi = a_hi.wrapping_mul(b_hi);
    let cross = (lo_lo >> 64)
        .wrapping_add(hi_lo & u128::from(u64::MAX))
        .wrapping_add(lo_hi & u128::from(u64::MAX));
    let lo = (lo_lo & u128::from(u64::MAX)) | (cross << 64);
    let hi = hi_hi
        .wrapping_add(hi_lo >> 64)
        .wrapping_add(lo_hi >> 64)
        .wrapping_add(cross >> 64);
    if hi >= c {
        return u128::MAX;
    }
    let (mut q, mut r) = (0u128, hi);
    for i in (0..128).rev() {
        let carry = r >> 127;
        r = (r << 1) | ((lo >> i) & 1);
        if carry == 1 || r >= c {
            r = r.wrapping_sub(c);
            q |= 1u128 << i;
        }
    }
    q
}

/// Stores a raw key (helper for modules that keep markers).
pub fn put_marker<S: StateWrite + ?Sized>(state: &mut S, k: Vec<u8>) {
    state.put_raw(k, vec![1]);
}

/// Builds a key from parts.
pub fn join(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    key(prefix, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_div_matches_wide_arithmetic() {
        assert_eq!(mul_div(10, 20, 3), 66);
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), u128::MAX);
        assert_eq!(mul_div(u128::MAX, 2, 4), u128::MAX / 2);
        assert_eq!(mul_div(1 << 100, 1 << 100, 1 << 110), 1 << 90);
        assert_eq!(mul_div(5, 5, 0), 0);
        assert_ne!(BONDED_POOL, UNBONDING_POOL);
        assert_ne!(BONDED_POOL, REWARDS_POOL);
    }
}
