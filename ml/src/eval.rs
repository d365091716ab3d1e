//! Validation loss: the mean next-token cross-entropy of a model over a set of documents,
//! reported as an integer number of micro-nats, the unit the chain's Proof-of-Learning
//! compares (no floats on chain).
//!
//! The per-token losses are read back and summed in f64 in a fixed order (documents in file
//! order, batches of a fixed size), so a given model and file give the same integer on
//! every run. Across machines, candle's CPU kernels may round differently at the last bit
//! of f32; the chain absorbs that with a stake-weighted median and a tolerance.

use std::path::Path;

use candle_core::{DType, D};

use crate::data::{self, DataError};
use crate::model::{Model, ModelError};

/// Documents per evaluation batch: fixed, because it is part of what makes the figure
/// reproducible.
pub const EVAL_BATCH: usize = 16;

/// Errors of evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The data failed to load or batch.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A tensor operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// The data has no tokens to predict.
    #[error("no tokens to evaluate")]
    Empty,
    /// The loss is NaN or infinite (a broken or poisoned model): never reported as a number.
    #[error("validation loss is not finite")]
    NonFinite,
}

/// A validation loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Loss {
    /// Mean cross-entropy in micro-nats, rounded to nearest.
    pub micro_nats: u64,
    /// Number of predicted tokens it is the mean over.
    pub tokens: u64,
}

impl Loss {
    /// The mean cross-entropy in nats.
    pub fn nats(&self) -> f64 {
        self.micro_nats as f64 / 1e6
    }
}

/// The validation loss of `model` on `texts`; `progress(done, total)` is called after each
/// batch.
pub fn validation_loss(
    model: &Model,
    texts: &[String],
    progress: impl FnMut(usize, usize),
) -> Result<Loss, EvalError> {
    sequence_losses(model, texts, progress)?.loss()
}

/// Per-sequence validation losses of one model: what a paired comparison of two models on
/// the same sequences needs (the judging of a submission's contribution).
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceLosses {
    /// Per sequence of [`data::sequences`] (in its order): the summed cross-entropy in nats
    /// (f64, tokens in order) and the number of predicted tokens.
    pub sequences: Vec<(f64, u64)>,
    /// Sum over every token in evaluation order (what [`SequenceLosses::loss`] divides).
    sum: f64,
    /// Predicted tokens.
    tokens: u64,
}

impl SequenceLosses {
    /// The mean over all tokens: the very integer [`validation_loss`] reports.
    pub fn loss(&self) -> Result<Loss, EvalError> {
        if self.tokens == 0 {
            return Err(EvalError::Empty);
        }
        let micro = (self.sum / self.tokens as f64 * 1e6).round();
        if !micro.is_finite() || !(0.0..=u64::MAX as f64).contains(&micro) {
            return Err(EvalError::NonFinite);
        }
        Ok(Loss {
            micro_nats: micro as u64,
            tokens: self.tokens,
        })
    }
}

/// The per-sequence losses of `model` on `texts`; `progress(done, total)` is called after
/// each batch. The total is summed token by token in the order [`validation_loss`] always
/// used, so its mean is the same integer.
pub fn sequence_losses(
    model: &Model,
    texts: &[String],
    mut progress: impl FnMut(usize, usize),
) -> Result<SequenceLosses, EvalError> {
    let seqs = data::sequences(texts, model.config().max_seq);
    let order = data::batch_order(seqs.len(), EVAL_BATCH, None);
    let mut per_seq = vec![(0f64, 0u64); seqs.len()];
    let (mut sum, mut tokens) = (0f64, 0u64);
    for (i, idx) in order.iter().enumerate() {
        let batch = data::make_batch(&seqs, idx, model.device())?;
        let logits = model.forward(&batch.inputs)?.to_dtype(DType::F32)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let picked = logp
            .gather(&batch.targets.unsqueeze(2)?, 2)?
            .squeeze(2)?
            .to_vec2::<f32>()?;
        let mask = batch.mask.to_vec2::<f32>()?;
        for ((row, m), &seq) in picked.iter().zip(&mask).zip(idx) {
            let mut seq_sum = 0f64;
            let mut seq_tokens = 0u64;
            for (lp, w) in row.iter().zip(m) {
                if *w > 0.0 {
                    sum -= f64::from(*lp);
                    tokens += 1;
                    seq_sum -= f64::from(*lp);
                    seq_tokens += 1;
                }
            }
            if let Some(slot) = per_seq.get_mut(seq) {
                *slot = (seq_sum, seq_tokens);
            }
        }
        progress(i + 1, order.len());
    }
    Ok(SequenceLosses {
        sequences: per_seq,
        sum,
        tokens,
    })
}

/// [`validation_loss`] over the documents of a text or JSONL file.
pub fn eval_file(
    model: &Model,
    path: &Path,
    progress: impl FnMut(usize, usize),
) -> Result<Loss, EvalError> {
    validation_loss(model, &data::load_texts(path)?, progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BlockName, MetaConfig};
    use candle_core::{Device, Tensor};

    #[test]
    fn two_runs_give_the_same_integer() {
        let cfg = MetaConfig::tiny();
        let m = Model::init(&cfg, 1, &Device::Cpu).unwrap();
        let texts: Vec<String> = data::synth::split(3, "val", 40)
            .into_iter()
            .map(|e| e.text)
            .collect();
        let a = validation_loss(&m, &texts, |_, _| {}).unwrap();
        let b = validation_loss(&m, &texts, |_, _| {}).unwrap();
        assert_eq!(a, b);
        // the per-sequence losses add up to the same figure
        let per = sequence_losses(&m, &texts, |_, _| {}).unwrap();
        assert_eq!(per.loss().unwrap(), a);
        assert_eq!(per.sequences.iter().map(|(_, t)| t).sum::<u64>(), a.tokens);
        let total: f64 = per.sequences.iter().map(|(s, _)| s).sum();
        assert!((total / a.tokens as f64 - a.nats()).abs() < 1e-5);
        // an untrained model is near uniform over 259 ids: ln 259 = 5.557 nats
        assert!((a.nats() - 259f64.ln()).abs() < 0.5, "{}", a.nats());
        assert!(a.tokens > 400);
    }

    #[test]
    fn nan_weights_are_an_error_not_a_zero_loss() {
        let cfg = MetaConfig::tiny();
        let mut m = Model::init(&cfg, 1, &Device::Cpu).unwrap();
        let mut head = m.block_tensors(&BlockName::Head).unwrap();
        head.insert(
            "norm.weight".into(),
            Tensor::full(f32::NAN, cfg.d_model, &Device::Cpu).unwrap(),
        );
        m.set_block(&BlockName::Head, &head).unwrap();
        let r = validation_loss(&m, &["1+1=2".to_string()], |_, _| {});
        assert!(matches!(r, Err(EvalError::NonFinite)), "{r:?}");
        assert!(matches!(
            validation_loss(&m, &[], |_, _| {}),
            Err(EvalError::Empty)
        ));
    }
}
