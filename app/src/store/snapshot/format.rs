//! Snapshot format 1: what a snapshot and its chunks are, byte for byte.
//!
//! A snapshot of height `H` is the whole flat state at `H` (every `(key, value)` pair),
//! sorted by the JMT key hash `sha256(key)` and cut into chunks of about
//! [`CHUNK_TARGET_BYTES`] of pairs. A chunk is
//!
//! ```text
//! deflate( SCALE( (pairs: Vec<(key: Vec<u8>, value: Vec<u8>)>, proof: Vec<u8>) ) )
//! ```
//!
//! where `proof` is the borsh bytes of the JMT `SparseMerkleRangeProof` of the chunk's last
//! key at version `H`: the right siblings of its path. With the left part of the tree
//! rebuilt from all earlier chunks, it lets the restoring node check every chunk against
//! the trusted app hash as it arrives, not only at the end.
//!
//! The snapshot's metadata ([`SnapshotMetadata`], SCALE) lists the sha256 of every chunk (as
//! served, compressed); the snapshot hash CometBFT compares between peers is the sha256 of
//! those hashes concatenated.

use std::io::{Read as _, Write as _};

use parity_scale_codec::{Decode, DecodeAll, Encode};
use sha2::{Digest, Sha256};

/// The only snapshot format this node takes and serves.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Pairs (keys plus values plus 8 bytes each) per chunk before compression; a chunk ends
/// at the first pair that would pass this. Compressed chunks stay well under CometBFT's
/// 16 MB chunk message and under 4 MiB unless a single value is larger than that.
pub const CHUNK_TARGET_BYTES: usize = 2 << 20;

/// The most bytes a chunk may inflate to (a bound against compression bombs).
pub const MAX_CHUNK_RAW_BYTES: u64 = 64 << 20;

/// What `ListSnapshots` carries in `Snapshot.metadata` (SCALE).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SnapshotMetadata {
    /// The app hash (JMT root) at the snapshot height, as the exporting node computed it.
    /// Restoring checks it against the app hash CometBFT's light client trusts.
    pub app_hash: [u8; 32],
    /// sha256 of each chunk, in order.
    pub chunk_hashes: Vec<[u8; 32]>,
    /// How many `(key, value)` pairs the snapshot holds.
    pub pairs: u64,
    /// Their size before compression (keys plus values).
    pub raw_bytes: u64,
}

/// A snapshot as listed: CometBFT's `Snapshot` fields, with the metadata decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The height whose state it holds.
    pub height: u64,
    /// [`SNAPSHOT_FORMAT`].
    pub format: u32,
    /// The chunk hashes and totals.
    pub metadata: SnapshotMetadata,
}

impl SnapshotInfo {
    /// Number of chunks.
    pub fn chunks(&self) -> u32 {
        u32::try_from(self.metadata.chunk_hashes.len()).unwrap_or(u32::MAX)
    }

    /// The snapshot hash: sha256 of the chunk hashes concatenated.
    pub fn hash(&self) -> [u8; 32] {
        snapshot_hash(&self.metadata.chunk_hashes)
    }

    /// The SCALE bytes of the metadata, for `Snapshot.metadata`.
    pub fn metadata_bytes(&self) -> Vec<u8> {
        self.metadata.encode()
    }
}

/// sha256 of the chunk hashes concatenated.
pub fn snapshot_hash(chunk_hashes: &[[u8; 32]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for c in chunk_hashes {
        h.update(c);
    }
    h.finalize().into()
}

/// sha256 of a chunk's bytes.
pub fn chunk_hash(chunk: &[u8]) -> [u8; 32] {
    Sha256::digest(chunk).into()
}

/// Encodes one chunk: its pairs (in key-hash order) and the range proof of the last.
pub fn encode_chunk(pairs: &[(Vec<u8>, Vec<u8>)], proof: &[u8]) -> std::io::Result<Vec<u8>> {
    let raw = (pairs, proof).encode();
    let mut z = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(raw.len() / 2),
        flate2::Compression::fast(),
    );
    z.write_all(&raw)?;
    z.finish()
}

/// A decoded chunk.
pub type ChunkBody = (Vec<(Vec<u8>, Vec<u8>)>, Vec<u8>);

/// Decodes one chunk; refuses one that inflates past [`MAX_CHUNK_RAW_BYTES`] or has
/// trailing bytes.
pub fn decode_chunk(chunk: &[u8]) -> Result<ChunkBody, String> {
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(chunk)
        .take(MAX_CHUNK_RAW_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("chunk does not inflate: {e}"))?;
    if raw.len() as u64 > MAX_CHUNK_RAW_BYTES {
        return Err(format!("chunk inflates past {MAX_CHUNK_RAW_BYTES} bytes"));
    }
    ChunkBody::decode_all(&mut raw.as_slice()).map_err(|e| format!("chunk does not decode: {e}"))
}
