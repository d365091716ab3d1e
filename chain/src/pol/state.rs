//! `pol` state: keys and typed accessors.

use blyan_proto::pol::{
    Attestation, PolParams, RoundId, RoundInfo, RoundVoting, SubmissionId, SubmissionInfo,
    TrustInfo,
};
use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::Decode;

use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// Holds the bonds of submissions in rounds that have not ended.
pub const BOND_POOL: Address = Address(*b"module/pol_bonds____");
/// Receives slashed bonds and fees when `slash_to_reward_pool` is set; rewards are paid
/// from it before anything is minted.
pub const REWARD_POOL: Address = Address(*b"module/pol_rewards__");
/// The author recorded on block versions that Proof-of-Learning rounds create.
pub const POL_MODULE: Address = Address(*b"module/pol__________");
/// Largest loss an attestation may carry, micro-nats (1,000 nats: far above any real loss).
pub const MAX_LOSS_MICRO: u64 = 1_000_000_000;

/// State keys owned by `pol`.
pub mod state_key {
    use crate::state::key;

    /// Parameters.
    pub const PARAMS: &[u8] = b"pol/params";
    /// The next round id.
    pub const NEXT_ROUND: &[u8] = b"pol/next_round";
    /// The next submission id.
    pub const NEXT_SUBMISSION: &[u8] = b"pol/next_submission";
    /// Prefix of rounds by id.
    pub const ROUND_PREFIX: &[u8] = b"pol/round/";
    /// Prefix of each model's rounds (`{model}/{id}` → ()).
    pub const MODEL_ROUNDS_PREFIX: &[u8] = b"pol/model_rounds/";
    /// Prefix of the round in progress per model (`{model}` → id).
    pub const CURRENT_PREFIX: &[u8] = b"pol/current/";
    /// Prefix of submissions by id.
    pub const SUBMISSION_PREFIX: &[u8] = b"pol/submission/";
    /// Prefix of (round, miner) → submission id.
    pub const ROUND_MINER_PREFIX: &[u8] = b"pol/round_miner/";
    /// Prefix of (round, delta content hash) → submission id.
    pub const ROUND_DELTA_PREFIX: &[u8] = b"pol/round_delta/";
    /// Prefix of trust records by account.
    pub const TRUST_PREFIX: &[u8] = b"pol/trust/";
    /// Prefix of contributors by block id (`{block id}` → `Vec<(Address, weight)>`).
    pub const CONTRIBUTORS_PREFIX: &[u8] = b"pol/contributors/";

    /// The contributors of a block version created by a round.
    pub fn contributors(id: &[u8; 32]) -> Vec<u8> {
        key(CONTRIBUTORS_PREFIX, id)
    }

    /// Prefix of each round's voting record (power snapshot, commit windows, commitments).
    pub const VOTING_PREFIX: &[u8] = b"pol/voting/";

    /// A round's voting record.
    pub fn voting(round: u64) -> Vec<u8> {
        key(VOTING_PREFIX, &round.to_be_bytes())
    }

    /// Prefix of attestations (`{round}{phase}{validator}`).
    pub const ATTEST_PREFIX: &[u8] = b"pol/attest/";

    /// Prefix of a round's attestations of one phase.
    pub fn attestations_of(round: u64, phase: u8) -> Vec<u8> {
        let mut k = key(ATTEST_PREFIX, &round.to_be_bytes());
        k.push(phase);
        k
    }

    /// One validator's attestation.
    pub fn attestation(round: u64, phase: u8, validator: &blyan_proto::Address) -> Vec<u8> {
        key(&attestations_of(round, phase), &validator.0)
    }

    /// A round.
    pub fn round(id: u64) -> Vec<u8> {
        key(ROUND_PREFIX, &id.to_be_bytes())
    }

    /// Prefix of a model's round index.
    pub fn model_rounds_of(model: &str) -> Vec<u8> {
        let mut k = key(MODEL_ROUNDS_PREFIX, model.as_bytes());
        k.push(b'/');
        k
    }

    /// One entry of a model's round index.
    pub fn model_round(model: &str, id: u64) -> Vec<u8> {
        key(&model_rounds_of(model), &id.to_be_bytes())
    }

    /// The model's round in progress.
    pub fn current(model: &str) -> Vec<u8> {
        key(CURRENT_PREFIX, model.as_bytes())
    }

    /// A submission.
    pub fn submission(id: u64) -> Vec<u8> {
        key(SUBMISSION_PREFIX, &id.to_be_bytes())
    }

