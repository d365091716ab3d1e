//! Model evolution: the deterministic recipe that gives a model new experts (the chain's
//! governance `ModelEvolution`, `AddExperts { count, source_expert }`).
//!
//! In every layer `l`, with `n` the current expert count and `seed` the evolution's seed
//! (on chain: the first 8 bytes, little-endian, of the meta block id it applies to):
//! - expert `n + i` is a copy of expert `source_expert` of layer `l` plus, per element,
//!   uniform noise in `±EVOLUTION_NOISE / sqrt(fan_in)` drawn from
//!   `SplitMix64::for_label(seed, "layer{l}.expert{n+i}.{tensor}")`, so copies of one
//!   source diverge under training;
//! - the router keeps its `n` rows bit for bit and gains, per new expert, the source
//!   expert's row plus noise of the same bound (`fan_in = d_model`), label
//!   `"layer{l}.router.gate.weight.row{n+i}"`.
//!
//! The top-k weights are renormalised over the chosen experts, so a token none of whose
//! layers pick a new expert keeps its output (up to float rounding in the softmax); tokens
//! that pick one get a near-copy of the source expert. Every other block is unchanged.
//!
//! Deepening (`AddLayers { count }`, [`add_layers`]): layers `L..L+count` are appended
//! before the head, every block freshly initialised by [`super::init_block_tensors`] with
//! the new architecture and the seed, then the residual projections
//! (`attn.o_proj.weight`, each expert's `w2.weight`) zeroed: each new layer adds exactly
//! zero to the residual stream, so the outputs are unchanged bit for bit, and training
//! moves the zeroed projections first.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};

use super::names::tensor_shapes;
use super::{BlockName, MetaConfig, Model, ModelError, Result};
use crate::rng::SplitMix64;

/// Relative bound of the noise added to copied weights (times `1/sqrt(fan_in)`).
pub const EVOLUTION_NOISE: f32 = 0.01;

/// `cfg` with `count` more experts per layer (validated).
pub fn add_experts_config(cfg: &MetaConfig, count: usize) -> Result<MetaConfig> {
    let n_experts = cfg
        .n_experts
        .checked_add(count)
        .ok_or_else(|| ModelError::Config("expert count overflows".into()))?;
    let next = MetaConfig {
        n_experts,
        ..cfg.clone()
    };
    next.validate()?;
    Ok(next)
}

fn noisy(values: Vec<f32>, fan_in: usize, seed: u64, label: &str) -> Vec<f32> {
    let bound = EVOLUTION_NOISE / (fan_in.max(1) as f32).sqrt();
    let mut rng = SplitMix64::for_label(seed, label);
    values
        .into_iter()
        .map(|v| v + (2.0 * rng.unit_f32() - 1.0) * bound)
        .collect()
}

/// Blocks by name, each with its tensors (names local to the block).
pub type NamedBlocks = Vec<(BlockName, BTreeMap<String, Tensor>)>;

