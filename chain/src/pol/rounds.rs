//! Round deadlines, run at the end of every block.
//!
//! A round takes submissions through `submit_until`; then phase 1 runs through
//! `phase1_until` and phase 2 through `phase2_until`. A phase closes at its deadline, or
//! as soon as every validator of the snapshot taken when submissions closed has attested.
//! A phase that closes without more than 2/3 of that power attesting ends the round as
//! `NoQuorum`: every bond still held goes back and the heads stay; the submission fees
//! taken at submit are kept (so stalling a round is never free).

use blyan_proto::event::Event;
use blyan_proto::pol::{PolEvent, RoundInfo, RoundStatus, SubmissionStatus};
use blyan_proto::ErrorCode;

use super::state::*;
use crate::error::{TxError, TxResult};
use crate::state::StateWrite;

/// Advances every round in progress whose phase ends with this block.
pub fn end_block<S: StateWrite + ?Sized>(state: &mut S, height: u64) -> TxResult<Vec<Event>> {
    let mut events = Vec::new();
    for mut r in rounds_in_progress(state)? {
        let all_in = |attested: u64| r.total_power > 0 && attested >= r.total_power;
        match r.status {
            RoundStatus::Open if height >= r.submit_until => {
                r.status = RoundStatus::Phase1;
                r.total_power = crate::staking::active_set(state)?
                    .iter()
                    .fold(0u64, |a, (_, p)| a.saturating_add(*p));
                set_round(state, &r);
                events.push(Event::Pol(PolEvent::RoundClosed {
                    round: r.id,
                    submissions: u32::try_from(r.submissions.len()).unwrap_or(u32::MAX),
                }));
            }
            RoundStatus::Phase1 if height >= r.phase1_until || all_in(r.phase1_power) => {
                events.extend(super::tally::close_phase1(state, r, height)?);
            }
            RoundStatus::Phase2 if height >= r.phase2_until || all_in(r.phase2_power) => {
                events.extend(super::tally::close_phase2(state, r, height)?);
            }
            _ => {}
        }
    }
    Ok(events)
}

/// Ends a round without a verdict: every bond still held (pending or admitted) goes back;
/// the submission fees were taken at submit and stay taken.
pub(super) fn end_without_quorum<S: StateWrite + ?Sized>(
    state: &mut S,
    mut r: RoundInfo,
    height: u64,
) -> TxResult<Vec<Event>> {
    let mut events = Vec::new();
    let mut returned = 0u128;
    for mut s in round_submissions(state, &r)? {
        if !matches!(
            s.status,
            SubmissionStatus::Pending | SubmissionStatus::Admitted
        ) {
            continue;
        }
        if s.bond > 0 {
            events.push(crate::bank::transfer(state, &BOND_POOL, &s.miner, s.bond)?);
            returned = returned
                .checked_add(s.bond)
                .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "bond sum overflow"))?;
        }
        s.status = SubmissionStatus::Returned;
        set_submission(state, &s);
    }
    r.bonds = r.bonds.checked_sub(returned).ok_or_else(|| {
        TxError::new(
            ErrorCode::CorruptState,
            format!("round {} returned more bonds than it held", r.id),
        )
    })?;
    r.status = RoundStatus::NoQuorum;
    r.ended_at = height;
    end_round(state, &r);
    events.push(Event::Pol(PolEvent::RoundNoQuorum {
        round: r.id,
        returned,
    }));
    Ok(events)
}
