//! Governance: proposals with a deposit, a voting period, votes weighted by bonded stake
//! (delegators inherit their validator's vote unless they vote themselves, as in the
//! Cosmos SDK's `x/gov`), and the proposal kinds the chain executes when one passes:
//! typed parameter changes, per-model Proof-of-Learning settings, spends from the
//! community pool and software upgrade plans.

mod event;
mod evolution;
mod params;

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::dag::DagParams;
use crate::inference::InferenceParams;
use crate::params::{u128_string, FeeParams, StakingParams};
use crate::pol::{AggregationRule, OuterOptimizer, PolParams};
use crate::Address;

pub use event::GovEvent;
pub use evolution::{
    add_experts_names, add_layers_names, evolution_seed, EvolvedBlock, ModelChange,
    MAX_EXPERTS_ADDED, MAX_LAYERS_ADDED,
};
pub use params::GovParams;

/// A proposal id (one counter, from 1).
pub type ProposalId = u64;

/// Longest proposal title, bytes.
pub const MAX_TITLE_BYTES: usize = 256;

/// Longest proposal description, bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 8 * 1024;

/// A vote.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VoteOption {
    /// For.
    #[codec(index = 0)]
    Yes,
    /// Against.
    #[codec(index = 1)]
    No,
    /// Counts toward quorum only.
    #[codec(index = 2)]
    Abstain,
    /// Against, and burns the deposit when more than `veto_bps` of the votes say so.
    #[codec(index = 3)]
    Veto,
}

impl VoteOption {
    /// The lowercase name (`yes`, `no`, `abstain`, `veto`).
    pub fn as_str(&self) -> &'static str {
        match self {
            VoteOption::Yes => "yes",
            VoteOption::No => "no",
            VoteOption::Abstain => "abstain",
            VoteOption::Veto => "veto",
        }
    }
}

impl std::str::FromStr for VoteOption {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "yes" => VoteOption::Yes,
            "no" => VoteOption::No,
            "abstain" => VoteOption::Abstain,
            "veto" | "no_with_veto" | "nowithveto" => VoteOption::Veto,
            _ => return Err(format!("{s:?} is not one of yes, no, abstain, veto")),
        })
    }
}

/// New parameters of one module: the whole typed struct, checked with the same `validate`
/// as genesis when the proposal is submitted and again when it is applied.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "module", content = "params", rename_all = "snake_case")]
pub enum ParamChange {
    /// Fee market and gas schedule.
    #[codec(index = 0)]
    Fees(Box<FeeParams>),
    /// Staking, rewards and slashing (`power_reduction` is fixed after genesis).
    #[codec(index = 1)]
    Staking(Box<StakingParams>),
    /// Parameter DAG limits and deposit.
    #[codec(index = 2)]
    Dag(Box<DagParams>),
    /// Proof-of-Learning.
    #[codec(index = 3)]
    Pol(Box<PolParams>),
    /// Inference payments.
    #[codec(index = 4)]
    Inference(Box<InferenceParams>),
    /// Governance itself.
    #[codec(index = 5)]
    Gov(Box<GovParams>),
}

impl ParamChange {
    /// The module whose parameters change.
    pub fn module(&self) -> &'static str {
        match self {
            ParamChange::Fees(_) => "fees",
            ParamChange::Staking(_) => "staking",
            ParamChange::Dag(_) => "dag",
            ParamChange::Pol(_) => "pol",
            ParamChange::Inference(_) => "inference",
            ParamChange::Gov(_) => "gov",
        }
    }

    /// The same checks as genesis.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ParamChange::Fees(p) => p.validate(),
            ParamChange::Staking(p) => p.validate(),
            ParamChange::Dag(p) => p.validate(),
            ParamChange::Pol(p) => p.validate(),
            ParamChange::Inference(p) => p.validate(),
            ParamChange::Gov(p) => p.validate(),
        }
    }
}

