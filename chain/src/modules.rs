//! The ordered list of chain modules. Genesis, the begin- and end-block hooks, message
//! dispatch, queries and the invariant checks all walk it in this order.
//!
//! The order is behaviour: `bank` mints genesis balances before `staking` bonds from them;
//! at the end of a block `consensus` records the block first, `staking` pays out matured
//! unbondings before `pol` snapshots validator power, and `fees` sets the next base fee
//! last (its event closes the block's events). The validator-set update runs after every
//! end-block hook.

use crate::module::Module;

/// Every module, in hook order.
pub const MODULES: &[&dyn Module] = &[
    &crate::consensus::Consensus,
    &crate::auth::Auth,
    &crate::bank::Bank,
    &crate::staking::Staking,
    &crate::dag::Dag,
    &crate::pol::Pol,
    &crate::inference::Inference,
    &crate::fees::Fees,
];
