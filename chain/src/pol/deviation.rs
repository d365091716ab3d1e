//! The phase-1 deviation penalty (issue 11): a validator whose loss for a submission is
//! far from that submission's stake-weighted median is recorded as deviating when phase 1
//! closes, and gets no validation reward for the round.
//!
//! The check cannot be turned against an honest validator: judgements flagged
//! `UNFETCHABLE` abstain (a miner that serves its delta to some validators only makes the
//! others abstain, not deviate), and it applies to a submission only when validators
//! holding more than `quorum_bps` (2/3) of the snapshot power gave it an unflagged loss
//! within `attester_deviation_bps` of the median. Against such a supermajority, a
//! judgement carrying any other flag deviates too: the screens are deterministic, so an
//! honest validator flags exactly what the others flag, and a flag cannot be used to step
//! out of the comparison (reporting `KRUM` with a made-up loss on every submission).
//! Honest validators measure the same loss from the same hash-checked bytes, so with less
//! than 1/3 of the power Byzantine that agreeing supermajority includes honest validators,
//! and every honest validator is then within the tolerance too.

use blyan_proto::event::Event;
use blyan_proto::pol::{flags, Attestation, PolEvent, PolParams, RoundInfo};
use blyan_proto::Address;

use super::state::*;
use super::tally::{above, weighted_median};
use crate::error::TxResult;
use crate::state::StateWrite;

/// Whether `loss` is further than `bps` of `median` from it.
pub(super) fn deviates(loss: u64, median: u64, bps: u32) -> bool {
    let tolerance = crate::math::bps_of(u128::from(median), bps);
    u128::from(loss.abs_diff(median)) > tolerance
}

/// The validators that deviate on one submission's unflagged `(validator, loss, power)`
/// judgements, if a supermajority of `total_power` agrees with the median.
fn deviating_on(
    judged: &[(Address, u64, u64)],
    total_power: u64,
    p: &PolParams,
) -> Option<(u64, Vec<(Address, u64)>)> {
    let votes: Vec<(u64, u64)> = judged.iter().map(|(_, l, pw)| (*l, *pw)).collect();
    let median = weighted_median(&votes)?;
    let agreeing = judged
        .iter()
        .filter(|(_, l, _)| !deviates(*l, median, p.attester_deviation_bps))
        .fold(0u64, |a, (_, _, pw)| a.saturating_add(*pw));
    if !above(agreeing, total_power, p.quorum_bps) {
        return None;
    }
    let far = judged
        .iter()
        .filter(|(_, l, _)| deviates(*l, median, p.attester_deviation_bps))
        .map(|(v, l, _)| (*v, *l))
        .collect();
    Some((median, far))
}

/// Records the round's deviating phase-1 attesters in its voting record (once each, at
/// the first submission they deviate on) and says why in an event.
pub(super) fn record_deviating<S: StateWrite + ?Sized>(
    state: &mut S,
    r: &RoundInfo,
    atts: &[Attestation],
    p: &PolParams,
) -> TxResult<Vec<Event>> {
    let mut v = must_round_voting(state, r.id)?;
    let mut events = Vec::new();
    for (i, sub) in r.submissions.iter().enumerate() {
        let on_sub = |keep: &dyn Fn(u32) -> bool| -> Vec<(Address, u64, u64)> {
            atts.iter()
                .filter_map(|a| {
                    a.judgements
                        .get(i)
                        .filter(|j| j.submission == *sub && keep(j.flags))
                        .map(|j| (a.validator, j.loss_micro, a.power))
                })
                .collect()
        };
        let judged = on_sub(&|f| f == 0);
        let Some((median, mut far)) = deviating_on(&judged, r.total_power, p) else {
            continue;
        };
        // flagged (other than abstaining) where a supermajority measured it clean
        far.extend(
            on_sub(&|f| f != 0 && f & flags::UNFETCHABLE == 0)
                .into_iter()
                .map(|(v, l, _)| (v, l)),
        );
        for (validator, loss_micro) in far {
            if v.deviating.contains(&validator) {
                continue;
            }
            v.deviating.push(validator);
            events.push(Event::Pol(PolEvent::AttesterDeviated {
                round: r.id,
                validator,
                submission: *sub,
                loss_micro,
                median_loss_micro: median,
            }));
        }
    }
    if !events.is_empty() {
        set_round_voting(state, &v);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u8) -> Address {
        Address([n; 20])
    }

    #[test]
    fn only_a_supermajority_around_the_median_makes_others_deviate() {
        let p = PolParams::default(); // 5%, quorum 2/3
        assert!(!deviates(105, 100, 500) && deviates(106, 100, 500) && deviates(94, 100, 500));
        assert!(!deviates(0, 0, 500) && deviates(1, 0, 500));
        // three agree, one is 50% off: it deviates
        let j = [
            (a(1), 100, 10),
            (a(2), 100, 10),
            (a(3), 101, 10),
            (a(4), 150, 10),
        ];
        assert_eq!(deviating_on(&j, 40, &p), Some((100, vec![(a(4), 150)])));
        // two against two: no supermajority, nobody is penalised
        let j = [
            (a(1), 100, 10),
            (a(2), 100, 10),
            (a(3), 150, 10),
            (a(4), 150, 10),
        ];
        assert_eq!(deviating_on(&j, 40, &p), None);
        // a supermajority of the attesters but not of the snapshot: nobody
        let j = [(a(1), 100, 10), (a(2), 100, 10), (a(4), 150, 1)];
        assert_eq!(deviating_on(&j, 40, &p), None);
        assert_eq!(deviating_on(&[], 40, &p), None);
    }
}
