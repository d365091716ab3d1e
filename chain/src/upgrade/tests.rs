//! Unit tests of `upgrade`: a due plan stops a binary without its handler, a binary with
//! it migrates once and bumps the application version, an old binary refuses a state
//! with an upgrade it does not know.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use blyan_proto::event::Event;
use blyan_proto::gov::GovParams;
use blyan_proto::upgrade::{AppliedUpgrade, UpgradeEvent, UpgradePlan};
use blyan_proto::{ErrorCode, SecretKey, BLY};

use super::demo::{DEMO_V2_HANDLER, DEMO_V2_MAX_ACTIVE_PROPOSALS};
use super::*;
use crate::genesis::{init_chain, ChainGenesis, GenesisValidatorSpec};
use crate::runtime::{BlockContext, BlockExecutor};
use crate::state::{apply_writes, MemState};

fn genesis() -> MemState {
    let mut s = MemState::new();
    let op = SecretKey::from_seed("upgrade/op").address();
    init_chain(
        &mut s,
        &ChainGenesis {
            chain_id: "upgrade-unit".into(),
            tx_params: Default::default(),
            fee_params: Default::default(),
            accounts: vec![(op, 1_000 * BLY)],
            emission_reserve: 0,
            staking_params: Default::default(),
            dag_params: Default::default(),
            pol_params: Default::default(),
            inference_params: Default::default(),
            gov_params: GovParams::default(),
            validators: vec![GenesisValidatorSpec {
                operator: op,
                consensus_key: [1; 32],
                moniker: "v".into(),
                power: 10,
            }],
            models: Vec::new(),
        },
    )
    .unwrap();
    s
}

fn plan(height: u64) -> UpgradePlan {
    UpgradePlan {
        name: "v2".into(),
        height,
        info: "get it at https://example.org".into(),
    }
}

/// Executes an empty block at `height` with `handlers`; commits its writes.
fn block(
    s: &mut MemState,
    height: u64,
    handlers: &[UpgradeHandler],
) -> Result<Vec<Event>, crate::TxError> {
    let ctx = BlockContext {
        height,
        ..Default::default()
    };
    let ex = BlockExecutor::begin_block_upgrading(&*s, ctx, handlers)?;
    let end = ex.end().expect("invariants hold");
    apply_writes(s, end.writes);
    Ok(end.events)
}

#[test]
fn upgrade_a_binary_without_the_handler_stops_at_the_plan_height_and_writes_nothing() {
    let mut s = genesis();
    schedule(&mut s, &plan(3), 1).unwrap();
    block(&mut s, 1, &[]).unwrap();
    block(&mut s, 2, &[]).unwrap();
    assert_eq!(due_refusal(&s, 2, &[]).unwrap(), None);
    let refusal = due_refusal(&s, 3, &[]).unwrap().expect("due");
    assert_eq!(
        refusal.message(),
        "UPGRADE \"v2\" NEEDED at height 3: stop this binary and start one that knows it \
         (info: get it at https://example.org)"
    );
    let before = s.clone();
    let err = block(&mut s, 3, &[]).unwrap_err();
    assert_eq!(err.code, ErrorCode::UpgradeNeeded);
    assert!(
        err.log.starts_with("UPGRADE \"v2\" NEEDED at height 3"),
        "{}",
        err.log
    );
    assert_eq!(s, before, "nothing written for the height");
    // Another handler does not help.
    let other = UpgradeHandler {
        name: "v3",
        migrate: |_, _| Ok(()),
    };
    assert!(due_refusal(&s, 3, &[other]).unwrap().is_some());
}

#[test]
fn upgrade_the_handler_migrates_once_at_the_plan_height_and_bumps_the_app_version() {
    let mut s = genesis();
    assert_eq!(app_version(&s).unwrap(), 1);
    schedule(&mut s, &plan(3), 1).unwrap();
    let handlers = [DEMO_V2_HANDLER];
    // Before the height the new binary behaves as the old one.
    assert!(block(&mut s, 2, &handlers)
        .unwrap()
        .iter()
        .all(|e| !matches!(e, Event::Upgrade(_))));
    assert_eq!(crate::gov::params(&s).unwrap().max_active_proposals, 16);
    assert_eq!(due_refusal(&s, 3, &handlers).unwrap(), None);

    let events = block(&mut s, 3, &handlers).unwrap();
    assert_eq!(
        events.first(),
        Some(&Event::Upgrade(UpgradeEvent::Applied {
            name: "v2".into(),
            height: 3,
            app_version: 2,
        })),
        "the migration runs first in the block"
    );
    assert_eq!(
        crate::gov::params(&s).unwrap().max_active_proposals,
        DEMO_V2_MAX_ACTIVE_PROPOSALS
    );
    assert_eq!(app_version(&s).unwrap(), 2);
    assert_eq!(plan_of(&s), None);
    let record = AppliedUpgrade {
        name: "v2".into(),
        height: 3,
        app_version: 2,
    };
    assert_eq!(applied(&s, "v2").unwrap(), Some(record.clone()));
    assert_eq!(applied_all(&s).unwrap(), vec![record]);

    // Exactly once: later blocks do nothing more.
    let events = block(&mut s, 4, &handlers).unwrap();
    assert!(events.iter().all(|e| !matches!(e, Event::Upgrade(_))));
    assert_eq!(app_version(&s).unwrap(), 2);
}

fn plan_of(s: &MemState) -> Option<UpgradePlan> {
    super::plan(s).unwrap()
}

#[test]
fn upgrade_an_old_binary_refuses_a_state_with_an_applied_upgrade_it_does_not_know() {
    let mut s = genesis();
    assert_eq!(unknown_applied(&s, &[]).unwrap(), None);
    schedule(&mut s, &plan(2), 1).unwrap();
    block(&mut s, 2, &[DEMO_V2_HANDLER]).unwrap();
    let refusal = unknown_applied(&s, &[]).unwrap().expect("refused");
    assert!(
        refusal
            .message()
            .starts_with("upgrade \"v2\" was applied at height 2 (app version 2)"),
        "{}",
        refusal.message()
    );
    assert_eq!(unknown_applied(&s, &[DEMO_V2_HANDLER]).unwrap(), None);
}

#[test]
fn upgrade_a_failing_migration_stops_the_node() {
    let mut s = genesis();
    schedule(&mut s, &plan(2), 1).unwrap();
    let broken = UpgradeHandler {
        name: "v2",
        migrate: |_, _| Err("the records do not convert".into()),
    };
    let before = s.clone();
    let err = block(&mut s, 2, &[broken]).unwrap_err();
    assert_eq!(err.code, ErrorCode::UpgradeNeeded);
    assert!(err
        .log
        .contains("the migration failed: the records do not convert"));
    assert_eq!(s, before);
}

#[test]
fn upgrade_plans_in_the_past_or_under_a_used_name_are_not_scheduled() {
    let mut s = genesis();
    assert!(schedule(&mut s, &plan(5), 5).is_err());
    schedule(&mut s, &plan(2), 1).unwrap();
    block(&mut s, 2, &[DEMO_V2_HANDLER]).unwrap();
    let err = schedule(&mut s, &plan(9), 3).unwrap_err();
    assert!(err.contains("was applied at height 2"), "{err}");
    assert_eq!(plan_of(&s), None);
}
