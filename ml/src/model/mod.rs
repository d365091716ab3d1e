//! Blyan's Mixture-of-Experts transformer, in candle.
//!
//! A decoder-only transformer over a byte-level vocabulary ([`tokenizer`]): token and learned
//! position embeddings, then per layer `x += attn(rms_norm(x))` (causal multi-head
//! attention) and `x += moe(rms_norm(x))`, where the MoE feed-forward routes every token to
//! the `top_k` best of `n_experts` SwiGLU experts chosen by a learned linear router, and only
//! those experts are computed; a final RMSNorm and the LM head give next-byte logits.
//!
//! The layout follows candle-transformers' `mixtral.rs` (Jiang et al. 2024, "Mixtral of
//! Experts"; Shazeer et al. 2017 for sparsely-gated MoE; Zhang & Sennrich 2019 for RMSNorm;
//! Shazeer 2020 for SwiGLU): private blocks built by `new(cfg, vb)` with `vb.pp(..)`
//! mirroring tensor paths, `impl Module` for each.
//!
//! Unlike a checkpoint-shaped model, every parameter **block** here is one DAG block on
//! chain: `embed`, `layer{i}.backbone`, `layer{i}.router`, `layer{i}.expert{j}` and `head`
//! ([`BlockName`]). Tensor paths are `{block}.{tensor}`; [`Model::block_tensors`] and
//! [`Model::set_block`] read and replace one block's tensors, so an accepted new version of
//! one expert swaps in without touching the rest.

mod config;
pub mod evolve;
mod experts;
mod generate;
mod init;
mod layers;
mod moe;
mod names;
pub mod tokenizer;
pub mod utf8;

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;

pub use config::{MetaConfig, ARCH, RMS_EPS};
pub use experts::{ExpertProvider, ExpertWeights};
pub use generate::{generate, sample, GenerateOptions};
pub use init::block_tensors as init_block_tensors;
pub use names::{block_names, tensor_shapes, BlockKind, BlockName};
pub use utf8::Utf8Stream;

use layers::{causal_mask, Backbone, Embed, Head, Mode};
use moe::{Expert, Router, SparseMoeBlock};

/// Errors of the model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The meta config is unusable.
    #[error("model config: {0}")]
    Config(String),
    /// A block name that is not part of this architecture.
    #[error("no block {0:?} in this architecture")]
    UnknownBlock(String),
    /// A block the architecture needs is missing.
    #[error("block {0} is missing")]
    MissingBlock(String),
    /// A block's tensors do not fit the architecture.
    #[error("block {block}: {reason}")]
    BlockTensors {
        /// The block.
        block: String,
        /// What is wrong.
        reason: String,
    },
    /// An input longer than `max_seq`.
    #[error("sequence of {len} tokens is longer than max_seq {max}")]
    SequenceTooLong {
        /// Tokens given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A tensor operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result of model operations.
pub type Result<T> = std::result::Result<T, ModelError>;

/// One decoder layer: backbone (attention + norms) and the MoE feed-forward.
#[derive(Debug, Clone)]
struct DecoderLayer {
    backbone: Backbone,
    moe: SparseMoeBlock,
}

impl DecoderLayer {
    fn new(cfg: &MetaConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let backbone = Backbone::new(cfg, vb.pp("backbone"))?;
        let router = Router::new(cfg, vb.pp("router"))?;
        let experts = (0..cfg.n_experts)
            .map(|j| Expert::new(cfg, vb.pp(format!("expert{j}"))))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            backbone,
            moe: SparseMoeBlock::new(router, experts, cfg.top_k),
        })
    }

    /// The layer without its experts (they come from an [`ExpertProvider`]).
    fn new_resident(cfg: &MetaConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let backbone = Backbone::new(cfg, vb.pp("backbone"))?;
        let router = Router::new(cfg, vb.pp("router"))?;
        Ok(Self {
            backbone,
            moe: SparseMoeBlock::new(router, Vec::new(), cfg.top_k),
        })
    }

    fn forward(&self, xs: &Tensor, mask: &Tensor, mode: Mode) -> candle_core::Result<Tensor> {
        let h = self.backbone.attend(xs, mask, mode)?;
        &h + self
            .moe
            .forward_t(&self.backbone.ffn_input(&h, mode)?, mode)?
    }

    fn forward_with(
        &self,
        xs: &Tensor,
        mask: &Tensor,
        layer: usize,
        experts: &dyn ExpertProvider,
    ) -> candle_core::Result<Tensor> {
        let h = self.backbone.attend(xs, mask, Mode::Infer)?;
        let ffn_in = self.backbone.ffn_input(&h, Mode::Infer)?;
        &h + self.moe.forward_with(&ffn_in, Mode::Infer, |e| {
            experts
                .expert(layer, e)
                .map(|w| w.0.clone())
                .map_err(|err| candle_core::Error::Msg(err.to_string()))
        })?
    }
}

