//! `blyan-worker train`: AdamW on chosen blocks of a model directory; writes each trained
//! block's delta (new minus base) as a TensorBlock plus `train.json`, the run's summary.
//! With `--optimizer-state FILE` the run continues the AdamW state stored there (when it
//! fits the model and blocks) and stores the new one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use blyan_worker::data::{self, synth};
use blyan_worker::source::{load_model, DirSource};
use blyan_worker::tensorblock::{TensorBlockWriter, DEFAULT_TILE_SIZE};
use blyan_worker::train::{
    parse_blocks, state_file, train_from, AdamWState, TargetMode, TrainConfig,
};
use candle_core::Device;
use clap::Args;
use indicatif::ProgressStyle;
use serde_json::json;
use sha3::Digest;

use super::bar;

/// Name of the summary file written next to the deltas.
pub const SUMMARY_FILE: &str = "train.json";

/// The model id recorded in `--optimizer-state` files (a model directory has no chain id;
/// the architecture hash, block names and shapes are still checked).
const LOCAL_MODEL_ID: &str = "local";

/// The batch and learning-rate arguments `train` and `model pretrain` share.
#[derive(Args)]
pub struct OptimizerArgs {
    /// Sequences per batch.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// AdamW learning rate (the peak, after warmup).
    #[arg(long, default_value_t = TrainConfig::default().lr)]
    pub lr: f64,
    /// Steps of linear learning-rate warmup (0: none).
    #[arg(long, default_value_t = TrainConfig::default().warmup_steps)]
    pub warmup_steps: usize,
}

/// Arguments of `train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Model directory (with `meta.json`), as written by `model init`.
    #[arg(long = "model-dir", visible_alias = "model")]
    model_dir: PathBuf,
    /// Blocks to train: comma-separated block names (`layer0.expert1`, `head`, …),
    /// `layerN` (a layer's backbone, router and experts) or `all`.
    #[arg(long)]
    blocks: String,
    /// Optimizer steps (one batch each).
    #[arg(long, default_value_t = TrainConfig::default().steps)]
    steps: usize,
    #[command(flatten)]
    optim: OptimizerArgs,
    /// AdamW weight decay.
    #[arg(long, default_value_t = TrainConfig::default().weight_decay)]
    weight_decay: f64,
    /// Seed of the batch order (and of the corpus with `--synthetic`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Training data: a `.jsonl` file of `{"text": …}` or a text file, one document a line.
    #[arg(
        long,
        conflicts_with_all = ["synthetic", "text"],
        required_unless_present_any = ["synthetic", "text"]
    )]
    data: Option<PathBuf>,
    /// Train on N lines of the synthetic corpus's `train` split, generated with `--seed`.
    #[arg(long, value_name = "N", conflicts_with = "text")]
    synthetic: Option<usize>,
    /// Train on the real-text corpus's training region (Debian's `bible-kjv-text` at
    /// /usr/lib/bible.data unless PATH is given), cut for the model's `max_seq`.
    #[arg(long, value_name = "PATH", num_args = 0..=1,
          default_missing_value = data::KJV_PATH)]
    text: Option<PathBuf>,
    /// With `--text`: train on a shard of N passages chosen by `--corpus-seed` (default:
    /// the whole training region).
    #[arg(long, value_name = "N", requires = "text")]
    passages: Option<usize>,
    /// Seed of the `--passages` shard.
    #[arg(long, default_value_t = 1)]
    corpus_seed: u64,
    /// Output directory for the deltas (`{block}.blyt`) and `train.json`.
    #[arg(long)]
    out: PathBuf,
    /// The label-flipping attack: train towards mirrored printable-ASCII targets.
    #[arg(long)]
    flip_labels: bool,
    /// AdamW state file to continue from (when it exists and fits the model and blocks;
    /// otherwise a fresh optimizer, with a warning) and to write the new state to. A run
    /// continuing a state takes the batches after the ones the state has seen and does not
    /// warm up.
    #[arg(long, value_name = "FILE")]
    optimizer_state: Option<PathBuf>,
    /// Merkle tile size of the delta TensorBlocks.
    #[arg(long, default_value_t = DEFAULT_TILE_SIZE)]
    tile_size: u32,
}

/// The training texts and a description of where they came from.
fn load_texts(a: &TrainArgs, max_seq: usize) -> Result<(Vec<String>, serde_json::Value)> {
    if let Some(path) = &a.text {
        let corpus = data::TextCorpus::load(path, data::passage_bytes(max_seq))?;
        let splits = corpus.split(&data::SplitSpec::default());
        let texts = match a.passages {
            Some(n) => splits.train_shard(a.corpus_seed, n),
            None => splits.train,
        };
        let shard = a
            .passages
            .map(|n| json!({ "seed": a.corpus_seed, "passages": n }));
        return Ok((
            texts,
            json!({ "text": corpus.dataset_ref(), "region": "train", "shard": shard }),
        ));
    }
    match (&a.data, a.synthetic) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
            let texts = data::load_texts(path)?;
            let hash = hex::encode(sha3::Sha3_256::digest(&bytes));
            Ok((
                texts,
                json!({ "file": path.display().to_string(), "sha3_256": hash }),
            ))
        }
        (None, Some(n)) => {
            let texts = synth::split(a.seed, "train", n)
                .into_iter()
                .map(|e| e.text)
                .collect();
            Ok((
                texts,
                json!({ "synthetic": { "seed": a.seed, "split": "train", "lines": n } }),
            ))
        }
        (None, None) => bail!("give --data FILE, --text [PATH] or --synthetic N"),
    }
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    let s = serde_json::to_string_pretty(v)?;
    std::fs::write(path, format!("{s}\n")).with_context(|| path.display().to_string())
}

