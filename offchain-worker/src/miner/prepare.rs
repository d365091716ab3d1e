//! Preparing a submission: load the chain's heads (verified), train the chosen blocks,
//! poison the delta if this miner is an attacker, compress each block's delta (keeping the
//! error-feedback residual across rounds), upload the containers and the training manifest
//! to Kubo.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use blyan_proto::pol::{BaseHead, DeltaRef};
use candle_core::Device;
use serde_json::json;

use super::state::{optimizer_state_path, Prepared};
use super::MinerConfig;
use crate::chain::ChainSource;
use crate::compress::{self, ErrorFeedback};
use crate::data;
use crate::ipfs::KuboClient;
use crate::model::{BlockName, Model};
use crate::train::{self, state_file, AdamWState, TargetMode, TrainConfig, TrainOutcome};

/// Where a miner's training data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSpec {
    /// `n` documents of the synthetic corpus with this seed.
    Synthetic {
        /// Documents.
        n: usize,
        /// Corpus seed.
        seed: u64,
    },
    /// A user text or JSONL file.
    File(PathBuf),
    /// `n` passages of the real-text corpus's training region (default split), chosen by
    /// `seed` (see [`data::TextSplits::train_shard`]).
    Text {
        /// The corpus file (default [`data::KJV_PATH`]).
        path: PathBuf,
        /// Passages in the shard.
        n: usize,
        /// Shard seed.
        seed: u64,
    },
}

impl DataSpec {
    /// The documents and the dataset reference recorded on chain, for a model with
    /// `max_seq` positions.
    fn load(&self, max_seq: usize) -> anyhow::Result<(Vec<String>, String)> {
        match self {
            DataSpec::Synthetic { n, seed } => Ok((
                data::synth::split(*seed, "train", *n)
                    .into_iter()
                    .map(|e| e.text)
                    .collect(),
                format!("synthetic:seed={seed}:n={n}"),
            )),
            DataSpec::File(p) => {
                let bytes = std::fs::read(p).with_context(|| p.display().to_string())?;
                let texts = data::load_texts(p)?;
                Ok((
                    texts,
                    format!("sha3:{}", hex::encode(compress::sha3(&bytes))),
                ))
            }
            DataSpec::Text { path, n, seed } => {
                let corpus = data::TextCorpus::load(path, data::passage_bytes(max_seq))?;
                let shard = corpus
                    .split(&data::SplitSpec::default())
                    .train_shard(*seed, *n);
                Ok((shard, format!("{}:seed={seed}:n={n}", corpus.dataset_ref())))
            }
        }
    }
}

fn feedback_path(home: &Path) -> PathBuf {
    home.join("feedback.bin")
}

/// One round's training of `blocks` of `model` (the chain's heads): continues the AdamW
/// state kept in the miner's home when `cfg.keep_optimizer` (fresh when there is none or it
/// does not fit, an error when the file is corrupt) and stores the new state before
/// returning, so it is on disk before anything is uploaded or submitted.
pub(crate) fn train_round(
    cfg: &MinerConfig,
    model: &Model,
    blocks: &[BlockName],
    seqs: &[Vec<u32>],
    tc: &TrainConfig,
    on_step: &mut dyn FnMut(usize, f32),
) -> anyhow::Result<TrainOutcome> {
    let path = optimizer_state_path(&cfg.home, &cfg.model_id, blocks);
    let init = if cfg.keep_optimizer {
        state_file::load_for(&path, &cfg.model_id, model, blocks)?
    } else {
        AdamWState::default()
    };
    let out = train::train_from(model, blocks, seqs, tc, Some(&init), on_step)?;
    if cfg.keep_optimizer {
        state_file::save(&path, &cfg.model_id, model.config(), &out.optimizer)?;
        tracing::info!(from_step = out.start_step, to_step = out.optimizer.t,
            path = %path.display(), "optimizer state saved");
    }
    Ok(out)
}

