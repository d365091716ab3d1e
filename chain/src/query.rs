//! Answering typed queries from state: the first module of [`crate::modules::MODULES`]
//! that owns the path answers it.

use blyan_proto::query::QueryPath;

use crate::error::QueryError;
use crate::state::StateRead;

/// A query answer: the SCALE value, and for provable paths the single state key whose
/// value it is (so the store can attach a Merkle proof).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// SCALE-encoded value.
    pub value: Vec<u8>,
    /// The state key backing the value, when the path is provable.
    pub proof_key: Option<Vec<u8>>,
}

impl Answer {
    /// The raw value under `key` (or `default` when absent), provable by that key.
    pub fn raw<S: StateRead + ?Sized>(state: &S, key: Vec<u8>, default: Vec<u8>) -> Self {
        Answer {
            value: state.get_raw(&key).unwrap_or(default),
            proof_key: Some(key),
        }
    }

    /// A computed value with no single backing key (not provable).
    pub fn plain(value: Vec<u8>) -> Self {
        Answer {
            value,
            proof_key: None,
        }
    }
}

/// Answers `path` from `state`. An absent key answers with the type's default (a zero
/// balance, nonce 0) and is still provable (as an absence proof).
pub fn answer<S: StateRead + ?Sized>(state: &S, path: &QueryPath) -> Result<Answer, QueryError> {
    let state: &dyn StateRead = &state;
    for m in crate::modules::MODULES {
        if let Some(a) = m.query(state, path)? {
            return Ok(a);
        }
    }
    Err(QueryError::Unanswered(path.clone()))
}
