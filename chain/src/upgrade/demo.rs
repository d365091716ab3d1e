//! The demo upgrade `v2`: a migration with a visible, deterministic effect, for tests and
//! the localnet walkthrough. No default build registers it; `blyand` built with the
//! `upgrade-demo-v2` feature does.

use blyan_proto::gov::GovParams;
use blyan_proto::upgrade::UpgradePlan;

use super::UpgradeHandler;
use crate::state::{StateReadExt, StateWrite, StateWriteExt};

/// The demo upgrade's name.
pub const DEMO_V2: &str = "v2";

/// `gov.max_active_proposals` after the demo migration, when it was below.
pub const DEMO_V2_MAX_ACTIVE_PROPOSALS: u32 = 32;

/// Raises `gov.max_active_proposals` to [`DEMO_V2_MAX_ACTIVE_PROPOSALS`] (a real
/// migration would rewrite records into a new layout the same way: read, transform,
/// validate, write).
pub fn migrate_v2(state: &mut dyn StateWrite, _plan: &UpgradePlan) -> Result<(), String> {
    let key = crate::gov::state_key::PARAMS;
    let mut p: GovParams = state.get_scale(key).map_err(|e| e.log)?.unwrap_or_default();
    p.max_active_proposals = p.max_active_proposals.max(DEMO_V2_MAX_ACTIVE_PROPOSALS);
    p.validate()?;
    state.put_scale(key.to_vec(), &p);
    Ok(())
}

/// The demo handler.
pub const DEMO_V2_HANDLER: UpgradeHandler = UpgradeHandler {
    name: DEMO_V2,
    migrate: migrate_v2,
};
