//! Scheduling plans (from passed proposals), the checks a binary runs before executing a
//! block, and applying a due plan at the start of its block.

use blyan_proto::event::Event;
use blyan_proto::upgrade::{AppliedUpgrade, UpgradeEvent, UpgradePlan};
use blyan_proto::ErrorCode;

use super::state::*;
use super::UpgradeHandler;
use crate::error::{TxError, TxResult};
use crate::module::DynWrite;
use crate::state::{StateRead, StateWrite};

/// Checks a plan at submission: well formed, `height` beyond `latest_voting_end` (the
/// last height the proposal's voting period could end at), and a name never applied.
pub fn check_plan<S: StateRead + ?Sized>(
    state: &S,
    plan: &UpgradePlan,
    latest_voting_end: u64,
) -> TxResult<()> {
    plan.validate()
        .map_err(|e| TxError::new(ErrorCode::InvalidUpgradePlan, e))?;
    if plan.height <= latest_voting_end {
        return Err(TxError::new(
            ErrorCode::InvalidUpgradeHeight,
            format!(
                "upgrade height {} is not beyond {latest_voting_end}, the last height the \
                 voting period could end at",
                plan.height
            ),
        ));
    }
    if let Some(a) = applied(state, &plan.name)? {
        return Err(TxError::new(
            ErrorCode::UpgradeNameUsed,
            format!(
                "an upgrade named {:?} was applied at height {}",
                a.name, a.height
            ),
        ));
    }
    Ok(())
}

/// Stores `plan` as the pending one (a passed `software_upgrade` proposal), replacing any
/// earlier plan, as Cosmos' `ScheduleUpgrade` does. `height` is the current block's.
/// `Err` (nothing written) when the plan is no longer valid.
pub fn schedule<S: StateWrite + ?Sized>(
    state: &mut S,
    plan: &UpgradePlan,
    height: u64,
) -> Result<(), String> {
    plan.validate()?;
    if plan.height <= height {
        return Err(format!(
            "upgrade height {} is not after the current height {height}",
            plan.height
        ));
    }
    if let Some(a) = applied(state, &plan.name).map_err(|e| e.log)? {
        return Err(format!(
            "an upgrade named {:?} was applied at height {}",
            a.name, a.height
        ));
    }
    set_plan(state, plan);
    Ok(())
}

/// Forgets the pending plan (a passed `cancel_software_upgrade` proposal); with none
/// pending there is nothing to do.
pub fn cancel<S: StateWrite + ?Sized>(state: &mut S) {
    clear_plan(state);
}

/// The line a binary logs when it stops at a plan it has no handler for.
pub fn upgrade_needed_message(plan: &UpgradePlan) -> String {
    let info = if plan.info.is_empty() {
        String::new()
    } else {
        format!(" (info: {})", plan.info)
    };
    format!(
        "UPGRADE {:?} NEEDED at height {}: stop this binary and start one that knows it{info}",
        plan.name, plan.height
    )
}

/// Why this binary must not execute the next block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The pending plan is due and this binary has no handler for it.
    UpgradeNeeded(UpgradePlan),
    /// The state records an upgrade this binary has no handler for: it is older than the
    /// chain.
    UnknownApplied(AppliedUpgrade),
}

impl Refusal {
    /// A line for the operator.
    pub fn message(&self) -> String {
        match self {
            Refusal::UpgradeNeeded(plan) => upgrade_needed_message(plan),
            Refusal::UnknownApplied(a) => format!(
                "upgrade {:?} was applied at height {} (app version {}) but this binary has \
                 no handler for it: it is older than the chain; start the binary that applied \
                 it (or a newer one)",
                a.name, a.height, a.app_version
            ),
        }
    }
}

fn known(handlers: &[UpgradeHandler], name: &str) -> bool {
    handlers.iter().any(|h| h.name == name)
}

/// The pending plan, when it is due at `height` and no handler of `handlers` knows it.
pub fn due_refusal<S: StateRead + ?Sized>(
    state: &S,
    height: u64,
    handlers: &[UpgradeHandler],
) -> TxResult<Option<Refusal>> {
    Ok(plan(state)?
        .filter(|p| p.height <= height && !known(handlers, &p.name))
        .map(Refusal::UpgradeNeeded))
}

/// The first applied upgrade (by name) no handler of `handlers` knows: a binary that
/// finds one must not run this chain (Cosmos: "wrong app version").
pub fn unknown_applied<S: StateRead + ?Sized>(
    state: &S,
    handlers: &[UpgradeHandler],
) -> TxResult<Option<Refusal>> {
    Ok(applied_all(state)?
        .into_iter()
        .find(|a| !known(handlers, &a.name))
        .map(Refusal::UnknownApplied))
}

/// Applies the pending plan if it is due at `height`: runs its handler's migration, bumps
/// the application version, records the upgrade and clears the plan. A due plan without
/// a handler, or a failing migration, is an [`ErrorCode::UpgradeNeeded`] error: the node
/// must stop rather than execute the block.
pub fn begin_block<S: StateWrite + ?Sized>(
    state: &mut S,
    height: u64,
    handlers: &[UpgradeHandler],
) -> TxResult<Vec<Event>> {
    let Some(plan) = plan(state)? else {
        return Ok(Vec::new());
    };
    if plan.height > height {
        return Ok(Vec::new());
    }
    let Some(handler) = handlers.iter().find(|h| h.name == plan.name) else {
        return Err(TxError::new(
            ErrorCode::UpgradeNeeded,
            upgrade_needed_message(&plan),
        ));
    };
    (handler.migrate)(&mut DynWrite(&mut *state), &plan).map_err(|e| {
        TxError::new(
            ErrorCode::UpgradeNeeded,
            format!("upgrade {:?}: the migration failed: {e}", plan.name),
        )
    })?;
    let app_version = app_version(state)?
        .checked_add(1)
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "app version overflows"))?;
    set_app_version(state, app_version);
    set_applied(
        state,
        &AppliedUpgrade {
            name: plan.name.clone(),
            height,
            app_version,
        },
    );
    clear_plan(state);
    Ok(vec![Event::Upgrade(UpgradeEvent::Applied {
        name: plan.name,
        height,
        app_version,
    })])
}
