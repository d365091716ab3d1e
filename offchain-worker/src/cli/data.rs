//! `blyan-worker data …`

use std::path::PathBuf;

use anyhow::Result;
use blyan_worker::data::{
    passage_bytes, write_corpus, write_text_splits, CorpusSpec, SplitSpec, TextCorpus,
    DEFAULT_VAL_PASSAGES, KJV_PATH,
};
use blyan_worker::model::MetaConfig;
use clap::{Args, Subcommand};
use sha3::Digest;

/// Data subcommands.
#[derive(Subcommand)]
pub enum DataCmd {
    /// Write the seeded synthetic corpus: `train.jsonl` and `val.jsonl`.
    Generate(GenerateData),
    /// Write the real-text corpus's splits: `train.jsonl` (the training region) and
    /// `val.jsonl` (the public validation set); the hidden region stays unwritten.
    Text(TextData),
}

/// Arguments of `data text`.
#[derive(Args)]
pub struct TextData {
    /// The corpus: Debian's `bible-kjv-text` data file, or a UTF-8 text file.
    #[arg(long, default_value = KJV_PATH)]
    corpus: PathBuf,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Model preset whose `max_seq` sizes the passages (`max_seq - 1` bytes).
    #[arg(long, default_value = "small")]
    preset: String,
    /// Passages in `val.jsonl` (spread over the validation region).
    #[arg(long, default_value_t = DEFAULT_VAL_PASSAGES)]
    val_passages: usize,
    /// Seed of the region hash (miners and validators must use the same).
    #[arg(long, default_value_t = SplitSpec::default().seed)]
    split_seed: u64,
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
        DataCmd::Text(a) => {
            let max_seq = MetaConfig::preset(&a.preset)?.max_seq;
            let corpus = TextCorpus::load(&a.corpus, passage_bytes(max_seq))?;
            let spec = SplitSpec {
                seed: a.split_seed,
                ..SplitSpec::default()
            };
            let splits = corpus.split(&spec);
            let files = write_text_splits(&a.out, &splits, a.val_passages)?;
            println!(
                "{}: {} passages of at most {} bytes: train {}, val {}, hidden {} (split seed {})",
                a.corpus.display(),
                corpus.passages.len(),
                corpus.max_bytes,
                splits.train.len(),
                splits.val.len(),
                splits.hidden.len(),
                spec.seed
            );
            for path in [&files.train, &files.val] {
                let bytes = std::fs::read(path)?;
                let hash = hex::encode(sha3::Sha3_256::digest(&bytes));
                let n = bytes.iter().filter(|b| **b == b'\n').count();
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: DataCmd,
    }

    /// `data text` on Debian's KJV (installed by run-tests.sh; the test fails without it)
    /// writes the training region and a 64-passage validation set of `small` passages.
    #[test]
    fn data_text_writes_the_kjv_splits() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("text");
        let cli = Cli::try_parse_from(["x", "text", "--out", out.to_str().unwrap()]).unwrap();
        run(cli.cmd).unwrap();
        let val = blyan_worker::data::load_texts(&out.join("val.jsonl")).unwrap();
        assert_eq!(val.len(), DEFAULT_VAL_PASSAGES);
        assert!(val.iter().all(|t| !t.is_empty() && t.len() <= 127));
        let train = blyan_worker::data::load_texts(&out.join("train.jsonl")).unwrap();
        assert!(train.len() > 40_000, "{}", train.len());
        let missing = d.path().join("none");
        let cli = Cli::try_parse_from([
            "x",
            "text",
            "--out",
            out.to_str().unwrap(),
            "--corpus",
            missing.to_str().unwrap(),
        ])
        .unwrap();
        let err = run(cli.cmd).unwrap_err().to_string();
        assert!(err.contains("bible-kjv-text"), "{err}");
    }
}
