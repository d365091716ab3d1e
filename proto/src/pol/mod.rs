//! Proof-of-Learning wire types: delta submissions, rounds, trust levels and their
//! parameters (DESIGN.md, "Proof-of-Learning protocol", step 2).
//!
//! A miner trains some parameter blocks of a model, uploads a compressed delta per block
//! and a training manifest to IPFS, and sends [`SubmitDelta`] naming them together with
//! the heads it trained against and a bond. A round for the model opens with the first
//! submission and stops taking submissions `round_blocks` blocks later.

mod commit;
mod info;
mod params;
mod stamp;

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::dag::BlockId;

pub use commit::{commitment, CommitAttestation, Commitment, RoundVoting, COMMIT_DOMAIN};
pub use info::{
    Attestation, RewardKind, RoundInfo, RoundStatus, SubmissionInfo, SubmissionStatus, TrustInfo,
    TrustLevel,
};
pub use params::{AggregationRule, OuterOptimizer, PolParams};
pub use stamp::{leading_zero_bits, solve_stamp, stamp_digest, StampInput};

/// A round id (one counter for all models, starting at 1).
pub type RoundId = u64;
/// A submission id (one counter for all rounds, starting at 1).
pub type SubmissionId = u64;

/// The head a submission trained against, for one block it changes.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BaseHead {
    /// Block name (`layer0.expert1`).
    pub block: String,
    /// The head's block id at training time.
    #[serde(with = "crate::msg::hex32")]
    pub id: BlockId,
}

/// One block's compressed delta in IPFS.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct DeltaRef {
    /// Block name.
    pub block: String,
    /// CID of the encoded delta container.
    pub cid: String,
    /// sha3-256 of the container's bytes; validators check it when they fetch.
    #[serde(with = "crate::msg::hex32")]
    pub hash: [u8; 32],
    /// Container size, bytes.
    pub size: u64,
}

/// `MsgSubmitDelta`: a miner's weight update for some blocks of a model.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SubmitDelta {
    /// Model id.
    pub model: String,
    /// The current heads of the blocks it changes, one per delta, same order.
    pub base_heads: Vec<BaseHead>,
    /// The per-block deltas.
    pub deltas: Vec<DeltaRef>,
    /// Training samples (sequences) behind the update; the aggregation weight.
    pub samples: u64,
    /// Dataset references (ids or CIDs) the samples came from.
    pub dataset_refs: Vec<String>,
    /// CID of the training manifest (datasets, seed, batch hashes, steps, timing).
    pub manifest_cid: String,
    /// sha3-256 of the manifest's bytes.
    #[serde(with = "crate::msg::hex32")]
    pub manifest_hash: [u8; 32],
    /// Manifest size, bytes.
    pub manifest_size: u64,
    /// Bond locked until the round ends, base units.
    #[serde(with = "crate::params::u128_string")]
    pub bond: u128,
    /// Hashcash stamp nonce (required from newcomers): see [`stamp_digest`].
    pub stamp: Option<u64>,
}

/// Flag bits a validator sets on a submission in phase 1 (DESIGN.md step 3).
pub mod flags {
    /// A delta failed to decode.
    pub const DECODE: u32 = 1;
    /// A NaN or infinity in the delta or in the loss.
    pub const NON_FINITE: u32 = 2;
    /// L2 norm out of bounds.
    pub const NORM: u32 = 4;
    /// L2 distance to the current weights out of bounds.
    pub const DISTANCE: u32 = 8;
    /// Direction against the round's other updates (cosine).
    pub const COSINE: u32 = 16;
    /// Krum score an outlier.
    pub const KRUM: u32 = 32;
    /// Tensor names or shapes do not fit the block.
    pub const SHAPE: u32 = 64;
    /// The content's hash is not the one on chain.
    pub const HASH: u32 = 128;
    /// The content could not be fetched within the validator's per-round time budget.
    pub const UNFETCHABLE: u32 = 256;
    /// The submission's leave-one-out contribution to the round's aggregate is negative
    /// beyond the measurement's noise, while its own direction still lowers the loss
    /// (it is worse than the others, not an attack): left out of the aggregate.
    pub const CONTRIBUTION: u32 = 512;
    /// The update's values lean to one side of the median of the round's other updates far
    /// beyond chance (a coordinated "a little is enough" shift): left out of the aggregate.
    pub const SIGN_BIAS: u32 = 1024;
    /// Every defined bit.
    pub const ALL: u32 = 2047;
    /// Absolute evidence against the content itself, the same whatever else is in the
    /// round: carried, these slash the bond.
    pub const SLASHING: u32 = DECODE | NON_FINITE | NORM | DISTANCE | SHAPE | HASH;
    /// Statistics relative to the round's other updates (a Sybil majority can steer
    /// them): carried, these only exclude the submission, bond returned.
    pub const ROUND_RELATIVE: u32 = COSINE | KRUM | CONTRIBUTION | SIGN_BIAS;
}

