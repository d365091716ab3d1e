//! The `gov` messages: submit, deposit, vote, fund the community pool.

use blyan_proto::event::Event;
use blyan_proto::gov::{
    DepositOutcome, GovEvent, GovParams, ProposalContent, ProposalId, ProposalInfo, ProposalStatus,
    VoteOption, MAX_DESCRIPTION_BYTES, MAX_TITLE_BYTES,
};
use blyan_proto::{Address, ErrorCode};

use super::content::check_content;
use super::state::*;
use crate::error::{TxError, TxResult};
use crate::runtime::MsgContext;
use crate::state::StateWrite;

/// The proposal text and content to submit.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// Title.
    pub title: &'a str,
    /// Description.
    pub description: &'a str,
    /// Content.
    pub content: &'a ProposalContent,
    /// Initial deposit.
    pub initial_deposit: u128,
}

fn invalid(log: impl Into<String>) -> TxError {
    TxError::new(ErrorCode::InvalidProposal, log)
}

/// Submits a proposal: checks its text and content, takes the initial deposit into escrow
/// and starts its deposit period (or, with `min_deposit` already, its voting period).
pub fn submit_proposal<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    s: Submission<'_>,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    if s.title.trim().is_empty() || s.title.len() > MAX_TITLE_BYTES {
        return Err(invalid(format!(
            "the title must be 1..={MAX_TITLE_BYTES} bytes, not blank"
        )));
    }
    if s.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(invalid(format!(
            "the description is {} bytes; the limit is {MAX_DESCRIPTION_BYTES}",
            s.description.len()
        )));
    }
    let min_initial = p.min_initial_deposit();
    if s.initial_deposit < min_initial {
        return Err(TxError::new(
            ErrorCode::ProposalDepositTooLow,
            format!(
                "initial deposit {} is below {} ({} bps of min_deposit {})",
                s.initial_deposit, min_initial, p.min_initial_deposit_bps, p.min_deposit
            ),
        ));
    }
    let active = active_ids(state)?.len();
    let max_active = usize::try_from(p.max_active_proposals).unwrap_or(usize::MAX);
    if active >= max_active {
        return Err(TxError::new(
            ErrorCode::TooManyActiveProposals,
            format!("{active} proposals are in their deposit or voting period; the limit is {max_active}"),
        ));
    }
    let deposit_end = ctx.height.saturating_add(p.max_deposit_period_blocks);
    let latest_voting_end = if s.initial_deposit >= p.min_deposit {
        ctx.height.saturating_add(p.voting_period_blocks)
    } else {
        deposit_end.saturating_add(p.voting_period_blocks)
    };
    check_content(state, s.content, latest_voting_end)?;

    let id = next_id(state)?;
    let mut info = ProposalInfo {
        id,
        proposer: ctx.signer,
        title: s.title.to_string(),
        description: s.description.to_string(),
        content: s.content.clone(),
        status: ProposalStatus::DepositPeriod,
        submit_height: ctx.height,
        deposit_end,
        voting_start: 0,
        voting_end: 0,
        total_deposit: 0,
        deposit_outcome: DepositOutcome::Held,
        final_tally: None,
        execution_log: String::new(),
    };
    set_active(state, id, true);
    enqueue(state, deposit_end, QueueTag::DepositEnd, id);
    let mut events = vec![Event::Gov(GovEvent::Submitted {
        id,
        proposer: ctx.signer,
        kind: s.content.kind(),
        deposit: s.initial_deposit,
    })];
    if s.initial_deposit > 0 {
        events.extend(take_deposit(
            state,
            &p,
            &mut info,
            &ctx.signer,
            s.initial_deposit,
            ctx.height,
        )?);
    }
    set_proposal(state, &info);
    Ok(events)
}

/// Moves `amount` from `depositor` into escrow for `info`; starts the voting period when
/// the deposit reaches `min_deposit` during the deposit period.
fn take_deposit<S: StateWrite + ?Sized>(
    state: &mut S,
    p: &GovParams,
    info: &mut ProposalInfo,
    depositor: &Address,
    amount: u128,
    height: u64,
) -> TxResult<Vec<Event>> {
    let mut events = vec![crate::bank::transfer(
        state,
        depositor,
        &GOV_ESCROW,
        amount,
    )?];
    add_deposit(state, info.id, depositor, amount)?;
    adjust_held(state, amount, 0)?;
    info.total_deposit = info
        .total_deposit
        .checked_add(amount)
        .ok_or_else(|| TxError::new(ErrorCode::AmountOverflow, "total deposit overflows"))?;
    events.push(Event::Gov(GovEvent::Deposited {
        id: info.id,
        depositor: *depositor,
        amount,
        total: info.total_deposit,
    }));
    if info.status == ProposalStatus::DepositPeriod && info.total_deposit >= p.min_deposit {
        dequeue(state, info.deposit_end, QueueTag::DepositEnd, info.id);
        info.status = ProposalStatus::VotingPeriod;
        info.voting_start = height;
        info.voting_end = height.saturating_add(p.voting_period_blocks);
        enqueue(state, info.voting_end, QueueTag::VotingEnd, info.id);
        events.push(Event::Gov(GovEvent::VotingStarted {
            id: info.id,
            voting_end: info.voting_end,
        }));
    }
    Ok(events)
}

/// Adds to a proposal's deposit during its deposit or voting period.
pub fn deposit<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    id: ProposalId,
    amount: u128,
) -> TxResult<Vec<Event>> {
    if amount == 0 {
        return Err(TxError::new(ErrorCode::ZeroAmount, "deposit of zero"));
    }
    let mut info = proposal(state, id)?;
    if !matches!(
        info.status,
        ProposalStatus::DepositPeriod | ProposalStatus::VotingPeriod
    ) {
        return Err(TxError::new(
            ErrorCode::DepositsClosed,
            format!(
                "proposal {id} is {:?}: it takes no more deposits",
                info.status
            ),
        ));
    }
    let p = params(state)?;
    let events = take_deposit(state, &p, &mut info, &ctx.signer, amount, ctx.height)?;
    set_proposal(state, &info);
    Ok(events)
}

/// Records the signer's vote, replacing any earlier one. Anyone may vote; a voter without
/// bonded stake weighs nothing in the tally.
pub fn vote<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    id: ProposalId,
    option: VoteOption,
) -> TxResult<Vec<Event>> {
    let info = proposal(state, id)?;
    if info.status != ProposalStatus::VotingPeriod || ctx.height > info.voting_end {
        return Err(TxError::new(
            ErrorCode::NotInVotingPeriod,
            format!(
                "proposal {id} is {:?} (voting ends at {}); no vote at height {}",
                info.status, info.voting_end, ctx.height
            ),
        ));
    }
    set_vote(state, id, &ctx.signer, option);
    Ok(vec![Event::Gov(GovEvent::Voted {
        id,
        voter: ctx.signer,
        option,
    })])
}

/// Gives `amount` to the community pool.
pub fn fund_community_pool<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    amount: u128,
) -> TxResult<Vec<Event>> {
    let transfer = crate::bank::transfer(state, &ctx.signer, &COMMUNITY_POOL, amount)?;
    Ok(vec![
        transfer,
        Event::Gov(GovEvent::CommunityPoolFunded {
            funder: ctx.signer,
            amount,
        }),
    ])
}