/// What a proposal does if it passes.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProposalContent {
    /// Nothing is executed: a signalling proposal.
    #[codec(index = 0)]
    Text,
    /// Replaces one module's parameters at the end of block `effective_height`.
    #[codec(index = 1)]
    ParamChange {
        /// The new parameters.
        change: ParamChange,
        /// The height at whose end the change is written (after the voting period).
        effective_height: u64,
    },
    /// Sets (or, with `None`, removes) one model's Proof-of-Learning overrides at the end
    /// of block `effective_height`.
    #[codec(index = 2)]
    PolModel {
        /// Model id (must exist when the proposal is submitted).
        model: String,
        /// The model's aggregation rule (`None`: use the chain's default).
        aggregation: Option<AggregationRule>,
        /// The model's outer optimizer (`None`: use the chain's default).
        outer: Option<OuterOptimizer>,
        /// The height at whose end the change is written.
        effective_height: u64,
    },
    /// Pays `amount` from the community pool to `recipient` when the proposal passes
    /// (fails cleanly, with an event, if the pool holds less by then).
    #[codec(index = 3)]
    CommunityPoolSpend {
        /// Who is paid (not a module account).
        recipient: Address,
        /// Base units.
        #[serde(with = "u128_string")]
        amount: u128,
    },
    /// Schedules a software upgrade when the proposal passes, replacing any pending plan
    /// (see [`crate::upgrade`]). `height` must lie beyond the last height the voting
    /// period could end at.
    #[codec(index = 4)]
    SoftwareUpgrade {
        /// The name the new binary's upgrade handler is registered under.
        name: String,
        /// The first height the new binary executes; the old one stops before it.
        height: u64,
        /// Free text for operators (where to get the binary).
        #[serde(default)]
        info: String,
    },
    /// Cancels the pending upgrade plan when the proposal passes (nothing to do if none).
    #[codec(index = 5)]
    CancelSoftwareUpgrade,
    /// Changes a model's architecture at the end of block `effective_height` (a new
    /// architecture version: see [`ModelChange`] and the module doc of `evolution` for
    /// the recipe the new blocks follow). Index 10 leaves room for other kinds.
    #[codec(index = 10)]
    ModelEvolution {
        /// Model id (must exist, with no Proof-of-Learning round in progress).
        model: String,
        /// The change.
        change: ModelChange,
        /// The meta block the change applies to: the model's current one (its id also
        /// seeds the new blocks' noise, [`evolution_seed`]).
        #[serde(with = "crate::msg::hex32")]
        base_meta: crate::dag::BlockId,
        /// The blocks the recipe gives, in the order of [`add_experts_names`] or
        /// [`add_layers_names`].
        blocks: Vec<EvolvedBlock>,
        /// The height at whose end the change is written.
        effective_height: u64,
    },
}

impl ProposalContent {
    /// A short kind name (`param_change`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ProposalContent::Text => "text",
            ProposalContent::ParamChange { .. } => "param_change",
            ProposalContent::PolModel { .. } => "pol_model",
            ProposalContent::CommunityPoolSpend { .. } => "community_pool_spend",
            ProposalContent::SoftwareUpgrade { .. } => "software_upgrade",
            ProposalContent::CancelSoftwareUpgrade => "cancel_software_upgrade",
            ProposalContent::ModelEvolution { .. } => "model_evolution",
        }
    }

    /// The height at which a passed proposal takes effect, for the kinds that name one.
    pub fn effective_height(&self) -> Option<u64> {
        match self {
            ProposalContent::ParamChange {
                effective_height, ..
            }
            | ProposalContent::PolModel {
                effective_height, ..
            }
            | ProposalContent::ModelEvolution {
                effective_height, ..
            } => Some(*effective_height),
            _ => None,
        }
    }
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Collecting deposits until `min_deposit` or `deposit_end`.
    #[codec(index = 0)]
    DepositPeriod,
    /// Taking votes until the end of `voting_end`.
    #[codec(index = 1)]
    VotingPeriod,
    /// Passed; waiting for its effective height.
    #[codec(index = 2)]
    Passed,
    /// Did not pass (no quorum, vetoed, below the threshold, or deposit period expired).
    #[codec(index = 3)]
    Rejected,
    /// Passed and executed.
    #[codec(index = 4)]
    Executed,
    /// Passed, but execution failed (the reason is in `execution_log`); nothing changed.
    #[codec(index = 5)]
    Failed,
}