/// One validator's phase-1 result for one submission.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Judgement {
    /// Submission.
    pub submission: SubmissionId,
    /// [`flags`] bits.
    pub flags: u32,
    /// The submission's measured loss, micro-nats: the recorded loss minus its marginal
    /// improvement of the round's aggregate (the loss of the aggregate without it minus
    /// the loss of the aggregate with it, so below the recorded loss when it helps); for a
    /// submission the validator's screen flags, the loss of base + it alone.
    pub loss_micro: u64,
    /// Measurement noise of `loss_micro`, micro-nats: the standard error, over the
    /// validation sequences, of the paired loss differences that gave the improvement
    /// (0 when not measured). The chain's harmful tolerance is a multiple of its median.
    pub noise_micro: u64,
}

/// `MsgAttestSubmissions`: phase 1, one judgement per submission of the round, in order.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AttestSubmissions {
    /// Round.
    pub round: RoundId,
    /// Judgements in the round's submission order.
    pub judgements: Vec<Judgement>,
    /// The secret salt of this validator's phase-1 commitment (see [`commitment`]).
    #[serde(with = "crate::msg::hex32")]
    pub salt: [u8; 32],
}

/// A block's new version proposed by an aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct NewBlockVersion {
    /// Block name.
    pub block: String,
    /// CID of the aggregate delta container (lossless) for this block.
    pub delta_cid: String,
    /// sha3-256 of that container.
    #[serde(with = "crate::msg::hex32")]
    pub delta_hash: [u8; 32],
    /// Its size, bytes.
    pub delta_size: u64,
    /// CID of the new TensorBlock.
    pub cid: String,
    /// Its payload hash (Merkle root).
    #[serde(with = "crate::msg::hex32")]
    pub payload_hash: [u8; 32],
    /// Its size, bytes.
    pub size: u64,
    /// CID of the block's outer-optimizer momentum after this round, a TensorBlock (see
    /// [`OuterOptimizer`]).
    pub momentum_cid: String,
    /// Its payload hash (Merkle root).
    #[serde(with = "crate::msg::hex32")]
    pub momentum_hash: [u8; 32],
    /// Its size, bytes.
    pub momentum_size: u64,
}

/// `MsgAttestAggregate`: phase 2, the aggregate of the admitted submissions.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AttestAggregate {
    /// Round.
    pub round: RoundId,
    /// Hash of the aggregate delta (block names, tensor names, shapes, f32 bytes in order).
    #[serde(with = "crate::msg::hex32")]
    pub aggregate_hash: [u8; 32],
    /// New versions, sorted by block name: exactly the blocks the admitted submissions change.
    pub blocks: Vec<NewBlockVersion>,
    /// Validation loss of the model with these versions, micro-nats.
    pub loss_micro: u64,
    /// The secret salt of this validator's phase-2 commitment (see [`commitment`]).
    #[serde(with = "crate::msg::hex32")]
    pub salt: [u8; 32],
}

/// Messages of the `pol` module.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PolMsg {
    /// A miner's delta submission.
    #[codec(index = 0)]
    SubmitDelta(SubmitDelta),
    /// A validator's phase-1 judgements.
    #[codec(index = 1)]
    AttestSubmissions(AttestSubmissions),
    /// A validator's phase-2 aggregate.
    #[codec(index = 2)]
    AttestAggregate(AttestAggregate),
    /// A validator's commitment to its attestation of one phase (`MsgCommit`).
    #[codec(index = 3)]
    Commit(CommitAttestation),
}

