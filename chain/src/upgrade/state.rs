//! `upgrade` state: the pending plan, the applied upgrades and the application version.

use blyan_proto::upgrade::{AppliedUpgrade, UpgradePlan, INITIAL_APP_VERSION};
use blyan_proto::ErrorCode;
use parity_scale_codec::Decode;

use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// State keys owned by `upgrade`.
pub mod state_key {
    use crate::state::key;

    /// The pending plan (at most one).
    pub const PLAN: &[u8] = b"upgrade/plan";
    /// The application version (absent: [`blyan_proto::upgrade::INITIAL_APP_VERSION`]).
    pub const APP_VERSION: &[u8] = b"upgrade/app_version";
    /// Prefix of the applied upgrades by name.
    pub const APPLIED_PREFIX: &[u8] = b"upgrade/applied/";

    /// An applied upgrade.
    pub fn applied(name: &str) -> Vec<u8> {
        key(APPLIED_PREFIX, name.as_bytes())
    }
}

/// The pending plan, if any.
pub fn plan<S: StateRead + ?Sized>(state: &S) -> TxResult<Option<UpgradePlan>> {
    state.get_scale(state_key::PLAN)
}

/// Stores the pending plan (replacing any earlier one).
pub(crate) fn set_plan<S: StateWrite + ?Sized>(state: &mut S, plan: &UpgradePlan) {
    state.put_scale(state_key::PLAN.to_vec(), plan);
}

/// Forgets the pending plan.
pub(crate) fn clear_plan<S: StateWrite + ?Sized>(state: &mut S) {
    state.delete_raw(state_key::PLAN);
}

/// The application version the state is at.
pub fn app_version<S: StateRead + ?Sized>(state: &S) -> TxResult<u64> {
    Ok(state
        .get_scale(state_key::APP_VERSION)?
        .unwrap_or(INITIAL_APP_VERSION))
}

/// Sets the application version.
pub(crate) fn set_app_version<S: StateWrite + ?Sized>(state: &mut S, v: u64) {
    state.put_scale(state_key::APP_VERSION.to_vec(), &v);
}

/// The upgrade applied under `name`, if any.
pub fn applied<S: StateRead + ?Sized>(state: &S, name: &str) -> TxResult<Option<AppliedUpgrade>> {
    state.get_scale(&state_key::applied(name))
}

/// Records an applied upgrade.
pub(crate) fn set_applied<S: StateWrite + ?Sized>(state: &mut S, a: &AppliedUpgrade) {
    state.put_scale(state_key::applied(&a.name), a);
}

/// Every applied upgrade, by name.
pub fn applied_all<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<AppliedUpgrade>> {
    state
        .prefix_raw(state_key::APPLIED_PREFIX)
        .into_iter()
        .map(|(_, v)| {
            AppliedUpgrade::decode(&mut v.as_slice()).map_err(|_| {
                TxError::new(ErrorCode::CorruptState, "malformed applied upgrade record")
            })
        })
        .collect()
}
