//! `ModelEvolution` proposals: the checks at submission and the execution when one
//! passes, on top of [`crate::dag::check_evolution`] and [`crate::dag::evolve_model`]. A
//! model whose Proof-of-Learning round is in progress is refused both times (its heads
//! may move while the round is judged).

use blyan_proto::event::Event;
use blyan_proto::gov::{EvolvedBlock, ModelChange};
use blyan_proto::{Address, ErrorCode};

use blyan_proto::dag::BlockId;

use crate::dag::EvolutionPlan;
use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateWrite};

/// The author recorded on the blocks a passed evolution writes (it holds no funds).
pub const GOV_AUTHORITY: Address = Address(*b"module/gov_authority");

/// Every check of an evolution against the current state, the PoL round included.
pub fn check_evolution<S: StateRead + ?Sized>(
    state: &S,
    model: &str,
    change: &ModelChange,
    base_meta: &BlockId,
    blocks: &[EvolvedBlock],
) -> TxResult<EvolutionPlan> {
    let plan = crate::dag::check_evolution(state, model, change, base_meta, blocks)?;
    if let Some(r) = crate::pol::current_round(state, model)? {
        return Err(TxError::new(
            ErrorCode::EvolutionRoundOpen,
            format!(
                "model {model:?} has Proof-of-Learning round {} in progress ({:?})",
                r.id, r.status
            ),
        ));
    }
    Ok(plan)
}

/// Executes a passed evolution at `height`: checks again, then writes.
pub fn execute_evolution<S: StateWrite + ?Sized>(
    state: &mut S,
    model: &str,
    change: &ModelChange,
    base_meta: &BlockId,
    blocks: &[EvolvedBlock],
    height: u64,
) -> TxResult<Vec<Event>> {
    let plan = check_evolution(state, model, change, base_meta, blocks)?;
    crate::dag::evolve_model(state, model, plan, blocks, &GOV_AUTHORITY, height)
}
