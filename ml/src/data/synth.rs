//! The seeded synthetic corpus: three small tasks whose loss a tiny model visibly lowers.
//!
//! - arithmetic: `12+7=19`, `45-18=27`, `6*7=42`;
//! - key-value recall: `k3:v9;k1:v2;?k3=v9` (the answer is in the context);
//! - a simple grammar: `the small cat sees a dog.`
//!
//! A seed gives the same bytes on every machine (SplitMix64 streams, no floats, no
//! `HashMap`): the public validation set is such a file, named on chain by hash.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DataError;
use crate::rng::SplitMix64;

/// Which task an example comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// `a+b=c`, `a-b=c`, `a*b=c`.
    Arith,
    /// Key-value recall.
    Recall,
    /// Sentences of a small grammar.
    Grammar,
}

/// One line of the corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The text the model learns.
    pub text: String,
    /// Its task.
    pub task: Task,
}

fn pick<'a>(rng: &mut SplitMix64, items: &[&'a str]) -> &'a str {
    items.get(rng.index(items.len())).copied().unwrap_or("")
}

fn arith(rng: &mut SplitMix64) -> String {
    match rng.below(3) {
        0 => {
            let (a, b) = (rng.below(100), rng.below(100));
            format!("{a}+{b}={}", a + b)
        }
        1 => {
            let (a, b) = (rng.below(100), rng.below(100));
            let (a, b) = (a.max(b), a.min(b));
            format!("{a}-{b}={}", a - b)
        }
        _ => {
            let (a, b) = (rng.below(13), rng.below(13));
            format!("{a}*{b}={}", a * b)
        }
    }
}

fn recall(rng: &mut SplitMix64) -> String {
    let n = 2 + rng.index(3);
    let mut keys: Vec<u64> = (0..10).collect();
    rng.shuffle(&mut keys);
    let pairs: Vec<(u64, u64)> = keys[..n].iter().map(|&k| (k, rng.below(10))).collect();
    let (qk, qv) = pairs[rng.index(n)];
    let ctx: Vec<String> = pairs.iter().map(|(k, v)| format!("k{k}:v{v}")).collect();
    format!("{};?k{qk}=v{qv}", ctx.join(";"))
}

const DETS: &[&str] = &["the", "a", "every", "one"];
const ADJS: &[&str] = &["small", "big", "red", "old", "quick", "quiet"];
const NOUNS: &[&str] = &["cat", "dog", "bird", "fox", "child", "robot", "tree"];
const VERBS_T: &[&str] = &["sees", "likes", "follows", "finds", "helps"];
const VERBS_I: &[&str] = &["sleeps", "runs", "sings", "waits"];

fn noun_phrase(rng: &mut SplitMix64) -> String {
    let det = pick(rng, DETS);
    if rng.below(2) == 0 {
        format!("{det} {} {}", pick(rng, ADJS), pick(rng, NOUNS))
    } else {
        format!("{det} {}", pick(rng, NOUNS))
    }
}

fn grammar(rng: &mut SplitMix64) -> String {
    let subject = noun_phrase(rng);
    if rng.below(3) == 0 {
        format!("{subject} {}.", pick(rng, VERBS_I))
    } else {
        let verb = pick(rng, VERBS_T);
        format!("{subject} {verb} {}.", noun_phrase(rng))
    }
}

/// One example, its task chosen uniformly.
pub fn example(rng: &mut SplitMix64) -> Example {
    match rng.below(3) {
        0 => Example {
            text: arith(rng),
            task: Task::Arith,
        },
        1 => Example {
            text: recall(rng),
            task: Task::Recall,
        },
        _ => Example {
            text: grammar(rng),
            task: Task::Grammar,
        },
    }
}

/// `n` examples of the split `split` (`"train"`, `"val"`, …) of the corpus with `seed`;
/// each split has its own stream.
pub fn split(seed: u64, split: &str, n: usize) -> Vec<Example> {
    let mut rng = SplitMix64::for_label(seed, &format!("corpus/{split}"));
    (0..n).map(|_| example(&mut rng)).collect()
}

/// What [`write_corpus`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusSpec {
    /// Seed of the corpus.
    pub seed: u64,
    /// Lines in `train.jsonl`.
    pub train_lines: usize,
    /// Lines in `val.jsonl`.
    pub val_lines: usize,
}

/// The files [`write_corpus`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusFiles {
    /// `train.jsonl`.
    pub train: PathBuf,
    /// `val.jsonl`.
    pub val: PathBuf,
}

/// The JSONL bytes of `examples`: one `{"text":…,"task":…}` object per line.
pub fn to_jsonl(examples: &[Example]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in examples {
        // serialising a struct of a string and a unit enum cannot fail
        if let Ok(line) = serde_json::to_vec(e) {
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
    }
    out
}

/// Writes `train.jsonl` and `val.jsonl` under `dir` (created if needed).
pub fn write_corpus(dir: &Path, spec: &CorpusSpec) -> Result<CorpusFiles, DataError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let files = CorpusFiles {
        train: dir.join("train.jsonl"),
        val: dir.join("val.jsonl"),
    };
    for (path, name, n) in [
        (&files.train, "train", spec.train_lines),
        (&files.val, "val", spec.val_lines),
    ] {
        let bytes = to_jsonl(&split(spec.seed, name, n));
        let mut f = std::fs::File::create(path).map_err(io(path))?;
        f.write_all(&bytes).map_err(io(path))?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let spec = CorpusSpec {
            seed: 42,
            train_lines: 300,
            val_lines: 50,
        };
        let fa = write_corpus(a.path(), &spec).unwrap();
        let fb = write_corpus(b.path(), &spec).unwrap();
        assert_eq!(
            std::fs::read(&fa.train).unwrap(),
            std::fs::read(&fb.train).unwrap()
        );
        assert_eq!(
            std::fs::read(&fa.val).unwrap(),
            std::fs::read(&fb.val).unwrap()
        );
        assert_ne!(
            std::fs::read(&fa.train).unwrap(),
            std::fs::read(&fa.val).unwrap()
        );
        let other = to_jsonl(&split(43, "train", 300));
        assert_ne!(std::fs::read(&fa.train).unwrap(), other);
    }

    #[test]
    fn examples_are_correct_and_short() {
        for e in split(1, "train", 2000) {
            assert!(e.text.len() < 48, "{}", e.text);
            match e.task {
                Task::Arith => {
                    let (lhs, rhs) = e.text.split_once('=').unwrap();
                    let rhs: u64 = rhs.parse().unwrap();
                    let v = if let Some((a, b)) = lhs.split_once('+') {
                        a.parse::<u64>().unwrap() + b.parse::<u64>().unwrap()
                    } else if let Some((a, b)) = lhs.split_once('-') {
                        a.parse::<u64>().unwrap() - b.parse::<u64>().unwrap()
                    } else {
                        let (a, b) = lhs.split_once('*').unwrap();
                        a.parse::<u64>().unwrap() * b.parse::<u64>().unwrap()
                    };
                    assert_eq!(v, rhs, "{}", e.text);
                }
                Task::Recall => {
                    let (ctx, q) = e.text.split_once(";?").unwrap();
                    let (k, v) = q.split_once('=').unwrap();
                    assert!(
                        ctx.split(';').any(|p| p == format!("{k}:{v}")),
                        "{}",
                        e.text
                    );
                }
                Task::Grammar => assert!(e.text.ends_with('.')),
            }
        }
    }
}
