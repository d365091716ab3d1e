//! Pre-training a genesis model: every block of a freshly initialised model trained with
//! [`train`](super::train) on a corpus, so the chain starts from a model that already
//! produces text and Proof-of-Learning rounds improve from there.
//!
//! The run is as deterministic as the trainer (a seed fixes the initial weights and the
//! batch order; candle's CPU kernels give the same bits for a fixed thread count and
//! build), so its result can be cached: [`PretrainSpec::cache_key`] names everything the
//! weights depend on (format version, architecture, init seed, training config, the
//! training and validation files' SHA3-256, the thread count, the build profile), and a
//! directory named by the key holds the weights of that run.

use std::collections::BTreeMap;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use sha3::{Digest, Sha3_256};

use super::{train, TrainConfig, TrainError};
use crate::eval::Loss;
use crate::model::{MetaConfig, Model};

/// Version of the cache key's definition; bump it when the pre-training changes.
pub const PRETRAIN_FORMAT: &str = "blyan/pretrain/v1";

/// The report file written next to a pre-trained model's blocks.
pub const PRETRAIN_REPORT: &str = "pretrain.json";

/// Everything a pre-training run's weights depend on.
#[derive(Debug, Clone, PartialEq)]
pub struct PretrainSpec {
    /// The architecture.
    pub meta: MetaConfig,
    /// Seed of the initial weights ([`Model::init`]).
    pub init_seed: u64,
    /// The training run (steps, batch size, learning rate, batch-order seed, …).
    pub train: TrainConfig,
    /// SHA3-256 of the training file's bytes.
    pub train_sha3: [u8; 32],
    /// SHA3-256 of the validation file's bytes (the loss reported is measured on it).
    pub val_sha3: [u8; 32],
    /// candle's CPU thread count (results are bit-identical only for the same count).
    pub threads: usize,
}

impl PretrainSpec {
    /// The canonical JSON description of the run (what the key hashes).
    pub fn describe(&self) -> serde_json::Value {
        let t = &self.train;
        serde_json::json!({
            "format": PRETRAIN_FORMAT,
            "meta": self.meta,
            "init_seed": self.init_seed,
            "train": {
                "steps": t.steps, "batch_size": t.batch_size, "lr": t.lr,
                "warmup_steps": t.warmup_steps, "weight_decay": t.weight_decay,
                "beta1": t.beta1, "beta2": t.beta2, "eps": t.eps, "seed": t.seed,
                "targets": t.targets,
            },
            "train_sha3": hex::encode(self.train_sha3),
            "val_sha3": hex::encode(self.val_sha3),
            "threads": self.threads,
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        })
    }

    /// The cache key: hex SHA3-256 of [`Self::describe`]'s compact JSON (keys sorted).
    pub fn cache_key(&self) -> String {
        hex::encode(Sha3_256::digest(self.describe().to_string().as_bytes()))
    }
}

/// What a pre-training run reports (written as [`PRETRAIN_REPORT`]; no wall-clock figures,
/// so a cached run reports exactly what the run that filled the cache did).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainReport {
    /// [`PretrainSpec::cache_key`].
    pub key: String,
    /// [`PretrainSpec::describe`].
    pub spec: serde_json::Value,
    /// Training sequences (windows of the training file).
    pub sequences: usize,
    /// Steps run.
    pub steps: usize,
    /// Training loss of the first step, nats.
    pub train_loss_first: f32,
    /// Mean training loss of the last (up to) 10 steps, nats.
    pub train_loss_last10: f32,
    /// Validation loss of the initial weights.
    pub val_before: Loss,
    /// Validation loss of the pre-trained weights, as the saved blocks give it (what
    /// `model publish-genesis` records as the baseline and `eval` reports).
    pub val_after: Loss,
}

/// The trained weights of a pre-training run and its training losses.
pub struct Pretrained {
    /// The model with every block trained.
    pub model: Model,
    /// Training loss per step, nats.
    pub losses: Vec<f32>,
}

