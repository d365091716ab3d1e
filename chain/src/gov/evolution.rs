//! `ModelEvolution` proposals: the checks at submission and the execution when one
//! passes, on top of [`crate::dag::check_evolution`] and [`crate::dag::evolve_model`]. A
//! model whose Proof-of-Learning round is in progress is refused both times (its heads
//! may move while the round is judged). From the end of the voting period of a passed
//! evolution until it executes (or fails), the model is marked as evolving
//! ([`pending_evolution`]) and `pol` opens no new round for it, so a round opened before
//! the vote ended is the only one that can still be in progress at the effective height:
//! an effective height past that round's end lets the evolution execute.

use blyan_proto::event::Event;
use blyan_proto::gov::{EvolvedBlock, ModelChange, ProposalContent, ProposalId};
use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::Decode;

use blyan_proto::dag::BlockId;

use crate::dag::EvolutionPlan;
use crate::error::{TxError, TxResult};
use crate::state::{key, StateRead, StateWrite, StateWriteExt};

/// Prefix of the evolving-model marks: `gov/evolving/{model}/{proposal id}` → the id.
pub const EVOLVING_PREFIX: &[u8] = b"gov/evolving/";

fn evolving_of(model: &str) -> Vec<u8> {
    let mut k = key(EVOLVING_PREFIX, model.as_bytes());
    k.push(b'/');
    k
}

/// The first passed evolution of `model` still waiting for its effective height, if any.
pub fn pending_evolution<S: StateRead + ?Sized>(
    state: &S,
    model: &str,
) -> TxResult<Option<ProposalId>> {
    match state.prefix_raw(&evolving_of(model)).into_iter().next() {
        Some((_, v)) => ProposalId::decode(&mut v.as_slice())
            .map(Some)
            .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed evolving mark")),
        None => Ok(None),
    }
}

/// Marks the model of a passed evolution `id` as evolving until it executes.
pub(super) fn mark_pending<S: StateWrite + ?Sized>(
    state: &mut S,
    id: ProposalId,
    content: &ProposalContent,
) {
    if let ProposalContent::ModelEvolution { model, .. } = content {
        state.put_scale(key(&evolving_of(model), &id.to_be_bytes()), &id);
    }
}

/// Clears the mark of evolution `id` once it executed or failed.
pub(super) fn clear_pending<S: StateWrite + ?Sized>(
    state: &mut S,
    id: ProposalId,
    content: &ProposalContent,
) {
    if let ProposalContent::ModelEvolution { model, .. } = content {
        state.delete_raw(&key(&evolving_of(model), &id.to_be_bytes()));
    }
}

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
