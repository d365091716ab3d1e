//! `blyan-worker eval` and `blyan-worker generate`: both rebuild the model from its blocks,
//! verifying each one, then run it. The blocks come from a model directory (`--model`) or
//! from the chain's heads fetched by CID through Kubo (`--chain --model-id --ipfs`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use blyan_worker::chain::ChainSource;
use blyan_worker::eval;
use blyan_worker::ipfs::KuboClient;
use blyan_worker::model::{generate as gen, GenerateOptions, Model};
use blyan_worker::source::{load_model, BlockSource, DirSource};
use candle_core::Device;
use clap::Args;

use super::bar;

/// Where the model comes from: a directory, or the chain plus Kubo.
#[derive(Args)]
pub struct ModelFrom {
    /// Model directory (with `meta.json`).
    #[arg(long, conflicts_with_all = ["chain", "model_id"], required_unless_present = "chain")]
    model: Option<PathBuf>,
    /// CometBFT RPC of a node (`http://127.0.0.1:26657`): the blocks are the chain's heads.
    #[arg(long, requires_all = ["model_id", "ipfs"])]
    chain: Option<String>,
    /// Model id on chain.
    #[arg(long)]
    model_id: Option<String>,
    /// Kubo RPC API the blocks (and validation set) are fetched from.
    #[arg(long, env = "BLYAN_IPFS_API")]
    ipfs: Option<String>,
    /// Cache directory for fetched blocks (default: `$TMPDIR/blyan-worker-cache/{model id}`).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Time limit of one Kubo call, in seconds.
    #[arg(long, default_value_t = 60)]
    ipfs_timeout: u64,
}

/// Arguments of `eval`.
#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    from: ModelFrom,
    /// Validation data: a `.jsonl` file of `{"text": …}` or a text file, one document a line.
    /// Required with `--model`; with `--chain` the default is the model's validation set on
    /// chain (fetched by CID, hash checked).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Print JSON (`micro_nats`, `nats`, `tokens`, and with `--chain` `recorded_loss_micro`,
    /// `matches_recorded`) instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `generate`.
#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    from: ModelFrom,
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

/// The opened source.
enum Opened {
    Dir(DirSource),
    Chain(Box<ChainSource>, PathBuf),
}

impl ModelFrom {
    fn open(&self) -> Result<Opened> {
        if let Some(dir) = &self.model {
            return Ok(Opened::Dir(DirSource::new(dir)));
        }
        let (Some(rpc), Some(id), Some(api)) = (&self.chain, &self.model_id, &self.ipfs) else {
            bail!("give --model DIR, or --chain URL --model-id ID --ipfs URL");
        };
        let cache = self.cache.clone().unwrap_or_else(|| {
            std::env::temp_dir()
                .join("blyan-worker-cache")
                .join(id.as_str())
        });
        let client = KuboClient::new(api)?.with_timeout(Duration::from_secs(self.ipfs_timeout));
        let src = ChainSource::open(rpc, id, client, &cache)
            .with_context(|| format!("model {id} on {rpc}"))?;
        Ok(Opened::Chain(Box::new(src), cache))
    }
}

impl Opened {
    fn source(&self) -> &dyn BlockSource {
        match self {
            Opened::Dir(d) => d,
            Opened::Chain(c, _) => c.as_ref(),
        }
    }
}

/// Loads and verifies every block of the model, with a progress bar.
fn load(src: &dyn BlockSource, device: &Device) -> Result<Model> {
    let pb = bar(0, "verifying");
    let model = load_model(src, device, |i, n, name| {
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
    let opened = a.from.open()?;
    let (data, recorded) = match (&opened, &a.data) {
        (_, Some(d)) => (
            d.clone(),
            match &opened {
                Opened::Chain(c, _) => c.info().loss_micro,
                Opened::Dir(_) => None,
            },
        ),
        (Opened::Dir(_), None) => bail!("--data is required with --model"),
        (Opened::Chain(c, cache), None) => (
            c.fetch_validation(&cache.join("validation"))?,
            c.info().loss_micro,
        ),
    };
    let model = load(opened.source(), device)?;
    let pb = bar(0, "eval");
    let loss = eval::eval_file(&model, &data, |i, n| {
        pb.set_length(n as u64);
        pb.set_position(i as u64);
    })?;
    pb.finish_and_clear();
    let chain = matches!(opened, Opened::Chain(..));
    let matches = recorded.map(|r| r == loss.micro_nats);
    if a.json {
        let mut v = serde_json::json!({ "micro_nats": loss.micro_nats, "nats": loss.nats(), "tokens": loss.tokens });
        if chain {
            v["recorded_loss_micro"] = serde_json::json!(recorded);
            v["matches_recorded"] = serde_json::json!(matches);
        }
        println!("{v}");
    } else {
        println!(
            "validation loss: {} micro-nats ({:.6} nats) over {} tokens",
            loss.micro_nats,
            loss.nats(),
            loss.tokens
        );
        if chain {
            match recorded {
                Some(r) if r == loss.micro_nats => {
                    println!("recorded loss: {r} micro-nats: matches")
                }
                Some(r) => println!(
                    "recorded loss: {r} micro-nats: DIFFERS by {}",
                    i128::from(loss.micro_nats) - i128::from(r)
                ),
                None => println!("recorded loss: none on chain"),
            }
        }
    }
    Ok(())
}

/// Runs `generate`.
pub fn generate(a: GenerateArgs, device: &Device) -> Result<()> {
    let opened = a.from.open()?;
    let model = load(opened.source(), device)?;
    let opts = GenerateOptions {
        max_tokens: a.max_tokens,
        temperature: a.temperature,
        seed: a.seed,
    };
    let (text, _) = gen(&model, &a.prompt, &opts)?;
    println!("{}{}", a.prompt, text);
    Ok(())
}
