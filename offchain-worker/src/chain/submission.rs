//! Fetching a Proof-of-Learning submission's content from IPFS the way a validator does:
//! every delta container by its CID, refusing more bytes than the submission declared (and,
//! given the base block, than any delta of it can take) and checking its sha3-256 against
//! the hash on chain before decoding it (against the base block's layout when given); the
//! training manifest likewise, within the chain's manifest size limit.

use blyan_proto::pol::{DeltaRef, PolParams, SubmissionInfo};
use blyan_proto::query::QueryPath;

use super::RpcClient;
use crate::compress::{self, BlockLayout, CompressError, Decoded};
use crate::ipfs::{Cid, IpfsError, KuboClient};

/// Errors of fetching a submission; each names the submission and the part at fault.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The chain could not be asked.
    #[error("submission {submission}: {source}")]
    Chain {
        /// Submission id.
        submission: u64,
        /// The cause.
        source: super::ChainError,
    },
    /// Kubo could not give the content (not found in time, transport failure), or the
    /// round's fetch budget ran out first: the content may exist, nobody could read it.
    #[error("submission {submission}, {part}: {message}")]
    Ipfs {
        /// Submission id.
        submission: u64,
        /// `delta of BLOCK` or `manifest`.
        part: String,
        /// What happened.
        message: String,
    },
    /// The CID on chain is malformed, or its content is larger than the submission
    /// declared (or than any delta of the block can be): not the content the chain records.
    #[error("submission {submission}, {part}: {message}")]
    Content {
        /// Submission id.
        submission: u64,
        /// `delta of BLOCK` or `manifest`.
        part: String,
        /// What is wrong.
        message: String,
    },
    /// The container does not fit the base block (another block, a tensor the block does
    /// not have, another shape, more values than the block holds).
    #[error("submission {submission}, delta of {block}: {message}")]
    Shape {
        /// Submission id.
        submission: u64,
        /// Block.
        block: String,
        /// What does not fit.
        message: String,
    },
    /// The content's hash is not the one on chain.
    #[error("submission {submission}, {part}: content hashes to {got}, the chain records {want}")]
    HashMismatch {
        /// Submission id.
        submission: u64,
        /// `delta of BLOCK` or `manifest`.
        part: String,
        /// sha3-256 of what was fetched.
        got: String,
        /// The hash on chain.
        want: String,
    },
    /// The container does not decode, or decodes to another block.
    #[error("submission {submission}, delta of {block}: {message}")]
    Decode {
        /// Submission id.
        submission: u64,
        /// Block.
        block: String,
        /// What is wrong.
        message: String,
    },
}

/// One fetched and decoded delta.
#[derive(Debug, Clone)]
pub struct FetchedDelta {
    /// Block.
    pub block: String,
    /// The container's bytes.
    pub bytes: Vec<u8>,
    /// The decoded delta.
    pub decoded: Decoded,
    /// [`compress::decoded_hash`] of it: equal on every machine.
    pub decoded_hash: [u8; 32],
}

fn fetch_checked(
    kubo: &KuboClient,
    sub: &SubmissionInfo,
    part: String,
    cid: &str,
    hash: &[u8; 32],
    max: u64,
) -> Result<Vec<u8>, FetchError> {
    let content = |message: String| FetchError::Content {
        submission: sub.id,
        part: part.clone(),
        message,
    };
    let cid: Cid = cid
        .parse()
        .map_err(|e| content(format!("CID {cid:?}: {e}")))?;
    let bytes = kubo.cat(&cid, max).map_err(|e| match e {
        IpfsError::TooLarge { .. } => content(e.to_string()),
        e => FetchError::Ipfs {
            submission: sub.id,
            part: part.clone(),
            message: e.to_string(),
        },
    })?;
    let got = compress::sha3(&bytes);
    if &got != hash {
        return Err(FetchError::HashMismatch {
            submission: sub.id,
            part,
            got: hex::encode(got),
            want: hex::encode(hash),
        });
    }
    Ok(bytes)
}

/// The submission record.
pub fn submission(rpc: &RpcClient, id: u64) -> Result<SubmissionInfo, FetchError> {
    rpc.query(&QueryPath::Submission(id))
        .map_err(|source| FetchError::Chain {
            submission: id,
            source,
        })
}

/// Fetches, verifies and decodes every delta of `sub` (see [`fetch_delta`], without a
/// layout).
pub fn fetch_deltas(
    kubo: &KuboClient,
    sub: &SubmissionInfo,
) -> Result<Vec<FetchedDelta>, FetchError> {
    sub.deltas
        .iter()
        .map(|d| fetch_delta(kubo, sub, d, None))
        .collect()
}

/// Fetches delta `d` of `sub` (at most its declared size), checks its sha3-256 against the
/// chain's and decodes it. With the base block's `layout` (what a validator passes), at
/// most [`BlockLayout::max_container_bytes`] are read and the container is decoded with
/// [`compress::decode_for`], so nothing bigger than the base block is ever allocated.
pub fn fetch_delta(
    kubo: &KuboClient,
    sub: &SubmissionInfo,
    d: &DeltaRef,
    layout: Option<&BlockLayout>,
) -> Result<FetchedDelta, FetchError> {
    let max = layout.map_or(d.size, |l| d.size.min(l.max_container_bytes()));
    let bytes = fetch_checked(
        kubo,
        sub,
        format!("delta of {}", d.block),
        &d.cid,
        &d.hash,
        max,
    )?;
    decode_delta(sub, d, bytes, layout)
}

/// Decodes the fetched container `bytes` of delta `d` of `sub` (against `layout` when
/// given: see [`fetch_delta`]).
pub fn decode_delta(
    sub: &SubmissionInfo,
    d: &DeltaRef,
    bytes: Vec<u8>,
    layout: Option<&BlockLayout>,
) -> Result<FetchedDelta, FetchError> {
    let bad = |message: String| FetchError::Decode {
        submission: sub.id,
        block: d.block.clone(),
        message,
    };
    let decoded = match layout {
        Some(l) => compress::decode_for(&bytes, l),
        None => compress::decode(&bytes),
    }
    .map_err(|e| match e {
        CompressError::Layout(message) => FetchError::Shape {
            submission: sub.id,
            block: d.block.clone(),
            message,
        },
        e => bad(e.to_string()),
    })?;
    if decoded.block != d.block {
        return Err(bad(format!("the container is for block {}", decoded.block)));
    }
    Ok(FetchedDelta {
        block: d.block.clone(),
        decoded_hash: compress::decoded_hash(&decoded),
        decoded,
        bytes,
    })
}

/// Fetches and verifies the training manifest of `sub` (at most the chain's
/// `max_manifest_bytes` and the declared size).
pub fn fetch_manifest(
    rpc: &RpcClient,
    kubo: &KuboClient,
    sub: &SubmissionInfo,
) -> Result<serde_json::Value, FetchError> {
    let params: PolParams =
        rpc.query(&QueryPath::PolParams)
            .map_err(|source| FetchError::Chain {
                submission: sub.id,
                source,
            })?;
    let max = sub.manifest_size.min(params.max_manifest_bytes);
    let bytes = fetch_checked(
        kubo,
        sub,
        "manifest".into(),
        &sub.manifest_cid,
        &sub.manifest_hash,
        max,
    )?;
    serde_json::from_slice(&bytes).map_err(|e| FetchError::Ipfs {
        submission: sub.id,
        part: "manifest".into(),
        message: format!("not JSON: {e}"),
    })
}
