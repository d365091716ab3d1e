//! Judging a round from its attestations (DESIGN.md, PoL steps 3 and 5): stake-weighted
//! medians over integer losses, flags carried by enough attesting power, the > 2/3 quorum
//! on one aggregate, and what follows: slashes, fees, returned bonds, new block versions,
//! rewards and trust updates. Everything is integer math over state, in a fixed order.
//! Attestations carry their signer's power from the round's snapshot ([`super::voting`]);
//! phase-1 attesters far from a median lose their validation reward ([`super::deviation`]).

use std::collections::BTreeMap;

use blyan_proto::event::Event;
use blyan_proto::pol::{
    AttestAggregate, Attestation, PolEvent, RoundInfo, RoundStatus, SubmissionInfo,
    SubmissionStatus,
};
use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::Encode;

use super::state::*;
use super::{payout, verdict};
use crate::dag::DagWrite;
use crate::error::{TxError, TxResult};
use crate::state::StateWrite;

/// True when `part` is more than `bps` of `total` (strictly: "more than 2/3").
pub fn above(part: u64, total: u64, bps: u32) -> bool {
    u128::from(part).saturating_mul(10_000) > u128::from(total).saturating_mul(u128::from(bps))
}

/// The stake-weighted (lower) median: the smallest value whose cumulative power reaches
/// half of the total. `None` for no votes.
pub fn weighted_median(votes: &[(u64, u64)]) -> Option<u64> {
    let mut v: Vec<(u64, u64)> = votes.iter().copied().filter(|(_, p)| *p > 0).collect();
    v.sort_unstable();
    let total: u128 = v.iter().map(|(_, p)| u128::from(*p)).sum();
    let mut acc: u128 = 0;
    for (value, p) in v {
        acc = acc.saturating_add(u128::from(p));
        if acc.saturating_mul(2) >= total {
            return Some(value);
        }
    }
    None
}

/// The flag bits carried by at least `bps` of the attesting power.
pub fn carried_flags(votes: &[(u32, u64)], attesting: u64, bps: u32) -> u32 {
    let mut out = 0u32;
    for bit in 0..32u32 {
        let mask = 1u32 << bit;
        let power: u64 = votes
            .iter()
            .filter(|(f, _)| f & mask != 0)
            .fold(0u64, |a, (_, p)| a.saturating_add(*p));
        if power > 0
            && u128::from(power).saturating_mul(10_000)
                >= u128::from(attesting).saturating_mul(u128::from(bps))
        {
            out |= mask;
        }
    }
    out
}

fn corrupt(log: impl Into<String>) -> TxError {
    TxError::new(ErrorCode::CorruptState, log)
}

/// Phase 1 is over: judge every submission, or end the round without a quorum.
pub(super) fn close_phase1<S: StateWrite + ?Sized>(
    state: &mut S,
    mut r: RoundInfo,
    height: u64,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    if !above(r.phase1_power, r.total_power, p.quorum_bps) {
        return super::rounds::end_without_quorum(state, r, height);
    }
    let atts = attestations(state, r.id, 1)?;
    let mut events = super::deviation::record_deviating(state, &r, &atts, &p)?;
    let base = r.base_loss_micro.unwrap_or(u64::MAX);
    let mut admitted = 0usize;
    for (i, mut s) in round_submissions(state, &r)?.into_iter().enumerate() {
        let mut votes: Vec<verdict::Vote> = Vec::with_capacity(atts.len());
        for a in &atts {
            let j = a
                .judgements
                .get(i)
                .filter(|j| j.submission == s.id)
                .ok_or_else(|| corrupt(format!("attestation of round {} out of order", r.id)))?;
            votes.push(verdict::Vote {
                flags: j.flags,
                loss: j.loss_micro,
                noise: j.noise_micro,
                power: a.power,
            });
        }
        let t = verdict::tally_votes(&votes, r.phase1_power, p.flag_bps);
        (s.median_loss_micro, s.flags) = (t.loss, t.flags);
        let ev = verdict::apply(state, &p, &mut r, &mut s, base, t.noise)?;
        if s.status == SubmissionStatus::Admitted {
            admitted = admitted.saturating_add(1);
        }
        events.extend(ev);
        set_submission(state, &s);
    }
    if admitted == 0 {
        r.status = RoundStatus::Rejected;
        r.ended_at = height;
        end_round(state, &r);
        events.push(Event::Pol(PolEvent::RoundEnded {
            round: r.id,
            status: RoundStatus::Rejected,
            reason: "no submission was admitted".into(),
        }));
        return Ok(events);
    }
    r.status = RoundStatus::Phase2;
    set_round(state, &r);
    Ok(events)
}

