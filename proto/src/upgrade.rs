//! Software upgrades: a plan that governance schedules (`software_upgrade` proposals),
//! the record of the upgrades applied, and their events.
//!
//! As in the Cosmos SDK's `x/upgrade`: at the plan's height a binary that has no handler
//! for the plan's name stops before executing the block; a binary that has one runs the
//! handler's state migration at the start of that block, records the upgrade as applied
//! and bumps the application version.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Longest upgrade name, bytes.
pub const MAX_UPGRADE_NAME_BYTES: usize = 64;

/// Longest upgrade `info` (free text: a release URL, checksums), bytes.
pub const MAX_UPGRADE_INFO_BYTES: usize = 2048;

/// The application version of a chain on which no upgrade was applied yet.
pub const INITIAL_APP_VERSION: u64 = 1;

/// A scheduled upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct UpgradePlan {
    /// The name the new binary's handler is registered under.
    pub name: String,
    /// The first height the new binary executes (the old one stops before it).
    pub height: u64,
    /// Free text for operators (where to get the binary).
    pub info: String,
}

impl UpgradePlan {
    /// Stateless checks: the name and the info's size.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name)?;
        if self.info.len() > MAX_UPGRADE_INFO_BYTES {
            return Err(format!(
                "the upgrade info is {} bytes; the limit is {MAX_UPGRADE_INFO_BYTES}",
                self.info.len()
            ));
        }
        if self.height == 0 {
            return Err("the upgrade height must be positive".into());
        }
        Ok(())
    }
}

/// Checks an upgrade name: 1..=64 bytes of ASCII letters, digits, `.`, `-` and `_` (it
/// names files and appears in logs).
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_UPGRADE_NAME_BYTES {
        return Err(format!(
            "the upgrade name must be 1..={MAX_UPGRADE_NAME_BYTES} bytes"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!(
            "the upgrade name {name:?} may hold only ASCII letters, digits, '.', '-' and '_'"
        ));
    }
    Ok(())
}

/// An upgrade that was applied.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AppliedUpgrade {
    /// Its name.
    pub name: String,
    /// The height whose block ran its migration first.
    pub height: u64,
    /// The application version from that block on.
    pub app_version: u64,
}

/// Something the `upgrade` module did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeEvent {
    /// The plan's migration ran at the start of this block.
    Applied {
        /// Name.
        name: String,
        /// Height.
        height: u64,
        /// The new application version.
        app_version: u64,
    },
}

impl UpgradeEvent {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            UpgradeEvent::Applied { .. } => "upgrade_applied",
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            UpgradeEvent::Applied {
                name,
                height,
                app_version,
            } => vec![
                ("name", name.clone()),
                ("height", height.to_string()),
                ("app_version", app_version.to_string()),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        assert!(validate_name("v2").is_ok());
        assert!(validate_name("blyan-v1.2_rc1").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name("../x").is_err());
        assert!(validate_name(&"a".repeat(MAX_UPGRADE_NAME_BYTES)).is_ok());
        assert!(validate_name(&"a".repeat(MAX_UPGRADE_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn a_plan_checks_its_info_and_height() {
        let mut p = UpgradePlan {
            name: "v2".into(),
            height: 10,
            info: String::new(),
        };
        assert!(p.validate().is_ok());
        p.info = "x".repeat(MAX_UPGRADE_INFO_BYTES + 1);
        assert!(p.validate().is_err());
        p.info.clear();
        p.height = 0;
        assert!(p.validate().is_err());
    }
}
