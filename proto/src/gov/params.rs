//! Parameters of the `gov` module.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::params::u128_string;

/// Governance parameters.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovParams {
    /// Deposit a proposal needs before its voting period starts, base units.
    #[serde(with = "u128_string")]
    pub min_deposit: u128,
    /// Share of `min_deposit` the proposer must put up when submitting, basis points
    /// (the price of holding one of the `max_active_proposals` slots).
    pub min_initial_deposit_bps: u32,
    /// Blocks a proposal may collect deposits before it expires (its deposits burned).
    pub max_deposit_period_blocks: u64,
    /// Blocks of the voting period, counting the block it starts in.
    pub voting_period_blocks: u64,
    /// Share of the bonded stake that must vote (any option) for the result to count,
    /// basis points.
    pub quorum_bps: u32,
    /// Share of the non-abstaining votes that must say yes (strictly more), basis points.
    pub threshold_bps: u32,
    /// Share of all votes saying veto above which the proposal fails and its deposits
    /// are burned, basis points.
    pub veto_bps: u32,
    /// Most proposals in their deposit or voting period at once.
    pub max_active_proposals: u32,
}

impl Default for GovParams {
    fn default() -> Self {
        GovParams {
            min_deposit: 1_000 * crate::BLY,
            min_initial_deposit_bps: 2_500,
            // A week of one-second blocks each.
            max_deposit_period_blocks: 604_800,
            voting_period_blocks: 604_800,
            quorum_bps: 3_340,
            threshold_bps: 5_000,
            veto_bps: 3_340,
            max_active_proposals: 16,
        }
    }
}

impl GovParams {
    /// Checks the parameters make sense (genesis and parameter-change proposals).
    pub fn validate(&self) -> Result<(), String> {
        if self.min_deposit == 0 {
            return Err("gov: min_deposit must be positive".into());
        }
        if self.max_deposit_period_blocks == 0 || self.voting_period_blocks == 0 {
            return Err(
                "gov: max_deposit_period_blocks and voting_period_blocks must be positive".into(),
            );
        }
        for (name, v) in [
            ("min_initial_deposit_bps", self.min_initial_deposit_bps),
            ("quorum_bps", self.quorum_bps),
            ("threshold_bps", self.threshold_bps),
            ("veto_bps", self.veto_bps),
        ] {
            if v > 10_000 {
                return Err(format!("gov: {name} {v} is above 10000"));
            }
        }
        if self.quorum_bps == 0 || self.threshold_bps == 0 || self.veto_bps == 0 {
            return Err("gov: quorum_bps, threshold_bps and veto_bps must be positive".into());
        }
        if self.max_active_proposals == 0 {
            return Err("gov: max_active_proposals must be at least 1".into());
        }
        Ok(())
    }

    /// The least a proposal may be submitted with.
    pub fn min_initial_deposit(&self) -> u128 {
        let scaled = self
            .min_deposit
            .saturating_mul(u128::from(self.min_initial_deposit_bps));
        scaled / 10_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_refused() {
        assert!(GovParams::default().validate().is_ok());
        for bad in [
            GovParams {
                min_deposit: 0,
                ..GovParams::default()
            },
            GovParams {
                voting_period_blocks: 0,
                ..GovParams::default()
            },
            GovParams {
                quorum_bps: 10_001,
                ..GovParams::default()
            },
            GovParams {
                veto_bps: 0,
                ..GovParams::default()
            },
            GovParams {
                max_active_proposals: 0,
                ..GovParams::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(GovParams::default().min_initial_deposit(), 250 * crate::BLY);
    }
}
