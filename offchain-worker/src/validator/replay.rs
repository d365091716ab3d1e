//! Replaying a model's history (DESIGN.md, Proof-of-Learning step 6): for every block,
//! start from its first version (fetched by CID, verified) with zero momentum, apply each
//! learned version's recorded aggregate delta in order with the model's outer optimizer
//! (delta fetched by CID, sha3 checked, decoded, stepped with [`outer::step`], written as
//! TensorBlocks the way validators write them) and check that the new weights' and the new
//! momentum's payload hashes are the ones the chain recorded for that version. A version
//! published without a delta (an owner's update) restarts the replay from its content with
//! zero momentum.
//!
//! The outer optimizer is the model's current one (`/pol/params`): a history made under
//! other settings does not replay (the chain does not record the settings per round).

use blyan_proto::dag::{BlockType, ParamBlock};
use blyan_proto::pol::{OuterOptimizer, PolParams};
use blyan_proto::query::QueryPath;
use serde::Serialize;

use super::momentum::{content, fetch, momentum_block};
use super::outer;
use super::weights::BlockWeights;
use crate::chain::{DagQueries, RpcClient};
use crate::compress;
use crate::ipfs::KuboClient;
use crate::model::{MetaConfig, Model};
use crate::tensorblock::PayloadHash;

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
    /// The momentum's payload hash the chain records, hex (`delta` rows).
    pub momentum_recorded: String,
    /// The momentum's payload hash the replay produced, hex (`delta` rows).
    pub momentum_replayed: String,
    /// Whether the weights' (and for `delta` rows the momentum's) hashes are equal.
    pub ok: bool,
}

/// One replayed step: the new weights and momentum and their payload hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayedStep {
    /// The new weights.
    pub weights: BlockWeights,
    /// Their payload hash.
    pub hash: PayloadHash,
    /// The new momentum.
    pub momentum: BlockWeights,
    /// Its payload hash.
    pub momentum_hash: PayloadHash,
}

/// Applies one recorded delta container to `cur` with momentum `m` (`None`: zero) and the
/// outer optimizer `o`: checks its sha3 against `delta_hash`, decodes it, checks it is for
/// `cur`'s block, steps ([`outer::step`]) and writes both TensorBlocks.
pub fn replay_step(
    cur: &BlockWeights,
    m: Option<&BlockWeights>,
    container: &[u8],
    delta_hash: &[u8; 32],
    o: OuterOptimizer,
) -> anyhow::Result<ReplayedStep> {
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
    let s = outer::step(cur, m, &d.tensors, o)?;
    let (_, hash) = s.weights.to_tensor_block()?;
    let (_, momentum_hash) = s.momentum.to_tensor_block()?;
    Ok(ReplayedStep {
        weights: s.weights,
        hash,
        momentum: s.momentum,
        momentum_hash,
    })
}

/// Replays every block of `model`; one row per version, oldest first, blocks in load order.
pub fn replay(rpc: &RpcClient, kubo: &KuboClient, model: &str) -> anyhow::Result<Vec<ReplayRow>> {
    let info = rpc.model_info(model)?;
    let meta: MetaConfig = serde_json::from_str(&info.meta_json)?;
    let params: PolParams = rpc.query(&QueryPath::PolParams)?;
    let o = params.outer_for(model);
    let mut rows = Vec::new();
    for name in Model::block_names(&meta) {
        let name = name.to_string();
        let history: Vec<ParamBlock> =
            rpc.query(&QueryPath::History(model.to_string(), name.clone()))?;
        let mut cur: Option<(BlockWeights, Option<BlockWeights>)> = None;
        for v in &history {
            let mut delta = None;
            for id in &v.depends_on {
                let b: ParamBlock = rpc.query(&QueryPath::Block(*id))?;
                if b.block_type == BlockType::Delta {
                    delta = Some(b);
                }
            }
            let mut row = ReplayRow {
                block: name.clone(),
                version: v.version.to_string(),
                source: String::new(),
                delta_cid: String::new(),
                recorded: hex::encode(v.payload_hash),
                replayed: String::new(),
                momentum_recorded: String::new(),
                momentum_replayed: String::new(),
                ok: false,
            };
            match (&cur, delta) {
                (Some((w, m)), Some(d)) => {
                    let bytes = fetch(kubo, &d.cid, d.size)?;
                    let step = replay_step(w, m.as_ref(), &bytes, &d.payload_hash, o)?;
                    let recorded_m = momentum_block(rpc, v)?;
                    row.source = "delta".into();
                    row.delta_cid = d.cid.clone();
                    row.replayed = hex::encode(step.hash.0);
                    row.momentum_replayed = hex::encode(step.momentum_hash.0);
                    row.momentum_recorded = recorded_m
                        .as_ref()
                        .map(|b| hex::encode(b.payload_hash))
                        .unwrap_or_default();
                    row.ok = step.hash.0 == v.payload_hash
                        && recorded_m.is_some_and(|b| b.payload_hash == step.momentum_hash.0);
                    cur = Some((step.weights, Some(step.momentum)));
                }
                (prev, _) => {
                    let (w, hash) = content(kubo, v)?;
                    row.source = if prev.is_none() { "first" } else { "published" }.into();
                    row.replayed = hex::encode(hash.0);
                    row.ok = hash.0 == v.payload_hash;
                    cur = Some((w, None));
                }
            }
            rows.push(row);
        }
    }
    Ok(rows)
}
