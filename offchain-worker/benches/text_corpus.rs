//! The real-text corpus (Debian's `bible-kjv-text`) on this CPU: region sizes, the time a
//! validator's evaluation takes on the public validation set and on a hidden sample for
//! the `small` preset, the time of one `small` training step, and the validation loss of
//! `tiny` falling as it trains on the training region. Prints figures; asserts nothing.
//!
//! ```text
//! cargo bench -p blyan-worker --bench text_corpus            # release build
//! cargo bench --profile dev -p blyan-worker --bench text_corpus -- 200 100
//! ```
//!
//! The arguments are the `tiny` training steps (default 200) and the `small` ones (default
//! 0: none), each trained on every block in chunks of 50 steps (a fresh AdamW per chunk)
//! with the validation loss after each chunk.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use blyan_worker::data::{
    self, SplitSpec, TextSplits, DEFAULT_HIDDEN_SAMPLE, DEFAULT_VAL_PASSAGES, KJV_PATH,
};
use blyan_worker::eval::validation_loss;
use blyan_worker::model::{BlockName, MetaConfig, Model};
use blyan_worker::train::{parse_blocks, train, TrainConfig};
use candle_core::{Device, Tensor};

type Deltas = BTreeMap<BlockName, BTreeMap<String, Tensor>>;

/// `base` plus `deltas`.
fn with_delta(base: &Model, deltas: &Deltas) -> anyhow::Result<Model> {
    let mut m = base.clone();
    for (block, d) in deltas {
        let mut new = BTreeMap::new();
        for (name, t) in base.block_tensors(block)? {
            let t = match d.get(&name) {
                Some(x) => (t + x)?,
                None => t,
            };
            new.insert(name, t);
        }
        m.set_block(block, &new)?;
    }
    Ok(m)
}

/// CPU seconds (user + system, all threads) this process has used, from
/// `/proc/self/stat` (0 where that is unreadable).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // fields 14 and 15 (utime, stime) are the 12th and 13th after the command name
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// `wall s, cpu s` of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, String) {
    let (t, c) = (Instant::now(), cpu_s());
    let out = f();
    let s = format!(
        "{:.2}s wall, {:.2}s cpu",
        t.elapsed().as_secs_f64(),
        cpu_s() - c
    );
    (out, s)
}

/// Loss in nats, tokens and the time of one evaluation.
fn timed_eval(model: &Model, texts: &[String]) -> anyhow::Result<(f64, u64, String)> {
    let (l, time) = timed(|| validation_loss(model, texts, |_, _| {}));
    let l = l?;
    Ok((l.nats(), l.tokens, time))
}

fn main() -> anyhow::Result<()> {
    let steps: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let tiny_steps = steps.first().copied().unwrap_or(200);
    let small_steps = steps.get(1).copied().unwrap_or(0);
    let dev = Device::Cpu;
    let spec = SplitSpec::default();

    let small = MetaConfig::small();
    let t = Instant::now();
    let s = TextSplits::load(Path::new(KJV_PATH), small.max_seq, &spec)?;
    println!(
        "small ({}-byte passages): train {} val {} hidden {} passages; load+split {:.2}s",
        data::passage_bytes(small.max_seq),
        s.train.len(),
        s.val.len(),
        s.hidden.len(),
        t.elapsed().as_secs_f64()
    );
    let m = Model::init(&small, 1, &dev)?;
    for n in [DEFAULT_VAL_PASSAGES, 128, 256] {
        let (loss, tokens, secs) = timed_eval(&m, &s.val_set(n))?;
        println!("small eval, val set of {n} passages: {tokens} tokens, {secs}, loss {loss:.4}");
    }
    let (loss, tokens, secs) = timed_eval(&m, &s.hidden_sample(1, DEFAULT_HIDDEN_SAMPLE))?;
    println!(
        "small eval, hidden sample of {DEFAULT_HIDDEN_SAMPLE}: {tokens} tokens, {secs}, loss {loss:.4}"
    );
    let seqs = data::sequences(&s.train_shard(1, 2000), small.max_seq);
    for blocks in ["layer0.expert0", "all"] {
        let b = parse_blocks(blocks, &small)?;
        let tc = TrainConfig {
            steps: 6,
            batch_size: 8,
            ..TrainConfig::default()
        };
        let mut stamps = Vec::new();
        train(&m, &b, &seqs, &tc, &mut |_, _| {
            stamps.push((Instant::now(), cpu_s()))
        })?;
        if let (Some(a), Some(z)) = (stamps.first(), stamps.last()) {
            let k = (stamps.len() - 1).max(1) as f64;
            println!(
                "small train step ({blocks}, batch 8 x {}): {:.2}s wall, {:.2}s cpu",
                small.max_seq,
                (z.0 - a.0).as_secs_f64() / k,
                (z.1 - a.1) / k
            );
        }
    }

    curve(&MetaConfig::tiny(), tiny_steps, &spec)?;
    if small_steps > 0 {
        curve(&small, small_steps, &spec)?;
    }
    Ok(())
}

/// Trains every block of a fresh `cfg` model on the training region for `steps` steps in
/// chunks of 50, printing the validation loss after each chunk.
fn curve(cfg: &MetaConfig, steps: usize, spec: &SplitSpec) -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let s = TextSplits::load(Path::new(KJV_PATH), cfg.max_seq, spec)?;
    let val = s.val_set(DEFAULT_VAL_PASSAGES);
    let seqs = data::sequences(&s.train, cfg.max_seq);
    let all = parse_blocks("all", cfg)?;
    let mut model = Model::init(cfg, 1, &dev)?;
    let (l0, tokens, _) = timed_eval(&model, &val)?;
    println!(
        "{} on the training region ({} passages), val set {} passages ({tokens} tokens)",
        cfg.preset,
        s.train.len(),
        val.len()
    );
    println!("{} step {:>4}: val loss {l0:.4}", cfg.preset, 0);
    let chunk = 50;
    let t = Instant::now();
    for c in 0..steps.div_ceil(chunk) {
        let tc = TrainConfig {
            steps: chunk,
            batch_size: 8,
            seed: c as u64,
            ..TrainConfig::default()
        };
        let out = train(&model, &all, &seqs, &tc, &mut |_, _| {})?;
        model = with_delta(&model, &out.deltas)?;
        let (l, _, _) = timed_eval(&model, &val)?;
        println!(
            "{} step {:>4}: val loss {l:.4} (train loss last {:.4}, {:.0}s)",
            cfg.preset,
            (c + 1) * chunk,
            out.losses.last().copied().unwrap_or(f32::NAN),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
