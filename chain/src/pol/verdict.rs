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
//! - Median loss above the base loss plus the tolerance: `Harmful` (a fee out of the bond,
//!   the rest returned, trust lowered). A validator's loss for an unflagged submission is
//!   the recorded loss minus the submission's marginal improvement of the round's
//!   aggregate, measured with a standard error (`noise_micro`); the tolerance is the
//!   larger of `harmful_tolerance_bps` of the base and `harmful_noise_bps` of the
//!   stake-weighted median noise ([`tolerance`]), so honest work that measures slightly
//!   worse within the evaluation's noise is not charged.
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

/// One attester's judgement of one submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Vote {
    /// Flag bits.
    pub flags: u32,
    /// Loss, micro-nats.
    pub loss: u64,
    /// Noise of the loss, micro-nats.
    pub noise: u64,
    /// The attester's power.
    pub power: u64,
}

/// What one submission's votes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tally {
    /// Stake-weighted median loss of the votes that judged it (`None`: nobody did).
    pub loss: Option<u64>,
    /// Stake-weighted median noise of the same votes (0 when nobody judged it).
    pub noise: u64,
    /// Carried flags.
    pub flags: u32,
}

/// The stake-weighted median loss and noise and the carried flags of one submission's
/// votes. `UNFETCHABLE` is set when the attesters that could not fetch it hold at least
/// `flag_bps` of `phase1_power`; the other flags are those carried by `flag_bps` of the
/// power that did judge it.
pub(super) fn tally_votes(votes: &[Vote], phase1_power: u64, flag_bps: u32) -> Tally {
    let judged: Vec<&Vote> = votes
        .iter()
        .filter(|v| v.flags & flags::UNFETCHABLE == 0)
        .collect();
    let losses: Vec<(u64, u64)> = judged.iter().map(|v| (v.loss, v.power)).collect();
    let noises: Vec<(u64, u64)> = judged.iter().map(|v| (v.noise, v.power)).collect();
    let flag_votes: Vec<(u32, u64)> = judged.iter().map(|v| (v.flags, v.power)).collect();
    let judging_power = judged.iter().fold(0u64, |a, v| a.saturating_add(v.power));
    let mut carried = carried_flags(&flag_votes, judging_power, flag_bps);
    let unfetchable_power = votes
        .iter()
        .filter(|v| v.flags & flags::UNFETCHABLE != 0)
        .fold(0u64, |a, v| a.saturating_add(v.power));
    if carried_flags(
        &[(flags::UNFETCHABLE, unfetchable_power)],
        phase1_power,
        flag_bps,
    ) != 0
    {
        carried |= flags::UNFETCHABLE;
    }
    Tally {
        loss: weighted_median(&losses),
        noise: weighted_median(&noises).unwrap_or(0),
        flags: carried,
    }
}

/// How far above the `base` loss a submission's median loss may be before it is harmful,
/// micro-nats: the larger of `harmful_tolerance_bps` of the base and `harmful_noise_bps`
/// of the median `noise` (integer math, floor).
pub(super) fn tolerance(p: &PolParams, base: u64, noise: u64) -> u64 {
    let fixed = crate::math::bps_of(u128::from(base), p.harmful_tolerance_bps);
    let measured = crate::math::bps_of(u128::from(noise), p.harmful_noise_bps);
    u64::try_from(fixed.max(measured)).unwrap_or(u64::MAX)
}

/// Decides submission `s` from its tallied `median_loss_micro` and `flags` and the median
/// `noise` of its judgements (its new `status`), moves its bond and records the trust
/// outcome; returns the events. Admitted bonds stay locked until the round ends.
pub(super) fn apply<S: StateWrite + ?Sized>(
    state: &mut S,
    p: &PolParams,
    r: &mut RoundInfo,
    s: &mut SubmissionInfo,
    base: u64,
    noise: u64,
) -> TxResult<Vec<Event>> {
    let tolerance = tolerance(p, base, noise);
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
        tolerance_micro: tolerance,
        flags: s.flags,
        penalty: s.penalty,
    }));
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: u32 = flags::UNFETCHABLE;

    fn tally(votes: &[(u32, u64, u64)], phase1_power: u64) -> (Option<u64>, u32) {
        let votes: Vec<Vote> = votes
            .iter()
            .map(|&(flags, loss, power)| Vote {
                flags,
                loss,
                noise: 0,
                power,
            })
            .collect();
        let t = tally_votes(&votes, phase1_power, 3_334);
        (t.loss, t.flags)
    }

    #[test]
    fn unfetchable_judgements_abstain_and_decide_only_together() {
        // one of four could not fetch: it abstains, the others' median and flags stand
        let votes = [
            (U | flags::NORM, 1, 10),
            (0, 7, 10),
            (0, 5, 10),
            (flags::KRUM, 6, 10),
        ];
        assert_eq!(tally(&votes, 40), (Some(6), 0));
        // two of the three that judged it carry KRUM (the abstainer is not counted)
        let votes = [
            (U, 1, 10),
            (0, 7, 10),
            (flags::KRUM, 5, 10),
            (flags::KRUM, 6, 10),
        ];
        assert_eq!(tally(&votes, 40), (Some(6), flags::KRUM));
        // half the power could not fetch: unfetchable, whatever the rest says
        let votes = [(U, 1, 10), (U, 1, 10), (0, 4, 10), (0, 4, 10)];
        assert_eq!(tally(&votes, 40), (Some(4), U));
        // nobody could
        let votes = [(U, 1, 10), (U, 1, 30)];
        assert_eq!(tally(&votes, 40), (None, U));
    }

    fn vote(flags: u32, loss: u64, noise: u64, power: u64) -> Vote {
        Vote {
            flags,
            loss,
            noise,
            power,
        }
    }

    #[test]
    fn the_noise_median_leaves_out_abstainers_and_sets_the_tolerance() {
        let votes = [
            vote(flags::UNFETCHABLE, 9, 1_000_000, 10),
            vote(0, 100, 30, 10),
            vote(0, 101, 10, 10),
            vote(0, 102, 20, 10),
        ];
        let t = tally_votes(&votes, 40, 3_334);
        assert_eq!((t.loss, t.noise, t.flags), (Some(101), 20, 0));
        assert_eq!(tally_votes(&[], 40, 3_334).noise, 0);
        let p = PolParams::default(); // 0 bps of the base, 2 × the noise
        assert_eq!(tolerance(&p, 5_000_000, 1_500), 3_000);
        assert_eq!(tolerance(&p, 5_000_000, 0), 0);
        let p = PolParams {
            harmful_tolerance_bps: 10,
            ..PolParams::default()
        };
        // 0.1% of the base (5,000) beats 2 × 1,500; 2 × 4,000 beats 5,000
        assert_eq!(tolerance(&p, 5_000_000, 1_500), 5_000);
        assert_eq!(tolerance(&p, 5_000_000, 4_000), 8_000);
        assert_eq!(tolerance(&p, u64::MAX, u64::MAX), u64::MAX);
    }
}
