//! Round deadlines, run at the end of every block.
//!
//! A round takes submissions through `submit_until`, then phase 1 runs through
//! `phase1_until` and phase 2 through `phase2_until`. Until validators can attest (the
//! second half of this module), no round reaches a quorum: at the phase-1 deadline it
//! ends as `NoQuorum`, every bond goes back and the heads stay.

use blyan_proto::event::Event;
use blyan_proto::pol::{PolEvent, RoundInfo, RoundStatus, SubmissionStatus};
use blyan_proto::ErrorCode;

use super::state::*;
use crate::error::{TxError, TxResult};
use crate::state::StateWrite;

/// Advances every round in progress whose deadline is this block.
pub fn end_block<S: StateWrite + ?Sized>(state: &mut S, height: u64) -> TxResult<Vec<Event>> {
    let mut events = Vec::new();
    for mut r in rounds_in_progress(state)? {
        match r.status {
            RoundStatus::Open if height >= r.submit_until => {
                r.status = RoundStatus::Phase1;
                set_round(state, &r);
                events.push(Event::Pol(PolEvent::RoundClosed {
                    round: r.id,
                    submissions: u32::try_from(r.submissions.len()).unwrap_or(u32::MAX),
                }));
            }
            RoundStatus::Phase1 if height >= r.phase1_until => {
                events.extend(end_without_quorum(state, r, height)?);
            }
            RoundStatus::Phase2 if height >= r.phase2_until => {
                events.extend(end_without_quorum(state, r, height)?);
            }
            _ => {}
        }
    }
    Ok(events)
}

/// Ends a round without a verdict: every pending bond goes back to its miner.
fn end_without_quorum<S: StateWrite + ?Sized>(
    state: &mut S,
    mut r: RoundInfo,
    height: u64,
) -> TxResult<Vec<Event>> {
    let mut events = Vec::new();
    let mut returned = 0u128;
    for mut s in round_submissions(state, &r)? {
        if s.status != SubmissionStatus::Pending {
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