/// Runs `train`.
pub fn train(a: TrainArgs, device: &Device) -> Result<()> {
    let src = DirSource::new(&a.model_dir);
    let pb = bar(0, "verifying");
    let model = load_model(&src, device, |i, n, name| {
        pb.set_length(n as u64);
        pb.set_position(i as u64);
        pb.set_message(name.to_string());
    })
    .with_context(|| format!("model {}", a.model_dir.display()))?;
    pb.finish_and_clear();
    let cfg = model.config().clone();
    let blocks = parse_blocks(&a.blocks, &cfg)?;
    let (texts, data_ref) = load_texts(&a, cfg.max_seq)?;
    let seqs = data::sequences(&texts, cfg.max_seq);
    if seqs.is_empty() {
        bail!("no training sequences in the data");
    }
    let tc = TrainConfig {
        steps: a.steps,
        batch_size: a.optim.batch_size,
        lr: a.optim.lr,
        warmup_steps: a.optim.warmup_steps,
        weight_decay: a.weight_decay,
        seed: a.seed,
        targets: if a.flip_labels {
            TargetMode::Flipped
        } else {
            TargetMode::Normal
        },
        ..TrainConfig::default()
    };
    let names: Vec<String> = blocks.iter().map(ToString::to_string).collect();
    tracing::info!(blocks = %names.join(","), steps = tc.steps, batch = tc.batch_size, sequences = seqs.len(), targets = ?tc.targets, "training");

    let pb = bar(tc.steps, "training");
    let style = ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_prefix("training");
    let init = match &a.optimizer_state {
        Some(p) => state_file::load_for(p, LOCAL_MODEL_ID, &model, &blocks)?,
        None => AdamWState::default(),
    };
    let start = Instant::now();
    let out = train_from(
        &model,
        &blocks,
        &seqs,
        &tc,
        Some(&init),
        &mut |step, loss| {
            pb.set_position(step as u64 + 1);
            pb.set_message(format!("loss {loss:.4}"));
        },
    )?;
    let elapsed = start.elapsed().as_secs_f64();
    pb.finish_and_clear();

    if let Some(p) = &a.optimizer_state {
        state_file::save(p, LOCAL_MODEL_ID, &cfg, &out.optimizer)?;
    }
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    let mut deltas = Vec::new();
    for (name, tensors) in &out.deltas {
        let mut w = TensorBlockWriter::new().tile_size(a.tile_size)?;
        for (t, v) in tensors {
            w.add_tensor(t, v)?;
        }
        let file = format!("{name}.blyt");
        let (hash, size) = w
            .write(&a.out.join(&file))
            .with_context(|| format!("writing the delta of {name}"))?;
        deltas.push(
            json!({ "block": name.to_string(), "file": file, "payload_hash": hash, "size": size }),
        );
    }

    let l = &out.losses;
    let mean = |xs: &[f32]| {
        (!xs.is_empty()).then(|| xs.iter().map(|x| f64::from(*x)).sum::<f64>() / xs.len() as f64)
    };
    let k = l.len().min(10);
    let summary = json!({
        "first": l.first(),
        "last": l.last(),
        "min": l.iter().copied().reduce(f32::min),
        "mean_first_10": mean(&l[..k]),
        "mean_last_10": mean(&l[l.len() - k..]),
    });
    let tokens_per_s = if elapsed > 0.0 {
        out.tokens as f64 / elapsed
    } else {
        0.0
    };
    let report = json!({
        "model_dir": a.model_dir.display().to_string(),
        "meta": cfg,
        "blocks": names,
        "targets": tc.targets,
        "config": {
            "steps": tc.steps, "batch_size": tc.batch_size, "lr": tc.lr, "warmup_steps": tc.warmup_steps,
            "weight_decay": tc.weight_decay, "beta1": tc.beta1, "beta2": tc.beta2,
            "eps": tc.eps, "seed": tc.seed,
        },
        "data": data_ref,
        "sequences": seqs.len(),
        "steps": out.steps,
        "tokens": out.tokens,
        "samples": out.samples,
        "elapsed_s": elapsed,
        "tokens_per_s": tokens_per_s,
        "loss": summary,
        "losses": out.losses,
        "batch_hashes": out.batch_hashes.iter().map(hex::encode).collect::<Vec<_>>(),
        "optimizer": {
            "state": a.optimizer_state.as_ref().map(|p| p.display().to_string()),
            "start_step": out.start_step,
            "end_step": out.optimizer.t,
        },
        "deltas": deltas,
    });
    write_json(&a.out.join(SUMMARY_FILE), &report)?;

    println!(
        "{}: trained {} block(s) for {} steps: loss {:.4} -> {:.4}, {} tokens, {} samples, {:.1} s, {:.0} tokens/s",
        a.out.display(),
        names.len(),
        out.steps,
        l.first().copied().unwrap_or(f32::NAN),
        l.last().copied().unwrap_or(f32::NAN),
        out.tokens,
        out.samples,
        elapsed,
        tokens_per_s
    );
    for d in &deltas {
        println!(
            "{:<18} {} {:>9}",
            d["block"].as_str().unwrap_or(""),
            d["payload_hash"].as_str().unwrap_or(""),
            d["size"]
        );
    }
    Ok(())
}
