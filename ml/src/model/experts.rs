//! Experts served from outside the model: [`ExpertWeights`] (one expert block's weights)
//! and [`ExpertProvider`] (where [`super::Model::forward_with_experts`] gets the experts the
//! router picks, e.g. a byte-bounded cache that loads and verifies blocks on a miss).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::moe::Expert;
use super::{check_tensor_names, BlockKind, BlockName, MetaConfig, ModelError, Result};

/// One expert's weights (the tensors of a `layer{i}.expert{j}` block), as an
/// [`ExpertProvider`] hands them to [`Model::forward_with_experts`].
#[derive(Debug, Clone)]
pub struct ExpertWeights(pub(super) Expert);

impl ExpertWeights {
    /// Builds an expert from its block tensors (names local to the block, checked against
    /// the architecture).
    pub fn from_tensors(
        cfg: &MetaConfig,
        block: &BlockName,
        tensors: &BTreeMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        if block.kind() != BlockKind::Expert {
            return Err(ModelError::UnknownBlock(format!(
                "{block} is not an expert"
            )));
        }
        block.check(cfg)?;
        check_tensor_names(cfg, block, tensors)?;
        let map: HashMap<String, Tensor> = tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let vb = VarBuilder::from_tensors(map, DType::F32, device);
        Expert::new(cfg, vb)
            .map(Self)
            .map_err(|e| ModelError::BlockTensors {
                block: block.to_string(),
                reason: e.to_string(),
            })
    }

    /// Bytes of its weights in memory.
    pub fn byte_size(&self) -> usize {
        self.0
            .tensors()
            .values()
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum()
    }
}

/// Where [`Model::forward_with_experts`] gets the experts the router picks: e.g. a cache
/// bounded in bytes that loads (and verifies) an expert's block on a miss.
pub trait ExpertProvider {
    /// The weights of `layer{layer}.expert{expert}`.
    fn expert(&self, layer: usize, expert: usize) -> Result<Arc<ExpertWeights>>;
}