    /// A miner's submission in a round.
    pub fn round_miner(round: u64, miner: &blyan_proto::Address) -> Vec<u8> {
        let mut k = key(ROUND_MINER_PREFIX, &round.to_be_bytes());
        k.extend_from_slice(&miner.0);
        k
    }

    /// The submission of a round that carries a delta with content hash `hash`.
    pub fn round_delta(round: u64, hash: &[u8; 32]) -> Vec<u8> {
        let mut k = key(ROUND_DELTA_PREFIX, &round.to_be_bytes());
        k.extend_from_slice(hash);
        k
    }

    /// A contributor's trust record.
    pub fn trust(addr: &blyan_proto::Address) -> Vec<u8> {
        key(TRUST_PREFIX, &addr.0)
    }
}

/// The parameters (written at genesis).
pub fn params<S: StateRead + ?Sized>(state: &S) -> TxResult<PolParams> {
    state
        .get_scale(state_key::PARAMS)?
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "pol params missing"))
}

/// Writes the parameters.
pub(crate) fn set_params<S: StateWrite + ?Sized>(state: &mut S, p: &PolParams) {
    state.put_scale(state_key::PARAMS.to_vec(), p);
}

/// Takes the next id from a counter (ids start at 1).
pub(super) fn next_id<S: StateWrite + ?Sized>(state: &mut S, counter: &[u8]) -> TxResult<u64> {
    let id = state.get_scale::<u64>(counter)?.unwrap_or(1);
    let next = id
        .checked_add(1)
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "id counter overflow"))?;
    state.put_scale(counter.to_vec(), &next);
    Ok(id)
}

/// A round, if it exists.
pub fn round<S: StateRead + ?Sized>(state: &S, id: RoundId) -> TxResult<Option<RoundInfo>> {
    state.get_scale(&state_key::round(id))
}

/// Stores a round.
pub(crate) fn set_round<S: StateWrite + ?Sized>(state: &mut S, r: &RoundInfo) {
    state.put_scale(state_key::round(r.id), r);
}

/// The model's round in progress, if any.
pub fn current_round<S: StateRead + ?Sized>(state: &S, model: &str) -> TxResult<Option<RoundInfo>> {
    match state.get_scale::<RoundId>(&state_key::current(model))? {
        Some(id) => round(state, id)?
            .map(Some)
            .ok_or_else(|| TxError::new(ErrorCode::CorruptState, format!("round {id} missing"))),
        None => Ok(None),
    }
}

/// Every round in progress, ordered by model id.
pub fn rounds_in_progress<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<RoundInfo>> {
    let mut out = Vec::new();
    for (_, v) in state.prefix_raw(state_key::CURRENT_PREFIX) {
        let id = RoundId::decode(&mut v.as_slice())
            .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed current-round entry"))?;
        let r = round(state, id)?
            .ok_or_else(|| TxError::new(ErrorCode::CorruptState, format!("round {id} missing")))?;
        out.push(r);
    }
    Ok(out)
}

/// A model's rounds, oldest first.
pub fn model_rounds<S: StateRead + ?Sized>(state: &S, model: &str) -> TxResult<Vec<RoundInfo>> {
    let prefix = state_key::model_rounds_of(model);
    let mut out = Vec::new();
    for (k, _) in state.prefix_raw(&prefix) {
        let id = k
            .get(prefix.len()..)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "malformed round index key"))?;
        if let Some(r) = round(state, id)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// A submission, if it exists.
pub fn submission<S: StateRead + ?Sized>(
    state: &S,
    id: SubmissionId,
) -> TxResult<Option<SubmissionInfo>> {
    state.get_scale(&state_key::submission(id))
}

/// Stores a submission.
pub(crate) fn set_submission<S: StateWrite + ?Sized>(state: &mut S, s: &SubmissionInfo) {
    state.put_scale(state_key::submission(s.id), s);
}

/// A round's submissions in order.
pub fn round_submissions<S: StateRead + ?Sized>(
    state: &S,
    r: &RoundInfo,
) -> TxResult<Vec<SubmissionInfo>> {
    r.submissions
        .iter()
        .map(|id| {
            submission(state, *id)?.ok_or_else(|| {
                TxError::new(ErrorCode::CorruptState, format!("submission {id} missing"))
            })
        })
        .collect()
}

/// The submission `miner` made to `round`, if any.
pub fn miner_submission<S: StateRead + ?Sized>(
    state: &S,
    round: RoundId,
    miner: &Address,
) -> TxResult<Option<SubmissionId>> {
    state.get_scale(&state_key::round_miner(round, miner))
}

