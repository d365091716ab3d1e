//! Blyan's client: everything a wallet, the `blyand` CLI, an off-chain worker or a test
//! needs to talk to a Blyan node through CometBFT's JSON-RPC, and nothing of the chain's
//! own code (only the wire types of `blyan-proto`).
//!
//! - [`rpc`]: [`RpcClient`], typed `abci_query` (at the latest height or a pinned one, with
//!   proof bytes when asked), `broadcast_tx_sync`, waiting for a transaction by hash,
//!   `status`, and raw JSON-RPC calls.
//! - [`follow`]: [`BlockPoller`], following committed blocks and their results from a
//!   height by polling `block` and `block_results`.
//! - [`sender`]: [`TxSender`], one signer sending through one node: it tracks the account
//!   nonce (fetched once, bumped locally, re-fetched on a nonce error) and prices gas from
//!   the chain's `FeeParams` and base fee plus a tip.
//! - [`proof`]: checking a state proof from `abci_query` against a header's app hash, as a
//!   light client does.
//! - [`keystore`]: a directory of Ethereum keystore v3 files, one per named key.
//! - `fixtures` (feature `fixtures`): test fixtures, a loopback-only Kubo node.

pub mod error;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod follow;
pub mod keystore;
pub mod proof;
pub mod rpc;
pub mod sender;
#[cfg(test)]
mod testserver;

pub use error::ClientError;
pub use follow::{Block, BlockPoller};
pub use keystore::{Keyring, KeystoreError};
pub use rpc::{AbciEvent, BroadcastResponse, QueryResponse, RpcClient, TxResult};
pub use sender::{Committed, FeeOptions, Sent, TxSender, DEFAULT_TIP};

/// The result type of this crate's RPC calls.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
