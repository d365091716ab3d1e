//! Deterministic splits of a [`TextCorpus`] into a training region, a public validation
//! region (what goes into the genesis validation file) and a hidden region that stays with
//! validators, plus the seeded samples drawn from them.
//!
//! A passage's region is decided by a seeded SHA3 hash of its *group* (a chapter, or a
//! paragraph), so every machine gets the same regions and a chapter never straddles two.
//! A training passage whose exact text also occurs in the validation or hidden region is
//! dropped from training, and a validation passage whose text is hidden is dropped from
//! validation: the three regions share no text.
//!
//! Each PoL round the validators add [`TextSplits::hidden_sample`] (seeded by chain data
//! known only once submissions close) to the acceptance set, so a miner cannot know which
//! passages it will be judged on; a miner trains on [`TextSplits::train_shard`], its share
//! picked by a seed.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha3::Digest;

use super::text::{passage_bytes, TextCorpus};
use super::DataError;
use crate::rng::SplitMix64;

/// Passages in the default public validation set (`data text --val-passages`): for the
/// `small` preset about 6 200 target tokens; one forward over them took 5.1 s of CPU on
/// this project's (shared, loaded) 2-core machine in a dev build, and the cost grows
/// linearly (128 passages: 9.7 s, 256: 18.7 s).
pub const DEFAULT_VAL_PASSAGES: usize = 64;

/// Suggested size of the per-round hidden sample validators add to the acceptance set
/// (about 3 000 target tokens for `small`).
pub const DEFAULT_HIDDEN_SAMPLE: usize = 32;

/// The regions of the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Region {
    /// Miners train on it.
    Train,
    /// The public validation set (in genesis).
    Val,
    /// Validators sample it each round; never in a miner's training data.
    Hidden,
}

/// How a corpus is split: the seed of the region hash and the share of groups (in basis
/// points of 10 000) in the validation and hidden regions; the rest is training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSpec {
    /// Seed of the region hash.
    pub seed: u64,
    /// Share of groups in the public validation region, in basis points.
    pub val_bps: u32,
    /// Share of groups in the hidden region, in basis points.
    pub hidden_bps: u32,
}

impl Default for SplitSpec {
    /// Seed 1, 2% validation, 3% hidden (for the KJV: about 24 and 36 of 1189 chapters).
    fn default() -> Self {
        Self {
            seed: 1,
            val_bps: 200,
            hidden_bps: 300,
        }
    }
}

impl SplitSpec {
    /// The region of a passage of `group`.
    pub fn region(&self, group: &str) -> Region {
        let mut h = sha3::Sha3_256::new();
        h.update(b"blyan/text-split/v1");
        h.update(self.seed.to_le_bytes());
        h.update(group.as_bytes());
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        let bucket = u64::from_le_bytes(b) % 10_000;
        if bucket < u64::from(self.val_bps) {
            Region::Val
        } else if bucket < u64::from(self.val_bps) + u64::from(self.hidden_bps) {
            Region::Hidden
        } else {
            Region::Train
        }
    }
}

/// The three regions' passages, each in corpus order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSplits {
    /// Training passages.
    pub train: Vec<String>,
    /// Public validation passages.
    pub val: Vec<String>,
    /// Hidden validation passages.
    pub hidden: Vec<String>,
}

/// `n` distinct items of `items` (all of them if `n` is larger), chosen by a partial
/// Fisher–Yates shuffle on the SplitMix64 stream of `seed` and `label`.
fn sample(items: &[String], seed: u64, label: &str, n: usize) -> Vec<String> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    let n = n.min(idx.len());
    let mut rng = SplitMix64::for_label(seed, label);
    for i in 0..n {
        let j = i + rng.index(idx.len() - i);
        idx.swap(i, j);
    }
    idx[..n].iter().map(|&i| items[i].clone()).collect()
}

impl TextCorpus {
    /// Splits the passages by `spec`.
    pub fn split(&self, spec: &SplitSpec) -> TextSplits {
        let mut regions: [Vec<String>; 3] = Default::default();
        for p in &self.passages {
            let r = spec.region(&p.group) as usize;
            regions[r].push(p.text.clone());
        }
        let [train, val, hidden] = regions;
        let hidden_set: BTreeSet<&str> = hidden.iter().map(String::as_str).collect();
        let val: Vec<String> = val
            .into_iter()
            .filter(|t| !hidden_set.contains(t.as_str()))
            .collect();
        let held: BTreeSet<&str> = hidden_set
            .iter()
            .copied()
            .chain(val.iter().map(String::as_str))
            .collect();
        let train = train
            .into_iter()
            .filter(|t| !held.contains(t.as_str()))
            .collect();
        TextSplits { train, val, hidden }
    }
}

impl TextSplits {
    /// Loads the corpus at `path` cut for a model with `max_seq` positions and splits it
    /// with `spec`.
    pub fn load(path: &Path, max_seq: usize, spec: &SplitSpec) -> Result<Self, DataError> {
        Ok(TextCorpus::load(path, passage_bytes(max_seq))?.split(spec))
    }

    /// The validators' per-round sample: `n` distinct hidden passages chosen by `seed`.
    pub fn hidden_sample(&self, seed: u64, n: usize) -> Vec<String> {
        sample(&self.hidden, seed, "text/hidden", n)
    }

    /// A miner's shard: `n` distinct training passages chosen by `seed`.
    pub fn train_shard(&self, seed: u64, n: usize) -> Vec<String> {
        sample(&self.train, seed, "text/shard", n)
    }

    /// The public validation set: `n` validation passages spread evenly over the region
    /// (all of them if `n` is larger), in corpus order.
    pub fn val_set(&self, n: usize) -> Vec<String> {
        let len = self.val.len();
        if n >= len {
            return self.val.clone();
        }
        (0..n).map(|i| self.val[i * len / n].clone()).collect()
    }
}

/// The files [`write_text_splits`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFiles {
    /// `train.jsonl`: the whole training region.
    pub train: PathBuf,
    /// `val.jsonl`: the public validation set.
    pub val: PathBuf,
}

/// JSONL bytes: one `{"text": …}` object a line (what [`super::load_texts`] reads).
pub fn texts_jsonl(texts: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in texts {
        out.extend_from_slice(serde_json::json!({ "text": t }).to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Writes `train.jsonl` (the training region) and `val.jsonl` (`splits.val_set(val_n)`)
/// under `dir` (created if needed). The hidden region is not written: validators derive it.
pub fn write_text_splits(
    dir: &Path,
    splits: &TextSplits,
    val_n: usize,
) -> Result<TextFiles, DataError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let files = TextFiles {
        train: dir.join("train.jsonl"),
        val: dir.join("val.jsonl"),
    };
    for (path, texts) in [
        (&files.train, splits.train.clone()),
        (&files.val, splits.val_set(val_n)),
    ] {
        let mut f = std::fs::File::create(path).map_err(io(path))?;
        f.write_all(&texts_jsonl(&texts)).map_err(io(path))?;
    }
    Ok(files)
}
