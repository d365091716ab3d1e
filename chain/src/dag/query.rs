//! DAG queries.

use blyan_proto::dag::ModelInfo;
use blyan_proto::query::QueryPath;
use parity_scale_codec::{Decode, Encode};

use super::state::*;
use crate::error::QueryError;
use crate::query::Answer;
use crate::state::StateRead;

fn info(id: &str, rec: &ModelRecord) -> ModelInfo {
    ModelInfo {
        id: id.to_string(),
        owner: rec.owner,
        arch: rec.arch.clone(),
        meta_block: rec.meta_block,
        meta_json: rec.meta_json.clone(),
        deposit: rec.deposit,
        blocks: rec.blocks,
        validation: rec.validation.clone(),
        loss_micro: rec.loss_micro,
    }
}

/// Answers a DAG path, or `None` for other paths.
pub fn answer<S: StateRead + ?Sized>(
    state: &S,
    path: &QueryPath,
) -> Result<Option<Answer>, QueryError> {
    let e = QueryError::State;
    let plain = |value: Vec<u8>| {
        Some(Answer {
            value,
            proof_key: None,
        })
    };
    Ok(match path {
        QueryPath::DagParams => Some(Answer {
            value: params(state).map_err(e)?.encode(),
            proof_key: Some(state_key::PARAMS.to_vec()),
        }),
        QueryPath::Models => {
            let mut out = Vec::new();
            for (k, v) in state.prefix_raw(state_key::MODEL_PREFIX) {
                let id = String::from_utf8_lossy(
                    k.get(state_key::MODEL_PREFIX.len()..).unwrap_or_default(),
                )
                .to_string();
                let rec = ModelRecord::decode(&mut v.as_slice())
                    .map_err(|x| QueryError::Decode(x.to_string()))?;
                out.push(info(&id, &rec));
            }
            plain(out.encode())
        }
        QueryPath::ModelMeta(m) => plain(info(m, &must_model(state, m).map_err(e)?).encode()),
        QueryPath::Head(m, n) => {
            let b = head(state, m, n)
                .map_err(e)?
                .ok_or_else(|| QueryError::NotFound(format!("model {m:?} has no block {n:?}")))?;
            Some(Answer {
                value: b.encode(),
                proof_key: Some(state_key::block(&b.id)),
            })
        }
        QueryPath::Block(id) => {
            let b = block(state, id)
                .map_err(e)?
                .ok_or_else(|| QueryError::NotFound("no such block".into()))?;
            Some(Answer {
                value: b.encode(),
                proof_key: Some(state_key::block(id)),
            })
        }
        QueryPath::History(m, n) => plain(history(state, m, n).map_err(e)?.encode()),
        QueryPath::Children(id) => plain(children(state, id).encode()),
        QueryPath::Topo(m) => plain(topological(state, m).map_err(e)?.encode()),
        _ => None,
    })
}