/// The blocks an `AddExperts` evolution of `model` records, in the chain's order (per
/// layer the grown router, then the new experts), with the architecture they belong to.
pub fn add_experts(
    model: &Model,
    count: usize,
    source_expert: usize,
    seed: u64,
) -> Result<(MetaConfig, NamedBlocks)> {
    let old = model.config();
    if source_expert >= old.n_experts {
        return Err(ModelError::Config(format!(
            "source expert {source_expert} is not one of {}",
            old.n_experts
        )));
    }
    if count == 0 {
        return Err(ModelError::Config(
            "an evolution adds at least one expert".into(),
        ));
    }
    let cfg = add_experts_config(old, count)?;
    let device: &Device = model.device();
    let d = old.d_model;
    let mut out = Vec::new();
    for layer in 0..old.n_layers {
        let router = BlockName::Router { layer };
        let gate = model
            .block_tensors(&router)?
            .remove("gate.weight")
            .ok_or_else(|| ModelError::MissingBlock(router.to_string()))?;
        let mut rows = gate.flatten_all()?.to_vec1::<f32>()?;
        let src = rows
            .get(source_expert * d..(source_expert + 1) * d)
            .map(<[f32]>::to_vec)
            .ok_or_else(|| ModelError::MissingBlock(router.to_string()))?;
        for e in old.n_experts..cfg.n_experts {
            rows.extend(noisy(
                src.clone(),
                d,
                seed,
                &format!("{router}.gate.weight.row{e}"),
            ));
        }
        let gate = Tensor::from_vec(rows, (cfg.n_experts, d), device)?;
        out.push((router, BTreeMap::from([("gate.weight".to_string(), gate)])));
        let source = model.block_tensors(&BlockName::Expert {
            layer,
            expert: source_expert,
        })?;
        for expert in old.n_experts..cfg.n_experts {
            let block = BlockName::Expert { layer, expert };
            let mut tensors = BTreeMap::new();
            for (name, shape) in tensor_shapes(&cfg, &block) {
                let t = source
                    .get(name)
                    .ok_or_else(|| ModelError::MissingBlock(format!("{block}.{name}")))?;
                let fan_in = shape.last().copied().unwrap_or(1);
                let v = noisy(
                    t.flatten_all()?.to_vec1::<f32>()?,
                    fan_in,
                    seed,
                    &format!("{block}.{name}"),
                );
                tensors.insert(name.to_string(), Tensor::from_vec(v, shape, device)?);
            }
            out.push((block, tensors));
        }
    }
    Ok((cfg, out))
}

/// The blocks an `AddLayers` evolution of `model` records, in the chain's order (per new
/// layer the backbone, the router, then every expert), with their architecture.
pub fn add_layers(model: &Model, count: usize, seed: u64) -> Result<(MetaConfig, NamedBlocks)> {
    if count == 0 {
        return Err(ModelError::Config(
            "an evolution adds at least one layer".into(),
        ));
    }
    let old = model.config();
    let n_layers = old
        .n_layers
        .checked_add(count)
        .ok_or_else(|| ModelError::Config("layer count overflows".into()))?;
    let cfg = MetaConfig {
        n_layers,
        ..old.clone()
    };
    cfg.validate()?;
    let mut out = Vec::new();
    for layer in old.n_layers..n_layers {
        let names = std::iter::once(BlockName::Backbone { layer })
            .chain(std::iter::once(BlockName::Router { layer }))
            .chain((0..cfg.n_experts).map(|expert| BlockName::Expert { layer, expert }));
        for block in names {
            let mut tensors = super::init_block_tensors(&cfg, &block, seed, model.device())?;
            for name in ["attn.o_proj.weight", "w2.weight"] {
                if let Some(t) = tensors.get_mut(name) {
                    *t = t.zeros_like()?;
                }
            }
            out.push((block, tensors));
        }
    }
    Ok((cfg, out))
}

/// The deepened model: `model`'s blocks plus the new layers ([`add_layers`]).
pub fn deepen_model(model: &Model, count: usize, seed: u64) -> Result<Model> {
    let (cfg, added) = add_layers(model, count, seed)?;
    with_blocks(model, &cfg, added)
}

fn with_blocks(model: &Model, cfg: &MetaConfig, evolved: NamedBlocks) -> Result<Model> {
    let mut blocks = BTreeMap::new();
    for b in super::block_names(model.config()) {
        blocks.insert(b.to_string(), model.block_tensors(&b)?);
    }
    for (b, t) in evolved {
        blocks.insert(b.to_string(), t);
    }
    Model::from_blocks(cfg, &blocks, model.device())
}

/// The evolved model: `model`'s blocks with the routers replaced and the new experts
/// added ([`add_experts`]).
pub fn evolve_model(model: &Model, count: usize, source_expert: usize, seed: u64) -> Result<Model> {
    let (cfg, evolved) = add_experts(model, count, source_expert, seed)?;
    with_blocks(model, &cfg, evolved)
}

#[cfg(test)]
#[path = "evolve_tests.rs"]
mod tests;