/// The submission of `round` that carries a delta whose content hashes to `hash`, if any.
pub fn delta_submission<S: StateRead + ?Sized>(
    state: &S,
    round: RoundId,
    hash: &[u8; 32],
) -> TxResult<Option<SubmissionId>> {
    state.get_scale(&state_key::round_delta(round, hash))
}

/// Records that submission `id` of `round` carries a delta whose content hashes to `hash`.
pub(super) fn set_delta_submission<S: StateWrite + ?Sized>(
    state: &mut S,
    round: RoundId,
    hash: &[u8; 32],
    id: SubmissionId,
) {
    state.put_scale(state_key::round_delta(round, hash), &id);
}

/// A contributor's trust record (the default for one never seen).
pub fn trust<S: StateRead + ?Sized>(state: &S, addr: &Address) -> TxResult<TrustInfo> {
    Ok(state
        .get_scale(&state_key::trust(addr))?
        .unwrap_or_default())
}

/// Stores a trust record.
pub(crate) fn set_trust<S: StateWrite + ?Sized>(state: &mut S, addr: &Address, t: &TrustInfo) {
    state.put_scale(state_key::trust(addr), t);
}

/// A round's voting record, once it entered phase 1.
pub fn round_voting<S: StateRead + ?Sized>(
    state: &S,
    round: RoundId,
) -> TxResult<Option<RoundVoting>> {
    state.get_scale(&state_key::voting(round))
}

/// A round's voting record; an error for a round in a phase without one.
pub fn must_round_voting<S: StateRead + ?Sized>(
    state: &S,
    round: RoundId,
) -> TxResult<RoundVoting> {
    round_voting(state, round)?.ok_or_else(|| {
        TxError::new(
            ErrorCode::CorruptState,
            format!("round {round} has no voting record"),
        )
    })
}

/// Stores a round's voting record.
pub(crate) fn set_round_voting<S: StateWrite + ?Sized>(state: &mut S, v: &RoundVoting) {
    state.put_scale(state_key::voting(v.round), v);
}

/// A validator's attestation of one phase, if any.
pub fn attestation<S: StateRead + ?Sized>(
    state: &S,
    round: RoundId,
    phase: u8,
    validator: &Address,
) -> TxResult<Option<Attestation>> {
    state.get_scale(&state_key::attestation(round, phase, validator))
}

/// Stores an attestation.
pub(crate) fn set_attestation<S: StateWrite + ?Sized>(
    state: &mut S,
    round: RoundId,
    phase: u8,
    a: &Attestation,
) {
    state.put_scale(state_key::attestation(round, phase, &a.validator), a);
}

/// A round's attestations of one phase, ordered by validator address.
pub fn attestations<S: StateRead + ?Sized>(
    state: &S,
    round: RoundId,
    phase: u8,
) -> TxResult<Vec<Attestation>> {
    state
        .prefix_raw(&state_key::attestations_of(round, phase))
        .into_iter()
        .map(|(_, v)| {
            Attestation::decode(&mut v.as_slice())
                .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed attestation"))
        })
        .collect()
}

/// The miners whose updates made block version `id`, with their weights (samples ×
/// improvement); empty for versions no round created.
pub fn contributors<S: StateRead + ?Sized>(
    state: &S,
    id: &[u8; 32],
) -> TxResult<Vec<(Address, u128)>> {
    Ok(state
        .get_scale(&state_key::contributors(id))?
        .unwrap_or_default())
}

/// Records the contributors of block version `id`.
pub fn set_contributors<S: StateWrite + ?Sized>(
    state: &mut S,
    id: &[u8; 32],
    c: &[(Address, u128)],
) {
    state.put_scale(state_key::contributors(id), &c.to_vec());
}

/// Records the round in the model's index and as its round in progress.
pub(super) fn open_round<S: StateWrite + ?Sized>(state: &mut S, r: &RoundInfo) {
    set_round(state, r);
    state.put_raw(state_key::model_round(&r.model, r.id), Vec::new());
    state.put_scale(state_key::current(&r.model), &r.id);
}

/// Ends a round: stores it and clears the model's round in progress.
pub(super) fn end_round<S: StateWrite + ?Sized>(state: &mut S, r: &RoundInfo) {
    set_round(state, r);
    state.delete_raw(&state_key::current(&r.model));
}

/// Sum of the bonds held by rounds in progress (the bond pool's balance must equal it).
pub fn bonds_in_progress<S: StateRead + ?Sized>(state: &S) -> TxResult<u128> {
    let mut sum = 0u128;
    for r in rounds_in_progress(state)? {
        sum = sum
            .checked_add(r.bonds)
            .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "bond sum overflow"))?;
    }
    Ok(sum)
}
