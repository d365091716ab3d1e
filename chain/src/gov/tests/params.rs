//! Parameter changes: validated at submission, applied at their height, failing cleanly
//! when they no longer validate.

use blyan_proto::gov::{GovEvent, ParamChange, ProposalContent, ProposalStatus, VoteOption::*};
use blyan_proto::params::{FeeParams, StakingParams};
use blyan_proto::BLY;

use super::*;
use crate::gov::proposal;

fn fees_change(gas_per_bank_send: u64, effective_height: u64) -> ProposalContent {
    ProposalContent::ParamChange {
        change: ParamChange::Fees(Box::new(FeeParams {
            gas_per_bank_send,
            ..FeeParams::default()
        })),
        effective_height,
    }
}

#[test]
fn gov_a_passed_param_change_takes_effect_at_its_height() {
    let mut s = genesis();
    // Submitted at 1 with the full deposit: voting ends at 11.
    let id = submit(&mut s, 1, fees_change(7_777, 15), 10 * BLY).unwrap();
    vote(&mut s, op1(), id, 2, Yes);
    blocks(&mut s, 2, 11);
    assert_eq!(proposal(&s, id).unwrap().status, ProposalStatus::Passed);
    blocks(&mut s, 12, 14);
    assert_eq!(crate::fees::params(&s).unwrap().gas_per_bank_send, 5_000);
    let events = blocks(&mut s, 15, 15);
    assert_eq!(crate::fees::params(&s).unwrap().gas_per_bank_send, 7_777);
    assert_eq!(proposal(&s, id).unwrap().status, ProposalStatus::Executed);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Gov(GovEvent::Executed { success: true, .. }))));
}

#[test]
fn gov_a_change_effective_at_the_voting_end_applies_with_the_tally() {
    let mut s = genesis();
    let change = ProposalContent::ParamChange {
        change: ParamChange::Gov(Box::new(GovParams {
            voting_period_blocks: 30,
            ..test_params()
        })),
        effective_height: 11,
    };
    let id = submit(&mut s, 1, change, 10 * BLY).unwrap();
    vote(&mut s, op2(), id, 2, Yes);
    vote(&mut s, op1(), id, 2, Abstain);
    blocks(&mut s, 2, 10);
    assert_eq!(crate::gov::params(&s).unwrap().voting_period_blocks, 10);
    blocks(&mut s, 11, 11);
    assert_eq!(crate::gov::params(&s).unwrap().voting_period_blocks, 30);
}

#[test]
fn gov_invalid_param_changes_are_refused_at_submission() {
    let mut s = genesis();
    let bad_fees = ProposalContent::ParamChange {
        change: ParamChange::Fees(Box::new(FeeParams {
            target_gas_bps: 0,
            ..FeeParams::default()
        })),
        effective_height: 100,
    };
    assert_eq!(
        submit(&mut s, 1, bad_fees, 10 * BLY),
        Err(ErrorCode::InvalidParamChange)
    );
    let power = ProposalContent::ParamChange {
        change: ParamChange::Staking(Box::new(StakingParams {
            power_reduction: 2 * BLY,
            ..StakingParams::default()
        })),
        effective_height: 100,
    };
    assert_eq!(
        submit(&mut s, 1, power, 10 * BLY),
        Err(ErrorCode::InvalidParamChange)
    );
    let bad_gov = ProposalContent::ParamChange {
        change: ParamChange::Gov(Box::new(GovParams {
            quorum_bps: 0,
            ..test_params()
        })),
        effective_height: 100,
    };
    assert_eq!(
        submit(&mut s, 1, bad_gov, 10 * BLY),
        Err(ErrorCode::InvalidParamChange)
    );
    // With the full deposit voting ends at 11; with part of it, at 21 at the latest.
    assert_eq!(
        submit(&mut s, 1, fees_change(6_000, 10), 10 * BLY),
        Err(ErrorCode::InvalidEffectiveHeight)
    );
    assert_eq!(
        submit(&mut s, 1, fees_change(6_000, 20), 5 * BLY),
        Err(ErrorCode::InvalidEffectiveHeight)
    );
    assert!(submit(&mut s, 1, fees_change(6_000, 21), 5 * BLY).is_ok());
    let unknown_model = ProposalContent::PolModel {
        model: "nope".into(),
        aggregation: None,
        outer: None,
        effective_height: 100,
    };
    assert_eq!(
        submit(&mut s, 1, unknown_model, 10 * BLY),
        Err(ErrorCode::InvalidProposal)
    );
}

#[test]
fn gov_a_change_that_no_longer_validates_fails_cleanly() {
    let mut s = genesis();
    let change = ProposalContent::ParamChange {
        change: ParamChange::Staking(Box::new(StakingParams {
            max_validators: 7,
            ..StakingParams::default()
        })),
        effective_height: 12,
    };
    let id = submit(&mut s, 1, change, 10 * BLY).unwrap();
    vote(&mut s, op1(), id, 2, Yes);
    blocks(&mut s, 2, 11);
    // Meanwhile the staking parameters moved under it (as another proposal could).
    let moved = StakingParams {
        power_reduction: 3 * BLY,
        ..StakingParams::default()
    };
    crate::staking::set_params(&mut s, &moved);
    let events = blocks(&mut s, 12, 12);
    let info = proposal(&s, id).unwrap();
    assert_eq!(info.status, ProposalStatus::Failed);
    assert!(
        info.execution_log.contains("power_reduction"),
        "{}",
        info.execution_log
    );
    assert_eq!(crate::staking::params(&s).unwrap(), moved);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Gov(GovEvent::Executed { success: false, .. }))));
}

#[test]
fn gov_pol_model_overrides_are_set_replaced_and_removed() {
    use blyan_proto::pol::{AggregationRule, OuterOptimizer};
    let mut s = genesis();
    let p = crate::gov::pol_with_model(&s, "zeta", Some(AggregationRule::Median), None).unwrap();
    crate::pol::set_params(&mut s, &p);
    let p = crate::gov::pol_with_model(
        &s,
        "alpha",
        Some(AggregationRule::FedAvg),
        Some(OuterOptimizer::DILOCO),
    )
    .unwrap();
    // Kept sorted by model id, one entry per model.
    assert_eq!(
        p.model_aggregation,
        vec![
            ("alpha".to_string(), AggregationRule::FedAvg),
            ("zeta".to_string(), AggregationRule::Median)
        ]
    );
    assert_eq!(
        p.model_outer,
        vec![("alpha".to_string(), OuterOptimizer::DILOCO)]
    );
    crate::pol::set_params(&mut s, &p);
    let p = crate::gov::pol_with_model(&s, "zeta", None, None).unwrap();
    assert_eq!(p.model_aggregation.len(), 1);
    let bad = AggregationRule::TrimmedMean { trim_bps: 6_000 };
    assert!(crate::gov::pol_with_model(&s, "alpha", Some(bad), None).is_err());
}