/// Trains every block of a copy of `model` on `seqs` (windows from
/// [`crate::data::sequences`]) with `cfg`; `on_step(step, loss)` after each step.
pub fn pretrain(
    model: &Model,
    seqs: &[Vec<u32>],
    cfg: &TrainConfig,
    on_step: &mut dyn FnMut(usize, f32),
) -> Result<Pretrained, TrainError> {
    let blocks = Model::block_names(model.config());
    let out = train(model, &blocks, seqs, cfg, on_step)?;
    let all: BTreeMap<String, BTreeMap<String, Tensor>> = out
        .trained
        .into_iter()
        .map(|(b, t)| (b.to_string(), t))
        .collect();
    let trained = Model::from_blocks(model.config(), &all, model.device())?;
    Ok(Pretrained {
        model: trained,
        losses: out.losses,
    })
}

/// The mean of the last (up to) 10 values, or NaN for none.
pub fn mean_last10(xs: &[f32]) -> f32 {
    let tail = &xs[xs.len().saturating_sub(10)..];
    if tail.is_empty() {
        return f32::NAN;
    }
    tail.iter().sum::<f32>() / tail.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data;
    use crate::eval::validation_loss;
    use candle_core::Device;

    fn spec() -> PretrainSpec {
        PretrainSpec {
            meta: MetaConfig::tiny(),
            init_seed: 1,
            train: TrainConfig {
                steps: 6,
                ..TrainConfig::default()
            },
            train_sha3: [1; 32],
            val_sha3: [2; 32],
            threads: 2,
        }
    }

    #[test]
    fn the_cache_key_names_every_input() {
        let base = spec();
        let k = base.cache_key();
        assert_eq!(k, spec().cache_key());
        assert_eq!(k.len(), 64);
        let variants: Vec<PretrainSpec> = vec![
            PretrainSpec {
                meta: MetaConfig::small(),
                ..spec()
            },
            PretrainSpec {
                init_seed: 2,
                ..spec()
            },
            PretrainSpec {
                train: TrainConfig {
                    steps: 7,
                    ..base.train.clone()
                },
                ..spec()
            },
            PretrainSpec {
                train: TrainConfig {
                    lr: 1e-3,
                    ..base.train.clone()
                },
                ..spec()
            },
            PretrainSpec {
                train_sha3: [3; 32],
                ..spec()
            },
            PretrainSpec {
                val_sha3: [3; 32],
                ..spec()
            },
            PretrainSpec {
                threads: 1,
                ..spec()
            },
        ];
        for v in variants {
            assert_ne!(v.cache_key(), k, "{}", v.describe());
        }
    }

    #[test]
    fn pretraining_is_reproducible_and_lowers_the_loss() {
        let cfg = MetaConfig::tiny();
        let texts: Vec<String> = data::synth::split(1, "train", 64)
            .into_iter()
            .map(|e| e.text)
            .collect();
        let seqs = data::sequences(&texts, cfg.max_seq);
        let model = Model::init(&cfg, 1, &Device::Cpu).unwrap();
        let tc = TrainConfig {
            steps: 8,
            lr: 1e-2,
            ..TrainConfig::default()
        };
        let a = pretrain(&model, &seqs, &tc, &mut |_, _| {}).unwrap();
        let b = pretrain(&model, &seqs, &tc, &mut |_, _| {}).unwrap();
        assert_eq!(a.losses, b.losses);
        let before = validation_loss(&model, &texts, |_, _| {}).unwrap();
        let after_a = validation_loss(&a.model, &texts, |_, _| {}).unwrap();
        let after_b = validation_loss(&b.model, &texts, |_, _| {}).unwrap();
        assert_eq!(after_a, after_b);
        assert!(
            after_a.micro_nats < before.micro_nats,
            "{after_a:?} vs {before:?}"
        );
        assert!((mean_last10(&[1.0, 3.0]) - 2.0).abs() < 1e-6);
    }
}
