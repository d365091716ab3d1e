//! `blyan-worker`: Blyan's off-chain worker. This version builds, inspects and runs models
//! from local TensorBlock directories or from the chain's heads (fetched by CID through
//! Kubo), moves their blocks through Kubo and writes a model's genesis JSON, trains and
//! compresses deltas, mines (`miner`), validates Proof-of-Learning rounds (`validator`) and
//! serves the model (`serve`).
#![deny(clippy::unwrap_used, clippy::expect_used)]
// `unreachable_pub` (workspace lint) is left to the worker split of issue 13.
#![allow(unreachable_pub)]

mod cli;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Blyan's off-chain worker: model blocks, data, evaluation, generation.
#[derive(Parser)]
#[command(name = "blyan-worker", version, about)]
struct Cli {
    /// Compute device: `cpu`, or `cuda:N` (needs a build with `--features cuda`).
    #[arg(long, global = true, default_value = "cpu", env = "BLYAN_DEVICE")]
    device: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and inspect models.
    #[command(subcommand)]
    Model(cli::model::ModelCmd),
    /// Write the synthetic corpus or the real-text corpus's splits.
    #[command(subcommand)]
    Data(cli::data::DataCmd),
    /// Kubo helpers: add, cat, pin, CIDs, whole models.
    Ipfs(cli::ipfs::IpfsArgs),
    /// Inspect and verify one TensorBlock file.
    Block(cli::model::BlockArgs),
    /// Print a model's validation loss on a text or JSONL file.
    Eval(cli::run::EvalArgs),
    /// Complete a prompt with a model.
    Generate(cli::run::GenerateArgs),
    /// Train chosen blocks of a model on a dataset (AdamW) and write their deltas.
    Train(cli::train::TrainArgs),
    /// Compress a directory of delta TensorBlocks into hashed delta containers.
    Compress(cli::compress::CompressArgs),
    /// Verify and decode one delta container; print its tensors and decoded hash.
    Decompress(cli::compress::DecompressArgs),
    /// Mine: follow the chain, train blocks on its heads, submit compressed deltas.
    Miner(Box<cli::miner::MinerArgs>),
    /// Validate: judge Proof-of-Learning rounds and attest them with an operator key.
    Validator(Box<cli::validator::ValidatorArgs>),
    /// Fetch and check Proof-of-Learning submissions as a validator would; replay history.
    #[command(subcommand)]
    Pol(cli::pol::PolCmd),
    /// Serve the model over an OpenAI-compatible HTTP API with a chat page.
    Serve(Box<cli::serve::ServeArgs>),
    /// Stream a reply from a gateway to the terminal (paid with vouchers with `--channel`).
    Chat(Box<cli::chat::ChatArgs>),
    /// Redeem a stopped gateway's payment-channel vouchers on chain.
    Redeem(Box<cli::redeem::RedeemArgs>),
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let device = cli::device(&cli.device)?;
    match cli.command {
        Command::Model(c) => cli::model::run(c, &device),
        Command::Data(c) => cli::data::run(c),
        Command::Ipfs(a) => cli::ipfs::run(a, &device),
        Command::Block(a) => cli::model::block(a),
        Command::Eval(a) => cli::run::eval(a, &device),
        Command::Generate(a) => cli::run::generate(a, &device),
        Command::Train(a) => cli::train::train(a, &device),
        Command::Compress(a) => cli::compress::compress(a),
        Command::Decompress(a) => cli::compress::decompress(a),
        Command::Miner(a) => cli::miner::run(*a, &device),
        Command::Validator(a) => cli::validator::run(*a, &device),
        Command::Pol(c) => cli::pol::run(c),
        Command::Serve(a) => cli::serve::serve(*a, &device),
        Command::Chat(a) => cli::chat::chat(*a),
        Command::Redeem(a) => cli::redeem::redeem(*a),
    }
}
