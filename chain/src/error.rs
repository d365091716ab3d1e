//! The error every state transition returns: a numbered code and a readable log.

use blyan_proto::ErrorCode;

/// A failed transaction or message: its code goes into the ABCI result, its log explains.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("code {code}: {log}")]
pub struct TxError {
    /// The numbered code.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub log: String,
}

impl TxError {
    /// Builds an error.
    pub fn new(code: ErrorCode, log: impl Into<String>) -> Self {
        TxError {
            code,
            log: log.into(),
        }
    }
}

/// Shorthand for results of state transitions.
pub type TxResult<T> = Result<T, TxError>;
