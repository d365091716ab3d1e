//! DAG state: keys and typed accessors.

use blyan_proto::dag::{BlockId, ModelArch, ParamBlock, ValidationSet};
use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::{Decode, Encode};

use crate::error::{TxError, TxResult};
use crate::state::{key, StateRead, StateReadExt, StateWrite, StateWriteExt};

/// Holds publish deposits.
pub const DEPOSIT_POOL: Address = Address(*b"module/dag_deposit__");

/// State keys owned by `dag`.
pub mod state_key {
    use crate::state::key;

    /// Parameters.
    pub const PARAMS: &[u8] = b"dag/params";
    /// Prefix of models by id.
    pub const MODEL_PREFIX: &[u8] = b"dag/model/";
    /// Prefix of blocks by id.
    pub const BLOCK_PREFIX: &[u8] = b"dag/block/";
    /// Prefix of heads (ParamIndex) by model and name.
    pub const HEAD_PREFIX: &[u8] = b"dag/head/";
    /// Prefix of per-name version lists.
    pub const HISTORY_PREFIX: &[u8] = b"dag/history/";
    /// Prefix of reverse edges (parent → child).
    pub const CHILD_PREFIX: &[u8] = b"dag/child/";
    /// Prefix of each model's blocks in insertion (topological) order.
    pub const ORDER_PREFIX: &[u8] = b"dag/order/";

    fn ns(prefix: &[u8], model: &str) -> Vec<u8> {
        let mut k = key(prefix, model.as_bytes());
        k.push(b'/');
        k
    }

    /// A model's record.
    pub fn model(model: &str) -> Vec<u8> {
        key(MODEL_PREFIX, model.as_bytes())
    }

    /// A block.
    pub fn block(id: &[u8; 32]) -> Vec<u8> {
        key(BLOCK_PREFIX, id)
    }

    /// The head of `name` in `model`.
    pub fn head(model: &str, name: &str) -> Vec<u8> {
        key(&ns(HEAD_PREFIX, model), name.as_bytes())
    }

    /// Prefix of the version list of `name` in `model`.
    pub fn history_of(model: &str, name: &str) -> Vec<u8> {
        let mut k = key(&ns(HISTORY_PREFIX, model), name.as_bytes());
        k.push(b'/');
        k
    }

    /// One version-list entry.
    pub fn history(model: &str, name: &str, seq: u64) -> Vec<u8> {
        key(&history_of(model, name), &seq.to_be_bytes())
    }

    /// Prefix of a block's children.
    pub fn children_of(parent: &[u8; 32]) -> Vec<u8> {
        key(CHILD_PREFIX, parent)
    }

    /// Prefix of a model's topological order.
    pub fn order_of(model: &str) -> Vec<u8> {
        ns(ORDER_PREFIX, model)
    }
}

/// A model as stored.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ModelRecord {
    /// Publisher.
    pub owner: Address,
    /// Architecture.
    pub arch: ModelArch,
    /// Meta config JSON, inline.
    pub meta_json: String,
    /// Id of the meta block.
    pub meta_block: BlockId,
    /// Locked deposit.
    pub deposit: u128,
    /// Blocks recorded so far (the next order index).
    pub blocks: u64,
    /// Public validation set.
    pub validation: Option<ValidationSet>,
    /// Recorded validation loss of the current heads, micro-nats.
    pub loss_micro: Option<u64>,
}

/// The parameters (written at genesis; the defaults for a state written before they were).
pub fn params<S: StateRead + ?Sized>(state: &S) -> TxResult<blyan_proto::dag::DagParams> {
    Ok(state.get_scale(state_key::PARAMS)?.unwrap_or_default())
}

/// Sets the parameters.
pub(crate) fn set_params<S: StateWrite + ?Sized>(state: &mut S, p: &blyan_proto::dag::DagParams) {
    state.put_scale(state_key::PARAMS.to_vec(), p);
}

/// A model, if it exists.
pub fn model<S: StateRead + ?Sized>(state: &S, id: &str) -> TxResult<Option<ModelRecord>> {
    state.get_scale(&state_key::model(id))
}

/// A model that must exist.
pub fn must_model<S: StateRead + ?Sized>(state: &S, id: &str) -> TxResult<ModelRecord> {
    model(state, id)?
        .ok_or_else(|| TxError::new(ErrorCode::UnknownModel, format!("no model {id:?}")))
}

/// A block by id.
pub fn block<S: StateRead + ?Sized>(state: &S, id: &BlockId) -> TxResult<Option<ParamBlock>> {
    state.get_scale(&state_key::block(id))
}

/// The head block of `name`, if any.
pub fn head<S: StateRead + ?Sized>(
    state: &S,
    model: &str,
    name: &str,
) -> TxResult<Option<ParamBlock>> {
    match state.get_scale::<BlockId>(&state_key::head(model, name))? {
        Some(id) => block(state, &id),
        None => Ok(None),
    }
}

/// Every version of `name`, oldest first.
pub fn history<S: StateRead + ?Sized>(
    state: &S,
    model: &str,
    name: &str,
) -> TxResult<Vec<ParamBlock>> {
    let mut out = Vec::new();
    for (_, v) in state.prefix_raw(&state_key::history_of(model, name)) {
        let id = BlockId::decode(&mut v.as_slice())
            .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed history entry"))?;
        if let Some(b) = block(state, &id)? {
            out.push(b);
        }
    }
    Ok(out)
}

/// Ids of the blocks that depend on `parent`.
pub fn children<S: StateRead + ?Sized>(state: &S, parent: &BlockId) -> Vec<BlockId> {
    let prefix = state_key::children_of(parent);
    state
        .prefix_raw(&prefix)
        .into_iter()
        .filter_map(|(k, _)| k.get(prefix.len()..).and_then(|b| b.try_into().ok()))
        .collect()
}

/// A model's block ids in insertion order, which is topological (dependencies first).
pub fn topological<S: StateRead + ?Sized>(state: &S, model: &str) -> TxResult<Vec<BlockId>> {
    state
        .prefix_raw(&state_key::order_of(model))
        .into_iter()
        .map(|(_, v)| {
            BlockId::decode(&mut v.as_slice())
                .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed order entry"))
        })
        .collect()
}

/// Records a block: the block itself, the head, history, reverse edges and order.
pub(super) fn record<S: StateWrite + ?Sized>(state: &mut S, rec: &mut ModelRecord, b: &ParamBlock) {
    state.put_scale(state_key::block(&b.id), b);
    if !matches!(
        b.block_type,
        blyan_proto::dag::BlockType::Meta
            | blyan_proto::dag::BlockType::Delta
            | blyan_proto::dag::BlockType::Momentum
    ) {
        let seq = history_len(state, &b.model, &b.name);
        state.put_scale(state_key::history(&b.model, &b.name, seq), &b.id);
        state.put_scale(state_key::head(&b.model, &b.name), &b.id);
    }
    for parent in &b.depends_on {
        state.put_raw(key(&state_key::children_of(parent), &b.id), vec![1]);
    }
    state.put_scale(
        key(&state_key::order_of(&b.model), &rec.blocks.to_be_bytes()),
        &b.id,
    );
    rec.blocks = rec.blocks.saturating_add(1);
}

fn history_len<S: StateRead + ?Sized>(state: &S, model: &str, name: &str) -> u64 {
    u64::try_from(state.prefix_raw(&state_key::history_of(model, name)).len()).unwrap_or(u64::MAX)
}

/// Stores a model record.
pub(crate) fn set_model<S: StateWrite + ?Sized>(state: &mut S, id: &str, rec: &ModelRecord) {
    state.put_scale(state_key::model(id), rec);
}
