//! `gov` state: keys and typed accessors.

use blyan_proto::gov::{GovParams, ProposalId, ProposalInfo, VoteInfo, VoteOption};
use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::Decode;

use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// Holds the deposits of proposals in their deposit or voting period.
pub const GOV_ESCROW: Address = Address(*b"module/gov_escrow___");

/// The community pool: funded by `gov.fund_community_pool`, spent by passed
/// `community_pool_spend` proposals.
pub const COMMUNITY_POOL: Address = Address(*b"module/community_pl_");

/// What a queue entry asks the end-block hook to do; the tag orders one height's work:
/// expired deposit periods, then tallies, then the changes that take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueueTag {
    /// The deposit period ends.
    DepositEnd = 0,
    /// The voting period ends: tally.
    VotingEnd = 1,
    /// A passed proposal takes effect.
    Apply = 2,
}

impl QueueTag {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(QueueTag::DepositEnd),
            1 => Some(QueueTag::VotingEnd),
            2 => Some(QueueTag::Apply),
            _ => None,
        }
    }
}

/// State keys owned by `gov`.
pub mod state_key {
    use blyan_proto::Address;

    use crate::state::key;

    /// Parameters.
    pub const PARAMS: &[u8] = b"gov/params";
    /// Next proposal id.
    pub const NEXT_ID: &[u8] = b"gov/next_id";
    /// Sum of the deposits escrow holds (kept with every change).
    pub const HELD: &[u8] = b"gov/held";
    /// Prefix of proposals by id.
    pub const PROPOSAL_PREFIX: &[u8] = b"gov/proposal/";
    /// Prefix of votes by (proposal, voter).
    pub const VOTE_PREFIX: &[u8] = b"gov/vote/";
    /// Prefix of deposits by (proposal, depositor).
    pub const DEPOSIT_PREFIX: &[u8] = b"gov/deposit/";
    /// Prefix of the end-block queue by (height, tag, proposal).
    pub const QUEUE_PREFIX: &[u8] = b"gov/queue/";
    /// Prefix of the markers of proposals in their deposit or voting period.
    pub const ACTIVE_PREFIX: &[u8] = b"gov/active/";

    /// A proposal.
    pub fn proposal(id: u64) -> Vec<u8> {
        key(PROPOSAL_PREFIX, &id.to_be_bytes())
    }

    /// Prefix of one proposal's votes.
    pub fn votes(id: u64) -> Vec<u8> {
        key(VOTE_PREFIX, &id.to_be_bytes())
    }

    /// A vote.
    pub fn vote(id: u64, voter: &Address) -> Vec<u8> {
        key(&votes(id), voter.as_bytes())
    }

    /// Prefix of one proposal's deposits.
    pub fn deposits(id: u64) -> Vec<u8> {
        key(DEPOSIT_PREFIX, &id.to_be_bytes())
    }

    /// A deposit.
    pub fn deposit(id: u64, depositor: &Address) -> Vec<u8> {
        key(&deposits(id), depositor.as_bytes())
    }

    /// Prefix of one height's queue.
    pub fn queue_at(height: u64) -> Vec<u8> {
        key(QUEUE_PREFIX, &height.to_be_bytes())
    }

    /// A queue entry.
    pub fn queue(height: u64, tag: super::QueueTag, id: u64) -> Vec<u8> {
        let mut k = queue_at(height);
        k.push(tag as u8);
        k.extend_from_slice(&id.to_be_bytes());
        k
    }

    /// An active-proposal marker.
    pub fn active(id: u64) -> Vec<u8> {
        key(ACTIVE_PREFIX, &id.to_be_bytes())
    }
}

fn corrupt(what: &str) -> TxError {
    TxError::new(ErrorCode::CorruptState, format!("malformed {what}"))
}

fn address_after(k: &[u8], prefix_len: usize) -> TxResult<Address> {
    k.get(prefix_len..)
        .and_then(|b| <[u8; 20]>::try_from(b).ok())
        .map(Address)
        .ok_or_else(|| corrupt("gov key"))
}

fn u64_at(k: &[u8], at: usize) -> TxResult<u64> {
    k.get(at..at.saturating_add(8))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt("gov key"))
}

/// Parameters (defaults when genesis wrote none).
pub fn params<S: StateRead + ?Sized>(state: &S) -> TxResult<GovParams> {
    Ok(state.get_scale(state_key::PARAMS)?.unwrap_or_default())
}

/// Writes the parameters.
pub(crate) fn set_params<S: StateWrite + ?Sized>(state: &mut S, p: &GovParams) {
    state.put_scale(state_key::PARAMS.to_vec(), p);
}

/// Takes the next proposal id (from 1).
pub(crate) fn next_id<S: StateWrite + ?Sized>(state: &mut S) -> TxResult<ProposalId> {
    let id: u64 = state.get_scale(state_key::NEXT_ID)?.unwrap_or(1);
    let next = id
        .checked_add(1)
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "proposal ids exhausted"))?;
    state.put_scale(state_key::NEXT_ID.to_vec(), &next);
    Ok(id)
}

/// A proposal that must exist.
pub fn proposal<S: StateRead + ?Sized>(state: &S, id: ProposalId) -> TxResult<ProposalInfo> {
    state
        .get_scale(&state_key::proposal(id))?
        .ok_or_else(|| TxError::new(ErrorCode::UnknownProposal, format!("no proposal {id}")))
}