/// What became of a proposal's deposits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepositOutcome {
    /// Held in escrow.
    #[codec(index = 0)]
    Held,
    /// Returned to the depositors (quorum reached, not vetoed).
    #[codec(index = 1)]
    Refunded,
    /// Burned (vetoed, quorum not reached, or the deposit period expired).
    #[codec(index = 2)]
    Burned,
}

/// Stake behind each option.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TallyResult {
    /// Yes.
    #[serde(with = "u128_string")]
    pub yes: u128,
    /// No.
    #[serde(with = "u128_string")]
    pub no: u128,
    /// Abstain.
    #[serde(with = "u128_string")]
    pub abstain: u128,
    /// No with veto.
    #[serde(with = "u128_string")]
    pub veto: u128,
    /// Stake bonded to the active validators when counted (the quorum's base).
    #[serde(with = "u128_string")]
    pub total_bonded: u128,
}

impl TallyResult {
    /// Stake that voted (any option).
    pub fn voted(&self) -> u128 {
        self.yes
            .saturating_add(self.no)
            .saturating_add(self.abstain)
            .saturating_add(self.veto)
    }
}

/// A proposal.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProposalInfo {
    /// Id.
    pub id: ProposalId,
    /// Who submitted it.
    pub proposer: Address,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// What it does.
    pub content: ProposalContent,
    /// Status.
    pub status: ProposalStatus,
    /// Height submitted.
    pub submit_height: u64,
    /// Last height of the deposit period.
    pub deposit_end: u64,
    /// Height the voting period started (0 before).
    pub voting_start: u64,
    /// Last height votes are taken (0 before the voting period).
    pub voting_end: u64,
    /// Sum of the deposits.
    #[serde(with = "u128_string")]
    pub total_deposit: u128,
    /// What became of the deposits.
    pub deposit_outcome: DepositOutcome,
    /// The tally at the end of the voting period.
    pub final_tally: Option<TallyResult>,
    /// Why execution failed (empty otherwise).
    pub execution_log: String,
}

/// A vote as queries show it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct VoteInfo {
    /// Voter.
    pub voter: Address,
    /// Option.
    pub option: VoteOption,
}

/// Messages of the `gov` module.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GovMsg {
    /// Submits a proposal with its first deposit.
    #[codec(index = 0)]
    SubmitProposal {
        /// Title (1..=256 bytes).
        title: String,
        /// Description (at most 8 KiB).
        description: String,
        /// What it does.
        content: ProposalContent,
        /// Deposit moved from the signer into escrow.
        #[serde(with = "u128_string")]
        initial_deposit: u128,
    },
    /// Adds to a proposal's deposit (deposit or voting period).
    #[codec(index = 1)]
    Deposit {
        /// Proposal.
        proposal_id: ProposalId,
        /// Base units.
        #[serde(with = "u128_string")]
        amount: u128,
    },
    /// Votes (or replaces the signer's earlier vote) on a proposal in its voting period.
    #[codec(index = 2)]
    Vote {
        /// Proposal.
        proposal_id: ProposalId,
        /// Option.
        option: VoteOption,
    },
    /// Gives `amount` to the community pool.
    #[codec(index = 3)]
    FundCommunityPool {
        /// Base units.
        #[serde(with = "u128_string")]
        amount: u128,
    },
}

impl GovMsg {
    /// Base units this message moves out of the signer's account.
    pub fn outflow(&self) -> u128 {
        match self {
            GovMsg::SubmitProposal {
                initial_deposit, ..
            } => *initial_deposit,
            GovMsg::Deposit { amount, .. } | GovMsg::FundCommunityPool { amount } => *amount,
            GovMsg::Vote { .. } => 0,
        }
    }

    /// Kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            GovMsg::SubmitProposal { .. } => "gov.submit_proposal",
            GovMsg::Deposit { .. } => "gov.deposit",
            GovMsg::Vote { .. } => "gov.vote",
            GovMsg::FundCommunityPool { .. } => "gov.fund_community_pool",
        }
    }
}
