//! The `GenesisModel` JSON (`genesis/src/app_state.rs`; `blyand tx dag publish-model` reads
//! the same shape) of a model directory and its validation file.

use std::path::Path;

use anyhow::{bail, Context};
use blyan_proto::address::Address;
use blyan_proto::dag::{BlockSpec, BlockType, ModelArch, SemVer, ValidationSet};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use sha3::Digest;

use crate::ipfs::{add_model, KuboClient};
use crate::model::{BlockKind, BlockName};
use crate::source::{load_model, DirSource};

/// One model of the genesis `app_state`, field for field the chain's `GenesisModel`
/// (kept here so the worker does not link the genesis crate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisModelJson {
    /// Model id.
    pub id: String,
    /// Owner account (EIP-55).
    pub owner: Address,
    /// What the chain checks block names against.
    pub arch: ModelArch,
    /// The meta config JSON.
    pub meta_json: String,
    /// Every block.
    pub blocks: Vec<BlockSpec>,
    /// The public validation set and the baseline loss of these blocks on it.
    pub validation: Option<ValidationSet>,
}

/// The DAG block type of a block name: `embed`, `head` and `layerN.backbone` are backbone,
/// `layerN.router` router, `layerN.expertM` expert.
pub fn block_type(name: &str) -> anyhow::Result<BlockType> {
    let n: BlockName = name
        .parse()
        .map_err(|e| anyhow::anyhow!("block name {name:?}: {e}"))?;
    Ok(match n.kind() {
        BlockKind::Backbone => BlockType::Backbone,
        BlockKind::Router => BlockType::Router,
        BlockKind::Expert => BlockType::Expert,
    })
}

/// The hash the chain records for a validation file (`ValidationSet.hash`): sha3-256 of the
/// file's bytes, exactly as stored in Kubo (the same figure `blyan-worker data generate`
/// prints).
pub fn validation_hash(bytes: &[u8]) -> [u8; 32] {
    sha3::Sha3_256::digest(bytes).into()
}

/// Adds every block of `model_dir` (via [`add_model`], which verifies each and records the
/// CIDs in its `meta.json`) and the validation file `val` to Kubo with the fixed add
/// parameters, computes the model's validation loss on `val` (micro-nats, on `device`) as
/// the baseline, and returns the `GenesisModel` of it: version 1.0.0 and no dependencies for
/// every block.
pub fn genesis_model(
    client: &KuboClient,
    model_dir: &Path,
    val: &Path,
    owner: Address,
    model_id: &str,
    device: &Device,
) -> anyhow::Result<GenesisModelJson> {
    let manifest = add_model(client, model_dir, |_, _, _| {})?;
    let val_bytes = std::fs::read(val).with_context(|| val.display().to_string())?;
    let val_cid = client
        .add_file(val)
        .with_context(|| format!("adding {} to Kubo", val.display()))?;
    let model = load_model(&DirSource::new(model_dir), device, |_, _, _| {})?;
    let loss = crate::eval::eval_file(&model, val, |_, _| {})?;
    let mut blocks = Vec::with_capacity(manifest.blocks.len());
    for b in &manifest.blocks {
        let Some(cid) = b.cid.clone() else {
            bail!("block {}: no CID after adding", b.name);
        };
        blocks.push(BlockSpec {
            name: b.name.clone(),
            block_type: block_type(&b.name)?,
            payload_hash: b.payload_hash.0,
            cid,
            size: b.size,
            version: SemVer {
                major: 1,
                minor: 0,
                patch: 0,
            },
            depends_on: Vec::new(),
        });
    }
    let meta = &manifest.meta;
    Ok(GenesisModelJson {
        id: model_id.to_string(),
        owner,
        arch: ModelArch {
            arch: meta.arch.clone(),
            n_layers: u32::try_from(meta.n_layers).context("n_layers")?,
            n_experts: u32::try_from(meta.n_experts).context("n_experts")?,
        },
        meta_json: serde_json::to_string(meta)?,
        blocks,
        validation: Some(ValidationSet {
            cid: val_cid.to_string(),
            hash: validation_hash(&val_bytes),
            baseline_loss_micro: loss.micro_nats,
        }),
    })
}
