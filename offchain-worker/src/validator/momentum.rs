//! The outer momentum of a model's blocks, read from the chain: a learned version depends
//! on a `Momentum` block (the momentum after the step that made it, see
//! [`super::outer`]); a block whose head has none (its first version, or one its owner
//! published) has zero momentum.

use std::collections::BTreeMap;

use anyhow::Context;
use blyan_proto::dag::{BlockType, ParamBlock};
use blyan_proto::query::QueryPath;

use super::weights::BlockWeights;
use crate::chain::{DagQueries, RpcClient};
use crate::ipfs::{Cid, KuboClient};
use crate::tensorblock::{PayloadHash, TensorBlock};

/// Fetches `cid` from Kubo, at most `max` bytes.
pub(super) fn fetch(kubo: &KuboClient, cid: &str, max: u64) -> anyhow::Result<Vec<u8>> {
    let c: Cid = cid
        .parse()
        .map_err(|e| anyhow::anyhow!("CID {cid:?}: {e}"))?;
    Ok(kubo.cat(&c, max)?)
}

/// A TensorBlock recorded on chain (a version or a momentum): fetched, verified (its own
/// Merkle tiles), read as weights, with its payload hash (the caller compares it with the
/// chain's record).
pub(super) fn content(
    kubo: &KuboClient,
    v: &ParamBlock,
) -> anyhow::Result<(BlockWeights, PayloadHash)> {
    let bytes = fetch(kubo, &v.cid, v.size)?;
    let tb = TensorBlock::from_bytes(&bytes)?;
    tb.verify_all()?;
    Ok((
        BlockWeights::from_tensor_block(&v.name, &tb)?,
        tb.payload_hash(),
    ))
}

/// The `Momentum` block `v` depends on, if any.
pub(super) fn momentum_block(
    rpc: &RpcClient,
    v: &ParamBlock,
) -> anyhow::Result<Option<ParamBlock>> {
    for id in &v.depends_on {
        let b: ParamBlock = rpc.query(&QueryPath::Block(*id))?;
        if b.block_type == BlockType::Momentum {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// The momentum of each block of a base identified by `hashes` (name, payload hash of the
/// version it holds) in `model`, read at each block's current head; blocks without one are
/// left out (zero momentum). A head that is no longer the base's version is an error (the
/// heads moved: load the base again).
pub fn load(
    rpc: &RpcClient,
    kubo: &KuboClient,
    model: &str,
    hashes: &[(String, PayloadHash)],
) -> anyhow::Result<BTreeMap<String, BlockWeights>> {
    let mut out = BTreeMap::new();
    for (name, hash) in hashes {
        let head = rpc
            .head(model, name)
            .with_context(|| format!("the head of {name}"))?;
        if head.payload_hash != hash.0 {
            anyhow::bail!("the head of {name} moved while the base was loaded");
        }
        if let Some(m) = momentum_block(rpc, &head)? {
            let (w, got) = content(kubo, &m).with_context(|| format!("the momentum of {name}"))?;
            if got.0 != m.payload_hash {
                anyhow::bail!(
                    "the momentum of {name} ({}) hashes to {}, the chain records {}",
                    m.cid,
                    hex::encode(got.0),
                    hex::encode(m.payload_hash)
                );
            }
            out.insert(name.clone(), w);
        }
    }
    Ok(out)
}
