//! Round deadlines, run at the end of every block.
//!
//! A round takes submissions through `submit_until`; then the operator → power snapshot
//! is taken ([`super::voting`]) and phase 1 runs through `phase1_until`, phase 2 through
//! `phase2_until`. Each phase takes commitments first: its commit window ends at its
//! `commit_until` height, or early once every validator of the snapshot committed; the
//! reveals follow. A phase closes at its deadline, or as soon as every validator that
//! committed has revealed after the commit window.
//! A phase that closes without more than 2/3 of that power attesting ends the round as
//! `NoQuorum`: every bond still held goes back and the heads stay; the submission fees
//! taken at submit are kept (so stalling a round is never free).

use blyan_proto::event::Event;
use blyan_proto::pol::{PolEvent, RoundInfo, RoundStatus, SubmissionStatus};
use blyan_proto::ErrorCode;

use super::state::*;
use super::voting::PhaseStep;
use crate::error::{TxError, TxResult};
use crate::state::StateWrite;

/// Advances every round in progress whose phase or commit window ends with this block.
pub fn end_block<S: StateWrite + ?Sized>(state: &mut S, height: u64) -> TxResult<Vec<Event>> {
    let mut events = Vec::new();
    for mut r in rounds_in_progress(state)? {
        let phase = match r.status {
            RoundStatus::Open if height >= r.submit_until => {
                r.status = RoundStatus::Phase1;
                r.total_power = super::voting::take_snapshot(state, &r)?;
                set_round(state, &r);
                events.push(Event::Pol(PolEvent::RoundClosed {
                    round: r.id,
                    submissions: u32::try_from(r.submissions.len()).unwrap_or(u32::MAX),
                }));
                continue;
            }
            RoundStatus::Phase1 => 1,
            RoundStatus::Phase2 => 2,
            _ => continue,
        };
        let v = must_round_voting(state, r.id)?;
        match (super::voting::phase_step(&r, &v, phase, height), phase) {
            (PhaseStep::Close, 1) => {
                let id = r.id;
                events.extend(super::tally::close_phase1(state, r, height)?);
                super::voting::start_phase2(state, id, height)?;
            }
            (PhaseStep::Close, _) => {
                events.extend(super::tally::close_phase2(state, r, height)?);
            }
            (PhaseStep::OpenReveals, _) => {
                events.push(super::voting::open_reveals(state, r.id, phase, height)?);
            }
            (PhaseStep::Wait, _) => {}
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
