//! `gov` queries.

use blyan_proto::gov::ProposalStatus;
use blyan_proto::query::QueryPath;
use parity_scale_codec::Encode;

use super::state::*;
use crate::error::QueryError;
use crate::query::Answer;
use crate::state::StateRead;

/// Answers a `gov` path, or `None` for other paths.
pub fn answer<S: StateRead + ?Sized>(
    state: &S,
    path: &QueryPath,
) -> Result<Option<Answer>, QueryError> {
    let e = QueryError::State;
    Ok(match path {
        QueryPath::GovParams => Some(Answer {
            value: params(state).map_err(e)?.encode(),
            proof_key: Some(state_key::PARAMS.to_vec()),
        }),
        QueryPath::Proposals => Some(Answer::plain(proposals(state).map_err(e)?.encode())),
        QueryPath::Proposal(id) => Some(Answer {
            value: proposal(state, *id).map_err(e)?.encode(),
            proof_key: Some(state_key::proposal(*id)),
        }),
        QueryPath::Votes(id) => {
            proposal(state, *id).map_err(e)?;
            Some(Answer::plain(votes(state, *id).map_err(e)?.encode()))
        }
        QueryPath::Tally(id) => {
            let info = proposal(state, *id).map_err(e)?;
            let t = match (info.final_tally, info.status) {
                (Some(t), _) => t,
                (None, ProposalStatus::VotingPeriod) => super::tally(state, *id).map_err(e)?,
                (None, _) => Default::default(),
            };
            Some(Answer::plain(t.encode()))
        }
        QueryPath::CommunityPool => Some(Answer::raw(
            state,
            crate::bank::state_key::balance(&COMMUNITY_POOL),
            0u128.encode(),
        )),
        _ => None,
    })
}
