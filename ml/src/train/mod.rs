//! Training: AdamW on a chosen set of blocks over a dataset, deterministic given a seed.
//!
//! [`train`] copies the caller's model, turns the chosen blocks' tensors into `Var`s (all
//! other blocks stay plain tensors, so they are frozen and no gradient is computed for
//! them), and runs `steps` AdamW steps of masked next-token cross-entropy
//! ([`Model::forward_train`]) over batches of the given token windows. Batches follow
//! [`data::batch_order`] epoch after epoch, epoch `e` shuffled with seed `seed ^ e`, so a seed
//! fixes the exact sequence of batches; each batch's input ids are hashed (SHA3-256 over the
//! u32 ids, little-endian) for the training manifest. The result is the new weights of the
//! trained blocks and their deltas (new minus base), which is what a miner compresses and
//! submits.
//!
//! Two runs with the same model, blocks, data and config on the same machine give
//! bit-identical deltas (candle's CPU kernels are deterministic for a fixed thread count).
//!
//! [`TargetMode::Flipped`] trains towards permuted targets: the label-flipping attack.
//!
//! [`train_from`] continues an earlier run's optimizer ([`AdamWState`]: AdamW's moments and
//! step count) and batch stream: a run from a state that has taken `t` steps starts at batch
//! `t` of the stream, at the full learning rate (warmup only runs from a fresh state), so two
//! runs of `S` steps, the second continuing the first's weights and state, equal one run of
//! `2S` steps. [`state_file`] stores a state on disk between runs.

mod adamw;
mod blocks;
pub mod pretrain;
pub mod state_file;
mod targets;

use std::collections::BTreeMap;

use candle_core::{DType, Tensor, Var, D};
use sha3::{Digest, Sha3_256};

use crate::data::{self, DataError};
use crate::model::{BlockName, Model, ModelError};

pub use adamw::{AdamWState, Moments};
pub use blocks::parse_blocks;
pub use targets::{flip, TargetMode, PRINTABLE_HI, PRINTABLE_LO};

/// Hyper-parameters of a training run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Optimizer steps (one batch each).
    pub steps: usize,
    /// Sequences per batch.
    pub batch_size: usize,
    /// AdamW learning rate (the peak, after warmup).
    pub lr: f64,
    /// Steps over which the learning rate rises linearly from `lr / warmup_steps` to `lr`
    /// (0: none), in a run from fresh AdamW moments, whose first updates move every weight
    /// by about `lr` whatever its gradient; warming up keeps those early, noisy steps small.
    /// A run continuing an optimizer state ([`train_from`]) does not warm up.
    pub warmup_steps: usize,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// AdamW first-moment decay.
    pub beta1: f64,
    /// AdamW second-moment decay.
    pub beta2: f64,
    /// AdamW epsilon.
    pub eps: f64,
    /// Seed of the batch order.
    pub seed: u64,
    /// True or flipped targets.
    pub targets: TargetMode,
}

impl Default for TrainConfig {
    /// 200 steps of batch 8, lr 3e-3 after 10 warmup steps, weight decay 0.01, betas 0.9/0.999,
    /// eps 1e-8, seed 0, true targets.
    fn default() -> Self {
        Self {
            steps: 200,
            batch_size: 8,
            lr: 3e-3,
            warmup_steps: 10,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            seed: 0,
            targets: TargetMode::Normal,
        }
    }
}

/// What a training run produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Per trained block: new weights minus base weights, tensor names local to the block.
    pub deltas: BTreeMap<BlockName, BTreeMap<String, Tensor>>,
    /// Per trained block: the new weights.
    pub trained: BTreeMap<BlockName, BTreeMap<String, Tensor>>,
    /// Training loss (mean cross-entropy over the batch's real targets, nats) per step.
    pub losses: Vec<f32>,
    /// Real (unpadded) target tokens consumed, over all steps.
    pub tokens: u64,
    /// Sequences consumed, over all steps (a sequence seen in two epochs counts twice).
    pub samples: u64,
    /// SHA3-256 of each batch's input ids (u32 little-endian, row-major), in step order.
    pub batch_hashes: Vec<[u8; 32]>,
    /// Steps run.
    pub steps: usize,
    /// Position in the batch stream of this run's first batch: the step count of the
    /// optimizer state it continued (0 for a fresh run).
    pub start_step: u64,
    /// The optimizer state after the run, to continue from in the next one.
    pub optimizer: AdamWState,
}