/// Stores a proposal.
pub(crate) fn set_proposal<S: StateWrite + ?Sized>(state: &mut S, p: &ProposalInfo) {
    state.put_scale(state_key::proposal(p.id), p);
}

/// Every proposal, by id.
pub fn proposals<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<ProposalInfo>> {
    state
        .prefix_raw(state_key::PROPOSAL_PREFIX)
        .into_iter()
        .map(|(_, v)| ProposalInfo::decode(&mut v.as_slice()).map_err(|_| corrupt("proposal")))
        .collect()
}

/// Records (or replaces) a vote.
pub(crate) fn set_vote<S: StateWrite + ?Sized>(
    state: &mut S,
    id: ProposalId,
    voter: &Address,
    option: VoteOption,
) {
    state.put_scale(state_key::vote(id, voter), &option);
}

/// A proposal's votes, by voter.
pub fn votes<S: StateRead + ?Sized>(state: &S, id: ProposalId) -> TxResult<Vec<VoteInfo>> {
    let prefix = state_key::votes(id);
    state
        .prefix_raw(&prefix)
        .into_iter()
        .map(|(k, v)| {
            Ok(VoteInfo {
                voter: address_after(&k, prefix.len())?,
                option: VoteOption::decode(&mut v.as_slice()).map_err(|_| corrupt("vote"))?,
            })
        })
        .collect()
}

/// A proposal's deposits, by depositor.
pub fn deposits<S: StateRead + ?Sized>(
    state: &S,
    id: ProposalId,
) -> TxResult<Vec<(Address, u128)>> {
    let prefix = state_key::deposits(id);
    state
        .prefix_raw(&prefix)
        .into_iter()
        .map(|(k, v)| {
            Ok((
                address_after(&k, prefix.len())?,
                u128::decode(&mut v.as_slice()).map_err(|_| corrupt("deposit"))?,
            ))
        })
        .collect()
}

/// Adds `amount` to `depositor`'s deposit on a proposal.
pub(crate) fn add_deposit<S: StateWrite + ?Sized>(
    state: &mut S,
    id: ProposalId,
    depositor: &Address,
    amount: u128,
) -> TxResult<()> {
    let k = state_key::deposit(id, depositor);
    let have: u128 = state.get_scale(&k)?.unwrap_or(0);
    let new = have
        .checked_add(amount)
        .ok_or_else(|| TxError::new(ErrorCode::AmountOverflow, "deposit overflows"))?;
    state.put_scale(k, &new);
    Ok(())
}

/// Forgets a proposal's deposit records (after a refund or a burn).
pub(crate) fn clear_deposits<S: StateWrite + ?Sized>(state: &mut S, id: ProposalId) {
    for (k, _) in state.prefix_raw(&state_key::deposits(id)) {
        state.delete_raw(&k);
    }
}

/// Adds a queue entry.
pub(crate) fn enqueue<S: StateWrite + ?Sized>(
    state: &mut S,
    height: u64,
    tag: QueueTag,
    id: ProposalId,
) {
    state.put_raw(state_key::queue(height, tag, id), vec![1]);
}

/// Removes a queue entry.
pub(crate) fn dequeue<S: StateWrite + ?Sized>(
    state: &mut S,
    height: u64,
    tag: QueueTag,
    id: ProposalId,
) {
    state.delete_raw(&state_key::queue(height, tag, id));
}

/// The queue entries of `height`, in (tag, id) order.
pub fn queue_at<S: StateRead + ?Sized>(
    state: &S,
    height: u64,
) -> TxResult<Vec<(QueueTag, ProposalId)>> {
    let prefix = state_key::queue_at(height);
    state
        .prefix_raw(&prefix)
        .into_iter()
        .map(|(k, _)| {
            let tag = k
                .get(prefix.len())
                .and_then(|b| QueueTag::from_byte(*b))
                .ok_or_else(|| corrupt("queue entry"))?;
            Ok((tag, u64_at(&k, prefix.len().saturating_add(1))?))
        })
        .collect()
}

/// Marks a proposal active (or not).
pub(crate) fn set_active<S: StateWrite + ?Sized>(state: &mut S, id: ProposalId, active: bool) {
    if active {
        state.put_raw(state_key::active(id), vec![1]);
    } else {
        state.delete_raw(&state_key::active(id));
    }
}

/// The proposals in their deposit or voting period, by id (at most
/// `max_active_proposals`, so reading them is bounded).
pub fn active_ids<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<ProposalId>> {
    state
        .prefix_raw(state_key::ACTIVE_PREFIX)
        .into_iter()
        .map(|(k, _)| u64_at(&k, state_key::ACTIVE_PREFIX.len()))
        .collect()
}

/// The running total of the deposits in escrow.
pub fn held<S: StateRead + ?Sized>(state: &S) -> TxResult<u128> {
    Ok(state.get_scale(state_key::HELD)?.unwrap_or(0))
}

/// Adds `plus` and removes `minus` from the running total.
pub(crate) fn adjust_held<S: StateWrite + ?Sized>(
    state: &mut S,
    plus: u128,
    minus: u128,
) -> TxResult<()> {
    let h = held(state)?
        .checked_add(plus)
        .and_then(|h| h.checked_sub(minus))
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "escrow total out of range"))?;
    state.put_scale(state_key::HELD.to_vec(), &h);
    Ok(())
}
