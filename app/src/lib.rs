//! `blyand`: Blyan's ABCI 2.0 application and its command-line interface.
//!
//! The [`node`] runs the deterministic runtime of `blyan-chain` under CometBFT, keeps the
//! committed state in a Jellyfish Merkle Tree over redb ([`store`]), and answers queries
//! with proofs. The rest is the CLI a wallet or operator uses: keys (Ethereum keystore
//! v3 files), transactions and queries over CometBFT's RPC.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod cli;
pub mod config;
pub mod genesis_bridge;
pub mod metrics;
pub mod node;
pub mod sigcache;
pub mod store;
pub mod upgrades;
