//! `blyan-worker eval` and `blyan-worker generate`: both rebuild the model from its blocks,
//! verifying each one, then run it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use blyan_worker::eval;
use blyan_worker::model::{generate as gen, GenerateOptions, Model};
use blyan_worker::source::{load_model, DirSource};
use candle_core::Device;
use clap::Args;

use super::bar;

/// Arguments of `eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Model directory (with `meta.json`).
    #[arg(long)]
    model: PathBuf,
    /// Validation data: a `.jsonl` file of `{"text": …}` or a text file, one document a line.
    #[arg(long)]
    data: PathBuf,
    /// Print JSON (`micro_nats`, `nats`, `tokens`) instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Model directory (with `meta.json`).
    #[arg(long)]
    model: PathBuf,
    /// The prompt.
    #[arg(long)]
    prompt: String,
    /// Most bytes to generate.
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Loads and verifies every block of the model in `dir`, with a progress bar.
fn load(dir: &Path, device: &Device) -> Result<Model> {
    let pb = bar(0, "verifying");
    let model = load_model(&DirSource::new(dir), device, |i, n, name| {
        pb.set_length(n as u64);
        pb.set_position(i as u64);
        pb.set_message(name.to_string());
    })?;
    pb.finish_and_clear();
    tracing::info!(
        blocks = Model::block_names(model.config()).len(),
        "model loaded, every block verified"
    );
    Ok(model)
}

/// Runs `eval`.
pub fn eval(a: EvalArgs, device: &Device) -> Result<()> {
    let model = load(&a.model, device)?;
    let pb = bar(0, "eval");
    let loss = eval::eval_file(&model, &a.data, |i, n| {
        pb.set_length(n as u64);
        pb.set_position(i as u64);
    })?;
    pb.finish_and_clear();
    if a.json {
        let v = serde_json::json!({ "micro_nats": loss.micro_nats, "nats": loss.nats(), "tokens": loss.tokens });
        println!("{v}");
    } else {
        println!(
            "validation loss: {} micro-nats ({:.6} nats) over {} tokens",
            loss.micro_nats,
            loss.nats(),
            loss.tokens
        );
    }
    Ok(())
}

/// Runs `generate`.
pub fn generate(a: GenerateArgs, device: &Device) -> Result<()> {
    let model = load(&a.model, device)?;
    let opts = GenerateOptions {
        max_tokens: a.max_tokens,
        temperature: a.temperature,
        seed: a.seed,
    };
    let (text, _) = gen(&model, &a.prompt, &opts)?;
    println!("{}{}", a.prompt, text);
    Ok(())
}
