//! Replaying a model's history (DESIGN.md, Proof-of-Learning step 6): for every block,
//! start from its first version (fetched by CID, verified), apply each learned version's
//! recorded aggregate delta in order (fetched by CID, sha3 checked, decoded, added in a
//! plain f32 loop, written as a TensorBlock the way validators write it) and check that the
//! result's payload hash is the one the chain recorded for that version. A version
//! published without a delta (an owner's update) restarts the replay from its content.

use blyan_proto::dag::{BlockType, ParamBlock};
use blyan_proto::query::QueryPath;
use serde::Serialize;

use super::weights::BlockWeights;
use crate::chain::RpcClient;
use crate::compress;
use crate::ipfs::{Cid, KuboClient};
use crate::model::{MetaConfig, Model};
use crate::tensorblock::{PayloadHash, TensorBlock};

/// One version of one block, replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayRow {
    /// Block name.
    pub block: String,
    /// Version (SemVer).
    pub version: String,
    /// `first` (the first version's content), `delta` (replayed from its delta) or
    /// `published` (a version without a delta: its content).
    pub source: String,
    /// The delta's CID (`delta` rows).
    pub delta_cid: String,
    /// The payload hash the chain records, hex.
    pub recorded: String,
    /// The payload hash the replay produced (or the fetched content has), hex.
    pub replayed: String,
    /// Whether they are equal.
    pub ok: bool,
}

/// Applies one recorded delta container to `cur`: checks its sha3 against `delta_hash`,
/// decodes it, checks it is for `cur`'s block, adds it ([`BlockWeights::apply`]) and writes
/// the TensorBlock; returns the new weights and their payload hash.
pub fn replay_step(
    cur: &BlockWeights,
    container: &[u8],
    delta_hash: &[u8; 32],
) -> anyhow::Result<(BlockWeights, PayloadHash)> {
    let got = compress::sha3(container);
    if &got != delta_hash {
        anyhow::bail!(
            "delta of {} hashes to {}, the chain records {}",
            cur.block,
            hex::encode(got),
            hex::encode(delta_hash)
        );
    }
    let d = compress::decode(container)?;
    if d.block != cur.block {
        anyhow::bail!("the delta is for block {}, not {}", d.block, cur.block);
    }
    let next = cur.apply(&d.tensors)?;
    let (_, hash) = next.to_tensor_block()?;
    Ok((next, hash))
}

fn fetch(kubo: &KuboClient, cid: &str, max: u64) -> anyhow::Result<Vec<u8>> {
    let c: Cid = cid
        .parse()
        .map_err(|e| anyhow::anyhow!("CID {cid:?}: {e}"))?;
    Ok(kubo.cat(&c, max)?)
}

/// A version's content: fetched, its payload hash checked, read as weights.
fn content(kubo: &KuboClient, v: &ParamBlock) -> anyhow::Result<(BlockWeights, PayloadHash)> {
    let bytes = fetch(kubo, &v.cid, v.size)?;
    let tb = TensorBlock::from_bytes(&bytes)?;
    tb.verify_all()?;
    Ok((
        BlockWeights::from_tensor_block(&v.name, &tb)?,
        tb.payload_hash(),
    ))
}

/// Replays every block of `model`; one row per version, oldest first, blocks in load order.
pub fn replay(rpc: &RpcClient, kubo: &KuboClient, model: &str) -> anyhow::Result<Vec<ReplayRow>> {
    let info = rpc.model_info(model)?;
    let meta: MetaConfig = serde_json::from_str(&info.meta_json)?;
    let mut rows = Vec::new();
    for name in Model::block_names(&meta) {
        let name = name.to_string();
        let history: Vec<ParamBlock> =
            rpc.query(&QueryPath::History(model.to_string(), name.clone()))?;
        let mut cur: Option<BlockWeights> = None;
        for v in &history {
            let mut delta = None;
            for id in &v.depends_on {
                let b: ParamBlock = rpc.query(&QueryPath::Block(*id))?;
                if b.block_type == BlockType::Delta {
                    delta = Some(b);
                }
            }
            let row = |source: &str, delta_cid: &str, replayed: &PayloadHash| ReplayRow {
                block: name.clone(),
                version: v.version.to_string(),
                source: source.into(),
                delta_cid: delta_cid.into(),
                recorded: hex::encode(v.payload_hash),
                replayed: hex::encode(replayed.0),
                ok: replayed.0 == v.payload_hash,
            };
            match (&cur, delta) {
                (Some(c), Some(d)) => {
                    let bytes = fetch(kubo, &d.cid, d.size)?;
                    let (next, hash) = replay_step(c, &bytes, &d.payload_hash)?;
                    rows.push(row("delta", &d.cid, &hash));
                    cur = Some(next);
                }
                (prev, _) => {
                    let (w, hash) = content(kubo, v)?;
                    let source = if prev.is_none() { "first" } else { "published" };
                    rows.push(row(source, "", &hash));
                    cur = Some(w);
                }
            }
        }
    }
    Ok(rows)
}
