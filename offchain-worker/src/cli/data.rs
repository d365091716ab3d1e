//! `blyan-worker data …`

use std::path::PathBuf;

use anyhow::Result;
use blyan_worker::data::{write_corpus, CorpusSpec};
use clap::{Args, Subcommand};
use sha3::Digest;

/// Data subcommands.
#[derive(Subcommand)]
pub enum DataCmd {
    /// Write the seeded synthetic corpus: `train.jsonl` and `val.jsonl`.
    Generate(GenerateData),
}

/// Arguments of `data generate`.
#[derive(Args)]
pub struct GenerateData {
    /// Seed of the corpus (same seed, same bytes).
    #[arg(long)]
    seed: u64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Lines in the training split.
    #[arg(long, default_value_t = 20_000)]
    train_lines: usize,
    /// Lines in the validation split.
    #[arg(long, default_value_t = 500)]
    val_lines: usize,
}

/// Runs a data subcommand.
pub fn run(cmd: DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Generate(a) => {
            let spec = CorpusSpec {
                seed: a.seed,
                train_lines: a.train_lines,
                val_lines: a.val_lines,
            };
            let files = write_corpus(&a.out, &spec)?;
            for (path, n) in [(&files.train, a.train_lines), (&files.val, a.val_lines)] {
                let bytes = std::fs::read(path)?;
                let hash = hex::encode(sha3::Sha3_256::digest(&bytes));
                println!(
                    "{}\t{n} lines\t{} bytes\tsha3-256 {hash}",
                    path.display(),
                    bytes.len()
                );
            }
            Ok(())
        }
    }
}