/// Errors of training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Batching failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A tensor operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// A block spec or block list is unusable.
    #[error("blocks: {0}")]
    Blocks(String),
    /// The configuration or the data is unusable.
    #[error("training config: {0}")]
    Config(String),
    /// The optimizer state given does not fit the trained tensors.
    #[error("optimizer state: {0}")]
    State(String),
    /// The loss became NaN or infinite (diverged, or poisoned weights).
    #[error("training loss is not finite at step {step}")]
    NonFinite {
        /// The step (0-based).
        step: usize,
    },
}

fn check(
    model: &Model,
    blocks: &[BlockName],
    seqs: &[Vec<u32>],
    cfg: &TrainConfig,
) -> Result<(), TrainError> {
    if blocks.is_empty() {
        return Err(TrainError::Blocks("no blocks to train".into()));
    }
    for (i, b) in blocks.iter().enumerate() {
        b.check(model.config())?;
        if blocks[..i].contains(b) {
            return Err(TrainError::Blocks(format!("{b} is listed twice")));
        }
    }
    let bad = |m: String| Err(TrainError::Config(m));
    if cfg.batch_size == 0 {
        return bad("batch size must be positive".into());
    }
    let finite = [cfg.lr, cfg.weight_decay, cfg.beta1, cfg.beta2, cfg.eps];
    if finite.iter().any(|x| !x.is_finite() || *x < 0.0) || cfg.beta1 >= 1.0 || cfg.beta2 >= 1.0 {
        return bad(format!(
            "lr, weight decay, betas and eps must be finite and non-negative, betas < 1 \
             (lr {}, wd {}, betas {}/{}, eps {})",
            cfg.lr, cfg.weight_decay, cfg.beta1, cfg.beta2, cfg.eps
        ));
    }
    if seqs.is_empty() {
        return bad("no training sequences".into());
    }
    let max = model.config().max_seq + 1;
    if let Some((i, s)) = seqs
        .iter()
        .enumerate()
        .find(|(_, s)| s.len() < 2 || s.len() > max)
    {
        return bad(format!(
            "sequence {i} has {} tokens; each must have 2..={max} (see data::sequences)",
            s.len()
        ));
    }
    Ok(())
}

/// Mean cross-entropy of `logits` `[b, t, V]` against `targets` `[b, t]` over the positions
/// where `mask` `[b, t]` is 1, divided by `tokens` (their count).
fn masked_cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    mask: &Tensor,
    tokens: usize,
) -> candle_core::Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?;
    let picked = logp.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)?;
    let sum = (picked * mask)?.sum_all()?;
    sum.affine(-1.0 / tokens.max(1) as f64, 0.0)
}

fn batch_hash(inputs: &Tensor) -> candle_core::Result<[u8; 32]> {
    let ids = inputs.flatten_all()?.to_vec1::<u32>()?;
    let mut h = Sha3_256::new();
    for id in ids {
        h.update(id.to_le_bytes());
    }
    Ok(h.finalize().into())
}

/// Trains `blocks` of a copy of `model` on the token windows `seqs` (as made by
/// [`data::sequences`]: each 2..=`max_seq + 1` ids) for `cfg.steps` AdamW steps from fresh
/// moments; every other block is frozen. `on_step(step, loss)` is called after each step
/// (0-based). The caller's model is not changed. [`train_from`] with no state.
pub fn train(
    model: &Model,
    blocks: &[BlockName],
    seqs: &[Vec<u32>],
    cfg: &TrainConfig,
    on_step: &mut dyn FnMut(usize, f32),
) -> Result<TrainOutcome, TrainError> {
    train_from(model, blocks, seqs, cfg, None, on_step)
}

/// The learning rate of a run's step `step` (0-based): linear warmup over
/// `cfg.warmup_steps` when the run starts from a fresh state, else `cfg.lr` throughout.
fn lr_at(cfg: &TrainConfig, fresh: bool, step: usize) -> f64 {
    if fresh && step < cfg.warmup_steps {
        cfg.lr * (step + 1) as f64 / cfg.warmup_steps as f64
    } else {
        cfg.lr
    }
}

