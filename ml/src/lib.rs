//! Blyan's deterministic ML library: the MoE model in candle, the TensorBlock format of its
//! parameter blocks, delta compression, the aggregation defense (and the attacks it is
//! measured against), training, the synthetic and text corpora, and evaluation.
//!
//! Nothing here touches the chain, the network or a block store: it is plain local
//! computation that every honest machine reproduces from the same seeds and bytes. The
//! worker's roles and CLI (`blyan-worker`) build on it.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod attack;
pub mod compress;
pub mod data;
pub mod defense;
pub mod eval;
pub mod model;
pub mod rng;
pub mod tensorblock;
pub mod train;
