//! The phase-1 verdict on one submission (DESIGN.md, PoL step 3), from its judgements.
//!
//! - A judgement carrying `UNFETCHABLE` abstains: it counts neither in the loss median nor
//!   in the other flags. When the abstaining attesters hold at least `flag_bps` of the
//!   phase-1 power (with the default 1/3, the power that could not fetch the content is
//!   enough to deny any aggregate the > 2/3 it needs), the submission is `Unfetchable`: its
//!   bond is kept (burned or to the reward pool, like a slash), trust lowered like a harmful
//!   submission, no reward.
//! - Flags carried by `flag_bps` of the power that judged it: absolute evidence against the
//!   content ([`flags::SLASHING`]: decode, non-finite, norm, distance, shape, hash) makes it
//!   `Byzantine` (bond slashed, trust reset).
//! - Median loss above the base loss plus the tolerance (its own loss, also absolute):
//!   `Harmful` (a fee out of the bond, the rest returned, trust lowered).
//! - Round-relative statistics alone ([`flags::ROUND_RELATIVE`]: cosine, Krum, which Sybil
//!   updates in the same round can steer) only make it `Excluded` (no reward, bond
//!   returned, trust unchanged). Otherwise `Admitted`.

use blyan_proto::event::Event;
use blyan_proto::pol::{flags, PolEvent, PolParams, RoundInfo, SubmissionInfo, SubmissionStatus};

use super::payout;
use super::state::BOND_POOL;
use super::tally::{carried_flags, weighted_median};
use crate::error::TxResult;
use crate::state::StateWrite;

/// One attester's judgement of one submission: (flags, loss in micro-nats, power).
pub(super) type Vote = (u32, u64, u64);

/// The stake-weighted median loss and the carried flags of one submission's votes.
/// `UNFETCHABLE` is set when the attesters that could not fetch it hold at least
/// `flag_bps` of `phase1_power`; the other flags are those carried by `flag_bps` of the
/// power that did judge it.
pub(super) fn tally_votes(votes: &[Vote], phase1_power: u64, flag_bps: u32) -> (Option<u64>, u32) {
    let judged: Vec<&Vote> = votes
        .iter()
        .filter(|(f, _, _)| f & flags::UNFETCHABLE == 0)
        .collect();
    let losses: Vec<(u64, u64)> = judged.iter().map(|(_, l, p)| (*l, *p)).collect();
    let flag_votes: Vec<(u32, u64)> = judged.iter().map(|(f, _, p)| (*f, *p)).collect();
    let judging_power = judged
        .iter()
        .fold(0u64, |a, (_, _, p)| a.saturating_add(*p));
    let mut carried = carried_flags(&flag_votes, judging_power, flag_bps);
    let unfetchable_power = votes
        .iter()
        .filter(|(f, _, _)| f & flags::UNFETCHABLE != 0)
        .fold(0u64, |a, (_, _, p)| a.saturating_add(*p));
    if carried_flags(
        &[(flags::UNFETCHABLE, unfetchable_power)],
        phase1_power,
        flag_bps,
    ) != 0
    {
        carried |= flags::UNFETCHABLE;
    }
    (weighted_median(&losses), carried)
}

/// Decides submission `s` from its tallied `median_loss_micro` and `flags` (its new
/// `status`), moves its bond and records the trust outcome; returns the events. Admitted
/// bonds stay locked until the round ends.
pub(super) fn apply<S: StateWrite + ?Sized>(
    state: &mut S,
    p: &PolParams,
    r: &mut RoundInfo,
    s: &mut SubmissionInfo,
    base: u64,
) -> TxResult<Vec<Event>> {
    let tolerance = base.saturating_mul(u64::from(p.harmful_tolerance_bps)) / 10_000;
    let mut events = Vec::new();
    let absolute = s.flags & !(flags::ROUND_RELATIVE | flags::UNFETCHABLE) != 0;
    let verdict = if s.flags & flags::UNFETCHABLE != 0 || absolute {
        let kept = s.bond;
        payout::take_from_bond(state, p, kept)?;
        s.penalty = kept;
        r.slashed = r.slashed.saturating_add(kept);
        r.bonds = r.bonds.saturating_sub(kept);
        if s.flags & flags::UNFETCHABLE != 0 {
            s.status = SubmissionStatus::Unfetchable;
            super::trust::record_failure(state, &s.miner, p, false)?;
            "unfetchable"
        } else {
            s.status = SubmissionStatus::Byzantine;
            super::trust::record_failure(state, &s.miner, p, true)?;
            "byzantine"
        }
    } else if s
        .median_loss_micro
        .is_some_and(|l| l > base.saturating_add(tolerance))
    {
        let fee = payout::bps_of(s.bond, p.harmful_fee_bps);
        payout::take_from_bond(state, p, fee)?;
        let back = s.bond.saturating_sub(fee);
        if back > 0 {
            events.push(crate::bank::transfer(state, &BOND_POOL, &s.miner, back)?);
        }
        s.penalty = fee;
        r.bonds = r.bonds.saturating_sub(s.bond);
        s.status = SubmissionStatus::Harmful;
        super::trust::record_failure(state, &s.miner, p, false)?;
        "harmful"
    } else if s.flags & flags::ROUND_RELATIVE != 0 {
        if s.bond > 0 {
            events.push(crate::bank::transfer(state, &BOND_POOL, &s.miner, s.bond)?);
        }
        r.bonds = r.bonds.saturating_sub(s.bond);
        s.status = SubmissionStatus::Excluded;
        "excluded"
    } else {
        s.status = SubmissionStatus::Admitted;
        "admitted"
    };
    events.push(Event::Pol(PolEvent::SubmissionJudged {
        round: r.id,
        submission: s.id,
        verdict: verdict.into(),
        median_loss_micro: s.median_loss_micro.unwrap_or(0),
        flags: s.flags,
        penalty: s.penalty,
    }));
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: u32 = flags::UNFETCHABLE;

    #[test]
    fn unfetchable_judgements_abstain_and_decide_only_together() {
        // one of four could not fetch: it abstains, the others' median and flags stand
        let votes = [
            (U | flags::NORM, 1, 10),
            (0, 7, 10),
            (0, 5, 10),
            (flags::KRUM, 6, 10),
        ];
        assert_eq!(tally_votes(&votes, 40, 3_334), (Some(6), 0));
        // two of the three that judged it carry KRUM (the abstainer is not counted)
        let votes = [
            (U, 1, 10),
            (0, 7, 10),
            (flags::KRUM, 5, 10),
            (flags::KRUM, 6, 10),
        ];
        assert_eq!(tally_votes(&votes, 40, 3_334), (Some(6), flags::KRUM));
        // half the power could not fetch: unfetchable, whatever the rest says
        let votes = [(U, 1, 10), (U, 1, 10), (0, 4, 10), (0, 4, 10)];
        assert_eq!(tally_votes(&votes, 40, 3_334), (Some(4), U));
        // nobody could
        let votes = [(U, 1, 10), (U, 1, 30)];
        assert_eq!(tally_votes(&votes, 40, 3_334), (None, U));
    }
}
