//! Blyan's off-chain worker library: the MoE model in candle, the TensorBlock format of its
//! parameter blocks, the synthetic corpus and its loaders, evaluation, and training.
//!
//! Workers see the chain only through queries and transactions; everything here is plain
//! local computation that every honest machine reproduces from the same seeds and bytes.
#![deny(clippy::unwrap_used, clippy::expect_used)]
// `unreachable_pub` (workspace lint) is left to the worker split of issue 13, which
// settles what each new crate exports.
#![allow(unreachable_pub)]

pub mod attack;
pub mod chain;
pub mod compress;
pub mod data;
pub mod defense;
pub mod eval;
pub mod ipfs;
pub mod miner;
pub mod model;
pub mod rng;
pub mod serve;
pub mod source;
pub mod tensorblock;
pub mod train;
pub mod validator;
