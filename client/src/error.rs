//! The errors of RPC calls, queries and sending.

use std::time::Duration;

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The RPC endpoint could not be reached, answered garbage, or returned a JSON-RPC
    /// error.
    #[error("chain RPC {url}: {message}")]
    Rpc {
        /// The endpoint.
        url: String,
        /// What happened.
        message: String,
    },
    /// The application refused the query (non-zero code).
    #[error("query {path}: code {code}: {log}")]
    Query {
        /// The query path.
        path: String,
        /// ABCI code.
        code: u32,
        /// ABCI log.
        log: String,
    },
    /// The query found nothing (an empty value).
    #[error("query {0}: not found")]
    NotFound(String),
    /// The value is not the SCALE encoding of the expected type.
    #[error("query {path}: bad SCALE value: {message}")]
    Decode {
        /// The query path.
        path: String,
        /// The codec error.
        message: String,
    },
    /// A transaction was not committed in time.
    #[error("transaction {hash} not committed within {timeout:?}")]
    Timeout {
        /// The transaction hash (hex).
        hash: String,
        /// How long it was waited for.
        timeout: Duration,
    },
}
