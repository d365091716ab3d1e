//! Rounds, submissions and trust records as queries show them.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::{BaseHead, DeltaRef, RoundId, SubmissionId};
use crate::Address;

/// Where a round is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundStatus {
    /// Taking submissions.
    #[codec(index = 0)]
    Open,
    /// Phase 1: validators check each submission.
    #[codec(index = 1)]
    Phase1,
    /// Phase 2: validators attest the aggregate.
    #[codec(index = 2)]
    Phase2,
    /// Accepted: new block versions recorded.
    #[codec(index = 3)]
    Accepted,
    /// Judged without improvement: heads unchanged.
    #[codec(index = 4)]
    Rejected,
    /// Not enough attesting power: bonds returned, heads unchanged.
    #[codec(index = 5)]
    NoQuorum,
}

impl RoundStatus {
    /// The name in ABCI attributes and JSON (`accepted`, `no_quorum`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RoundStatus::Open => "open",
            RoundStatus::Phase1 => "phase1",
            RoundStatus::Phase2 => "phase2",
            RoundStatus::Accepted => "accepted",
            RoundStatus::Rejected => "rejected",
            RoundStatus::NoQuorum => "no_quorum",
        }
    }

    /// True once the round is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RoundStatus::Accepted | RoundStatus::Rejected | RoundStatus::NoQuorum
        )
    }
}

/// A round.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RoundInfo {
    /// Id.
    pub id: RoundId,
    /// Model.
    pub model: String,
    /// Height of its first submission.
    pub opened_at: u64,
    /// Last height that takes submissions.
    pub submit_until: u64,
    /// Last height of phase 1.
    pub phase1_until: u64,
    /// Last height of phase 2.
    pub phase2_until: u64,
    /// Status.
    pub status: RoundStatus,
    /// Its submissions, in order.
    pub submissions: Vec<SubmissionId>,
    /// Bonds held for it, base units.
    #[serde(with = "crate::params::u128_string")]
    pub bonds: u128,
    /// The model's recorded loss when the round opened, micro-nats.
    pub base_loss_micro: Option<u64>,
    /// Height the round ended at (0 while running).
    pub ended_at: u64,
    /// Voting power of the active set when submissions closed (the quorum's base).
    pub total_power: u64,
    /// Power that attested phase 1.
    pub phase1_power: u64,
    /// Power that attested phase 2.
    pub phase2_power: u64,
    /// Power behind the winning aggregate.
    pub phase2_agreeing_power: u64,
    /// The winning aggregate's hash.
    pub aggregate_hash: Option<[u8; 32]>,
    /// Its stake-weighted median loss, micro-nats.
    pub new_loss_micro: Option<u64>,
    /// Block versions it created.
    pub new_blocks: Vec<crate::dag::BlockId>,
    /// Learning rewards paid, base units.
    #[serde(with = "crate::params::u128_string")]
    pub learning_rewards: u128,
    /// Validation rewards paid, base units.
    #[serde(with = "crate::params::u128_string")]
    pub validation_rewards: u128,
    /// Bonds slashed, base units.
    #[serde(with = "crate::params::u128_string")]
    pub slashed: u128,
}

/// What became of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Waiting for the round's verdict.
    #[codec(index = 0)]
    Pending,
    /// Admitted to the aggregate.
    #[codec(index = 1)]
    Admitted,
    /// Made the loss worse: excluded, bond returned minus a fee.
    #[codec(index = 2)]
    Harmful,
    /// Flagged as poisoned: bond slashed.
    #[codec(index = 3)]
    Byzantine,
    /// The round ended without a verdict: bond returned.
    #[codec(index = 4)]
    Returned,
    /// Validators holding at least `flag_bps` of the phase-1 power could not fetch its
    /// content (flag `UNFETCHABLE`): bond kept by the chain like a slash, trust lowered,
    /// no reward.
    #[codec(index = 5)]
    Unfetchable,
    /// Flagged only by round-relative screens (`COSINE`, `KRUM`): left out of the
    /// aggregate, no reward, bond returned, trust unchanged.
    #[codec(index = 6)]
    Excluded,
}

