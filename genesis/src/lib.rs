//! Blyan genesis: the `app_state` that CometBFT's `genesis.json` carries, its checks, the
//! tokenomics of the initial allocation, editing of `genesis.json` itself, and generation of
//! an N-validator localnet on loopback ports.
//!
//! - [`app_state`]: [`GenesisAppState`] and its parts, serde JSON with unknown fields denied;
//!   [`GenesisAppState::validate`] reports every problem as its own [`GenesisError`] variant.
//! - [`tokenomics`]: the hard cap, the genesis split and the emission schedule.
//! - [`doc`]: [`GenesisDoc`], a `genesis.json` read, edited and written back.
//! - [`localnet`]: `cometbft init` per node, shared genesis, config edits and a keys file.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod app_state;
pub mod doc;
pub mod localnet;
pub mod tokenomics;
pub mod validate;

pub use app_state::{GenesisAccount, GenesisAppState, GenesisModel, GenesisValidator};
pub use doc::{DocError, GenesisDoc};
pub use localnet::{generate, LocalnetError, LocalnetLayout, LocalnetSpec};
pub use tokenomics::{default_allocation, TokenomicsError};
pub use validate::GenesisError;
