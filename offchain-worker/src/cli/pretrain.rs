//! `blyan-worker model pretrain`: a seeded model of a preset, every block trained on a
//! corpus directory (`train.jsonl`, `val.jsonl` as `data text` writes them), written to
//! `--out` with `pretrain.json` (the validation loss before and after). The result is cached
//! under `--cache/{key}` ([`PretrainSpec::cache_key`]): a later run with the same preset,
//! seed, training config, data, thread count and build copies it instead of training.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use blyan_worker::data;
use blyan_worker::eval::{eval_file, Loss};
use blyan_worker::model::{MetaConfig, Model};
use blyan_worker::source::{self, load_model, DirSource};
use blyan_worker::tensorblock::DEFAULT_TILE_SIZE;
use blyan_worker::train::pretrain::{
    mean_last10, pretrain, PretrainReport, PretrainSpec, PRETRAIN_REPORT,
};
use blyan_worker::train::TrainConfig;
use candle_core::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha3::Digest;

use super::train::OptimizerArgs;

/// Arguments of `model pretrain`.
#[derive(Args)]
pub struct PretrainArgs {
    /// Size preset: tiny or small.
    #[arg(long, default_value = "small")]
    preset: String,
    /// Seed of the initial weights.
    #[arg(long)]
    seed: u64,
    /// Corpus directory with `train.jsonl` and `val.jsonl` (`blyan-worker data text`).
    #[arg(long)]
    data: PathBuf,
    /// Optimizer steps (one batch each).
    #[arg(long, default_value_t = 60)]
    steps: usize,
    #[command(flatten)]
    optim: OptimizerArgs,
    /// Seed of the batch order.
    #[arg(long, default_value_t = 0)]
    train_seed: u64,
    /// Cache directory: the run's result is kept in `{cache}/{key}` and reused.
    #[arg(long, env = "BLYAN_PRETRAIN_CACHE")]
    cache: Option<PathBuf>,
    /// Output model directory (blocks, `meta.json`, `pretrain.json`).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `model pretrain`.
pub fn run(a: PretrainArgs, device: &Device) -> Result<()> {
    let meta = MetaConfig::preset(&a.preset)?;
    let train_file = a.data.join("train.jsonl");
    let val_file = a.data.join("val.jsonl");
    let sha3_of = |p: &Path| -> Result<[u8; 32]> {
        let bytes = std::fs::read(p).with_context(|| {
            format!(
                "{} (write it with `blyan-worker data text --out DIR`)",
                p.display()
            )
        })?;
        Ok(sha3::Sha3_256::digest(&bytes).into())
    };
    let tc = TrainConfig {
        steps: a.steps,
        batch_size: a.optim.batch_size,
        lr: a.optim.lr,
        warmup_steps: a.optim.warmup_steps,
        seed: a.train_seed,
        ..TrainConfig::default()
    };
    let spec = PretrainSpec {
        meta: meta.clone(),
        init_seed: a.seed,
        train: tc.clone(),
        train_sha3: sha3_of(&train_file)?,
        val_sha3: sha3_of(&val_file)?,
        threads: candle_core::utils::get_num_threads(),
    };
    if a.out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!("{} exists and is not empty", a.out.display());
    }
    let key = spec.cache_key();
    let cached = a.cache.as_ref().map(|c| c.join(&key));
    let report = match cached.as_deref().and_then(|d| reuse(d, device)) {
        Some(r) => {
            eprintln!("pre-trained model found in the cache: {}", dir_of(&cached));
            r
        }
        None => {
            let dir = match &cached {
                Some(d) => d.clone(),
                None => a.out.clone(),
            };
            train_into(&dir, &spec, &train_file, &val_file, device)?
        }
    };
    if let Some(d) = &cached {
        copy_dir(d, &a.out)?;
    }
    println!(
        "{}: {} pre-trained for {} steps (batch {}, lr {}): validation loss {:.4} -> {:.4} nats ({} micro-nats over {} tokens); key {}",
        a.out.display(),
        a.preset,
        report.steps,
        tc.batch_size,
        tc.lr,
        report.val_before.nats(),
        report.val_after.nats(),
        report.val_after.micro_nats,
        report.val_after.tokens,
        report.key,
    );
    Ok(())
}

