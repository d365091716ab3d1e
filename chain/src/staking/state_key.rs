//! State keys owned by `staking`, and the parsers of the composite ones.
//!
//! Heights and sequence numbers inside keys are big-endian, so a prefix iteration visits
//! them in ascending order. Every secondary index is a marker (value `[1]`) whose key
//! holds what is needed to find the primary record.

use blyan_proto::Address;

use crate::state::key;

/// Staking parameters.
pub const PARAMS: &[u8] = b"staking/params";
/// Prefix of validators by operator.
pub const VALIDATOR_PREFIX: &[u8] = b"staking/validator/";
/// Prefix of delegations by delegator then validator.
pub const DELEGATION_PREFIX: &[u8] = b"staking/delegation/";
/// Prefix of the unbonding queue: completion height, sequence → `UnbondingEntry`.
pub const UNBONDING_PREFIX: &[u8] = b"staking/unbonding/";
/// Prefix of the per-delegator unbonding index: delegator, completion height, sequence.
pub const UNBONDING_INDEX_PREFIX: &[u8] = b"staking/unbonding_by/";
/// Prefix of the per-validator unbonding index: operator, creation height, completion
/// height, sequence (a slash reads only its validator's entries).
pub const UNBONDING_BY_VALIDATOR_PREFIX: &[u8] = b"staking/unbonding_by_validator/";
/// Next unbonding sequence number.
pub const UNBONDING_SEQ: &[u8] = b"staking/unbonding_seq";
/// Prefix of redelegation records: source operator, creation height, sequence →
/// `Redelegation`.
pub const REDELEGATION_PREFIX: &[u8] = b"staking/redelegation/";
/// Prefix of the redelegation expiry queue: completion height, sequence → source
/// operator and creation height.
pub const REDELEGATION_QUEUE_PREFIX: &[u8] = b"staking/redelegation_queue/";
/// Prefix of the per-(delegator, destination) redelegation index: delegator, destination,
/// completion height, sequence.
pub const REDELEGATION_INTO_PREFIX: &[u8] = b"staking/redelegation_into/";
/// Next redelegation sequence number.
pub const REDELEGATION_SEQ: &[u8] = b"staking/redelegation_seq";
/// Prefix of the power index: `!tokens` (big-endian, so most tokens first), operator →
/// consensus key. Holds exactly the validators that can be in the active set (not jailed,
/// not tombstoned, some tokens).
pub const POWER_INDEX_PREFIX: &[u8] = b"staking/by_tokens/";
/// Running total of every validator's tokens (what the bonded pool must hold).
pub const BONDED_TOKENS: &[u8] = b"staking/bonded_tokens";
/// Present when the power index or the parameters changed since the active set was last
/// computed.
pub const SET_CHANGED: &[u8] = b"staking/set_changed";
/// Prefix of per-validator reference counts by operator.
pub const REFS_PREFIX: &[u8] = b"staking/refs/";
/// Prefix of validators to look at for pruning at the end of the block.
pub const PRUNE_CANDIDATE_PREFIX: &[u8] = b"staking/prune_candidate/";
/// Prefix of the operators of pruned tombstoned validators (they can never return).
pub const TOMBSTONE_PREFIX: &[u8] = b"staking/tombstoned/";
/// The active set last sent to CometBFT.
pub const ACTIVE_SET: &[u8] = b"staking/active_set";
/// Prefix of signing info by consensus address.
pub const SIGNING_PREFIX: &[u8] = b"staking/signing/";
/// Prefix of missed-block marks by consensus address then window index.
pub const MISSED_PREFIX: &[u8] = b"staking/missed/";

