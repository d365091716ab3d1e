//! Training throughput (target tokens/s) of [`blyan_worker::train::train`] on this CPU: the
//! `tiny` preset (and `small`), AdamW on one expert (`layer0.expert0`, so gradients still
//! flow back through every layer above it) and on all blocks, batches of 8 full-length
//! sequences (`8 × max_seq` targets a step) of random byte ids. Prints figures; asserts
//! nothing.
//!
//! Run it, and its PyTorch yardstick (the same architecture, batch shape and optimizer),
//! with:
//!
//! ```text
//! cargo bench -p blyan-worker --bench train            # add -- tiny to skip `small`
//! python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch
//! /tmp/torchvenv/bin/python offchain-worker/benches/train_torch.py   # add tiny likewise
//! ```
//!
//! Each figure excludes set-up and the first step: it is the tokens of steps 2..=n divided
//! by the time between the end of step 1 and the end of step n.

use std::time::{Duration, Instant};

use blyan_worker::model::{MetaConfig, Model};
use blyan_worker::rng::SplitMix64;
use blyan_worker::train::{parse_blocks, train, TrainConfig};
use candle_core::Device;

const BATCH: usize = 8;

/// Steps to run so that timing takes about `budget` after one probe step of `probe` seconds.
fn steps_for(budget: Duration, probe: f64) -> usize {
    ((budget.as_secs_f64() / probe.max(1e-4)) as usize).clamp(5, 2000)
}

fn bench(model: &Model, spec: &str, seqs: &[Vec<u32>]) -> (usize, f64, f64) {
    let cfg = model.config();
    let blocks = parse_blocks(spec, cfg).unwrap_or_default();
    let tokens_per_step = (BATCH * cfg.max_seq) as f64;
    let run = |steps: usize| {
        let mut stamps = Vec::with_capacity(steps);
        let tc = TrainConfig {
            steps,
            batch_size: BATCH,
            ..TrainConfig::default()
        };
        let out = train(model, &blocks, seqs, &tc, &mut |_, _| {
            stamps.push(Instant::now())
        });
        if let Err(e) = out {
            eprintln!("{spec}: {e}");
        }
        stamps
    };
    let probe = run(3);
    let per_step = match (probe.get(1), probe.last()) {
        (Some(a), Some(b)) => (*b - *a).as_secs_f64() / (probe.len() - 1).max(1) as f64,
        _ => 1.0,
    };
    let stamps = run(steps_for(Duration::from_secs(6), per_step) + 1);
    let (Some(first), Some(last)) = (stamps.first(), stamps.last()) else {
        return (0, 0.0, 0.0);
    };
    let n = stamps.len() - 1;
    let secs = (*last - *first).as_secs_f64();
    (n, n as f64 * tokens_per_step / secs, 1e3 * secs / n as f64)
}

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let dev = Device::Cpu;
    println!(
        "threads: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "{:<6} {:>10} {:<15} {:>6} {:>8} {:>10} {:>12}",
        "preset", "params", "blocks", "batch", "steps", "ms/step", "tokens/s"
    );
    for cfg in [MetaConfig::tiny(), MetaConfig::small()] {
        if !only.is_empty() && !only.contains(&cfg.preset) {
            continue;
        }
        let Ok(model) = Model::init(&cfg, 1, &dev) else {
            continue;
        };
        let mut rng = SplitMix64::new(3);
        let seqs: Vec<Vec<u32>> = (0..BATCH * 32)
            .map(|_| (0..=cfg.max_seq).map(|_| rng.below(256) as u32).collect())
            .collect();
        for spec in ["layer0.expert0", "all"] {
            let (n, tps, ms) = bench(&model, spec, &seqs);
            println!(
                "{:<6} {:>10} {:<15} {:>6} {:>8} {:>10.2} {:>12.0}",
                cfg.preset,
                cfg.n_params(),
                spec,
                format!("{BATCH}x{}", cfg.max_seq),
                n,
                ms,
                tps
            );
        }
    }
}