fn dir_of(d: &Option<PathBuf>) -> String {
    d.as_ref()
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

/// The report of a complete cache entry whose every block verifies, or `None`.
fn reuse(dir: &Path, device: &Device) -> Option<PretrainReport> {
    let text = std::fs::read_to_string(dir.join(PRETRAIN_REPORT)).ok()?;
    let report: PretrainReport = serde_json::from_str(&text).ok()?;
    match load_model(&DirSource::new(dir), device, |_, _, _| {}) {
        Ok(_) => Some(report),
        Err(e) => {
            eprintln!(
                "cache entry {} does not verify ({e}); training again",
                dir.display()
            );
            None
        }
    }
}

/// Trains, writes the model and its report to `dir` (through a temporary sibling renamed
/// into place, so a cache entry is complete or absent).
fn train_into(
    dir: &Path,
    spec: &PretrainSpec,
    train_file: &Path,
    val_file: &Path,
    device: &Device,
) -> Result<PretrainReport> {
    let texts = data::load_texts(train_file)?;
    let seqs = data::sequences(&texts, spec.meta.max_seq);
    if seqs.is_empty() {
        bail!("{}: no training sequences", train_file.display());
    }
    let model = Model::init(&spec.meta, spec.init_seed, device)?;
    eprintln!(
        "pre-training {} ({} parameters) on {} sequences of {}: {} steps of batch {} ({} threads)",
        spec.meta.preset,
        spec.meta.n_params(),
        seqs.len(),
        train_file.display(),
        spec.train.steps,
        spec.train.batch_size,
        spec.threads,
    );
    let val_before = eval_file(&model, val_file, |_, _| {})?;
    let progress = Progress::new(spec.train.steps);
    let out = pretrain(&model, &seqs, &spec.train, &mut |step, loss| {
        progress.step(step + 1, loss)
    })?;
    let secs = progress.finish();
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    source::save_model(&out.model, &tmp, DEFAULT_TILE_SIZE, |_, _, _| {})?;
    // the loss of the blocks as written: what publish-genesis and eval measure
    let saved = load_model(&DirSource::new(&tmp), device, |_, _, _| {})?;
    let val_after: Loss = eval_file(&saved, val_file, |_, _| {})?;
    let report = PretrainReport {
        key: spec.cache_key(),
        spec: spec.describe(),
        sequences: seqs.len(),
        steps: out.losses.len(),
        train_loss_first: out.losses.first().copied().unwrap_or(f32::NAN),
        train_loss_last10: mean_last10(&out.losses),
        val_before,
        val_after,
    };
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(tmp.join(PRETRAIN_REPORT), format!("{json}\n"))?;
    if dir.exists() {
        // a cache entry that did not verify (the output directory was checked to be empty)
        std::fs::remove_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(&tmp, dir).with_context(|| format!("moving the model to {}", dir.display()))?;
    eprintln!(
        "pre-trained in {secs:.0} s: training loss {:.3} -> {:.3} (mean of the last 10 steps), validation loss {:.4} -> {:.4} nats",
        report.train_loss_first,
        report.train_loss_last10,
        val_before.nats(),
        val_after.nats()
    );
    Ok(report)
}

/// Copies the files of `from` into `to` (created; files of the same name replaced).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| to.display().to_string())?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Progress on stderr: a bar (steps, loss, ETA) on a terminal, else a line every tenth.
struct Progress {
    bar: ProgressBar,
    total: usize,
    start: Instant,
    tty: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "pre-training [{bar:40}] {pos}/{len} steps, {msg}, {elapsed} elapsed, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        let tty = !bar.is_hidden();
        Self {
            bar,
            total,
            start: Instant::now(),
            tty,
        }
    }

    fn step(&self, done: usize, loss: f32) {
        self.bar.set_message(format!("loss {loss:.3}"));
        self.bar.set_position(done as u64);
        let every = (self.total / 10).max(1);
        if !self.tty && (done.is_multiple_of(every) || done == self.total) {
            let el = self.start.elapsed();
            let eta = el.mul_f64((self.total - done) as f64 / done.max(1) as f64);
            eprintln!(
                "pre-training: {done}/{} steps, loss {loss:.3}, {} elapsed, ETA {}",
                self.total,
                secs(el),
                secs(eta)
            );
        }
    }

    /// Clears the bar; the seconds the run took.
    fn finish(self) -> f64 {
        self.bar.finish_and_clear();
        self.start.elapsed().as_secs_f64()
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}m{:02}s", s / 60, s % 60)
}