fn join(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// A validator's key.
pub fn validator(op: &Address) -> Vec<u8> {
    key(VALIDATOR_PREFIX, op.as_bytes())
}

/// A delegation's key.
pub fn delegation(delegator: &Address, validator: &Address) -> Vec<u8> {
    join(
        DELEGATION_PREFIX,
        &[delegator.as_bytes(), validator.as_bytes()],
    )
}

/// Prefix of one delegator's delegations.
pub fn delegations_of(delegator: &Address) -> Vec<u8> {
    key(DELEGATION_PREFIX, delegator.as_bytes())
}

/// An unbonding queue entry.
pub fn unbonding(completion: u64, seq: u64) -> Vec<u8> {
    join(
        UNBONDING_PREFIX,
        &[&completion.to_be_bytes(), &seq.to_be_bytes()],
    )
}

/// The per-delegator index entry of an unbonding entry.
pub fn unbonding_index(delegator: &Address, completion: u64, seq: u64) -> Vec<u8> {
    join(
        UNBONDING_INDEX_PREFIX,
        &[
            delegator.as_bytes(),
            &completion.to_be_bytes(),
            &seq.to_be_bytes(),
        ],
    )
}

/// Prefix of one validator's unbonding index.
pub fn unbonding_by_validator_of(op: &Address) -> Vec<u8> {
    key(UNBONDING_BY_VALIDATOR_PREFIX, op.as_bytes())
}

/// The per-validator index entry of an unbonding entry.
pub fn unbonding_by_validator(op: &Address, creation: u64, completion: u64, seq: u64) -> Vec<u8> {
    join(
        UNBONDING_BY_VALIDATOR_PREFIX,
        &[
            op.as_bytes(),
            &creation.to_be_bytes(),
            &completion.to_be_bytes(),
            &seq.to_be_bytes(),
        ],
    )
}

/// Prefix of the redelegation records out of one source validator.
pub fn redelegations_from(source: &Address) -> Vec<u8> {
    key(REDELEGATION_PREFIX, source.as_bytes())
}

/// A redelegation record.
pub fn redelegation(source: &Address, creation: u64, seq: u64) -> Vec<u8> {
    join(
        REDELEGATION_PREFIX,
        &[
            source.as_bytes(),
            &creation.to_be_bytes(),
            &seq.to_be_bytes(),
        ],
    )
}

/// Prefix of the redelegations expiring at `completion`.
pub fn redelegation_queue_at(completion: u64) -> Vec<u8> {
    key(REDELEGATION_QUEUE_PREFIX, &completion.to_be_bytes())
}

/// A redelegation's place in the expiry queue.
pub fn redelegation_queue(completion: u64, seq: u64) -> Vec<u8> {
    join(
        REDELEGATION_QUEUE_PREFIX,
        &[&completion.to_be_bytes(), &seq.to_be_bytes()],
    )
}

/// Prefix of a delegator's pending redelegations into `destination`.
pub fn redelegations_into(delegator: &Address, destination: &Address) -> Vec<u8> {
    join(
        REDELEGATION_INTO_PREFIX,
        &[delegator.as_bytes(), destination.as_bytes()],
    )
}

/// A redelegation's per-(delegator, destination) index entry.
pub fn redelegation_into(
    delegator: &Address,
    destination: &Address,
    completion: u64,
    seq: u64,
) -> Vec<u8> {
    join(
        REDELEGATION_INTO_PREFIX,
        &[
            delegator.as_bytes(),
            destination.as_bytes(),
            &completion.to_be_bytes(),
            &seq.to_be_bytes(),
        ],
    )
}

/// A validator's power-index entry.
pub fn power_index(tokens: u128, op: &Address) -> Vec<u8> {
    join(
        POWER_INDEX_PREFIX,
        &[&(!tokens).to_be_bytes(), op.as_bytes()],
    )
}

/// A validator's reference counts.
pub fn refs(op: &Address) -> Vec<u8> {
    key(REFS_PREFIX, op.as_bytes())
}

/// A validator's pruning mark.
pub fn prune_candidate(op: &Address) -> Vec<u8> {
    key(PRUNE_CANDIDATE_PREFIX, op.as_bytes())
}

/// The tombstone of a pruned tombstoned operator.
pub fn tombstone(op: &Address) -> Vec<u8> {
    key(TOMBSTONE_PREFIX, op.as_bytes())
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

/// The big-endian `u64` at byte `at` of `k` (0 when the key is too short).
pub fn u64_at(k: &[u8], at: usize) -> u64 {
    k.get(at..at.saturating_add(8))
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// The big-endian `u128` at byte `at` of `k` (0 when the key is too short).
pub fn u128_at(k: &[u8], at: usize) -> u128 {
    k.get(at..at.saturating_add(16))
        .and_then(|b| b.try_into().ok())
        .map_or(0, u128::from_be_bytes)
}

/// The address at byte `at` of `k` (zero when the key is too short).
pub fn address_at(k: &[u8], at: usize) -> Address {
    Address(
        k.get(at..at.saturating_add(20))
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 20]),
    )
}