/// Trains against `heads` (the chain's current heads of the blocks to train) and uploads
/// the result.
pub fn prepare(
    cfg: &MinerConfig,
    source: &ChainSource,
    kubo: &KuboClient,
    heads: &[BaseHead],
    device: &Device,
) -> anyhow::Result<Prepared> {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let model = crate::source::load_model(source, device, |_, _, _| {})
        .context("loading the model from the chain's heads")?;
    let blocks = train::parse_blocks(&cfg.blocks, model.config())?;
    let (texts, dataset_ref) = cfg.data.load(model.config().max_seq)?;
    let seqs = data::sequences(&texts, model.config().max_seq);
    if seqs.is_empty() {
        bail!("the training data has no sequences");
    }
    let mut tc = cfg.train.clone();
    if cfg.attack.is_some_and(|a| a.flips_labels()) {
        tc.targets = TargetMode::Flipped;
    }
    let bar = indicatif::ProgressBar::new(tc.steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("train [{bar:40}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let out = train_round(cfg, &model, &blocks, &seqs, &tc, &mut |step, loss| {
        bar.set_position(step as u64 + 1);
        bar.set_message(format!("loss {loss:.4}"));
    })?;
    bar.finish_and_clear();
    let train_secs = t0.elapsed().as_secs_f64();

    let fb_path = feedback_path(&cfg.home);
    let mut feedback = if fb_path.exists() {
        ErrorFeedback::load(&fb_path)?
    } else {
        ErrorFeedback::new()
    };
    let (mut deltas, mut per_block, mut raw, mut enc_total) = (Vec::new(), Vec::new(), 0u64, 0u64);
    for (block, tensors) in &out.deltas {
        let name = block.to_string();
        let mut dt = compress::tensors_to_delta(tensors)?;
        if let Some(a) = &cfg.attack {
            a.apply(&name, &mut dt, cfg.train.seed);
        }
        let enc = compress::encode(&name, &dt, &cfg.pipeline, Some(&mut feedback))?;
        let cid = kubo.add_bytes(&enc.bytes)?;
        raw += enc.stats.raw_bytes;
        enc_total += enc.stats.encoded_bytes;
        per_block.push(json!({
            "block": name, "cid": cid.to_string(), "bytes": enc.bytes.len(),
            "ratio": enc.stats.ratio, "l2_error_rel": enc.stats.l2_error_rel,
        }));
        deltas.push(DeltaRef {
            block: name,
            cid: cid.to_string(),
            hash: enc.hash,
            size: enc.bytes.len() as u64,
        });
    }
    feedback.save(&fb_path)?;
    // deltas come out in block order; base heads must list the same blocks in the same order
    let base_heads: Vec<BaseHead> = deltas
        .iter()
        .map(|d| {
            heads
                .iter()
                .find(|h| h.block == d.block)
                .cloned()
                .with_context(|| format!("no head read for {}", d.block))
        })
        .collect::<anyhow::Result<_>>()?;
    let last = out.losses.last().copied().unwrap_or(f32::NAN);
    let finished = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let manifest = json!({
        "version": 1,
        "model": cfg.model_id,
        "base_heads": base_heads,
        "datasets": [dataset_ref],
        "seed": tc.seed,
        "steps": out.steps,
        "batch_size": tc.batch_size,
        "lr": tc.lr,
        "warmup_steps": tc.warmup_steps,
        "optimizer": {"start_step": out.start_step, "end_step": out.optimizer.t},
        "weight_decay": tc.weight_decay,
        "tokens": out.tokens,
        "samples": out.samples,
        "batch_hashes": out.batch_hashes.iter().map(hex::encode).collect::<Vec<_>>(),
        "loss": {"first": out.losses.first(), "last": last},
        "timing": {
            "started_unix": started, "finished_unix": finished, "train_seconds": train_secs,
            "tokens_per_second": out.tokens as f64 / train_secs.max(1e-9),
        },
        "compression": {"pipeline": cfg.pipeline.to_string(), "blocks": per_block},
        "worker": concat!("blyan-worker ", env!("CARGO_PKG_VERSION")),
    });
    let bytes = serde_json::to_vec(&manifest)?;
    let manifest_cid = kubo.add_bytes(&bytes)?;
    Ok(Prepared {
        base_heads,
        deltas,
        samples: out.samples,
        dataset_refs: vec![dataset_ref],
        manifest_cid: manifest_cid.to_string(),
        manifest_hash: hex::encode(compress::sha3(&bytes)),
        manifest_size: bytes.len() as u64,
        ratio: raw as f64 / enc_total.max(1) as f64,
        final_loss: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::Pipeline;
    use crate::model::MetaConfig;

    fn config(home: &Path, keep: bool) -> MinerConfig {
        MinerConfig {
            model_id: "m1".into(),
            blocks: "head".into(),
            train: TrainConfig {
                steps: 3,
                batch_size: 4,
                ..TrainConfig::default()
            },
            data: DataSpec::Synthetic { n: 20, seed: 1 },
            pipeline: Pipeline::default(),
            bond: 1,
            attack: None,
            home: home.to_path_buf(),
            max_submissions: None,
            keep_optimizer: keep,
        }
    }

    #[test]
    fn rounds_continue_the_optimizer_state_kept_in_home() {
        let home = tempfile::tempdir().unwrap();
        let meta = MetaConfig::tiny();
        let model = Model::init(&meta, 1, &Device::Cpu).unwrap();
        let blocks = [BlockName::Head];
        let (texts, _) = DataSpec::Synthetic { n: 20, seed: 1 }.load(64).unwrap();
        let seqs = data::sequences(&texts, meta.max_seq);
        let cfg = config(home.path(), true);
        let path = optimizer_state_path(home.path(), "m1", &blocks);
        assert!(path.starts_with(home.path().join("optimizer")));
        let run =
            |c: &MinerConfig| train_round(c, &model, &blocks, &seqs, &c.train, &mut |_, _| {});

        let first = run(&cfg).unwrap();
        assert_eq!((first.start_step, first.optimizer.t), (0, 3));
        let stored = state_file::StoredState::read(&path).unwrap().unwrap();
        assert_eq!(stored.state, first.optimizer);
        let second = run(&cfg).unwrap();
        assert_eq!((second.start_step, second.optimizer.t), (3, 6));
        assert_ne!(second.batch_hashes, first.batch_hashes);

        // --fresh-optimizer: neither read nor written
        let fresh = run(&config(home.path(), false)).unwrap();
        assert_eq!((fresh.start_step, fresh.optimizer.t), (0, 3));
        let stored = state_file::StoredState::read(&path).unwrap().unwrap();
        assert_eq!(stored.state.t, 6);

        // another model id in the same home: its own file, fresh
        let other = MinerConfig {
            model_id: "m2".into(),
            ..config(home.path(), true)
        };
        assert_eq!(run(&other).unwrap().start_step, 0);

        // a corrupt file stops the round with a clear error
        std::fs::write(&path, b"BLYO garbage").unwrap();
        let e = format!("{:#}", run(&cfg).unwrap_err());
        assert!(e.contains("corrupt") && e.contains("remove it"), "{e}");
    }
}
