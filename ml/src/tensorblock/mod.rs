//! TensorBlock: the on-chain / IPFS file format of one parameter block (an expert, a router,
//! a layer's backbone, the embeddings, the head), after the seeds' "Phase A: Zero-Copy
//! TensorBlock". A file holds the block's named tensors as contiguous, 64-byte-aligned,
//! little-endian data that is used straight from a memory map, plus a Merkle index over
//! fixed-size tiles whose root is the block's **payload hash**.
//!
//! # Layout (version 1, all integers little-endian)
//!
//! ```text
//! offset 0    header, 128 bytes
//!   0   magic        b"BLYT"
//!   4   version      u16 = 1
//!   6   header_len   u16 = 128
//!   8   flags        u32 = 0
//!   12  tensor_count u32
//!   16  table_offset u64 = 128          tensor table: tensor_count descriptors of 128 bytes
//!   24  data_offset  u64                start of the data region (64-byte aligned)
//!   32  data_len     u64                bytes in the data region (scales + tensor data + padding)
//!   40  index_offset u64 = data_offset + data_len   Merkle index: tile_count leaf hashes
//!   48  tile_size    u32                bytes per tile (a power of two, at least 64)
//!   52  tile_count   u32 = ceil(data_len / tile_size)
//!   56  file_len     u64 = index_offset + 32 * tile_count
//!   64  merkle_root  [u8; 32]           = the payload hash
//!   96  reserved     [u8; 32] = 0
//! offset 128  tensor descriptors (sorted by name, names unique), 128 bytes each
//!   0   name         [u8; 48]  UTF-8, zero padded, 1..=48 bytes
//!   48  dtype        u8   0 = f32, 1 = f16, 2 = bf16, 3 = int8
//!   49  layout       u8   0 = row-major (the only layout of version 1)
//!   50  quant        u8   0 = none, 1 = per-channel int8 (dtype int8, one f32 scale per
//!                         index of dimension 0: value = int8 * scale[row])
//!   51  rank         u8   0..=4
//!   52  reserved     u32 = 0
//!   56  shape        [u64; 4]  unused dimensions 0
//!   88  scales_offset u64, 96 scales_len u64   absolute; 0, 0 when quant = none
//!   104 data_offset  u64, 112 data_len u64     absolute; data_len = numel * dtype size
//!   120 reserved     u64 = 0
//! then zero padding to data_offset; the data region holds every tensor's scales and data,
//! each section starting on a 64-byte boundary, padding bytes zero; then the Merkle index.
//! ```
//!
//! # Payload hash (exact definition)
//!
//! With `H = sha3-256`, `leaf(b) = H(0x00 || b)` and `node(l, r) = H(0x01 || l || r)`:
//!
//! - leaf 0 is `leaf(file[0..64] || [0; 32] || file[96..data_offset])`: the header with its
//!   root field zeroed, every descriptor and the zero padding up to the data region;
//! - leaf `1 + i` is `leaf(tile i)`, tile `i` being bytes `[i * tile_size, min((i + 1) *
//!   tile_size, data_len))` of the data region;
//! - the tree is built level by level, pairing neighbours left to right; a level's odd last
//!   node is carried up unchanged; the single node left is the root.
//!
//! The root is stored in the header and is the block's payload hash (what the chain records).
//! Because leaf 0 commits to every header field and descriptor, and the tiles cover every data
//! byte, a file that hashes to the expected root is exactly the file that was published.
//! The Merkle index stores leaves `1..`; [`TensorBlock::open`] recomputes the root from leaf 0
//! and the index (cheap: 32 bytes per tile), after which each tile can be checked on its own
//! ([`TensorBlock::verify_tile`]) or all of them ([`TensorBlock::verify_all`]); a verifier
//! without the index can use [`merkle::MerkleProof`] for one tile.

mod error;
mod format;
pub mod merkle;
mod reader;
mod types;
mod writer;

pub use error::TensorBlockError;
pub use format::{HEADER_LEN, MAGIC, MAX_NAME_LEN, MAX_RANK, VERSION};
pub use merkle::PayloadHash;
pub use reader::{TensorBlock, TensorView};
pub use types::{DType, Layout, Quantization};
pub use writer::{TensorBlockWriter, DEFAULT_TILE_SIZE};

/// Result of TensorBlock operations.
pub type Result<T> = std::result::Result<T, TensorBlockError>;

#[cfg(test)]
mod tests;
