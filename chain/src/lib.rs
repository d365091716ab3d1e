//! Blyan's deterministic runtime.
//!
//! Plain Rust over the [`state::StateRead`]/[`state::StateWrite`] traits: no I/O, no wall
//! clock, no randomness, no floats, no hash-map iteration, no panics on any input. Each
//! module owns a key prefix, its messages, its events and its block hooks. The ABCI glue
//! (crate `blyan-app`) feeds it blocks; unit tests feed it an in-memory state.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::float_arithmetic,
    clippy::arithmetic_side_effects
)]

pub mod auth;
pub mod bank;
pub mod consensus;
pub mod dag;
pub mod error;
pub mod fees;
pub mod genesis;
pub mod gov;
pub mod inference;
pub mod invariants;
pub mod math;
pub mod module;
pub mod modules;
pub mod pol;
pub mod query;
pub mod runtime;
pub mod staking;
pub mod state;
pub mod txcheck;
pub mod upgrade;

pub use error::{InvariantError, QueryError, TxError};
pub use runtime::{BlockContext, BlockExecutor, MsgContext, TxOutcome, VerifiedTx};
pub use state::{MemState, Overlay, StateRead, StateWrite};
