//! Errors of the TensorBlock format.

use std::path::PathBuf;

use super::PayloadHash;

/// Everything that can go wrong writing, opening or verifying a TensorBlock.
#[derive(Debug, thiserror::Error)]
pub enum TensorBlockError {
    /// Reading, mapping or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file ends before a section it declares (or is shorter than a header).
    #[error("truncated TensorBlock: {what} needs {needed} bytes, the file has {len}")]
    Truncated {
        /// The section that does not fit.
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        len: u64,
    },
    /// The file does not start with `b"BLYT"`.
    #[error("not a TensorBlock: magic is {0:02x?}, expected \"BLYT\"")]
    BadMagic([u8; 4]),
    /// A version this build cannot read.
    #[error("unsupported TensorBlock version {0} (this build reads version 1)")]
    UnsupportedVersion(u16),
    /// A header or descriptor field is out of range or inconsistent.
    #[error("invalid TensorBlock header: {0}")]
    InvalidHeader(String),
    /// A tensor's declared length does not match its shape and dtype, or data handed to the
    /// writer does not match the shape.
    #[error("tensor {tensor}: shape {shape:?} needs {expected} bytes, found {actual}")]
    ShapeMismatch {
        /// The tensor.
        tensor: String,
        /// Its shape.
        shape: Vec<u64>,
        /// Bytes the shape and dtype need.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The header, descriptors and Merkle index do not hash to the root in the header.
    #[error("TensorBlock root mismatch: header says {stored}, header + index hash to {computed}")]
    RootMismatch {
        /// Root stored in the header.
        stored: PayloadHash,
        /// Root recomputed from leaf 0 and the index.
        computed: PayloadHash,
    },
    /// A data tile does not hash to its index entry.
    #[error("corrupt tile {tile} of {tile_count}: index says {expected}, tile hashes to {actual}")]
    CorruptTile {
        /// The tile (0-based).
        tile: u32,
        /// Number of tiles.
        tile_count: u32,
        /// Leaf hash in the index.
        expected: PayloadHash,
        /// Leaf hash of the bytes.
        actual: PayloadHash,
    },
    /// The file is a valid TensorBlock but not the one expected (e.g. by the chain).
    #[error("payload hash mismatch: expected {expected}, file has {actual}")]
    PayloadHashMismatch {
        /// The hash the caller expected.
        expected: PayloadHash,
        /// The file's root.
        actual: PayloadHash,
    },
    /// A tile index past the last tile.
    #[error("tile {tile} out of range ({tile_count} tiles)")]
    TileOutOfRange {
        /// The requested tile.
        tile: u32,
        /// Number of tiles.
        tile_count: u32,
    },
    /// No tensor of that name in the block.
    #[error("no tensor named {0:?} in this TensorBlock")]
    NoSuchTensor(String),
    /// A view of the wrong element type was asked for.
    #[error("tensor {tensor} is {actual:?}, not {expected:?}")]
    WrongDType {
        /// The tensor.
        tensor: String,
        /// The dtype asked for.
        expected: super::DType,
        /// The tensor's dtype.
        actual: super::DType,
    },
    /// The data cannot be viewed in place (misaligned buffer or big-endian host).
    #[error("tensor {0}: data cannot be viewed in place on this host")]
    Unviewable(String),
    /// Bad input to the writer (duplicate or invalid name, bad tile size, rank).
    #[error("TensorBlock writer: {0}")]
    Writer(String),
    /// Building a candle tensor failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}
