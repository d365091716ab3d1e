//! AdamW with explicit, persistable state.
//!
//! The update is candle-nn 0.11's `AdamW` (decoupled weight decay, bias-corrected moments)
//! written out with the same tensor operations in the same order, so a fresh run gives
//! bit-identical weights; unlike candle's, the moments and the step count can be read out
//! after a run ([`AdamWState`]) and given to the next one. This is what lets a miner keep
//! its inner optimizer across Proof-of-Learning rounds, as DiLoCo workers do.
//!
//! For step `t` (1-based, counted over every run that shared the state), gradient `g`,
//! learning rate `lr` and weight decay `λ`:
//!
//! ```text
//! m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·g²
//! θ ← θ·(1 − lr·λ) − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε)
//! ```
//!
//! A tensor without a gradient in a step keeps its weights and moments (as in candle), but
//! the step count still advances.

use std::collections::BTreeMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use super::{TrainConfig, TrainError};
use crate::model::{BlockName, Model};

/// One trained tensor's AdamW moments, as f32 in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// First moment (running mean of the gradient).
    pub m: Vec<f32>,
    /// Second moment (running mean of the squared gradient).
    pub v: Vec<f32>,
}

/// AdamW's state after some steps: the step count and, per trained tensor, its moments.
///
/// Keys are `(block, tensor)`: the block's name (`layer0.expert1`) and the tensor's name
/// local to the block (`w1.weight`), as in [`crate::train::TrainOutcome::trained`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdamWState {
    /// Optimizer steps taken so far (bias correction uses it); 0 for a fresh state.
    pub t: u64,
    /// Moments per `(block, tensor)`.
    pub moments: BTreeMap<(String, String), Moments>,
}

impl AdamWState {
    /// True for a state that has taken no step (a run from it warms up).
    pub fn is_fresh(&self) -> bool {
        self.t == 0
    }

    /// Why this state cannot continue training `blocks` of `model`, if it cannot: it must
    /// hold exactly the tensors of those blocks, each with the model's shape. A fresh state
    /// with no moments fits anything.
    pub fn mismatch(
        &self,
        model: &Model,
        blocks: &[BlockName],
    ) -> Result<Option<String>, TrainError> {
        if self.t == 0 && self.moments.is_empty() {
            return Ok(None);
        }
        let mut want = BTreeMap::new();
        for b in blocks {
            for (k, t) in model.block_tensors(b)? {
                want.insert((b.to_string(), k), t.dims().to_vec());
            }
        }
        for ((b, k), shape) in &want {
            match self.moments.get(&(b.clone(), k.clone())) {
                None => return Ok(Some(format!("no moments for {b}.{k}"))),
                Some(m) if &m.shape != shape => {
                    return Ok(Some(format!(
                        "{b}.{k} has shape {:?} in the state, {shape:?} in the model",
                        m.shape
                    )))
                }
                Some(_) => {}
            }
        }
        if let Some((b, k)) = self.moments.keys().find(|key| !want.contains_key(*key)) {
            return Ok(Some(format!(
                "the state has moments for {b}.{k}, which is not trained"
            )));
        }
        Ok(None)
    }
}

/// One trained tensor in the optimizer.
struct Slot {
    key: (String, String),
    var: Var,
    m: Tensor,
    v: Tensor,
}

/// AdamW over a set of `Var`s, starting from a given state.
pub(crate) struct AdamW {
    slots: Vec<Slot>,
    t: u64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl AdamW {
    /// An optimizer for `vars` (keyed `(block, tensor)`) continuing `init` (fresh zero
    /// moments when `None`). `init` must hold exactly these tensors with their shapes.
    pub(crate) fn new(
        vars: Vec<((String, String), Var)>,
        cfg: &TrainConfig,
        init: Option<&AdamWState>,
    ) -> Result<Self, TrainError> {
        let mut slots = Vec::with_capacity(vars.len());
        for (key, var) in vars {
            let (m, v) = match init.and_then(|s| s.moments.get(&key)) {
                Some(mo) => {
                    if mo.shape != var.dims() {
                        return Err(TrainError::State(format!(
                            "{}.{}: moments of shape {:?} for a tensor of shape {:?}",
                            key.0,
                            key.1,
                            mo.shape,
                            var.dims()
                        )));
                    }
                    let dev = var.device();
                    (
                        Tensor::from_slice(&mo.m, mo.shape.as_slice(), dev)?,
                        Tensor::from_slice(&mo.v, mo.shape.as_slice(), dev)?,
                    )
                }
                None if init.is_some_and(|s| !s.moments.is_empty() || s.t > 0) => {
                    return Err(TrainError::State(format!(
                        "the optimizer state has no moments for {}.{}",
                        key.0, key.1
                    )));
                }
                None => (var.zeros_like()?, var.zeros_like()?),
            };
            slots.push(Slot { key, var, m, v });
        }
        if let Some(s) = init {
            if let Some((b, k)) = s
                .moments
                .keys()
                .find(|k| !slots.iter().any(|sl| &sl.key == *k))
            {
                return Err(TrainError::State(format!(
                    "the optimizer state has moments for {b}.{k}, which is not trained"
                )));
            }
        }
        Ok(Self {
            slots,
            t: init.map_or(0, |s| s.t),
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
        })
    }

    /// Steps taken, over every run that shared the state.
    pub(crate) fn t(&self) -> u64 {
        self.t
    }

    /// One step at learning rate `lr` with the gradients in `grads`.
    pub(crate) fn step(&mut self, grads: &GradStore, lr: f64) -> candle_core::Result<()> {
        self.t += 1;
        let t = i32::try_from(self.t).unwrap_or(i32::MAX);
        let (beta1, beta2) = (self.beta1, self.beta2);
        let lr_lambda = lr * self.weight_decay;
        let scale_m = 1f64 / (1f64 - beta1.powi(t));
        let scale_v = 1f64 / (1f64 - beta2.powi(t));
        for s in &mut self.slots {
            let theta = &s.var;
            let Some(g) = grads.get(theta) else { continue };
            let next_m = ((&s.m * beta1)? + (g * (1.0 - beta1))?)?;
            let next_v = ((&s.v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let next_theta = (theta.as_tensor() * (1f64 - lr_lambda))?;
            let adjusted_grad = (m_hat / (v_hat.sqrt()? + self.eps)?)?;
            let next_theta = (next_theta - (adjusted_grad * lr)?)?;
            s.m = next_m;
            s.v = next_v;
            theta.set(&next_theta)?;
        }
        Ok(())
    }

    /// The state to continue from in a later run.
    pub(crate) fn state(&self) -> candle_core::Result<AdamWState> {
        let mut moments = BTreeMap::new();
        for s in &self.slots {
            moments.insert(
                s.key.clone(),
                Moments {
                    shape: s.var.dims().to_vec(),
                    m: s.m.flatten_all()?.to_vec1::<f32>()?,
                    v: s.v.flatten_all()?.to_vec1::<f32>()?,
                },
            );
        }
        Ok(AdamWState { t: self.t, moments })
    }
}
