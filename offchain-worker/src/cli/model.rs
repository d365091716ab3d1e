//! `blyan-worker model …` and `blyan-worker block`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use blyan_worker::chain;
use blyan_worker::ipfs::KuboClient;
use blyan_worker::model::{MetaConfig, Model};
use blyan_worker::source::{self, BlockSource, DirSource};
use blyan_worker::tensorblock::{TensorBlock, DEFAULT_TILE_SIZE};
use candle_core::Device;
use clap::{Args, Subcommand};

use super::bar;

/// Model subcommands.
#[derive(Subcommand)]
pub enum ModelCmd {
    /// Initialise a model from a seed and write one TensorBlock per block plus `meta.json`.
    Init(InitArgs),
    /// List a model directory's blocks and verify every one.
    Inspect(InspectArgs),
    /// Initialise a model and train every block on a corpus directory (`data text`), with a
    /// progress bar; the result is cached under `--cache` and reused.
    Pretrain(super::pretrain::PretrainArgs),
    /// Add a model's blocks and its validation file to Kubo, compute the baseline
    /// validation loss, and write the model's genesis JSON (`GenesisModel`).
    PublishGenesis(PublishGenesisArgs),
    /// Write a governance proposal that adds experts to a model on chain (its new blocks
    /// derived from the chain's heads and added to Kubo), or check one (`--check ID`).
    Evolve(super::evolve::EvolveArgs),
}

/// Arguments of `model publish-genesis`.
#[derive(Args)]
pub struct PublishGenesisArgs {
    /// Model directory (with `meta.json`; its CIDs are recorded there too).
    #[arg(long)]
    model: PathBuf,
    /// Corpus directory written by `data generate` (its `val.jsonl` is the validation set),
    /// or a validation file.
    #[arg(long)]
    data: PathBuf,
    /// Kubo RPC API: `http://127.0.0.1:5001`, or a multiaddr `/ip4/127.0.0.1/tcp/5001`.
    #[arg(long, env = "BLYAN_IPFS_API")]
    ipfs: String,
    /// Owner account (0x…, EIP-55 or one case).
    #[arg(long)]
    owner: String,
    /// Model id on chain (`[a-z0-9_-]{1,64}`).
    #[arg(long)]
    model_id: String,
    /// Where to write the `GenesisModel` JSON.
    #[arg(long)]
    out: PathBuf,
    /// Time limit of one Kubo call, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// Arguments of `model init`.
#[derive(Args)]
pub struct InitArgs {
    /// Size preset: tiny or small.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// Seed of the initial weights (same seed, same payload hashes).
    #[arg(long)]
    seed: u64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Merkle tile size in bytes (a power of two, at least 64).
    #[arg(long, default_value_t = DEFAULT_TILE_SIZE)]
    tile_size: u32,
}

/// Arguments of `model inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// Model directory (with `meta.json`).
    #[arg(long)]
    model: PathBuf,
}

/// Arguments of `block`.
#[derive(Args)]
pub struct BlockArgs {
    /// A TensorBlock file.
    file: PathBuf,
    /// Fail unless the file's payload hash is this (hex).
    #[arg(long)]
    expect: Option<String>,
}

/// Runs a model subcommand.
pub fn run(cmd: ModelCmd, device: &Device) -> Result<()> {
    match cmd {
        ModelCmd::Init(a) => init(a, device),
        ModelCmd::Inspect(a) => inspect(a),
        ModelCmd::Pretrain(a) => super::pretrain::run(a, device),
        ModelCmd::PublishGenesis(a) => publish_genesis(a, device),
        ModelCmd::Evolve(a) => super::evolve::run(a, device),
    }
}

fn publish_genesis(a: PublishGenesisArgs, device: &Device) -> Result<()> {
    let owner: blyan_proto::address::Address = a
        .owner
        .parse()
        .with_context(|| format!("--owner {:?}", a.owner))?;
    let val = if a.data.is_dir() {
        a.data.join("val.jsonl")
    } else {
        a.data.clone()
    };
    if !val.is_file() {
        anyhow::bail!(
            "{}: no validation file (run `blyan-worker data generate --out DIR` first)",
            val.display()
        );
    }
    let client = KuboClient::new(&a.ipfs)?.with_timeout(Duration::from_secs(a.timeout));
    let g = chain::genesis_model(&client, &a.model, &val, owner, &a.model_id, device)?;
    let json = serde_json::to_string_pretty(&g)?;
    std::fs::write(&a.out, format!("{json}\n")).with_context(|| a.out.display().to_string())?;
    let v = g.validation.as_ref();
    println!(
        "{}: model {} with {} blocks; validation {} baseline {} micro-nats",
        a.out.display(),
        g.id,
        g.blocks.len(),
        v.map(|v| v.cid.as_str()).unwrap_or("-"),
        v.map(|v| v.baseline_loss_micro).unwrap_or(0)
    );
    Ok(())
}

fn init(a: InitArgs, device: &Device) -> Result<()> {
    let cfg = MetaConfig::preset(&a.preset)?;
    tracing::info!(preset = %a.preset, seed = a.seed, params = cfg.n_params(), "initialising model");
    let model = Model::init(&cfg, a.seed, device)?;
    let n = Model::block_names(&cfg).len();
    let pb = bar(n, "writing");
    let manifest = source::save_model(&model, &a.out, a.tile_size, |i, _, name| {
        pb.set_position(i as u64);
        pb.set_message(name.to_string());
    })?;
    pb.finish_and_clear();
    let total: u64 = manifest.blocks.iter().map(|b| b.size).sum();
    println!(
        "{}: {} blocks, {} bytes, {} parameters",
        a.out.display(),
        manifest.blocks.len(),
        total,
        cfg.n_params()
    );
    for b in &manifest.blocks {
        println!("{:<18} {} {:>9}", b.name, b.payload_hash, b.size);
    }
    Ok(())
}

fn inspect(a: InspectArgs) -> Result<()> {
    let src = DirSource::new(&a.model);
    let m = src.manifest()?;
    source::check_manifest(&m)?;
    println!("{}", serde_json::to_string_pretty(&m.meta)?);
    for e in &m.blocks {
        let tb = source::open_block(&src, e)?;
        let tensors: Vec<String> = tb
            .tensors()
            .map(|v| format!("{}{:?}", v.name(), v.shape()))
            .collect();
        println!(
            "{:<18} {} {:>9} ok  {}",
            e.name,
            e.payload_hash,
            e.size,
            tensors.join(" ")
        );
    }
    println!("{} blocks verified", m.blocks.len());
    Ok(())
}

/// Prints one TensorBlock's header and tensors and verifies its tiles.
pub fn block(a: BlockArgs) -> Result<()> {
    let tb = TensorBlock::open(&a.file).with_context(|| a.file.display().to_string())?;
    if let Some(h) = &a.expect {
        tb.expect_hash(&h.parse().context("--expect is not 64 hex digits")?)?;
    }
    println!("payload hash {}", tb.payload_hash());
    println!(
        "file {} bytes, {} tiles of {} bytes",
        tb.file_len(),
        tb.tile_count(),
        tb.tile_size()
    );
    for v in tb.tensors() {
        println!(
            "  {:<24} {:?} {:?} {:?}",
            v.name(),
            v.dtype(),
            v.shape(),
            v.quantization()
        );
    }
    tb.verify_all()?;
    println!("all tiles verified");
    Ok(())
}
