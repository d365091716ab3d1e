//! Blyan's off-chain worker library: the roles (miner, validator, the serving gateway), the
//! chain and Kubo clients, and the block source that loads a model from either.
//!
//! The deterministic ML (the MoE model, the TensorBlock format, compression, the defense,
//! training, the corpora and evaluation) lives in [`blyan_ml`]; its modules are re-exported
//! here so that `blyan_worker::model::…` and the like keep naming them.
#![deny(clippy::unwrap_used, clippy::expect_used)]
// `unreachable_pub` (workspace lint) is left to a later pass over what the roles export.
#![allow(unreachable_pub)]

pub use blyan_ml::{attack, compress, data, defense, eval, model, rng, tensorblock, train};

pub mod chain;
pub mod evolve;
pub mod ipfs;
pub mod miner;
pub mod serve;
pub mod source;
pub mod validator;
