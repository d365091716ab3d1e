//! The sparse mixture-of-experts feed-forward: a learned router picks `top_k` of `n_experts`
//! SwiGLU experts per token; only those experts run, on the tokens routed to them.

use std::collections::BTreeMap;

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{linear_no_bias, Linear, VarBuilder};

use super::layers::{softmax, Mode};
use super::MetaConfig;

/// `layer{i}.expert{j}`: `w2(silu(w1 x) * w3 x)`.
#[derive(Debug, Clone)]
pub(super) struct Expert {
    w1: Linear,
    w2: Linear,
    w3: Linear,
}

impl Expert {
    pub(super) fn new(cfg: &MetaConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            w1: linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("w1"))?,
            w2: linear_no_bias(cfg.d_ff, cfg.d_model, vb.pp("w2"))?,
            w3: linear_no_bias(cfg.d_model, cfg.d_ff, vb.pp("w3"))?,
        })
    }

    pub(super) fn tensors(&self) -> BTreeMap<String, Tensor> {
        BTreeMap::from([
            ("w1.weight".to_string(), self.w1.weight().clone()),
            ("w2.weight".to_string(), self.w2.weight().clone()),
            ("w3.weight".to_string(), self.w3.weight().clone()),
        ])
    }
}

impl Module for Expert {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.w1.forward(xs)?)?;
        self.w2.forward(&(gate * self.w3.forward(xs)?)?)
    }
}

/// `layer{i}.router`: one logit per expert.
#[derive(Debug, Clone)]
pub(super) struct Router {
    gate: Linear,
}

impl Router {
    pub(super) fn new(cfg: &MetaConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            gate: linear_no_bias(cfg.d_model, cfg.n_experts, vb.pp("gate"))?,
        })
    }

    pub(super) fn tensors(&self) -> BTreeMap<String, Tensor> {
        BTreeMap::from([("gate.weight".to_string(), self.gate.weight().clone())])
    }
}

/// The experts chosen for each token: for `n` tokens, `n * k` expert ids (row-major, best
/// first; ties go to the lower expert id so every machine picks the same experts).
pub(super) fn top_k(probs: &[Vec<f32>], k: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(probs.len() * k);
    for row in probs {
        let mut ids: Vec<u32> = (0..row.len() as u32).collect();
        ids.sort_by(|&i, &j| row[j as usize].total_cmp(&row[i as usize]).then(i.cmp(&j)));
        out.extend_from_slice(&ids[..k.min(ids.len())]);
    }
    out
}

/// A layer's MoE feed-forward: router plus experts.
#[derive(Debug, Clone)]
pub(super) struct SparseMoeBlock {
    pub router: Router,
    pub experts: Vec<Expert>,
    top_k: usize,
}

impl SparseMoeBlock {
    pub(super) fn new(router: Router, experts: Vec<Expert>, top_k: usize) -> Self {
        Self {
            router,
            experts,
            top_k,
        }
    }

    /// Router probabilities `[n, E]`, the chosen experts (see [`top_k`]) and their weights
    /// `[n, k]` renormalised over the chosen ones. The weights stay a tensor expression of the
    /// router's output, so gradients reach the router in training.
    fn route(&self, xs: &Tensor, mode: Mode) -> Result<(Vec<u32>, Tensor)> {
        let n = xs.dim(0)?;
        let probs = softmax(&self.router.gate.forward(xs)?, mode)?;
        let chosen = top_k(&probs.to_dtype(DType::F32)?.to_vec2::<f32>()?, self.top_k);
        let idx = Tensor::from_slice(&chosen, (n, self.top_k), xs.device())?;
        let sel = probs.gather(&idx, 1)?;
        let weights = sel.broadcast_div(&sel.sum_keepdim(1)?)?;
        Ok((chosen, weights))
    }

    /// `xs`: `[b, t, d]` → `[b, t, d]`. Tokens are gathered per expert, each chosen expert
    /// runs once on its tokens, and the weighted outputs are scatter-added back.
    pub(super) fn forward_t(&self, xs: &Tensor, mode: Mode) -> Result<Tensor> {
        self.forward_with(xs, mode, |e| {
            self.experts.get(e).cloned().ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "expert {e} is not resident (serve it through an ExpertProvider)"
                ))
            })
        })
    }

    /// [`SparseMoeBlock::forward_t`] with the experts supplied by `get(expert)`, called once
    /// per expert the router picks (so an expert nobody picks is never fetched).
    pub(super) fn forward_with(
        &self,
        xs: &Tensor,
        mode: Mode,
        mut get: impl FnMut(usize) -> Result<Expert>,
    ) -> Result<Tensor> {
        let n_experts = self.router.gate.weight().dim(0)?;
        let (b, t, d) = xs.dims3()?;
        let xs = xs.reshape((b * t, d))?;
        let (chosen, weights) = self.route(&xs, mode)?;
        let weights = weights.flatten_all()?;
        let mut rows = vec![Vec::<u32>::new(); n_experts];
        let mut slots = vec![Vec::<u32>::new(); n_experts];
        for (slot, &e) in chosen.iter().enumerate() {
            rows[e as usize].push((slot / self.top_k) as u32);
            slots[e as usize].push(slot as u32);
        }
        let mut ys = xs.zeros_like()?;
        for e in 0..n_experts {
            if rows[e].is_empty() {
                continue;
            }
            let expert = get(e)?;
            let r = Tensor::from_slice(&rows[e], rows[e].len(), xs.device())?;
            let s = Tensor::from_slice(&slots[e], slots[e].len(), xs.device())?;
            let w = weights.index_select(&s, 0)?.unsqueeze(1)?;
            let y = expert
                .forward(&xs.index_select(&r, 0)?)?
                .broadcast_mul(&w)?;
            ys = ys.index_add(&r, &y, 0)?;
        }
        ys.reshape((b, t, d))
    }
}