/// Phase 2 is over: accept the aggregate that more than 2/3 of the power agrees on if it
/// improves the model enough; otherwise return the admitted bonds.
pub(super) fn close_phase2<S: StateWrite + ?Sized>(
    state: &mut S,
    mut r: RoundInfo,
    height: u64,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    let atts = attestations(state, r.id, 2)?;
    // Group identical aggregates (hash, blocks) by their SCALE bytes: a BTreeMap, so the
    // order is fixed.
    let mut groups: BTreeMap<Vec<u8>, (u64, Vec<&Attestation>)> = BTreeMap::new();
    for a in &atts {
        let Some(agg) = &a.aggregate else { continue };
        let e = groups
            .entry((agg.aggregate_hash, &agg.blocks).encode())
            .or_insert((0, Vec::new()));
        e.0 = e.0.saturating_add(a.power);
        e.1.push(a);
    }
    let best = groups
        .values()
        .fold(None::<&(u64, Vec<&Attestation>)>, |best, g| match best {
            Some(b) if b.0 >= g.0 => Some(b),
            _ => Some(g),
        });
    let Some((power, agreeing)) = best.filter(|(pw, _)| above(*pw, r.total_power, p.quorum_bps))
    else {
        return super::rounds::end_without_quorum(state, r, height);
    };
    let agg: AttestAggregate = agreeing
        .first()
        .and_then(|a| a.aggregate.clone())
        .ok_or_else(|| corrupt("empty aggregate group"))?;
    let votes: Vec<(u64, u64)> = agreeing
        .iter()
        .filter_map(|a| a.aggregate.as_ref().map(|g| (g.loss_micro, a.power)))
        .collect();
    let new_loss = weighted_median(&votes).ok_or_else(|| corrupt("no aggregate loss"))?;
    let base = r.base_loss_micro.unwrap_or(u64::MAX);
    let improves = u128::from(new_loss).saturating_mul(10_000)
        <= u128::from(base)
            .saturating_mul(u128::from(10_000u32.saturating_sub(p.min_improvement_bps)));
    let subs = round_submissions(state, &r)?;
    let mut events = Vec::new();
    r.aggregate_hash = Some(agg.aggregate_hash);
    r.new_loss_micro = Some(new_loss);
    r.phase2_agreeing_power = *power;
    if !improves {
        events.extend(return_admitted(state, &mut r, &subs)?);
        r.status = RoundStatus::Rejected;
        r.ended_at = height;
        end_round(state, &r);
        events.push(Event::Pol(PolEvent::RoundEnded {
            round: r.id,
            status: RoundStatus::Rejected,
            reason: format!(
                "aggregate loss {new_loss} µnats does not improve {base} by {} bps",
                p.min_improvement_bps
            ),
        }));
        return Ok(events);
    }
    for b in &agg.blocks {
        let (id, ev) = crate::dag::record_learned_version(state, &r.model, b, &POL_MODULE, height)?;
        r.new_blocks.push(id);
        events.extend(ev);
    }
    super::contributors::record_round_contributors(state, &r, &agg.blocks, &subs, base);
    state.record_loss(&r.model, new_loss)?;
    // Only validators that revealed phase-1 judgements and did not deviate in phase 1
    // share the validation reward: skipping phase 1, or committing and withholding the
    // reveal, earns nothing.
    let deviating = must_round_voting(state, r.id)?.deviating;
    let judged: Vec<Address> = attestations(state, r.id, 1)?
        .iter()
        .map(|a| a.validator)
        .collect();
    let validators: Vec<(Address, u64)> = agreeing
        .iter()
        .filter(|a| judged.contains(&a.validator) && !deviating.contains(&a.validator))
        .map(|a| (a.validator, a.power))
        .collect();
    events.extend(payout::pay_round(
        state,
        &p,
        &mut r,
        &subs,
        &validators,
        base,
    )?);
    events.extend(return_admitted(state, &mut r, &subs)?);
    for s in subs
        .iter()
        .filter(|s| s.status == SubmissionStatus::Admitted)
    {
        super::trust::record_success(state, &s.miner, &p)?;
    }
    r.status = RoundStatus::Accepted;
    r.ended_at = height;
    end_round(state, &r);
    events.push(Event::Pol(PolEvent::RoundEnded {
        round: r.id,
        status: RoundStatus::Accepted,
        reason: format!("loss {base} → {new_loss} µnats"),
    }));
    Ok(events)
}

/// Returns the bonds of admitted submissions.
fn return_admitted<S: StateWrite + ?Sized>(
    state: &mut S,
    r: &mut RoundInfo,
    subs: &[SubmissionInfo],
) -> TxResult<Vec<Event>> {
    let mut events = Vec::new();
    for s in subs
        .iter()
        .filter(|s| s.status == SubmissionStatus::Admitted)
    {
        if s.bond > 0 {
            events.push(crate::bank::transfer(state, &BOND_POOL, &s.miner, s.bond)?);
        }
        r.bonds = r.bonds.saturating_sub(s.bond);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_flags_and_quorum_are_integer_and_stake_weighted() {
        assert_eq!(weighted_median(&[]), None);
        assert_eq!(weighted_median(&[(5, 1)]), Some(5));
        // equal power: the lower median
        assert_eq!(weighted_median(&[(7, 1), (3, 1)]), Some(3));
        assert_eq!(weighted_median(&[(7, 1), (3, 1), (5, 1)]), Some(5));
        // one heavy voter decides
        assert_eq!(weighted_median(&[(9, 10), (1, 3), (2, 3)]), Some(9));
        assert_eq!(weighted_median(&[(9, 0), (1, 3)]), Some(1));
        assert!(above(3, 4, 6_666) && !above(2, 4, 6_666) && !above(2, 3, 6_667));
        assert_eq!(
            carried_flags(&[(0b101, 1), (0b001, 1), (0, 1)], 3, 3_333),
            0b101
        );
        assert_eq!(carried_flags(&[(0b100, 1), (0, 2), (0, 1)], 4, 3_333), 0);
    }
}
