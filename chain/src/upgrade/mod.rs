//! `upgrade`: software upgrades scheduled by governance, in the manner of the Cosmos
//! SDK's `x/upgrade`.
//!
//! A passed `software_upgrade` proposal stores an [`UpgradePlan`] (name, height, info),
//! replacing any pending one; a passed `cancel_software_upgrade` clears it. The binary
//! carries a registry of [`UpgradeHandler`]s (name → state migration), given to
//! [`crate::BlockExecutor::begin_block_upgrading`]. At the plan's height:
//! - a binary without a handler for the name refuses the block ([`due_refusal`], and
//!   [`begin_block`] fails with [`blyan_proto::ErrorCode::UpgradeNeeded`]): the node stops
//!   before writing anything for that height, so the new binary executes it;
//! - a binary with one runs the migration first thing in the block (before every other
//!   hook and transaction), bumps the application version, records the upgrade as applied
//!   (name → height) and clears the plan.
//!
//! A binary that finds an applied upgrade it has no handler for ([`unknown_applied`]) is
//! older than the chain and must not run it. Unlike Cosmos, a binary that knows a plan
//! runs normally before its height: behaviour a new binary changes must therefore be
//! gated on the application version in state, never on the binary alone.

mod apply;
pub mod demo;
mod state;

#[cfg(test)]
mod tests;

use blyan_proto::query::QueryPath;
pub use blyan_proto::upgrade::{AppliedUpgrade, UpgradePlan};
use parity_scale_codec::Encode;

pub use apply::{
    begin_block, cancel, check_plan, due_refusal, schedule, unknown_applied,
    upgrade_needed_message, Refusal,
};
pub use state::{app_version, applied, applied_all, plan, state_key};

use crate::error::QueryError;
use crate::module::Module;
use crate::query::Answer;
use crate::state::{StateRead, StateWrite};

/// A state migration: runs once, at the start of the plan's block. Deterministic, like
/// every state transition; `Err` stops the node (every node fails the same way).
pub type Migration = fn(&mut dyn StateWrite, &UpgradePlan) -> Result<(), String>;

/// A binary's handler for the upgrade of one name.
#[derive(Debug, Clone, Copy)]
pub struct UpgradeHandler {
    /// The plan name it handles.
    pub name: &'static str,
    /// Its migration.
    pub migrate: Migration,
}

/// The `upgrade` module: its queries (the plan is written by `gov`, applied by the block
/// executor).
#[derive(Debug, Clone, Copy, Default)]
pub struct Upgrade;

impl Module for Upgrade {
    fn name(&self) -> &'static str {
        "upgrade"
    }

    fn query(&self, state: &dyn StateRead, path: &QueryPath) -> Result<Option<Answer>, QueryError> {
        let e = QueryError::State;
        Ok(match path {
            QueryPath::UpgradePlan => Some(Answer {
                value: plan(state).map_err(e)?.encode(),
                proof_key: Some(state_key::PLAN.to_vec()),
            }),
            QueryPath::UpgradesApplied => {
                Some(Answer::plain(applied_all(state).map_err(e)?.encode()))
            }
            QueryPath::UpgradeApplied(name) => {
                let a = applied(state, name).map_err(e)?.ok_or_else(|| {
                    QueryError::NotFound(format!("no upgrade named {name:?} was applied"))
                })?;
                Some(Answer {
                    value: a.encode(),
                    proof_key: Some(state_key::applied(name)),
                })
            }
            QueryPath::AppVersion => Some(Answer {
                value: app_version(state).map_err(e)?.encode(),
                proof_key: Some(state_key::APP_VERSION.to_vec()),
            }),
            _ => None,
        })
    }
}
