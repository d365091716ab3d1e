//! The dense parts of the model: embeddings, a layer's backbone (attention and norms) and
//! the head. Each block is built from a `VarBuilder` rooted at its block name, so tensor
//! paths are `{block}.{tensor}` (e.g. `layer0.backbone.attn.q_proj.weight`).

use std::collections::BTreeMap;

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{embedding, linear_no_bias, rms_norm, Embedding, Linear, RmsNorm, VarBuilder};

use super::config::RMS_EPS;
use super::MetaConfig;

/// Which kernels a forward pass uses. candle's fused RMSNorm and last-dimension softmax are
/// fast but have no backward pass (gradients would silently stop there), so training runs the
/// composed, differentiable ops instead; the two agree to float rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Fused kernels, no gradients.
    Infer,
    /// Differentiable ops.
    Train,
}

/// RMSNorm in `mode`.
pub(super) fn norm(n: &RmsNorm, xs: &Tensor, mode: Mode) -> Result<Tensor> {
    match mode {
        Mode::Infer => n.forward(xs),
        Mode::Train => n.forward_diff(xs),
    }
}

/// Softmax over the last dimension in `mode`.
pub(super) fn softmax(xs: &Tensor, mode: Mode) -> Result<Tensor> {
    match mode {
        Mode::Infer => candle_nn::ops::softmax_last_dim(xs),
        Mode::Train => candle_nn::ops::softmax(xs, D::Minus1),
    }
}

/// `embed`: token embeddings plus learned position embeddings.
#[derive(Debug, Clone)]
pub(super) struct Embed {
    tok: Embedding,
    pos: Embedding,
}

impl Embed {
    pub(super) fn new(cfg: &MetaConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            tok: embedding(cfg.vocab_size, cfg.d_model, vb.pp("tok"))?,
            pos: embedding(cfg.max_seq, cfg.d_model, vb.pp("pos"))?,
        })
    }

    pub(super) fn tensors(&self) -> BTreeMap<String, Tensor> {
        BTreeMap::from([
            ("tok.weight".to_string(), self.tok.embeddings().clone()),
            ("pos.weight".to_string(), self.pos.embeddings().clone()),
        ])
    }
}

impl Module for Embed {
    /// `ids`: `[batch, seq]` u32 → `[batch, seq, d_model]`.
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let pos = Tensor::arange(0u32, t as u32, ids.device())?;
        self.tok
            .forward(ids)?
            .broadcast_add(&self.pos.forward(&pos)?)
    }
}

/// Causal multi-head self-attention (no bias, no rotary: positions come from `embed`).
#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    n_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(cfg: &MetaConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        Ok(Self {
            q_proj: linear_no_bias(d, d, vb.pp("q_proj"))?,
            k_proj: linear_no_bias(d, d, vb.pp("k_proj"))?,
            v_proj: linear_no_bias(d, d, vb.pp("v_proj"))?,
            o_proj: linear_no_bias(d, d, vb.pp("o_proj"))?,
            n_heads: cfg.n_heads,
            head_dim: cfg.head_dim(),
        })
    }

    /// `xs`: `[b, t, d]`; `mask`: `[t, t]` additive (0 or -inf).
    fn forward(&self, xs: &Tensor, mask: &Tensor, mode: Mode) -> Result<Tensor> {
        let (b, t, d) = xs.dims3()?;
        let heads = |p: &Linear| -> Result<Tensor> {
            p.forward(xs)?
                .reshape((b, t, self.n_heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (
            heads(&self.q_proj)?,
            heads(&self.k_proj)?,
            heads(&self.v_proj)?,
        );
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        let att = softmax(&att, mode)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
        self.o_proj.forward(&y)
    }

    fn tensors(&self, out: &mut BTreeMap<String, Tensor>) {
        for (n, l) in [
            ("q_proj", &self.q_proj),
            ("k_proj", &self.k_proj),
            ("v_proj", &self.v_proj),
            ("o_proj", &self.o_proj),
        ] {
            out.insert(format!("attn.{n}.weight"), l.weight().clone());
        }
    }
}

/// `layer{i}.backbone`: pre-attention RMSNorm, attention, pre-MoE RMSNorm.
#[derive(Debug, Clone)]
pub(super) struct Backbone {
    attn_norm: RmsNorm,
    attn: Attention,
    ffn_norm: RmsNorm,
}

impl Backbone {
    pub(super) fn new(cfg: &MetaConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            attn_norm: rms_norm(cfg.d_model, RMS_EPS, vb.pp("attn_norm"))?,
            attn: Attention::new(cfg, vb.pp("attn"))?,
            ffn_norm: rms_norm(cfg.d_model, RMS_EPS, vb.pp("ffn_norm"))?,
        })
    }

    /// `x + attn(attn_norm(x))`.
    pub(super) fn attend(&self, xs: &Tensor, mask: &Tensor, mode: Mode) -> Result<Tensor> {
        xs + self
            .attn
            .forward(&norm(&self.attn_norm, xs, mode)?, mask, mode)?
    }

    /// The MoE input: `ffn_norm(x)`.
    pub(super) fn ffn_input(&self, xs: &Tensor, mode: Mode) -> Result<Tensor> {
        norm(&self.ffn_norm, xs, mode)
    }

    pub(super) fn tensors(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        self.attn.tensors(&mut out);
        out.insert("attn_norm.weight".into(), self.attn_norm.weight().clone());
        out.insert("ffn_norm.weight".into(), self.ffn_norm.weight().clone());
        out
    }
}

/// `head`: final RMSNorm and the LM head.
#[derive(Debug, Clone)]
pub(super) struct Head {
    norm: RmsNorm,
    lm_head: Linear,
}

impl Head {
    pub(super) fn new(cfg: &MetaConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm: rms_norm(cfg.d_model, RMS_EPS, vb.pp("norm"))?,
            lm_head: linear_no_bias(cfg.d_model, cfg.vocab_size, vb.pp("lm_head"))?,
        })
    }

    pub(super) fn tensors(&self) -> BTreeMap<String, Tensor> {
        BTreeMap::from([
            ("lm_head.weight".to_string(), self.lm_head.weight().clone()),
            ("norm.weight".to_string(), self.norm.weight().clone()),
        ])
    }
}

impl Head {
    pub(super) fn forward_t(&self, xs: &Tensor, mode: Mode) -> Result<Tensor> {
        self.lm_head.forward(&norm(&self.norm, xs, mode)?)
    }
}

impl Module for Head {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_t(xs, Mode::Infer)
    }
}

/// The additive causal mask `[t, t]`: 0 on and below the diagonal, -inf above.
pub(super) fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let m: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(m, (t, t), device)?.to_dtype(DType::F32)
}
