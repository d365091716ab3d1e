//! Answering typed queries from state.

use blyan_proto::query::{AccountInfo, QueryPath};
use parity_scale_codec::Encode;

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

/// Answers `path` from `state`. An absent key answers with the type's default (a zero
/// balance, nonce 0) and is still provable (as an absence proof).
pub fn answer<S: StateRead + ?Sized>(state: &S, path: &QueryPath) -> Result<Answer, String> {
    if let Some(a) = crate::staking::answer_query(state, path)? {
        return Ok(a);
    }
    if let Some(a) = crate::dag::answer_query(state, path)? {
        return Ok(a);
    }
    if let Some(a) = crate::pol::answer_query(state, path)? {
        return Ok(a);
    }
    if let Some(a) = crate::inference::answer_query(state, path)? {
        return Ok(a);
    }
    let raw = |key: Vec<u8>, default: Vec<u8>| Answer {
        value: state.get_raw(&key).unwrap_or(default),
        proof_key: Some(key),
    };
    Ok(match path {
        QueryPath::Balance(a) => raw(crate::bank::state_key::balance(a), 0u128.encode()),
        QueryPath::Supply => raw(crate::bank::state_key::SUPPLY.to_vec(), 0u128.encode()),
        QueryPath::Nonce(a) => raw(crate::auth::state_key::nonce(a), 0u64.encode()),
        QueryPath::FeeParams => raw(crate::fees::state_key::PARAMS.to_vec(), Vec::new()),
        QueryPath::BaseFee => raw(crate::fees::state_key::BASE_FEE.to_vec(), Vec::new()),
        QueryPath::Burned => raw(crate::fees::state_key::BURNED.to_vec(), 0u128.encode()),
        QueryPath::TxParams => raw(crate::auth::state_key::TX_PARAMS.to_vec(), Vec::new()),
        QueryPath::ChainId => raw(crate::auth::state_key::CHAIN_ID.to_vec(), Vec::new()),
        QueryPath::Account(a) => Answer {
            value: AccountInfo {
                address: *a,
                nonce: crate::auth::nonce(state, a).map_err(|e| e.log)?,
                balance: crate::bank::balance(state, a).map_err(|e| e.log)?,
            }
            .encode(),
            proof_key: None,
        },
        _ => return Err(format!("{path} is not answered by this module")),
    })
}
