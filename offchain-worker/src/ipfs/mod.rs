//! Kubo (IPFS) as Blyan's content store.
//!
//! - [`KuboClient`]: a blocking client of Kubo's HTTP RPC API (`add`, `cat`, `pin/add`,
//!   `id`, `version`, `swarm/connect`, `swarm/peers`).
//! - Every add uses the fixed [`ADD_PARAMS`] (CIDv1, raw leaves, 256 KiB chunks, sha2-256,
//!   balanced DAG of at most 174 links, no inlining, pinned), so the same bytes give the
//!   same CID on every machine whatever the node's `Import.*` config says; the CID Kubo
//!   answers is checked against the one computed locally ([`cid_of_bytes`],
//!   [`cid_of_reader`]), and so is every fetched file.
//! - [`KuboSource`]: a [`crate::source::BlockSource`] that fetches each block by its CID
//!   into a cache directory; [`crate::source::load_model`] then checks every block against
//!   the payload hash the chain records, so neither Kubo nor the CID is trusted.
//! - [`add_model`]: adds every block of a model directory and records the CIDs in its
//!   `meta.json`.
//!
//! Why not `ipfs-api-backend-hyper`: its only release (0.6, 2023) needs `multiaddr` 0.17 →
//! `multihash` 0.17 → `core2` 0.4, and every `core2` release is yanked from crates.io, so it
//! no longer resolves in a fresh lockfile; it would also bring hyper 0.14 and tokio into an
//! otherwise blocking worker. Five endpoints over `ureq` (already in the workspace) are less.

mod cid;
mod client;
mod source;
mod unixfs;

pub use cid::{Cid, CidError, CODEC_DAG_PB, CODEC_RAW};
pub use client::{KuboClient, PeerInfo, DEFAULT_TIMEOUT};
pub use source::{add_model, KuboSource};
pub use unixfs::{cid_of_bytes, cid_of_reader, CHUNK_SIZE, MAX_LINKS};

use std::path::PathBuf;

/// The parameters of every `/api/v0/add`: deterministic CIDs (and the file pinned).
pub const ADD_PARAMS: &[(&str, &str)] = &[
    ("cid-version", "1"),
    ("raw-leaves", "true"),
    ("chunker", "size-262144"),
    ("hash", "sha2-256"),
    ("trickle", "false"),
    ("max-file-links", "174"),
    ("inline", "false"),
    ("pin", "true"),
    ("wrap-with-directory", "false"),
    ("progress", "false"),
    ("fast-provide-root", "false"),
];

/// Errors of the Kubo client and source.
#[derive(Debug, thiserror::Error)]
pub enum IpfsError {
    /// Kubo answered with an error.
    #[error("kubo {endpoint}: HTTP {status}: {message}")]
    Api {
        /// The RPC endpoint (`cat`, `add`, …).
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// Kubo's message.
        message: String,
    },
    /// The API could not be reached or the connection broke.
    #[error("kubo {endpoint} at {url}: {message}")]
    Transport {
        /// The RPC endpoint.
        endpoint: &'static str,
        /// The API's base URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// Kubo's answer is not what the API documents.
    #[error("kubo {endpoint}: unexpected answer: {message}")]
    Decode {
        /// The RPC endpoint.
        endpoint: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A CID that is not CIDv1/sha2-256/raw or dag-pb in base32.
    #[error(transparent)]
    Cid(#[from] CidError),
    /// Kubo's CID for added bytes differs from the one the fixed parameters give (a node
    /// that ignores or overrides them).
    #[error("kubo add answered {kubo}, but the fixed add parameters give {local} for these bytes")]
    CidMismatch {
        /// What Kubo answered.
        kubo: Cid,
        /// What the bytes give locally.
        local: Cid,
    },
    /// Content larger than the caller's limit.
    #[error("{cid}: more than {limit} bytes")]
    TooLarge {
        /// The CID.
        cid: Cid,
        /// The limit.
        limit: u64,
    },
    /// Fetched content of another size than expected (a truncated transfer, or a CID that
    /// names other content).
    #[error("{cid}: fetched {got} bytes, expected {expected}")]
    SizeMismatch {
        /// The CID.
        cid: Cid,
        /// Bytes received.
        got: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// Fetched bytes whose CID under the fixed parameters is not the one asked for.
    #[error("{cid}: the fetched bytes have CID {actual}")]
    ContentMismatch {
        /// The CID asked for.
        cid: Cid,
        /// The CID of what came back.
        actual: Cid,
    },
    /// A block without a CID in the manifest.
    #[error("no CID recorded for this block")]
    MissingCid,
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not an API address.
    #[error("bad Kubo API address {0:?} (use http://host:port or /ip4/…/tcp/PORT)")]
    BadAddress(String),
}

#[cfg(test)]
mod tests;
