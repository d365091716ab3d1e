//! The upgrade handlers this binary carries: the names of the software upgrades it can
//! apply (see `blyan_chain::upgrade`). A release that a governance `software_upgrade`
//! proposal names adds its handler here; the binary then stops at no plan of that name
//! and refuses no state where it was applied.
//!
//! The default build carries none. Built with the `upgrade-demo-v2` feature it carries
//! the demo `v2` (it raises `gov.max_active_proposals` to 32), which the end-to-end test
//! `software_upgrade` uses as its "new binary".

use blyan_chain::upgrade::UpgradeHandler;

/// The handlers of this build.
#[cfg(not(feature = "upgrade-demo-v2"))]
pub const HANDLERS: &[UpgradeHandler] = &[];

/// The handlers of this build.
#[cfg(feature = "upgrade-demo-v2")]
pub const HANDLERS: &[UpgradeHandler] = &[blyan_chain::upgrade::demo::DEMO_V2_HANDLER];
