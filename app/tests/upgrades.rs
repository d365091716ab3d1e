//! Software upgrades at the application: a binary refuses a state that applied an upgrade
//! it has no handler for, or whose next block is a plan it does not know; `Info` reports
//! the state's app version. With the `upgrade-demo-v2` feature: the plan's block runs the
//! migration and hands CometBFT the new app version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use blyan_app::node::{startup_refusal, BlyanApp};
use blyan_chain::state::WriteSet;
use blyan_chain::upgrade::{state_key, Refusal};
use blyan_proto::upgrade::{AppliedUpgrade, UpgradePlan};
use common::*;
use parity_scale_codec::Encode;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::RequestInfo;

/// Commits `writes` as the next version, as a migration or a passed proposal would have.
fn write(app: &BlyanApp, writes: Vec<(Vec<u8>, Vec<u8>)>) -> u64 {
    let v = app.store().last_version().unwrap().unwrap() + 1;
    let w: WriteSet = writes.into_iter().map(|(k, v)| (k, Some(v))).collect();
    app.store()
        .commit(app.store().prepare(v, w).unwrap())
        .unwrap();
    v
}

fn plan(name: &str, height: u64) -> UpgradePlan {
    UpgradePlan {
        name: name.into(),
        height,
        info: String::new(),
    }
}

#[test]
fn a_binary_refuses_a_state_that_applied_an_upgrade_it_does_not_know() {
    let app = app_with_genesis(1);
    finalize_and_commit(&app, 1, Vec::new());
    assert_eq!(startup_refusal(&app.store().latest(), 2).unwrap(), None);
    assert_eq!(app.info(RequestInfo::default()).app_version, 1);
    let applied = AppliedUpgrade {
        name: "v3".into(),
        height: 2,
        app_version: 2,
    };
    write(
        &app,
        vec![
            (state_key::applied("v3"), applied.encode()),
            (state_key::APP_VERSION.to_vec(), 2u64.encode()),
        ],
    );
    let refusal = startup_refusal(&app.store().latest(), 3).unwrap();
    assert_eq!(refusal, Some(Refusal::UnknownApplied(applied)));
    assert!(refusal
        .unwrap()
        .message()
        .contains("this binary has no handler for it"));
    assert_eq!(app.info(RequestInfo::default()).app_version, 2);
}

#[test]
fn a_binary_does_not_start_over_a_state_whose_next_block_is_an_unknown_plan() {
    let app = app_with_genesis(1);
    finalize_and_commit(&app, 1, Vec::new());
    let h = write(
        &app,
        vec![(state_key::PLAN.to_vec(), plan("v3", 5).encode())],
    );
    assert_eq!(h, 2);
    finalize_and_commit(&app, 3, Vec::new());
    // Before the height it runs; at the height (the next block) it must not.
    assert_eq!(startup_refusal(&app.store().latest(), 4).unwrap(), None);
    finalize_and_commit(&app, 4, Vec::new());
    let refusal = startup_refusal(&app.store().latest(), 5).unwrap().unwrap();
    assert_eq!(
        refusal.message(),
        "UPGRADE \"v3\" NEEDED at height 5: stop this binary and start one that knows it"
    );
}

/// `cargo test -p blyan-app --features upgrade-demo-v2 --test upgrades`
#[cfg(feature = "upgrade-demo-v2")]
#[test]
fn the_v2_build_migrates_at_the_plan_height_and_reports_the_new_app_version() {
    let app = app_with_genesis(1);
    finalize_and_commit(&app, 1, Vec::new());
    write(
        &app,
        vec![(state_key::PLAN.to_vec(), plan("v2", 4).encode())],
    );
    let r = finalize_and_commit(&app, 3, Vec::new());
    assert_eq!(r.consensus_param_updates, None);
    let r = finalize_and_commit(&app, 4, Vec::new());
    let version = r.consensus_param_updates.and_then(|p| p.version);
    assert_eq!(version.map(|v| v.app), Some(2));
    assert!(r.events.iter().any(|e| e.r#type == "upgrade_applied"));
    assert_eq!(app.info(RequestInfo::default()).app_version, 2);
    let gov = blyan_chain::gov::params(&app.store().latest()).unwrap();
    assert_eq!(gov.max_active_proposals, 32);
    assert_eq!(startup_refusal(&app.store().latest(), 5).unwrap(), None);
}
