//! Software upgrades at the node: stopping at a plan this binary has no handler for,
//! refusing a state that applied an upgrade it does not know, and telling CometBFT the
//! new application version after a migration.
//!
//! Stopping is the Cosmos SDK's way (`x/upgrade`): the old binary stops inside
//! FinalizeBlock of the plan's height, before executing it, so it writes nothing for that
//! height. CometBFT v0.38 has already saved the decided block in its block store; it
//! notices the application is gone and stops too. At the next start its handshake finds
//! the application one block behind and replays that block through FinalizeBlock: the new
//! binary executes it, migration first, and the chain goes on with the same history.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use blyan_chain::upgrade::{due_refusal, unknown_applied, Refusal};
use blyan_chain::StateRead;
use blyan_proto::event::Event;
use blyan_proto::upgrade::UpgradeEvent;
use tendermint_proto::v0_38::types::{ConsensusParams, VersionParams};

use super::BlyanApp;
use crate::upgrades::HANDLERS;

/// The file the node writes when it stops for an upgrade (`{"name","height","info"}`, as
/// the Cosmos SDK's `upgrade-info.json`), for tools that swap binaries.
pub const UPGRADE_INFO_FILE: &str = "upgrade-info.json";

/// Why this binary must not run over `state` at all (checked at start): an applied
/// upgrade it has no handler for, or a plan due at the next height it does not know.
pub fn startup_refusal<S: StateRead>(
    state: &S,
    next_height: u64,
) -> Result<Option<Refusal>, String> {
    if let Some(r) = unknown_applied(state, HANDLERS).map_err(|e| e.log)? {
        return Ok(Some(r));
    }
    due_refusal(state, next_height, HANDLERS).map_err(|e| e.log)
}

/// Why this binary must not execute block `height`. The applied upgrades are checked at
/// the first block this process executes (which also covers a state restored by state
/// sync), the plan at every block.
pub(super) fn refusal(app: &BlyanApp, height: u64) -> Result<Option<Refusal>, String> {
    let state = app.store().latest();
    if !app.inner.applied_checked.swap(true, Ordering::SeqCst) {
        if let Some(r) = unknown_applied(&state, HANDLERS).map_err(|e| e.log)? {
            return Ok(Some(r));
        }
    }
    due_refusal(&state, height, HANDLERS).map_err(|e| e.log)
}

/// How long a node stopping for an upgrade keeps FinalizeBlock waiting before it exits.
/// Meanwhile CometBFT's consensus reactor still gossips the block's precommits (from its
/// last copy of the round state, whose vote sets are shared), so a validator that has not
/// seen enough of them yet can commit the block and stop at the same height, instead of
/// waiting one height below until restarted peers send it the block.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Logs why, writes the upgrade-info file for a due plan, and exits with status 0 after
/// [`STOP_GRACE`]: the stop is the expected outcome, nothing failed. Nothing is written
/// to the state.
pub(super) fn stop(app: &BlyanApp, refusal: &Refusal) -> ! {
    let msg = refusal.message();
    tracing::error!("{msg}");
    eprintln!("blyand: {msg}");
    if let (Refusal::UpgradeNeeded(plan), Some(dir)) = (refusal, app.inner.data_dir.as_deref()) {
        write_upgrade_info(dir, plan);
        std::thread::sleep(STOP_GRACE);
    }
    std::process::exit(0)
}

fn write_upgrade_info(dir: &Path, plan: &blyan_proto::upgrade::UpgradePlan) {
    let path: PathBuf = dir.join(UPGRADE_INFO_FILE);
    let body = serde_json::json!({"name": plan.name, "height": plan.height, "info": plan.info});
    if let Err(e) = std::fs::write(&path, body.to_string()) {
        tracing::warn!(path = %path.display(), "writing the upgrade info failed: {e}");
    }
}

/// The consensus-parameter update that carries a new application version to CometBFT
/// (it puts it in the headers from the next block on), when the block applied an upgrade.
pub(super) fn consensus_update(events: &[Event]) -> Option<ConsensusParams> {
    events.iter().rev().find_map(|e| match e {
        Event::Upgrade(UpgradeEvent::Applied { app_version, .. }) => Some(ConsensusParams {
            version: Some(VersionParams { app: *app_version }),
            ..Default::default()
        }),
        _ => None,
    })
}
