//! Fetching a Proof-of-Learning submission's content from IPFS the way a validator does:
//! every delta container by its CID, refusing more bytes than the submission declared and
//! checking its sha3-256 against the hash on chain before decoding it; the training
//! manifest likewise, within the chain's manifest size limit.

use blyan_proto::pol::{PolParams, SubmissionInfo};
use blyan_proto::query::QueryPath;

use super::RpcClient;
use crate::compress::{self, Decoded};
use crate::ipfs::{Cid, KuboClient};

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
    /// Kubo failed or the CID is malformed.
    #[error("submission {submission}, {part}: {message}")]
    Ipfs {
        /// Submission id.
        submission: u64,
        /// `delta of BLOCK` or `manifest`.
        part: String,
        /// What happened.
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
    let ipfs = |message: String| FetchError::Ipfs {
        submission: sub.id,
        part: part.clone(),
        message,
    };
    let cid: Cid = cid.parse().map_err(|e| ipfs(format!("CID {cid:?}: {e}")))?;
    let bytes = kubo.cat(&cid, max).map_err(|e| ipfs(e.to_string()))?;
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

/// Fetches, verifies and decodes every delta of `sub`.
pub fn fetch_deltas(
    kubo: &KuboClient,
    sub: &SubmissionInfo,
) -> Result<Vec<FetchedDelta>, FetchError> {
    sub.deltas
        .iter()
        .map(|d| {
            let bytes = fetch_checked(
                kubo,
                sub,
                format!("delta of {}", d.block),
                &d.cid,
                &d.hash,
                d.size,
            )?;
            let bad = |message: String| FetchError::Decode {
                submission: sub.id,
                block: d.block.clone(),
                message,
            };
            let decoded = compress::decode(&bytes).map_err(|e| bad(e.to_string()))?;
            if decoded.block != d.block {
                return Err(bad(format!("the container is for block {}", decoded.block)));
            }
            Ok(FetchedDelta {
                block: d.block.clone(),
                decoded_hash: compress::decoded_hash(&decoded),
                decoded,
                bytes,
            })
        })
        .collect()
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
