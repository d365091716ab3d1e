//! The miner's delta compression pipeline (seeds §11.5/§13 "Multi-Layer Delta
//! Compression"): a block's weight delta (new − base, named f32 tensors) goes through
//! optional low-rank factorisation ([`LowRank`]), top-k sparsification with error feedback
//! ([`TopK`], [`ErrorFeedback`]) and INT8 quantisation with per-row scales, into one
//! self-describing, hashed container ([`encode`] → [`Encoded`]). [`decode`] checks the
//! container byte by byte (it never trusts a miner) and rebuilds the f32 tensors with plain
//! ordered loops, so every validator gets bit-identical values ([`decoded_hash`]).
//!
//! Encoding is deterministic on one machine (fixed seeds, no threads); decoding is
//! deterministic everywhere (IEEE f32 multiply/add in a fixed order, no BLAS, no FMA
//! contraction in Rust).
//!
//! # Container (version 1, little-endian)
//!
//! ```text
//! b"BLYD"  version u16 = 1  reserved u16 = 0
//! pipeline spec  u16 len + UTF-8 (canonical Pipeline Display, e.g. "topk:0.02,int8")
//! block name     u16 len + UTF-8 (1..=255 bytes)
//! tensor count u32, total values u64 (sum of every tensor's element count)
//! per tensor (names strictly increasing):
//!   name u16 len + UTF-8 (1..=255), rank u8 (0..=8), dims u64 × rank, encoding u8:
//!   0 dense f32:  numel × f32
//!   1 dense int8: rows × f32 scales, numel × i8     (rows = dim 0 for rank ≥ 2, else 1)
//!   2 sparse:     SPARSE
//!   3 low-rank (2-D only): r u32, kind u8 (0 f32, 1 int8, 2 int4),
//!       int8: r × f32 U column scales, r × f32 V row scales, m·r × i8 U, r·n × i8 V
//!       int4: as int8 but codes in -7..=7 packed two per byte (code 2i in the low nibble
//!             of byte i, 2i+1 in the high nibble, two's complement; an odd count pads
//!             the last high nibble with 0): ⌈m·r/2⌉ bytes U, ⌈r·n/2⌉ bytes V
//!       f32:  m·r × f32 U, r·n × f32 V
//!     residual flag u8 (0 none, 1 SPARSE follows)
//! SPARSE = nnz u64, kind u8 (0 f32, 1 int8), nnz delta-varint indices (LEB128 of the first
//!   index, then of index − previous − 1), int8: one f32 scale per distinct row among the
//!   indices (ascending), then nnz × i8 values; f32: nnz × f32 values
//! sha3-256 of every byte above (32 bytes)
//! ```
//!
//! A low-rank tensor has both dimensions above [`LOWRANK_MIN_DIM`] and `r · (m + n) < m · n`
//! (fewer stored factor values than the tensor has, as the encoder only ever writes), so
//! its reconstruction costs fewer than `m · n · min(m, n)` multiply-adds.
//!
//! A validator decodes with [`decode_for`] against the base block's [`BlockLayout`]: the
//! block name, every tensor name and shape and the total value count are checked as they
//! are read, before any value is allocated or reconstructed, so the work is bounded by the
//! size of the base block whatever the container claims.
//!
//! INT8 codes are in `-127..=127`, INT4 codes in `-7..=7`, scales finite and non-negative, f32 values finite;
//! anything else, a wrong hash, trailing bytes or a size over the decode limit is an error.

mod container;
mod decode;
mod encode;
mod feedback;
mod layout;
pub mod lowrank;
mod pipeline;
pub mod quant;
pub mod sparse;

use sha3::{Digest, Sha3_256};

pub use decode::{
    decode, decode_for, decode_with_limit, decoded_hash, delta_to_tensors, inspect,
    tensors_to_delta, ContainerInfo, TensorInfo,
};
pub use encode::encode;
pub use feedback::ErrorFeedback;
pub use layout::BlockLayout;
pub use pipeline::{LowRank, Pipeline, TopK, DEFAULT_ENERGY_MAX_RANK, MAX_RANK, MAX_SPEC_LEN};

/// Container magic.
pub const MAGIC: &[u8; 4] = b"BLYD";
/// Container version.
pub const VERSION: u16 = 1;
/// Longest block or tensor name, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Highest tensor rank (number of dimensions).
pub const MAX_DIMS: usize = 8;
/// Low-rank applies only to matrices whose two dimensions both exceed this.
pub const LOWRANK_MIN_DIM: usize = 16;
/// Default cap on decoded values for [`decode`]: 2^28 (1 GiB of f32).
pub const DEFAULT_MAX_VALUES: usize = 1 << 28;

/// One named tensor of a delta: row-major f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaTensor {
    /// Tensor name within its block (`w1`, `attn.q`, …).
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major values (`shape` product of them).
    pub values: Vec<f32>,
}

/// Figures of one encoding.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Number of tensor values.
    pub values: u64,
    /// Raw size: 4 bytes per value.
    pub raw_bytes: u64,
    /// Container size.
    pub encoded_bytes: u64,
    /// `raw_bytes / encoded_bytes`.
    pub ratio: f64,
    /// `‖x − decoded‖₂ / ‖x‖₂` where `x` is what was compressed (the delta plus any carried
    /// residual); 0 for an all-zero `x`.
    pub l2_error_rel: f64,
}

/// An encoded delta.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// The container.
    pub bytes: Vec<u8>,
    /// sha3-256 of `bytes` (what a miner publishes as the delta hash).
    pub hash: [u8; 32],
    /// Sizes and error.
    pub stats: Stats,
}

/// A decoded delta.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The block it is for.
    pub block: String,
    /// Its tensors, sorted by name.
    pub tensors: Vec<DeltaTensor>,
}

/// Errors of encoding and decoding.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// A bad pipeline spec or parameter.
    #[error("pipeline: {0}")]
    Pipeline(String),
    /// Input to the encoder that cannot be encoded.
    #[error("invalid input: {0}")]
    Input(String),
    /// The container's trailing hash does not match its content.
    #[error("hash mismatch: container says {stored}, content hashes to {computed}")]
    HashMismatch {
        /// Hex of the stored hash.
        stored: String,
        /// Hex of the computed hash.
        computed: String,
    },
    /// The container is not well formed.
    #[error("malformed container: {0}")]
    Malformed(String),
    /// The container claims more values than the decoder accepts.
    #[error("container claims {claimed} values, limit is {limit}")]
    TooLarge {
        /// Values claimed.
        claimed: u128,
        /// The limit.
        limit: usize,
    },
    /// The container does not fit the block it is decoded for ([`decode_for`]): another
    /// block, a tensor the block does not have, another shape, or more values than the
    /// block holds. Found before anything is allocated for the values.
    #[error("does not fit the base block: {0}")]
    Layout(String),
    /// A NaN, infinity or negative scale in the data or in the result.
    #[error("non-finite value")]
    NonFinite,
    /// A file operation failed.
    #[error("io: {0}")]
    Io(String),
    /// A tensor operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Appends a u16-length-prefixed string.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// sha3-256 of `bytes`.
pub fn sha3(bytes: &[u8]) -> [u8; 32] {
    Sha3_256::digest(bytes).into()
}

#[cfg(any(test, feature = "test-support"))]
pub mod crafted;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_feedback;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_int4;
#[cfg(test)]
mod tests_layout;
