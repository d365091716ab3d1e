//! `auth`: account nonces (replay protection) and the chain id.

use blyan_proto::{Address, ErrorCode};

use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// State keys owned by `auth`.
pub mod state_key {
    use blyan_proto::Address;

    /// Prefix of nonce entries.
    pub const NONCE_PREFIX: &[u8] = b"auth/nonce/";
    /// The chain id.
    pub const CHAIN_ID: &[u8] = b"auth/chain_id";
    /// Transaction envelope parameters.
    pub const TX_PARAMS: &[u8] = b"auth/tx_params";

    /// The key of an account's next nonce.
    pub fn nonce(addr: &Address) -> Vec<u8> {
        crate::state::key(NONCE_PREFIX, addr.as_bytes())
    }
}

/// The next nonce an account's transaction must carry (0 for a new account).
pub fn nonce<S: StateRead + ?Sized>(state: &S, addr: &Address) -> TxResult<u64> {
    Ok(state
        .get_scale::<u64>(&state_key::nonce(addr))?
        .unwrap_or(0))
}

/// Checks `tx_nonce` against the account's next nonce.
pub fn check_nonce<S: StateRead + ?Sized>(
    state: &S,
    addr: &Address,
    tx_nonce: u64,
) -> TxResult<()> {
    let expected = nonce(state, addr)?;
    if tx_nonce < expected {
        return Err(TxError::new(
            ErrorCode::NonceTooLow,
            format!("nonce {tx_nonce} of {addr} was already used; next nonce is {expected}"),
        ));
    }
    if tx_nonce > expected {
        return Err(TxError::new(
            ErrorCode::NonceGap,
            format!("nonce {tx_nonce} of {addr} is ahead of its next nonce {expected}"),
        ));
    }
    Ok(())
}

/// Advances an account's nonce by one.
pub fn bump_nonce<S: StateWrite + ?Sized>(state: &mut S, addr: &Address) -> TxResult<()> {
    let next = nonce(state, addr)?.checked_add(1).ok_or_else(|| {
        TxError::new(
            ErrorCode::NonceTooLow,
            format!("nonce of {addr} is exhausted"),
        )
    })?;
    state.put_scale(state_key::nonce(addr), &next);
    Ok(())
}

/// The chain id recorded at genesis.
pub fn chain_id<S: StateRead + ?Sized>(state: &S) -> TxResult<String> {
    state
        .get_scale::<String>(state_key::CHAIN_ID)?
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "chain id missing from state"))
}

/// The transaction envelope parameters.
pub fn tx_params<S: StateRead + ?Sized>(state: &S) -> TxResult<blyan_proto::params::TxParams> {
    state
        .get_scale(state_key::TX_PARAMS)?
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "tx params missing from state"))
}

/// The `auth` module: the chain id, transaction parameters and nonces.
#[derive(Debug, Clone, Copy, Default)]
pub struct Auth;

impl crate::module::Module for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn init_chain(
        &self,
        state: &mut dyn StateWrite,
        g: &crate::genesis::ChainGenesis,
    ) -> TxResult<()> {
        state.put_scale(state_key::CHAIN_ID.to_vec(), &g.chain_id);
        state.put_scale(state_key::TX_PARAMS.to_vec(), &g.tx_params);
        Ok(())
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &blyan_proto::query::QueryPath,
    ) -> Result<Option<crate::query::Answer>, crate::error::QueryError> {
        use crate::query::Answer;
        use blyan_proto::query::{AccountInfo, QueryPath};
        use parity_scale_codec::Encode;
        Ok(Some(match path {
            QueryPath::Nonce(a) => Answer::raw(state, state_key::nonce(a), 0u64.encode()),
            QueryPath::TxParams => Answer::raw(state, state_key::TX_PARAMS.to_vec(), Vec::new()),
            QueryPath::ChainId => Answer::raw(state, state_key::CHAIN_ID.to_vec(), Vec::new()),
            QueryPath::Account(a) => Answer::plain(
                AccountInfo {
                    address: *a,
                    nonce: nonce(state, a)?,
                    balance: crate::bank::balance(state, a)?,
                }
                .encode(),
            ),
            _ => return Ok(None),
        }))
    }
}
