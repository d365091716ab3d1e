//! Events of the `gov` module.

use super::{ProposalId, VoteOption};
use crate::Address;

/// Something the `gov` module did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GovEvent {
    /// A proposal was submitted.
    Submitted {
        /// Proposal.
        id: ProposalId,
        /// Proposer.
        proposer: Address,
        /// Content kind.
        kind: &'static str,
        /// Initial deposit.
        deposit: u128,
    },
    /// A deposit was added.
    Deposited {
        /// Proposal.
        id: ProposalId,
        /// Depositor.
        depositor: Address,
        /// Amount added.
        amount: u128,
        /// The proposal's total after it.
        total: u128,
    },
    /// The voting period started.
    VotingStarted {
        /// Proposal.
        id: ProposalId,
        /// Last height votes are taken.
        voting_end: u64,
    },
    /// A vote was cast (or replaced).
    Voted {
        /// Proposal.
        id: ProposalId,
        /// Voter.
        voter: Address,
        /// Option.
        option: VoteOption,
    },
    /// The voting period ended and the votes were counted.
    Tallied {
        /// Proposal.
        id: ProposalId,
        /// `passed`, `rejected`, `no_quorum` or `vetoed`.
        result: &'static str,
        /// Yes stake.
        yes: u128,
        /// No stake.
        no: u128,
        /// Abstain stake.
        abstain: u128,
        /// Veto stake.
        veto: u128,
        /// Bonded stake of the active validators.
        total_bonded: u128,
    },
    /// A proposal's deposits went back to their depositors.
    DepositsRefunded {
        /// Proposal.
        id: ProposalId,
        /// Total refunded.
        amount: u128,
    },
    /// A proposal's deposits were burned.
    DepositsBurned {
        /// Proposal.
        id: ProposalId,
        /// Total burned.
        amount: u128,
        /// `vetoed`, `no_quorum` or `deposit_expired`.
        reason: &'static str,
    },
    /// A passed proposal was executed (or failed cleanly; nothing changed then).
    Executed {
        /// Proposal.
        id: ProposalId,
        /// Content kind.
        kind: &'static str,
        /// True when it took effect.
        success: bool,
        /// Why it failed (empty on success).
        log: String,
    },
    /// The community pool received funds.
    CommunityPoolFunded {
        /// Who gave.
        funder: Address,
        /// Base units.
        amount: u128,
    },
}

impl GovEvent {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            GovEvent::Submitted { .. } => "proposal_submitted",
            GovEvent::Deposited { .. } => "proposal_deposit",
            GovEvent::VotingStarted { .. } => "proposal_voting_started",
            GovEvent::Voted { .. } => "proposal_vote",
            GovEvent::Tallied { .. } => "proposal_tallied",
            GovEvent::DepositsRefunded { .. } => "proposal_deposits_refunded",
            GovEvent::DepositsBurned { .. } => "proposal_deposits_burned",
            GovEvent::Executed { .. } => "proposal_executed",
            GovEvent::CommunityPoolFunded { .. } => "community_pool_funded",
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            GovEvent::Submitted {
                id,
                proposer,
                kind,
                deposit,
            } => vec![
                ("proposal_id", id.to_string()),
                ("proposer", proposer.to_string()),
                ("kind", kind.to_string()),
                ("deposit", deposit.to_string()),
            ],
            GovEvent::Deposited {
                id,
                depositor,
                amount,
                total,
            } => vec![
                ("proposal_id", id.to_string()),
                ("depositor", depositor.to_string()),
                ("amount", amount.to_string()),
                ("total", total.to_string()),
            ],
            GovEvent::VotingStarted { id, voting_end } => vec![
                ("proposal_id", id.to_string()),
                ("voting_end", voting_end.to_string()),
            ],
            GovEvent::Voted { id, voter, option } => vec![
                ("proposal_id", id.to_string()),
                ("voter", voter.to_string()),
                ("option", option.as_str().to_string()),
            ],
            GovEvent::Tallied {
                id,
                result,
                yes,
                no,
                abstain,
                veto,
                total_bonded,
            } => vec![
                ("proposal_id", id.to_string()),
                ("result", result.to_string()),
                ("yes", yes.to_string()),
                ("no", no.to_string()),
                ("abstain", abstain.to_string()),
                ("veto", veto.to_string()),
                ("total_bonded", total_bonded.to_string()),
            ],
            GovEvent::DepositsRefunded { id, amount } => vec![
                ("proposal_id", id.to_string()),
                ("amount", amount.to_string()),
            ],
            GovEvent::DepositsBurned { id, amount, reason } => vec![
                ("proposal_id", id.to_string()),
                ("amount", amount.to_string()),
                ("reason", reason.to_string()),
            ],
            GovEvent::Executed {
                id,
                kind,
                success,
                log,
            } => vec![
                ("proposal_id", id.to_string()),
                ("kind", kind.to_string()),
                ("success", success.to_string()),
                ("log", log.clone()),
            ],
            GovEvent::CommunityPoolFunded { funder, amount } => vec![
                ("funder", funder.to_string()),
                ("amount", amount.to_string()),
            ],
        }
    }
}
