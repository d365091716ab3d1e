//! Parameters of the `pol` module, set in genesis.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::params::u128_string;

/// Proof-of-Learning parameters.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolParams {
    /// Blocks a round takes submissions for, counting the block that opened it.
    pub round_blocks: u64,
    /// Blocks after the submission window for phase 1 (individual checks) attestations.
    pub phase1_blocks: u64,
    /// Blocks after phase 1 for phase 2 (aggregate) attestations.
    pub phase2_blocks: u64,
    /// Smallest bond of a newcomer's submission, base units.
    #[serde(with = "u128_string")]
    pub min_bond_newbie: u128,
    /// Smallest bond of a trusted contributor's submission, base units.
    #[serde(with = "u128_string")]
    pub min_bond_trusted: u128,
    /// Submissions a newcomer may make per day (UTC day of the block time).
    pub quota_newbie_per_day: u32,
    /// Submissions a trusted contributor may make per day.
    pub quota_trusted_per_day: u32,
    /// Consecutive accepted submissions that promote a newcomer to trusted.
    pub promote_after: u32,
    /// Consecutive failed submissions that demote a trusted contributor.
    pub demote_after: u32,
    /// Leading zero bits a newcomer's hashcash stamp needs (0 disables the stamp).
    pub hashcash_bits: u32,
    /// Most blocks one submission may change.
    pub max_deltas: u32,
    /// Largest declared size of one delta container, bytes.
    pub max_delta_bytes: u64,
    /// Largest declared size of a training manifest, bytes.
    pub max_manifest_bytes: u64,
    /// Most dataset references in one submission.
    pub max_dataset_refs: u32,
    /// Most submissions one round takes.
    pub max_submissions_per_round: u32,
    /// Smallest improvement of the recorded loss a round needs to be accepted, basis points.
    pub min_improvement_bps: u32,
}

impl Default for PolParams {
    fn default() -> Self {
        PolParams {
            round_blocks: 60,
            phase1_blocks: 30,
            phase2_blocks: 30,
            min_bond_newbie: 10 * crate::BLY,
            min_bond_trusted: crate::BLY,
            quota_newbie_per_day: 20,
            quota_trusted_per_day: 200,
            promote_after: 3,
            demote_after: 5,
            hashcash_bits: 20,
            max_deltas: 64,
            max_delta_bytes: 64 * 1024 * 1024,
            max_manifest_bytes: 1024 * 1024,
            max_dataset_refs: 16,
            max_submissions_per_round: 64,
            min_improvement_bps: 100,
        }
    }
}

impl PolParams {
    /// Checks the parameters make sense (genesis validation).
    pub fn validate(&self) -> Result<(), String> {
        if self.round_blocks == 0 || self.phase1_blocks == 0 || self.phase2_blocks == 0 {
            return Err("pol: round_blocks and phase blocks must be positive".into());
        }
        if self.hashcash_bits > 64 {
            return Err("pol: hashcash_bits above 64 could never be met in practice".into());
        }
        if self.max_deltas == 0 || self.max_submissions_per_round == 0 {
            return Err("pol: max_deltas and max_submissions_per_round must be positive".into());
        }
        if self.promote_after == 0 || self.demote_after == 0 {
            return Err("pol: promote_after and demote_after must be positive".into());
        }
        if self.min_improvement_bps > 10_000 {
            return Err("pol: min_improvement_bps above 10000".into());
        }
        Ok(())
    }

    /// The smallest bond for a trust level.
    pub fn min_bond(&self, level: super::TrustLevel) -> u128 {
        match level {
            super::TrustLevel::Newbie => self.min_bond_newbie,
            super::TrustLevel::Trusted => self.min_bond_trusted,
        }
    }

    /// The daily submission quota for a trust level.
    pub fn quota(&self, level: super::TrustLevel) -> u32 {
        match level {
            super::TrustLevel::Newbie => self.quota_newbie_per_day,
            super::TrustLevel::Trusted => self.quota_trusted_per_day,
        }
    }
}