impl PolMsg {
    /// Base units this message moves out of the signer's account.
    pub fn outflow(&self) -> u128 {
        match self {
            PolMsg::SubmitDelta(s) => s.bond,
            PolMsg::AttestSubmissions(_) | PolMsg::AttestAggregate(_) | PolMsg::Commit(_) => 0,
        }
    }

    /// Kind name for gas schedules and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PolMsg::SubmitDelta(_) => "pol.submit_delta",
            PolMsg::AttestSubmissions(_) => "pol.attest_submissions",
            PolMsg::AttestAggregate(_) => "pol.attest_aggregate",
            PolMsg::Commit(_) => "pol.commit",
        }
    }
}

/// Something the `pol` module did; turned into an ABCI event like [`crate::event::Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolEvent {
    /// A round opened with its first submission.
    RoundOpened {
        /// Round.
        round: RoundId,
        /// Model.
        model: String,
        /// Last height that takes submissions.
        submit_until: u64,
    },
    /// A submission was recorded and its bond locked.
    DeltaSubmitted {
        /// Round.
        round: RoundId,
        /// Submission.
        submission: SubmissionId,
        /// Miner.
        miner: crate::Address,
        /// Model.
        model: String,
        /// Blocks it changes, comma-separated.
        blocks: String,
        /// Bond locked.
        bond: u128,
        /// Manifest CID.
        manifest_cid: String,
    },
    /// A round stopped taking submissions.
    RoundClosed {
        /// Round.
        round: RoundId,
        /// Submissions it holds.
        submissions: u32,
    },
    /// A validator committed to its attestation of a phase.
    Committed {
        /// Round.
        round: RoundId,
        /// Validator operator.
        validator: crate::Address,
        /// 1 or 2.
        phase: u8,
    },
    /// A phase's commit window closed (early when every validator of the snapshot
    /// committed): reveals are taken from the next height on.
    RevealsOpen {
        /// Round.
        round: RoundId,
        /// 1 or 2.
        phase: u8,
        /// First height that takes reveals.
        from: u64,
    },
    /// A validator's phase-1 loss for a submission was far from the stake-weighted median
    /// that a supermajority agreed with: it gets no validation reward for the round.
    AttesterDeviated {
        /// Round.
        round: RoundId,
        /// Validator operator.
        validator: crate::Address,
        /// The first submission it deviated on.
        submission: SubmissionId,
        /// Its loss, micro-nats.
        loss_micro: u64,
        /// The median, micro-nats.
        median_loss_micro: u64,
    },
    /// A validator attested a phase.
    Attested {
        /// Round.
        round: RoundId,
        /// Validator operator.
        validator: crate::Address,
        /// 1 or 2.
        phase: u8,
        /// Its voting power.
        power: u64,
    },
    /// Phase 1 judged a submission.
    SubmissionJudged {
        /// Round.
        round: RoundId,
        /// Submission.
        submission: SubmissionId,
        /// `admitted`, `harmful`, `byzantine`, `unfetchable` or `excluded`.
        verdict: String,
        /// Stake-weighted median loss, micro-nats.
        median_loss_micro: u64,
        /// How far above the base loss the median loss could be without the submission
        /// being harmful, micro-nats (the larger of the fixed and the noise tolerance).
        tolerance_micro: u64,
        /// Flags carried by enough attesting power.
        flags: u32,
        /// Bond slashed or fee taken, base units.
        penalty: u128,
    },
    /// A reward was paid.
    Rewarded {
        /// Round.
        round: RoundId,
        /// Recipient.
        account: crate::Address,
        /// Which reward (`learning` or `validation` in the ABCI attribute).
        kind: RewardKind,
        /// Base units.
        amount: u128,
    },
    /// A round ended with a verdict.
    RoundEnded {
        /// Round.
        round: RoundId,
        /// [`RoundStatus::Accepted`] or [`RoundStatus::Rejected`] (`accepted` or
        /// `rejected` in the ABCI attribute).
        status: RoundStatus,
        /// Why.
        reason: String,
    },
    /// A round ended without a quorum of attestations: bonds returned, heads unchanged.
    RoundNoQuorum {
        /// Round.
        round: RoundId,
        /// Bonds returned, base units.
        returned: u128,
    },
}