/// [`train`], continuing the optimizer state `init` (AdamW moments and step count, as an
/// earlier run's [`TrainOutcome::optimizer`] returned; `None` or a fresh state: zero
/// moments). The run takes batches from position `init.t` of the batch stream on, and warms
/// up only from a fresh state. A state must hold exactly the trained tensors with their
/// shapes ([`AdamWState::mismatch`]), else [`TrainError::State`].
pub fn train_from(
    model: &Model,
    blocks: &[BlockName],
    seqs: &[Vec<u32>],
    cfg: &TrainConfig,
    init: Option<&AdamWState>,
    on_step: &mut dyn FnMut(usize, f32),
) -> Result<TrainOutcome, TrainError> {
    check(model, blocks, seqs, cfg)?;
    let meta = model.config().clone();
    let device = model.device().clone();

    // base weights, then Vars (fresh storage) for the chosen blocks and detached tensors for
    // the others, so only the chosen blocks are tracked.
    let mut base = BTreeMap::new();
    let mut vars: BTreeMap<BlockName, BTreeMap<String, Var>> = BTreeMap::new();
    let mut all = BTreeMap::new();
    for name in Model::block_names(&meta) {
        let tensors = model.block_tensors(&name)?;
        let tensors: BTreeMap<String, Tensor> =
            tensors.into_iter().map(|(k, t)| (k, t.detach())).collect();
        if blocks.contains(&name) {
            let v = tensors
                .iter()
                .map(|(k, t)| Ok((k.clone(), Var::from_tensor(t)?)))
                .collect::<candle_core::Result<BTreeMap<_, _>>>()?;
            all.insert(
                name.to_string(),
                v.iter()
                    .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                    .collect(),
            );
            vars.insert(name, v);
            base.insert(name, tensors);
        } else {
            all.insert(name.to_string(), tensors);
        }
    }
    let net = Model::from_blocks(&meta, &all, &device)?;
    drop(all);
    let keyed = vars
        .iter()
        .flat_map(|(b, m)| {
            m.iter()
                .map(|(k, v)| ((b.to_string(), k.clone()), v.clone()))
        })
        .collect();
    let mut opt = adamw::AdamW::new(keyed, cfg, init)?;
    let start_step = opt.t();
    let fresh = start_step == 0;

    let mut out = TrainOutcome {
        deltas: BTreeMap::new(),
        trained: BTreeMap::new(),
        losses: Vec::with_capacity(cfg.steps),
        tokens: 0,
        samples: 0,
        batch_hashes: Vec::with_capacity(cfg.steps),
        steps: 0,
        start_step,
        optimizer: AdamWState::default(),
    };
    // every epoch has the same number of batches; skip the `start_step` already taken
    let per_epoch = seqs.len().div_ceil(cfg.batch_size) as u64;
    let mut epoch = start_step / per_epoch;
    let mut order = data::batch_order(seqs.len(), cfg.batch_size, Some(cfg.seed ^ epoch));
    let mut next = (start_step % per_epoch) as usize;
    for step in 0..cfg.steps {
        if next >= order.len() {
            epoch += 1;
            order = data::batch_order(seqs.len(), cfg.batch_size, Some(cfg.seed ^ epoch));
            next = 0;
        }
        let idx = order.get(next).map(Vec::as_slice).unwrap_or(&[]);
        next += 1;
        let batch = data::make_batch(seqs, idx, &device)?;
        let targets = match cfg.targets {
            TargetMode::Normal => batch.targets.clone(),
            mode => {
                let ids = batch.targets.flatten_all()?.to_vec1::<u32>()?;
                let ids: Vec<u32> = ids.into_iter().map(|t| mode.map(t)).collect();
                Tensor::from_vec(ids, batch.targets.shape(), &device)?
            }
        };
        let logits = net.forward_train(&batch.inputs)?;
        let loss = masked_cross_entropy(&logits, &targets, &batch.mask, batch.tokens)?;
        let value = loss.to_scalar::<f32>()?;
        if !value.is_finite() {
            return Err(TrainError::NonFinite { step });
        }
        opt.step(&loss.backward()?, lr_at(cfg, fresh, step))?;
        out.batch_hashes.push(batch_hash(&batch.inputs)?);
        out.losses.push(value);
        out.tokens += batch.tokens as u64;
        out.samples += idx.len() as u64;
        out.steps += 1;
        on_step(step, value);
    }
    out.optimizer = opt.state()?;
    drop(opt);
    drop(net);

    for (name, v) in vars {
        let mut new = BTreeMap::new();
        let mut delta = BTreeMap::new();
        for (k, var) in v {
            let t = var.as_tensor().detach();
            if let Some(b) = base.get(&name).and_then(|m| m.get(&k)) {
                delta.insert(k.clone(), (&t - b)?);
            }
            new.insert(k, t);
        }
        out.deltas.insert(name, delta);
        out.trained.insert(name, new);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_state;