/// A submission.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SubmissionInfo {
    /// Id.
    pub id: SubmissionId,
    /// Round.
    pub round: RoundId,
    /// Miner.
    pub miner: Address,
    /// Model.
    pub model: String,
    /// Heads trained against.
    pub base_heads: Vec<BaseHead>,
    /// Deltas.
    pub deltas: Vec<DeltaRef>,
    /// Samples the miner declared.
    pub samples: u64,
    /// Aggregation weight the validators' weighted FedAvg uses: the declared samples
    /// capped at `PolParams::max_samples_per_submission`.
    pub weight: u64,
    /// Dataset references.
    pub dataset_refs: Vec<String>,
    /// Manifest CID.
    pub manifest_cid: String,
    /// Manifest hash.
    #[serde(with = "crate::msg::hex32")]
    pub manifest_hash: [u8; 32],
    /// Manifest size, bytes.
    pub manifest_size: u64,
    /// Bond locked, base units.
    #[serde(with = "crate::params::u128_string")]
    pub bond: u128,
    /// The miner's trust level when it submitted.
    pub trust: TrustLevel,
    /// Height recorded.
    pub height: u64,
    /// Status.
    pub status: SubmissionStatus,
    /// Stake-weighted median of the validators' losses, micro-nats.
    pub median_loss_micro: Option<u64>,
    /// Flag bits carried by enough attesting power.
    pub flags: u32,
    /// Learning reward paid, base units.
    #[serde(with = "crate::params::u128_string")]
    pub reward: u128,
    /// Bond slashed or fee taken, base units.
    #[serde(with = "crate::params::u128_string")]
    pub penalty: u128,
    /// Submission fee paid when it was recorded (never returned), base units.
    #[serde(with = "crate::params::u128_string")]
    pub fee: u128,
}

/// A validator's attestation of one phase, as stored and queried.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Attestation {
    /// Validator operator.
    pub validator: Address,
    /// Its voting power when it attested.
    pub power: u64,
    /// Height.
    pub height: u64,
    /// Phase 1: one judgement per submission.
    pub judgements: Vec<super::Judgement>,
    /// Phase 2: the aggregate.
    pub aggregate: Option<super::AttestAggregate>,
}

/// A contributor's trust level (seeds: Progressive Trust).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustLevel {
    /// Newcomer: small quota, hashcash stamp required.
    #[default]
    #[codec(index = 0)]
    Newbie,
    /// Proven contributor: large quota, no stamp.
    #[codec(index = 1)]
    Trusted,
}

/// A contributor's trust record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode, Serialize, Deserialize)]
pub struct TrustInfo {
    /// Level.
    pub level: TrustLevel,
    /// Accepted submissions in a row.
    pub consecutive_successes: u32,
    /// Failed submissions in a row.
    pub consecutive_failures: u32,
    /// Accepted submissions in total.
    pub accepted: u64,
    /// Harmful or flagged submissions in total.
    pub failed: u64,
    /// Day index (UTC days since 1970 of the block time) of `submissions_today`.
    pub day: u64,
    /// Submissions made on `day`.
    pub submissions_today: u32,
}

/// Which Proof-of-Learning reward a [`super::PolEvent::Rewarded`] pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewardKind {
    /// To a miner, for the improvement its submission brought.
    Learning,
    /// To a validator, for attesting.
    Validation,
}

impl RewardKind {
    /// The name in the ABCI attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardKind::Learning => "learning",
            RewardKind::Validation => "validation",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RoundStatus;

    /// The ABCI attribute names a status exactly as JSON does.
    #[test]
    fn round_status_names_match_their_json() {
        for s in [
            RoundStatus::Open,
            RoundStatus::Phase1,
            RoundStatus::Phase2,
            RoundStatus::Accepted,
            RoundStatus::Rejected,
            RoundStatus::NoQuorum,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
