//! `pol` queries.

use blyan_proto::query::QueryPath;
use parity_scale_codec::Encode;

use super::state::*;
use crate::error::QueryError;
use crate::query::Answer;
use crate::state::StateRead;

/// Answers a `pol` path, or `None` for other paths.
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
        QueryPath::PolParams => Some(Answer {
            value: params(state).map_err(e)?.encode(),
            proof_key: Some(state_key::PARAMS.to_vec()),
        }),
        QueryPath::Round(id) => {
            let r = round(state, *id)
                .map_err(e)?
                .ok_or_else(|| QueryError::NotFound(format!("no round {id}")))?;
            Some(Answer {
                value: r.encode(),
                proof_key: Some(state_key::round(*id)),
            })
        }
        QueryPath::Rounds(m) => plain(model_rounds(state, m).map_err(e)?.encode()),
        QueryPath::CurrentRound(m) => plain(current_round(state, m).map_err(e)?.encode()),
        QueryPath::Submission(id) => {
            let s = submission(state, *id)
                .map_err(e)?
                .ok_or_else(|| QueryError::NotFound(format!("no submission {id}")))?;
            Some(Answer {
                value: s.encode(),
                proof_key: Some(state_key::submission(*id)),
            })
        }
        QueryPath::Submissions(id) => {
            let r = round(state, *id)
                .map_err(e)?
                .ok_or_else(|| QueryError::NotFound(format!("no round {id}")))?;
            plain(round_submissions(state, &r).map_err(e)?.encode())
        }
        QueryPath::Trust(a) => Some(Answer {
            value: trust(state, a).map_err(e)?.encode(),
            proof_key: Some(state_key::trust(a)),
        }),
        QueryPath::Attestations(id) => {
            let mut all = attestations(state, *id, 1).map_err(e)?;
            all.extend(attestations(state, *id, 2).map_err(e)?);
            plain(all.encode())
        }
        QueryPath::Voting(id) => Some(Answer {
            value: round_voting(state, *id).map_err(e)?.encode(),
            proof_key: Some(state_key::voting(*id)),
        }),
        _ => None,
    })
}
