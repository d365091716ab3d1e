//! Model evolution on the worker side: derive the blocks a governance `ModelEvolution`
//! records from the chain's current heads ([`derive`], the recipe of
//! [`crate::model::evolve`] seeded with [`evolution_seed`] of the meta block), to propose
//! one (`blyan-worker model evolve`) or to check a proposal's CIDs and hashes before
//! voting (`--check`). Once a proposal executes, miners and validators pick the new
//! architecture up from the chain like any new version: [`crate::chain::ChainSource`]
//! builds the manifest from the new meta JSON and heads, and every block is verified
//! against the payload hash the chain records.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use blyan_proto::dag::BlockId;
use blyan_proto::gov::{evolution_seed, EvolvedBlock, ModelChange};
use candle_core::Device;

use crate::chain::{ChainSource, DagQueries, RpcClient};
use crate::model::{evolve, BlockName, MetaConfig};
use crate::tensorblock::{TensorBlockWriter, DEFAULT_TILE_SIZE};

/// A block derived by an evolution, written as a TensorBlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedBlock {
    /// The proposal's entry, without a CID (set once the file is added to Kubo).
    pub block: EvolvedBlock,
    /// The TensorBlock file.
    pub file: PathBuf,
}

/// The blocks `change` gives on the model `source` holds, in the chain's order, written
/// under `dir`; with the new architecture and the meta block they apply to. The model
/// is loaded (and every block verified) from `source`; the bases are the heads the chain
/// reports for the routers and the source expert.
pub fn derive(
    source: &ChainSource,
    change: &ModelChange,
    dir: &Path,
    device: &Device,
) -> anyhow::Result<(MetaConfig, BlockId, Vec<DerivedBlock>)> {
    let ModelChange::AddExperts {
        count,
        source_expert,
    } = *change;
    let base_meta = source.info().meta_block;
    let model = crate::source::load_model(source, device, |_, _, _| {})?;
    let (cfg, blocks) = evolve::add_experts(
        &model,
        usize::try_from(count)?,
        usize::try_from(source_expert)?,
        evolution_seed(&base_meta),
    )?;
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let rpc = RpcClient::new(source.rpc_url());
    let mut out = Vec::with_capacity(blocks.len());
    for (name, tensors) in blocks {
        let from = match name {
            BlockName::Expert { layer, .. } => BlockName::Expert {
                layer,
                expert: usize::try_from(source_expert)?,
            },
            other => other,
        };
        let base = rpc.head(source.model_id(), &from.to_string())?.id;
        let mut w = TensorBlockWriter::new().tile_size(DEFAULT_TILE_SIZE)?;
        for (t, v) in &tensors {
            w.add_tensor(t, v)?;
        }
        let file = dir.join(format!("{name}.blyt"));
        let (hash, size) = w.write(&file)?;
        out.push(DerivedBlock {
            block: EvolvedBlock {
                name: name.to_string(),
                base,
                payload_hash: hash.0,
                cid: String::new(),
                size,
            },
            file,
        });
    }
    Ok((cfg, base_meta, out))
}

/// Checks a proposal's blocks against the derived ones: same names in the same order,
/// bases, payload hashes and sizes (the hash covers the bytes a CID names; every worker
/// verifies fetched blocks against it).
pub fn check_blocks(derived: &[DerivedBlock], proposed: &[EvolvedBlock]) -> anyhow::Result<()> {
    if derived.len() != proposed.len() {
        bail!(
            "the proposal records {} blocks, the recipe gives {}",
            proposed.len(),
            derived.len()
        );
    }
    for (d, p) in derived.iter().zip(proposed) {
        let d = &d.block;
        if d.name != p.name || d.base != p.base {
            bail!(
                "block {:?} from {} in the proposal, {:?} from {} by the recipe",
                p.name,
                hex::encode(p.base),
                d.name,
                hex::encode(d.base)
            );
        }
        if d.payload_hash != p.payload_hash || d.size != p.size {
            bail!(
                "block {}: the proposal records {} ({} bytes), the recipe gives {} ({} bytes)",
                p.name,
                hex::encode(p.payload_hash),
                p.size,
                hex::encode(d.payload_hash),
                d.size
            );
        }
    }
    Ok(())
}
