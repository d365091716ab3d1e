//! Block versions created by accepted Proof-of-Learning rounds: for each changed block, a
//! `delta` block (the round's aggregate delta, which does not move the head), a `momentum`
//! block (the outer optimizer's momentum after the step, see
//! [`blyan_proto::pol::OuterOptimizer`]) and the new version (patch bump) depending on the
//! meta block, the previous version, that delta and that momentum, so the history can be
//! replayed from genesis by applying the recorded deltas in order.

use blyan_proto::dag::{BlockId, BlockType, ParamBlock, SemVer};
use blyan_proto::event::{DagEvent, Event};
use blyan_proto::pol::NewBlockVersion;
use blyan_proto::{Address, ErrorCode};

use super::publish::block_id;
use super::state::*;
use crate::error::{TxError, TxResult};
use crate::state::StateWrite;

/// Records the delta block and the new version of `v.block` in `model`; returns the new
/// version's id and its events.
pub fn record_learned_version<S: StateWrite + ?Sized>(
    state: &mut S,
    model: &str,
    v: &NewBlockVersion,
    author: &Address,
    height: u64,
) -> TxResult<(BlockId, Vec<Event>)> {
    let mut rec = must_model(state, model)?;
    let prev = head(state, model, &v.block)?.ok_or_else(|| {
        TxError::new(
            ErrorCode::CorruptState,
            format!("model {model:?} has no head for {:?}", v.block),
        )
    })?;
    let mut delta = ParamBlock {
        id: [0u8; 32],
        model: model.to_string(),
        block_type: BlockType::Delta,
        name: v.block.clone(),
        layer: prev.layer,
        depends_on: vec![rec.meta_block, prev.id],
        payload_hash: v.delta_hash,
        cid: v.delta_cid.clone(),
        size: v.delta_size,
        version: prev.version,
        author: *author,
        height,
    };
    delta.id = block_id(&delta);
    record(state, &mut rec, &delta);
    let mut momentum = ParamBlock {
        id: [0u8; 32],
        block_type: BlockType::Momentum,
        depends_on: vec![rec.meta_block, prev.id, delta.id],
        payload_hash: v.momentum_hash,
        cid: v.momentum_cid.clone(),
        size: v.momentum_size,
        ..delta.clone()
    };
    momentum.id = block_id(&momentum);
    record(state, &mut rec, &momentum);
    let mut next = ParamBlock {
        id: [0u8; 32],
        model: model.to_string(),
        block_type: prev.block_type,
        name: v.block.clone(),
        layer: prev.layer,
        depends_on: vec![rec.meta_block, prev.id, delta.id, momentum.id],
        payload_hash: v.payload_hash,
        cid: v.cid.clone(),
        size: v.size,
        version: SemVer {
            patch: prev.version.patch.saturating_add(1),
            ..prev.version
        },
        author: *author,
        height,
    };
    next.id = block_id(&next);
    record(state, &mut rec, &next);
    set_model(state, model, &rec);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Ok((
        next.id,
        vec![Event::Dag(DagEvent::BlockVersion {
            model: model.to_string(),
            name: next.name.clone(),
            id: hex(&next.id),
            version: next.version.to_string(),
        })],
    ))
}
