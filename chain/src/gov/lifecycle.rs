//! The end-block hook: expired deposit periods, tallies at the end of voting periods,
//! and passed proposals taking effect at their height. Work per block is the queue
//! entries of that height: at most `max_active_proposals` tallies and expiries, plus the
//! passed proposals that take effect then.

use blyan_proto::event::Event;
use blyan_proto::gov::{DepositOutcome, GovEvent, ProposalId, ProposalInfo, ProposalStatus};

use super::content::execute_content;
use super::state::*;
use super::tally::{decide, tally, Outcome};
use crate::error::TxResult;
use crate::state::{apply_writes, Overlay, StateWrite};

/// Runs the queue of `height`.
pub fn end_block<S: StateWrite + ?Sized>(state: &mut S, height: u64) -> TxResult<Vec<Event>> {
    let mut events = Vec::new();
    for (tag, id) in queue_at(state, height)? {
        dequeue(state, height, tag, id);
        let mut info = proposal(state, id)?;
        match (tag, info.status) {
            (QueueTag::DepositEnd, ProposalStatus::DepositPeriod) => {
                info.status = ProposalStatus::Rejected;
                events.extend(settle_deposits(state, &mut info, Some("deposit_expired"))?);
            }
            (QueueTag::VotingEnd, ProposalStatus::VotingPeriod) => {
                events.extend(close_voting(state, &mut info, height)?);
            }
            (QueueTag::Apply, ProposalStatus::Passed) => {
                events.push(execute(state, &mut info, height));
            }
            // A stale entry (the proposal moved on): nothing to do.
            _ => continue,
        }
        set_proposal(state, &info);
    }
    Ok(events)
}

/// Tallies a proposal whose voting period ended, settles its deposits and, if it passed,
/// executes it now or queues it for its effective height.
fn close_voting<S: StateWrite + ?Sized>(
    state: &mut S,
    info: &mut ProposalInfo,
    height: u64,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    let t = tally(state, info.id)?;
    let outcome = decide(&t, &p);
    let mut events = vec![Event::Gov(GovEvent::Tallied {
        id: info.id,
        result: outcome.as_str(),
        yes: t.yes,
        no: t.no,
        abstain: t.abstain,
        veto: t.veto,
        total_bonded: t.total_bonded,
    })];
    info.final_tally = Some(t);
    let burn_reason = match outcome {
        Outcome::Vetoed => Some("vetoed"),
        Outcome::NoQuorum => Some("no_quorum"),
        Outcome::Passed | Outcome::Rejected => None,
    };
    events.extend(settle_deposits(state, info, burn_reason)?);
    if outcome != Outcome::Passed {
        info.status = ProposalStatus::Rejected;
        return Ok(events);
    }
    info.status = ProposalStatus::Passed;
    match info.content.effective_height() {
        Some(h) if h > height => {
            enqueue(state, h, QueueTag::Apply, info.id);
            super::evolution::mark_pending(state, info.id, &info.content);
        }
        _ => events.push(execute(state, info, height)),
    }
    Ok(events)
}

/// Refunds (no `burn_reason`) or burns a proposal's deposits and ends its active life.
fn settle_deposits<S: StateWrite + ?Sized>(
    state: &mut S,
    info: &mut ProposalInfo,
    burn_reason: Option<&'static str>,
) -> TxResult<Vec<Event>> {
    let id: ProposalId = info.id;
    let total = info.total_deposit;
    let mut events = Vec::new();
    match burn_reason {
        Some(reason) => {
            if total > 0 {
                crate::bank::burn(state, &GOV_ESCROW, total)?;
            }
            info.deposit_outcome = DepositOutcome::Burned;
            events.push(Event::Gov(GovEvent::DepositsBurned {
                id,
                amount: total,
                reason,
            }));
        }
        None => {
            for (depositor, amount) in deposits(state, id)? {
                if amount > 0 {
                    events.push(crate::bank::transfer(
                        state,
                        &GOV_ESCROW,
                        &depositor,
                        amount,
                    )?);
                }
            }
            info.deposit_outcome = DepositOutcome::Refunded;
            events.push(Event::Gov(GovEvent::DepositsRefunded { id, amount: total }));
        }
    }
    clear_deposits(state, id);
    adjust_held(state, 0, total)?;
    set_active(state, id, false);
    Ok(events)
}

/// Executes a passed proposal on an overlay: its writes land only if it succeeds.
fn execute<S: StateWrite + ?Sized>(state: &mut S, info: &mut ProposalInfo, height: u64) -> Event {
    let mut overlay = Overlay::new(&*state);
    let result = execute_content(&mut overlay, &info.content, height);
    let writes = overlay.into_writes();
    super::evolution::clear_pending(state, info.id, &info.content);
    let (success, log) = match result {
        Ok(()) => {
            apply_writes(state, writes);
            info.status = ProposalStatus::Executed;
            (true, String::new())
        }
        Err(e) => {
            info.status = ProposalStatus::Failed;
            info.execution_log = e.clone();
            (false, e)
        }
    };
    Event::Gov(GovEvent::Executed {
        id: info.id,
        kind: info.content.kind(),
        success,
        log,
    })
}