impl PolEvent {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            PolEvent::RoundOpened { .. } => "pol_round_opened",
            PolEvent::DeltaSubmitted { .. } => "pol_delta_submitted",
            PolEvent::RoundClosed { .. } => "pol_round_closed",
            PolEvent::RoundNoQuorum { .. } => "pol_round_no_quorum",
            PolEvent::Attested { .. } => "pol_attested",
            PolEvent::Committed { .. } => "pol_committed",
            PolEvent::RevealsOpen { .. } => "pol_reveals_open",
            PolEvent::AttesterDeviated { .. } => "pol_attester_deviated",
            PolEvent::SubmissionJudged { .. } => "pol_submission_judged",
            PolEvent::Rewarded { .. } => "pol_rewarded",
            PolEvent::RoundEnded { .. } => "pol_round_ended",
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            PolEvent::RoundOpened {
                round,
                model,
                submit_until,
            } => vec![
                ("round", round.to_string()),
                ("model", model.clone()),
                ("submit_until", submit_until.to_string()),
            ],
            PolEvent::DeltaSubmitted {
                round,
                submission,
                miner,
                model,
                blocks,
                bond,
                manifest_cid,
            } => vec![
                ("round", round.to_string()),
                ("submission", submission.to_string()),
                ("miner", miner.to_string()),
                ("model", model.clone()),
                ("blocks", blocks.clone()),
                ("bond", bond.to_string()),
                ("manifest_cid", manifest_cid.clone()),
            ],
            PolEvent::RoundClosed { round, submissions } => vec![
                ("round", round.to_string()),
                ("submissions", submissions.to_string()),
            ],
            PolEvent::RoundNoQuorum { round, returned } => vec![
                ("round", round.to_string()),
                ("returned", returned.to_string()),
            ],
            PolEvent::Attested {
                round,
                validator,
                phase,
                power,
            } => vec![
                ("round", round.to_string()),
                ("validator", validator.to_string()),
                ("phase", phase.to_string()),
                ("power", power.to_string()),
            ],
            PolEvent::Committed {
                round,
                validator,
                phase,
            } => vec![
                ("round", round.to_string()),
                ("validator", validator.to_string()),
                ("phase", phase.to_string()),
            ],
            PolEvent::RevealsOpen { round, phase, from } => vec![
                ("round", round.to_string()),
                ("phase", phase.to_string()),
                ("from", from.to_string()),
            ],
            PolEvent::AttesterDeviated {
                round,
                validator,
                submission,
                loss_micro,
                median_loss_micro,
            } => vec![
                ("round", round.to_string()),
                ("validator", validator.to_string()),
                ("submission", submission.to_string()),
                ("loss_micro", loss_micro.to_string()),
                ("median_loss_micro", median_loss_micro.to_string()),
            ],
            PolEvent::SubmissionJudged {
                round,
                submission,
                verdict,
                median_loss_micro,
                tolerance_micro,
                flags,
                penalty,
            } => vec![
                ("round", round.to_string()),
                ("submission", submission.to_string()),
                ("verdict", verdict.clone()),
                ("median_loss_micro", median_loss_micro.to_string()),
                ("tolerance_micro", tolerance_micro.to_string()),
                ("flags", flags.to_string()),
                ("penalty", penalty.to_string()),
            ],
            PolEvent::Rewarded {
                round,
                account,
                kind,
                amount,
            } => vec![
                ("round", round.to_string()),
                ("account", account.to_string()),
                ("kind", kind.as_str().to_string()),
                ("amount", amount.to_string()),
            ],
            PolEvent::RoundEnded {
                round,
                status,
                reason,
            } => vec![
                ("round", round.to_string()),
                ("status", status.as_str().to_string()),
                ("reason", reason.clone()),
            ],
        }
    }
}
