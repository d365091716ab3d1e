//! `pol`: Proof-of-Learning rounds (DESIGN.md, "Proof-of-Learning protocol").
//!
//! Miners submit compressed weight deltas with a bond ([`submit_delta`]); a round per model
//! opens with the first submission and takes submissions for `round_blocks` blocks, then
//! moves through phase 1 (validators judge each submission) and phase 2 (validators attest
//! the aggregate). Every submission pays a non-refundable `submission_fee`; a round that
//! ends without a quorum of attestations returns every bond still held and leaves the
//! heads alone. Trust levels (newcomer → trusted after consecutive accepted
//! submissions, demoted after consecutive failures) set each miner's quota, minimum bond
//! and whether a hashcash stamp is needed.

mod attest;
mod contributors;
mod deviation;
mod module;
mod payout;
mod query;
mod rounds;
mod state;
mod submit;
mod tally;
mod trust;
mod verdict;
mod voting;

pub use attest::{admitted_blocks, attest_aggregate, attest_submissions};
pub use module::Pol;
pub use query::answer as answer_query;
pub use rounds::end_block;
pub use state::*;
pub use submit::submit_delta;
pub use tally::{above, carried_flags, weighted_median};
pub use trust::{day_of, record_failure, record_success};
pub use voting::commit;

use blyan_proto::event::Event;
use blyan_proto::pol::PolMsg;

use crate::error::TxResult;
use crate::runtime::MsgContext;
use crate::state::StateWrite;

/// Executes a `pol` message.
pub fn execute<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    msg: &PolMsg,
) -> TxResult<Vec<Event>> {
    match msg {
        PolMsg::SubmitDelta(m) => submit_delta(state, ctx, m),
        PolMsg::AttestSubmissions(m) => attest_submissions(state, ctx, m),
        PolMsg::AttestAggregate(m) => attest_aggregate(state, ctx, m),
        PolMsg::Commit(m) => commit(state, ctx, m),
    }
}
