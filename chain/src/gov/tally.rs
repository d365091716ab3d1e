//! Counting votes by bonded stake, as the Cosmos SDK's `x/gov` does.
//!
//! Only stake bonded to the active validators counts. A delegator who voted weighs the
//! tokens of its delegations to active validators; a validator whose operator voted
//! weighs its bonded tokens minus the shares of the delegators who voted themselves
//! (their vote overrides the one they would inherit). The operator's self-delegation is a
//! delegation like any other, so an operator's vote is counted once. A delegator who did
//! not vote inherits its validator's vote; a validator that did not vote passes nothing
//! on. The cost is O(active validators + votes × the voter's delegations): bounded by
//! what the voters and delegators paid for.

use std::collections::BTreeMap;

use blyan_proto::gov::{GovParams, ProposalId, TallyResult, VoteOption};
use blyan_proto::Address;
use parity_scale_codec::Decode;

use crate::error::{TxError, TxResult};
use crate::math::{mul_div, BPS};
use crate::staking::{state_key as staking_key, Delegation};
use crate::state::StateRead;

/// What the tally decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Quorum, no veto, more yes than `threshold_bps` of the non-abstaining votes.
    Passed,
    /// Quorum, no veto, not enough yes (or only abstentions).
    Rejected,
    /// Less than `quorum_bps` of the bonded stake voted.
    NoQuorum,
    /// More than `veto_bps` of the votes were vetoes.
    Vetoed,
}

impl Outcome {
    /// The name events carry.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Rejected => "rejected",
            Outcome::NoQuorum => "no_quorum",
            Outcome::Vetoed => "vetoed",
        }
    }
}

struct ValTally {
    tokens: u128,
    shares: u128,
    deducted: u128,
    vote: Option<VoteOption>,
}

fn add(t: &mut TallyResult, option: VoteOption, weight: u128) {
    let slot = match option {
        VoteOption::Yes => &mut t.yes,
        VoteOption::No => &mut t.no,
        VoteOption::Abstain => &mut t.abstain,
        VoteOption::Veto => &mut t.veto,
    };
    *slot = slot.saturating_add(weight);
}

/// Counts the votes on proposal `id` against the current bonded stake.
pub fn tally<S: StateRead + ?Sized>(state: &S, id: ProposalId) -> TxResult<TallyResult> {
    let mut vals: BTreeMap<Address, ValTally> = BTreeMap::new();
    let mut result = TallyResult::default();
    for (op, _) in crate::staking::active_set(state)? {
        let v = crate::staking::must_validator(state, &op)?;
        result.total_bonded = result.total_bonded.saturating_add(v.tokens);
        vals.insert(
            op,
            ValTally {
                tokens: v.tokens,
                shares: v.shares,
                deducted: 0,
                vote: None,
            },
        );
    }
    for vote in super::state::votes(state, id)? {
        if let Some(v) = vals.get_mut(&vote.voter) {
            v.vote = Some(vote.option);
        }
        let prefix = staking_key::delegations_of(&vote.voter);
        for (k, raw) in state.prefix_raw(&prefix) {
            let validator = k
                .get(prefix.len()..)
                .and_then(|b| <[u8; 20]>::try_from(b).ok())
                .map(Address)
                .ok_or_else(|| {
                    TxError::new(
                        blyan_proto::ErrorCode::CorruptState,
                        "malformed delegation key",
                    )
                })?;
            let Some(v) = vals.get_mut(&validator) else {
                continue;
            };
            let del = Delegation::decode(&mut raw.as_slice()).map_err(|_| {
                TxError::new(blyan_proto::ErrorCode::CorruptState, "malformed delegation")
            })?;
            v.deducted = v.deducted.saturating_add(del.shares);
            add(
                &mut result,
                vote.option,
                mul_div(del.shares, v.tokens, v.shares),
            );
        }
    }
    for v in vals.values() {
        if let Some(option) = v.vote {
            let own = v.shares.saturating_sub(v.deducted);
            add(&mut result, option, mul_div(own, v.tokens, v.shares));
        }
    }
    Ok(result)
}

/// Decides a tally under `p`: quorum first, then veto, then the threshold.
pub fn decide(t: &TallyResult, p: &GovParams) -> Outcome {
    let voted = t.voted();
    if t.total_bonded == 0
        || voted.saturating_mul(BPS) < t.total_bonded.saturating_mul(u128::from(p.quorum_bps))
    {
        return Outcome::NoQuorum;
    }
    if t.veto.saturating_mul(BPS) > voted.saturating_mul(u128::from(p.veto_bps)) {
        return Outcome::Vetoed;
    }
    let non_abstain = t.yes.saturating_add(t.no).saturating_add(t.veto);
    if non_abstain > 0
        && t.yes.saturating_mul(BPS) > non_abstain.saturating_mul(u128::from(p.threshold_bps))
    {
        Outcome::Passed
    } else {
        Outcome::Rejected
    }
}