impl Module for SparseMoeBlock {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_t(xs, Mode::Infer)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use candle_core::Device;

    /// The straightforward MoE: every expert on every token, then a dense `[n, E]` weight
    /// matrix (the router's top-k probabilities renormalised, zero elsewhere) masks and sums.
    pub(crate) fn reference_forward(moe: &SparseMoeBlock, xs: &Tensor) -> Result<Tensor> {
        let (b, t, d) = xs.dims3()?;
        let xs = xs.reshape((b * t, d))?;
        let logits = xs
            .matmul(&moe.router.gate.weight().t()?)?
            .to_vec2::<f32>()?;
        let e = moe.experts.len();
        let mut dense = vec![0f32; b * t * e];
        for (n, row) in logits.iter().enumerate() {
            let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let p: Vec<f32> = row.iter().map(|x| (x - m).exp()).collect();
            let z: f32 = p.iter().sum();
            let p: Vec<f32> = p.iter().map(|x| x / z).collect();
            let mut order: Vec<usize> = (0..e).collect();
            order.sort_by(|&i, &j| p[j].total_cmp(&p[i]).then(i.cmp(&j)));
            let kept = &order[..moe.top_k];
            let s: f32 = kept.iter().map(|&i| p[i]).sum();
            for &i in kept {
                dense[n * e + i] = p[i] / s;
            }
        }
        let dense = Tensor::from_vec(dense, (b * t, e), xs.device())?;
        let mut ys = xs.zeros_like()?;
        for (i, expert) in moe.experts.iter().enumerate() {
            let w = dense.narrow(1, i, 1)?;
            ys = (ys + expert.forward(&xs)?.broadcast_mul(&w)?)?;
        }
        ys.reshape((b, t, d))
    }

    fn random_moe(cfg: &MetaConfig, seed: u64) -> SparseMoeBlock {
        let dev = Device::Cpu;
        let router = super::super::init::block_tensors(
            cfg,
            &super::super::BlockName::Router { layer: 0 },
            seed,
            &dev,
        )
        .unwrap();
        let router = Router::new(
            cfg,
            VarBuilder::from_tensors(router.into_iter().collect(), DType::F32, &dev),
        )
        .unwrap();
        let experts = (0..cfg.n_experts)
            .map(|j| {
                let ts = super::super::init::block_tensors(
                    cfg,
                    &super::super::BlockName::Expert {
                        layer: 0,
                        expert: j,
                    },
                    seed,
                    &dev,
                )
                .unwrap();
                Expert::new(
                    cfg,
                    VarBuilder::from_tensors(ts.into_iter().collect(), DType::F32, &dev),
                )
                .unwrap()
            })
            .collect();
        SparseMoeBlock::new(router, experts, cfg.top_k)
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn sparse_moe_matches_the_dense_reference() {
        for (seed, top_k, n_experts) in [(1u64, 2usize, 4usize), (2, 1, 4), (3, 3, 8), (4, 8, 8)] {
            let cfg = MetaConfig {
                top_k,
                n_experts,
                ..MetaConfig::tiny()
            };
            let moe = random_moe(&cfg, seed);
            let xs = Tensor::randn(0f32, 1.0, (3, 11, cfg.d_model), &Device::Cpu).unwrap();
            let a = moe.forward(&xs).unwrap();
            let b = reference_forward(&moe, &xs).unwrap();
            let diff = max_abs_diff(&a, &b);
            assert!(diff < 1e-5, "seed {seed} top_k {top_k}: max diff {diff}");
        }
    }

    #[test]
    fn experts_nobody_picks_are_never_run() {
        let cfg = MetaConfig::tiny();
        let dev = Device::Cpu;
        let mut moe = random_moe(&cfg, 9);
        // positive inputs; gate rows 0..=2 positive, row 3 negative: expert 3 never wins top-2
        let mut g = vec![0.1f32; cfg.n_experts * cfg.d_model];
        g[3 * cfg.d_model..].iter_mut().for_each(|x| *x = -0.1);
        moe.router = Router {
            gate: Linear::new(
                Tensor::from_vec(g, (cfg.n_experts, cfg.d_model), &dev).unwrap(),
                None,
            ),
        };
        let nan = Tensor::full(f32::NAN, (cfg.d_ff, cfg.d_model), &dev).unwrap();
        moe.experts[3].w1 = Linear::new(nan, None);
        let xs = Tensor::rand(0.1f32, 1.0, (2, 5, cfg.d_model), &dev).unwrap();
        let y = moe
            .forward(&xs)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(y.iter().all(|v| v.is_finite()));
        // while the dense reference, which runs every expert, is poisoned
        let r = reference_forward(&moe, &xs)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(r.iter().any(|v| v.is_nan()));
    }

    #[test]
    fn top_k_breaks_ties_towards_lower_ids() {
        assert_eq!(top_k(&[vec![0.25, 0.25, 0.25, 0.25]], 2), [0, 1]);
        assert_eq!(top_k(&[vec![0.1, 0.4, 0.1, 0.4]], 3), [1, 3, 0]);
    }
}
