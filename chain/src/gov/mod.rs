//! `gov`: proposals, deposits, stake-weighted votes and the execution of what passes.
//!
//! A proposal is submitted with at least `min_initial_deposit_bps` of `min_deposit`, held
//! by [`GOV_ESCROW`]. Once its deposits reach `min_deposit` (within
//! `max_deposit_period_blocks`, else they are burned) its voting period starts and lasts
//! `voting_period_blocks`. Anyone may vote yes, no, abstain or veto, replacing an earlier
//! vote; votes weigh bonded stake (see [`tally`]), counted at the end of the voting
//! period. As in the Cosmos SDK's `x/gov`: without quorum (`quorum_bps` of the bonded
//! stake voting) or with more than `veto_bps` of the votes vetoing, the proposal fails
//! and its deposits are burned; otherwise they are refunded, and the proposal passes when
//! more than `threshold_bps` of the non-abstaining votes say yes.
//!
//! What passes: a typed parameter change of one module (validated with the same
//! `validate` as genesis at submission and again when applied), one model's PoL
//! overrides, a spend from the [`COMMUNITY_POOL`], a model evolution (new experts as a new
//! architecture version, see [`execute_evolution`]), or nothing (text). Changes with an
//! effective height are written at the end of that block, so queries at that height show
//! them and the next block runs with them; a change that no longer validates fails with
//! an event and writes nothing.

mod content;
mod evolution;
mod lifecycle;
mod module;
mod msgs;
mod query;
mod state;
mod tally;

#[cfg(test)]
mod tests;

pub use content::{check_content, check_param_change, execute_content, pol_with_model};
pub use evolution::{
    check_evolution, execute_evolution, pending_evolution, EVOLVING_PREFIX, GOV_AUTHORITY,
};
pub use lifecycle::end_block;
pub use module::{execute, Gov};
pub use msgs::{deposit, fund_community_pool, submit_proposal, vote, Submission};
pub use query::answer as answer_query;
pub use state::*;
pub use tally::{decide, tally, Outcome};
