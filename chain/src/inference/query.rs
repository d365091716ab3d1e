//! `inference` queries.

use blyan_proto::query::QueryPath;
use parity_scale_codec::Encode;

use super::state::*;
use crate::error::QueryError;
use crate::query::Answer;
use crate::state::StateRead;

/// Answers an `inference` path, or `None` for other paths.
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
        QueryPath::InferenceParams => Some(Answer {
            value: params(state).map_err(e)?.encode(),
            proof_key: Some(state_key::PARAMS.to_vec()),
        }),
        QueryPath::Provider(a) => {
            let p = provider(state, a)
                .map_err(e)?
                .ok_or_else(|| QueryError::NotFound(format!("{a} is not a registered provider")))?;
            Some(Answer {
                value: p.encode(),
                proof_key: Some(state_key::provider(a)),
            })
        }
        QueryPath::Providers => plain(providers(state).map_err(e)?.encode()),
        QueryPath::Channel(id) => Some(Answer {
            value: channel(state, *id).map_err(e)?.encode(),
            proof_key: Some(state_key::channel(*id)),
        }),
        QueryPath::Channels(a) => plain(user_channels(state, a).map_err(e)?.encode()),
        _ => None,
    })
}
