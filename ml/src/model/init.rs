//! Deterministic initialisation: every tensor is drawn from its own SplitMix64 stream keyed by
//! the seed and the tensor's full name (`{block}.{tensor}`), so a seed gives identical bytes
//! on every machine and a block's values do not depend on which other blocks exist.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};

use super::names::tensor_shapes;
use super::{BlockName, MetaConfig, ModelError};
use crate::rng::SplitMix64;

/// Standard deviation of the embeddings (GPT-2's).
const EMBED_STD: f32 = 0.02;

/// Freshly initialised tensors of `block` (names local to the block):
/// RMSNorm weights are 1; embeddings uniform with standard deviation 0.02; linear weights
/// `[out, in]` uniform in `±1/sqrt(in)` (PyTorch's default bound), the residual projections
/// (`attn.o_proj`, experts' `w2`) further scaled by `1/sqrt(2 * n_layers)`.
pub fn block_tensors(
    cfg: &MetaConfig,
    block: &BlockName,
    seed: u64,
    device: &Device,
) -> Result<BTreeMap<String, Tensor>, ModelError> {
    block.check(cfg)?;
    let mut out = BTreeMap::new();
    for (name, shape) in tensor_shapes(cfg, block) {
        let n: usize = shape.iter().product();
        let values = if name.ends_with("norm.weight") {
            vec![1f32; n]
        } else {
            let bound = if name == "tok.weight" || name == "pos.weight" {
                EMBED_STD * 3f32.sqrt()
            } else {
                let fan_in = shape.last().copied().unwrap_or(1).max(1) as f32;
                let residual = name == "attn.o_proj.weight" || name == "w2.weight";
                let scale = if residual {
                    1.0 / (2.0 * cfg.n_layers as f32).sqrt()
                } else {
                    1.0
                };
                scale / fan_in.sqrt()
            };
            let mut rng = SplitMix64::for_label(seed, &format!("{block}.{name}"));
            (0..n)
                .map(|_| (2.0 * rng.unit_f32() - 1.0) * bound)
                .collect()
        };
        out.insert(name.to_string(), Tensor::from_vec(values, shape, device)?);
    }
    Ok(out)
}
