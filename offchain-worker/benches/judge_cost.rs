//! Phase-1 cost per validator and round: judging each submission alone (the screen, then
//! base + each submission on the validation set: `n` evaluations) against judging by
//! contribution, leave-one-out ([`judge_updates`]: the screen, then `n + 1` aggregations
//! and `n + 1` evaluations), for `n` submissions of every block of a model. The updates
//! are small synthetic deltas around one direction, so that the screen passes them (what
//! they contain does not otherwise change the cost); the
//! validation set is the synthetic corpus's `val` split.
//!
//! ```text
//! cargo bench -p blyan-worker --bench judge_cost                       # tiny, n = 4 and 8
//! cargo bench -p blyan-worker --bench judge_cost -- model=small val=200 n=2,4,8
//! ```
//!
//! Prints wall and CPU seconds (user + system of the process, all threads, from
//! `/proc/self/stat`) per method and `n`; asserts nothing.

use std::collections::BTreeMap;
use std::time::Instant;

use blyan_worker::compress::tensors_to_delta;
use blyan_worker::data::synth;
use blyan_worker::defense::{screen, synthetic, DefenseParams, Update};
use blyan_worker::model::{MetaConfig, Model};
use blyan_worker::tensorblock::DEFAULT_TILE_SIZE;
use blyan_worker::validator::candidate::Outer;
use blyan_worker::validator::judge::{by_block, judge_updates, Judging};
use blyan_worker::validator::weights::BlockWeights;
use blyan_worker::validator::Base;
use candle_core::Device;

/// Process CPU time (user + system, all threads), seconds; 0 without `/proc`.
fn cpu_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some((_, rest)) = s.rsplit_once(") ") else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (t, c) = (Instant::now(), cpu_secs());
    let out = f();
    (out, t.elapsed().as_secs_f64(), cpu_secs() - c)
}

fn base(cfg: &MetaConfig) -> anyhow::Result<Base> {
    let m = Model::init(cfg, 1, &Device::Cpu)?;
    let mut blocks = BTreeMap::new();
    for b in Model::block_names(cfg) {
        let tensors = tensors_to_delta(&m.block_tensors(&b)?)?;
        blocks.insert(
            b.to_string(),
            BlockWeights {
                block: b.to_string(),
                tensors,
                tile_size: DEFAULT_TILE_SIZE,
            },
        );
    }
    Base::from_weights(cfg, blocks, Vec::new(), &Device::Cpu)
}

/// Today's phase 1: the screen, then base + each update alone.
fn alone(base: &mut Base, updates: &[Update], texts: &[String]) -> anyhow::Result<usize> {
    let _ = screen(updates, &base.screen_reference(), &DefenseParams::default());
    let mut measured = 0;
    for u in updates {
        let blocks = base.applied(&by_block(u))?;
        if base.loss_with(&blocks, texts)?.is_some() {
            measured += 1;
        }
    }
    Ok(measured)
}

fn main() -> anyhow::Result<()> {
    let mut model = "tiny".to_string();
    let mut val = 200usize;
    let mut ns = vec![4usize, 8];
    for a in std::env::args().skip(1) {
        match a.split_once('=') {
            Some(("model", v)) => model = v.into(),
            Some(("val", v)) => val = v.parse()?,
            Some(("n", v)) => ns = v.split(',').map(str::parse).collect::<Result<_, _>>()?,
            _ => {} // cargo bench passes --bench
        }
    }
    let cfg = MetaConfig::preset(&model)?;
    let texts: Vec<String> = synth::split(7, "val", val)
        .into_iter()
        .map(|e| e.text)
        .collect();
    let names = Model::block_names(&cfg);
    let layout = synthetic::layout(&cfg, &names);
    let outer = Outer {
        rule: blyan_worker::validator::aggregate::rule(
            blyan_proto::pol::PolParams::default().aggregation,
        ),
        optimizer: blyan_proto::pol::OuterOptimizer::default(),
    };
    // one honest direction, each update that direction plus its own noise (so the screen
    // passes them all and every update is a leave-one-out candidate)
    let direction = synthetic::gaussian(&layout, 1e-3, 1);
    let mut b = base(&cfg)?;
    let (recorded, one_eval, _) = timed(|| b.loss_with(&BTreeMap::new(), &texts));
    // a validator takes the recorded loss from the chain: no evaluation of the base
    let recorded = recorded?;
    println!(
        "# phase-1 cost, model {model} ({} params, {} blocks), {val} validation lines; \
         one evaluation {one_eval:.2} s",
        cfg.n_params(),
        names.len()
    );
    println!("  n | alone wall   cpu | leave-one-out wall   cpu | ratio");
    for &n in &ns {
        let updates: Vec<Update> = (0..n as u64)
            .map(|i| Update {
                submission: i + 1,
                samples: 100,
                blocks: synthetic::honest(&direction, 0.5, 1.0, 100 + i),
            })
            .collect();
        let (r, aw, ac) = timed(|| alone(&mut b, &updates, &texts));
        r?;
        let judging = Judging {
            defense: &DefenseParams::default(),
            outer: &outer,
            texts: &texts,
            recorded_loss: recorded,
            harmful_noise_bps: blyan_proto::pol::PolParams::default().harmful_noise_bps,
        };
        let (r, lw, lc) = timed(|| judge_updates(&mut b, &updates, &judging));
        let outs = r?;
        let candidates = outs.iter().filter(|o| o.contribution.is_some()).count();
        println!(
            "{n:>3} | {aw:>10.2} {ac:>5.2} | {lw:>18.2} {lc:>5.2} | {:>5.2}  ({candidates} candidates)",
            lw / aw.max(1e-9)
        );
    }
    Ok(())
}