/// The whole model.
#[derive(Debug, Clone)]
pub struct Model {
    cfg: MetaConfig,
    embed: Embed,
    layers: Vec<DecoderLayer>,
    head: Head,
    device: Device,
}

impl Model {
    /// Builds the model from `vb`, whose tensor paths are `{block}.{tensor}` (a `VarMap` for
    /// training, or loaded tensors).
    pub fn new(cfg: &MetaConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let layers = (0..cfg.n_layers)
            .map(|i| DecoderLayer::new(cfg, vb.pp(format!("layer{i}"))))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            cfg: cfg.clone(),
            embed: Embed::new(cfg, vb.pp("embed"))?,
            layers,
            head: Head::new(cfg, vb.pp("head"))?,
            device: vb.device().clone(),
        })
    }

    /// Builds the model from its blocks: exactly the blocks of [`Model::block_names`], each
    /// with exactly its tensors (names local to the block).
    pub fn from_blocks(
        cfg: &MetaConfig,
        blocks: &BTreeMap<String, BTreeMap<String, Tensor>>,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()?;
        let names = block_names(cfg);
        if let Some(extra) = blocks.keys().find(|k| {
            k.parse::<BlockName>()
                .map_or(true, |b| b.check(cfg).is_err())
        }) {
            return Err(ModelError::UnknownBlock(extra.clone()));
        }
        let mut all = HashMap::new();
        for name in &names {
            let key = name.to_string();
            let tensors = blocks
                .get(&key)
                .ok_or_else(|| ModelError::MissingBlock(key.clone()))?;
            check_tensor_names(cfg, name, tensors)?;
            all.extend(
                tensors
                    .iter()
                    .map(|(t, v)| (format!("{key}.{t}"), v.clone())),
            );
        }
        Self::new(cfg, VarBuilder::from_tensors(all, DType::F32, device))
    }

    /// A model holding every block except the experts (`embed`, backbones, routers, `head`:
    /// exactly those, each with exactly its tensors); run it with
    /// [`Model::forward_with_experts`], which fetches the experts the router picks.
    pub fn from_resident_blocks(
        cfg: &MetaConfig,
        blocks: &BTreeMap<String, BTreeMap<String, Tensor>>,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()?;
        let names: Vec<BlockName> = block_names(cfg)
            .into_iter()
            .filter(|b| b.kind() != BlockKind::Expert)
            .collect();
        if let Some(extra) = blocks
            .keys()
            .find(|k| !names.iter().any(|n| n.to_string() == **k))
        {
            return Err(ModelError::UnknownBlock(extra.clone()));
        }
        let mut all = HashMap::new();
        for name in &names {
            let key = name.to_string();
            let tensors = blocks
                .get(&key)
                .ok_or_else(|| ModelError::MissingBlock(key.clone()))?;
            check_tensor_names(cfg, name, tensors)?;
            all.extend(
                tensors
                    .iter()
                    .map(|(t, v)| (format!("{key}.{t}"), v.clone())),
            );
        }
        let vb = VarBuilder::from_tensors(all, DType::F32, device);
        let layers = (0..cfg.n_layers)
            .map(|i| DecoderLayer::new_resident(cfg, vb.pp(format!("layer{i}"))))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            cfg: cfg.clone(),
            embed: Embed::new(cfg, vb.pp("embed"))?,
            layers,
            head: Head::new(cfg, vb.pp("head"))?,
            device: device.clone(),
        })
    }

    /// Whether the experts live in the model (false for [`Model::from_resident_blocks`]).
    pub fn has_experts(&self) -> bool {
        self.layers.iter().all(|l| !l.moe.experts.is_empty())
    }

    /// A freshly initialised model (see [`init_block_tensors`]): the same seed gives the same
    /// bytes everywhere.
    pub fn init(cfg: &MetaConfig, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let blocks = block_names(cfg)
            .iter()
            .map(|b| Ok((b.to_string(), init::block_tensors(cfg, b, seed, device)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        Self::from_blocks(cfg, &blocks, device)
    }

    /// Every block name of architecture `cfg`, in load order.
    pub fn block_names(cfg: &MetaConfig) -> Vec<BlockName> {
        block_names(cfg)
    }

    /// The architecture.
    pub fn config(&self) -> &MetaConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The tensors of one block, by their block-local names.
    pub fn block_tensors(&self, block: &BlockName) -> Result<BTreeMap<String, Tensor>> {
        block.check(&self.cfg)?;
        Ok(match *block {
            BlockName::Embed => self.embed.tensors(),
            BlockName::Head => self.head.tensors(),
            BlockName::Backbone { layer } => self.layers[layer].backbone.tensors(),
            BlockName::Router { layer } => self.layers[layer].moe.router.tensors(),
            BlockName::Expert { layer, expert } => self.layers[layer]
                .moe
                .experts
                .get(expert)
                .ok_or_else(|| ModelError::MissingBlock(block.to_string()))?
                .tensors(),
        })
    }

    /// Replaces one block with new tensors (e.g. a newly accepted version of an expert).
    /// The tensors must be exactly the block's, with the architecture's shapes.
    pub fn set_block(
        &mut self,
        block: &BlockName,
        tensors: &BTreeMap<String, Tensor>,
    ) -> Result<()> {
        block.check(&self.cfg)?;
        check_tensor_names(&self.cfg, block, tensors)?;
        let map: HashMap<String, Tensor> = tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let vb = VarBuilder::from_tensors(map, DType::F32, &self.device);
        let cfg = &self.cfg;
        let wrap = |e: candle_core::Error| ModelError::BlockTensors {
            block: block.to_string(),
            reason: e.to_string(),
        };
        match *block {
            BlockName::Embed => self.embed = Embed::new(cfg, vb).map_err(wrap)?,
            BlockName::Head => self.head = Head::new(cfg, vb).map_err(wrap)?,
            BlockName::Backbone { layer } => {
                self.layers[layer].backbone = Backbone::new(cfg, vb).map_err(wrap)?
            }
            BlockName::Router { layer } => {
                self.layers[layer].moe.router = Router::new(cfg, vb).map_err(wrap)?
            }
            BlockName::Expert { layer, expert } => {
                let slot = self.layers[layer]
                    .moe
                    .experts
                    .get_mut(expert)
                    .ok_or_else(|| ModelError::MissingBlock(block.to_string()))?;
                *slot = Expert::new(cfg, vb).map_err(wrap)?
            }
        }
        Ok(())
    }

    /// Next-token logits: `input_ids` `[batch, seq]` (u32, `seq <= max_seq`) →
    /// `[batch, seq, vocab_size]` (f32). Uses candle's fused kernels, which have no backward
    /// pass: for training use [`Model::forward_train`].
    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        self.forward_mode(input_ids, Mode::Infer)
    }

    /// [`Model::forward`] with differentiable RMSNorm and softmax, so that gradients reach
    /// every block (routers included, through the top-k weights) when the weights are `Var`s.
    pub fn forward_train(&self, input_ids: &Tensor) -> Result<Tensor> {
        self.forward_mode(input_ids, Mode::Train)
    }

    /// [`Model::forward`] with the experts taken from `experts` (only those the router
    /// picks are asked for); works on a model from [`Model::from_resident_blocks`] and gives
    /// the same logits as the fully loaded model.
    pub fn forward_with_experts(
        &self,
        input_ids: &Tensor,
        experts: &dyn ExpertProvider,
    ) -> Result<Tensor> {
        let (_, t) = input_ids.dims2()?;
        if t > self.cfg.max_seq {
            return Err(ModelError::SequenceTooLong {
                len: t,
                max: self.cfg.max_seq,
            });
        }
        let mask = causal_mask(t, &self.device)?;
        let mut xs = self.embed.forward(input_ids)?;
        for (i, layer) in self.layers.iter().enumerate() {
            xs = layer.forward_with(&xs, &mask, i, experts)?;
        }
        Ok(self.head.forward_t(&xs, Mode::Infer)?)
    }

    fn forward_mode(&self, input_ids: &Tensor, mode: Mode) -> Result<Tensor> {
        let (_, t) = input_ids.dims2()?;
        if t > self.cfg.max_seq {
            return Err(ModelError::SequenceTooLong {
                len: t,
                max: self.cfg.max_seq,
            });
        }
        let mask = causal_mask(t, &self.device)?;
        let mut xs = self.embed.forward(input_ids)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &mask, mode)?;
        }
        Ok(self.head.forward_t(&xs, mode)?)
    }
}

fn check_tensor_names(
    cfg: &MetaConfig,
    block: &BlockName,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<()> {
    let want: Vec<&str> = tensor_shapes(cfg, block).iter().map(|(n, _)| *n).collect();
    let have: Vec<&str> = tensors.keys().map(String::as_str).collect();
    if want != have {
        return Err(ModelError::BlockTensors {
            block: block.to_string(),
            reason: format!("tensors {have:?}, expected {want:?}"),
        });
    }
    for (name, shape) in tensor_shapes(cfg, block) {
        let got = tensors
            .get(name)
            .map(|t| t.dims().to_vec())
            .unwrap_or_default();
        if got != shape {
            return Err(ModelError::BlockTensors {
                block: block.to_string(),
                reason: format!("{name} has shape {got:?}, expected {shape:?}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
