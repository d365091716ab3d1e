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
/// reports for the routers and the source expert, or the meta block for new layers.
pub fn derive(
    source: &ChainSource,
    change: &ModelChange,
    dir: &Path,
    device: &Device,
) -> anyhow::Result<(MetaConfig, BlockId, Vec<DerivedBlock>)> {
    let base_meta = source.info().meta_block;
    let seed = evolution_seed(&base_meta);
    let model = crate::source::load_model(source, device, |_, _, _| {})?;
    let (cfg, blocks, source_expert) = match *change {
        ModelChange::AddExperts {
            count,
            source_expert,
        } => {
            let src = usize::try_from(source_expert)?;
            let (cfg, blocks) = evolve::add_experts(&model, usize::try_from(count)?, src, seed)?;
            (cfg, blocks, Some(src))
        }
        ModelChange::AddLayers { count } => {
            let (cfg, blocks) = evolve::add_layers(&model, usize::try_from(count)?, seed)?;
            (cfg, blocks, None)
        }
    };
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let rpc = RpcClient::new(source.rpc_url());
    let mut out = Vec::with_capacity(blocks.len());
    for (name, tensors) in blocks {
        let base = match (source_expert, name) {
            (None, _) => base_meta,
            (Some(expert), BlockName::Expert { layer, .. }) => {
                let from = BlockName::Expert { layer, expert };
                rpc.head(source.model_id(), &from.to_string())?.id
            }
            (Some(_), other) => rpc.head(source.model_id(), &other.to_string())?.id,
        };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn derived(name: &str, hash: u8) -> DerivedBlock {
        DerivedBlock {
            block: EvolvedBlock {
                name: name.into(),
                base: [1; 32],
                payload_hash: [hash; 32],
                cid: String::new(),
                size: 100,
            },
            file: PathBuf::from(format!("{name}.blyt")),
        }
    }

    #[test]
    fn a_proposal_matches_the_recipe_or_names_the_first_difference() {
        let d = vec![derived("layer0.router", 2), derived("layer0.expert4", 3)];
        let mut p: Vec<EvolvedBlock> = d
            .iter()
            .map(|x| EvolvedBlock {
                cid: "bafkx".into(),
                ..x.block.clone()
            })
            .collect();
        check_blocks(&d, &p).unwrap();
        p[1].payload_hash = [9; 32];
        let e = check_blocks(&d, &p).unwrap_err().to_string();
        assert!(e.contains("layer0.expert4"), "{e}");
        p[1].payload_hash = [3; 32];
        p[0].base = [7; 32];
        assert!(check_blocks(&d, &p).is_err());
        assert!(check_blocks(&d, &p[..1]).is_err());
    }
}
