//! Delta compression on real deltas, in two scenarios per preset (`tiny`, `small`):
//!
//! - **random-init**: the miner's round (200 AdamW steps) starts from a freshly initialised
//!   model, so the delta is the whole early training (the loss drops by a third or more);
//! - **pretrained**: every block of the preset is first pre-trained for
//!   [`pretrain_steps`] steps (fixed seed) and the miner's round ([`ROUND_STEPS`] steps,
//!   another batch order) starts from that model: the delta is a fine-tuning update, which
//!   is what a miner submits once the chain's model has had a few rounds.
//!
//! In each scenario one expert (`layer0.expert0`, partial mining) and one whole layer
//! (`layer0`: backbone, router, every expert) are trained on the synthetic corpus; for each
//! pipeline the bench prints the compression ratio, encode and decode speed (MB of raw f32
//! per second), the relative L2 error of the decoded delta, and the validation loss
//! (micro-nats, on the held-out synthetic `val` split) of base + decoded delta next to
//! base + exact delta. Then the federated setting for `layer0.expert0`: [`ROUNDS`] rounds
//! with and without error feedback.
//!
//! `penalty` is `(loss(base + decoded) − loss(base + exact)) / loss(base + exact)`, the
//! target being ≤ 1 % for the default pipeline at ratio ≥ 50×; `kept` is the share of the
//! exact delta's improvement over the base that the decoded delta keeps,
//! `(loss(base) − loss(base + decoded)) / (loss(base) − loss(base + exact))`.
//!
//! ```text
//! cargo bench -p blyan-worker --bench compress                 # everything
//! cargo bench -p blyan-worker --bench compress -- tiny         # one preset
//! cargo bench -p blyan-worker --bench compress -- small pretrained no-rounds
//! cargo bench -p blyan-worker --bench compress -- tiny pipe=lowrank:e0.9/16,int8
//! ```
//! Filters (any order): preset names (`tiny`, `small`), scenarios (`random`, `pretrained`),
//! `rounds-only` / `no-rounds`, and `pipe=SPEC` (repeatable) to run only those pipelines
//! (plus the default) instead of the built-in list. Prints figures; asserts nothing.

use std::collections::BTreeMap;
use std::time::Instant;

use blyan_worker::compress::{
    decode, delta_to_tensors, encode, tensors_to_delta, ErrorFeedback, Pipeline,
};
use blyan_worker::data::{self, synth};
use blyan_worker::eval::validation_loss;
use blyan_worker::model::{BlockName, MetaConfig, Model};
use blyan_worker::train::{parse_blocks, train, TrainConfig};
use candle_core::{Device, Tensor};

const SPECS: [&str; 15] = [
    "none",
    "int8",
    "topk:0.1",
    "topk:0.02",
    "lowrank:4",
    "lowrank:8",
    "lowrank:8,int8",
    "topk:0.1,int8",
    "topk:0.02,int8",
    "topk:0.01,int8",
    "lowrank:4,topk:0.01,int8",
    "lowrank:8,topk:0.02,int8",
    "lowrank:e0.5/32,int8",
    "lowrank:6,int8,int4f",
    "lowrank:24,int8,int4f",
];

/// Steps of the miner's round in the pretrained scenario.
const ROUND_STEPS: usize = 200;
/// Seed of the pre-training batch order (the miner's round uses seed 0).
const PRETRAIN_SEED: u64 = 1000;

/// Steps of pre-training of every block before the pretrained scenario's round.
fn pretrain_steps(cfg: &MetaConfig) -> usize {
    if cfg.preset == "tiny" {
        300
    } else {
        150
    }
}

type Deltas = BTreeMap<BlockName, BTreeMap<String, Tensor>>;

/// A copy of `base` with `delta` added to each of its blocks.
fn with_delta(base: &Model, deltas: &Deltas) -> anyhow::Result<Model> {
    let mut m = base.clone();
    for (block, d) in deltas {
        let cur = base.block_tensors(block)?;
        let mut new = BTreeMap::new();
        for (name, t) in cur {
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

fn micro(model: &Model, val: &[String]) -> anyhow::Result<u64> {
    Ok(validation_loss(model, val, |_, _| {})?.micro_nats)
}

/// What the command line asked for.
struct Filter {
    presets: Vec<String>,
    scenarios: Vec<String>,
    rounds_only: bool,
    no_rounds: bool,
    pipes: Vec<String>,
}

impl Filter {
    fn parse() -> anyhow::Result<Self> {
        let mut f = Filter {
            presets: Vec::new(),
            scenarios: Vec::new(),
            rounds_only: false,
            no_rounds: false,
            pipes: Vec::new(),
        };
        for a in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
            match a.as_str() {
                "rounds-only" => f.rounds_only = true,
                "no-rounds" => f.no_rounds = true,
                "random" | "pretrained" => f.scenarios.push(a),
                _ => match a.strip_prefix("pipe=") {
                    Some(spec) => {
                        let p: Pipeline = spec.parse()?;
                        f.pipes.push(p.to_string());
                    }
                    None => f.presets.push(a),
                },
            }
        }
        Ok(f)
    }

    fn scenario(&self, name: &str) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|s| s == name)
    }

    /// The pipelines to measure, the default last unless listed.
    fn specs(&self) -> Vec<String> {
        let mut specs: Vec<String> = if self.pipes.is_empty() {
            SPECS.iter().map(|s| s.to_string()).collect()
        } else {
            self.pipes.clone()
        };
        let default = Pipeline::default().to_string();
        if !specs.contains(&default) {
            specs.push(default);
        }
        specs
    }
}

/// One scenario's starting point: the model a miner's round starts from.
struct Scenario<'a> {
    name: &'static str,
    base: &'a Model,
    base_loss: u64,
    steps: usize,
}

fn run_target(
    sc: &Scenario,
    target: &str,
    seqs: &[Vec<u32>],
    val: &[String],
    specs: &[String],
) -> anyhow::Result<()> {
    let model = sc.base;
    let base_loss = sc.base_loss;
    let cfg = model.config();
    let blocks = parse_blocks(target, cfg)?;
    let t0 = Instant::now();
    let tc = TrainConfig {
        steps: sc.steps,
        ..TrainConfig::default()
    };
    let out = train(model, &blocks, seqs, &tc, &mut |_, _| {})?;
    let train_s = t0.elapsed().as_secs_f64();
    let exact_loss = micro(&with_delta(model, &out.deltas)?, val)?;
    let values: usize = out
        .deltas
        .values()
        .flat_map(|m| m.values())
        .map(|t| t.elem_count())
        .sum();
    let gain = base_loss as f64 - exact_loss as f64;
    println!(
        "\n[{} / {}] {target}: {} blocks, {values} values, trained {} steps in {train_s:.1}s; \
         loss base {base_loss} exact {exact_loss} micro-nats (exact delta gains {:.2}%)",
        cfg.preset,
        sc.name,
        blocks.len(),
        out.steps,
        100.0 * gain / base_loss as f64
    );
    println!(
        "{:<26} {:>8} {:>9} {:>9} {:>8} {:>10} {:>9} {:>7}",
        "pipeline", "ratio", "enc MB/s", "dec MB/s", "l2 rel", "loss", "penalty%", "kept%"
    );
    let default = Pipeline::default().to_string();
    let dev = Device::Cpu;
    for p_spec in specs {
        let p: Pipeline = p_spec.parse()?;
        let (mut raw, mut enc_bytes, mut err2, mut norm2) = (0u64, 0u64, 0f64, 0f64);
        let (mut enc_s, mut dec_s) = (0f64, 0f64);
        let mut decoded: Deltas = BTreeMap::new();
        for (block, d) in &out.deltas {
            let tensors = tensors_to_delta(d)?;
            let t = Instant::now();
            let e = encode(&block.to_string(), &tensors, &p, None)?;
            enc_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let dd = decode(&e.bytes)?;
            dec_s += t.elapsed().as_secs_f64();
            raw += e.stats.raw_bytes;
            enc_bytes += e.stats.encoded_bytes;
            let n2: f64 = tensors
                .iter()
                .flat_map(|t| &t.values)
                .map(|&x| f64::from(x) * f64::from(x))
                .sum();
            err2 += (e.stats.l2_error_rel * e.stats.l2_error_rel) * n2;
            norm2 += n2;
            decoded.insert(*block, delta_to_tensors(&dd.tensors, &dev)?);
        }
        let loss = micro(&with_delta(model, &decoded)?, val)?;
        let mb = raw as f64 / 1e6;
        let penalty = 100.0 * (loss as f64 - exact_loss as f64) / exact_loss as f64;
        let kept = 100.0 * (base_loss as f64 - loss as f64) / gain;
        let mark = if *p_spec == default { " (default)" } else { "" };
        println!(
            "{:<26} {:>7.1}x {:>9.1} {:>9.1} {:>8.4} {:>10} {:>9.3} {:>7.1}{mark}",
            p_spec,
            raw as f64 / enc_bytes as f64,
            mb / enc_s,
            mb / dec_s,
            (err2 / norm2.max(f64::MIN_POSITIVE)).sqrt(),
            loss,
            penalty,
            kept
        );
    }
    Ok(())
}

/// The federated setting: `ROUNDS` rounds of `STEPS` steps; each round trains from the
/// model with every earlier decoded delta applied and compresses with error feedback (or
/// without, to show what feedback buys). Final loss against the same rounds uncompressed.
const ROUNDS: usize = 10;
const STEPS: usize = 20;

fn rounds(sc: &Scenario, target: &str, seqs: &[Vec<u32>], val: &[String]) -> anyhow::Result<()> {
    let model = sc.base;
    let blocks = parse_blocks(target, model.config())?;
    let dev = Device::Cpu;
    let default = Pipeline::default().to_string();
    let runs: Vec<(String, bool)> = vec![
        ("none".into(), false),
        (default.clone(), true),
        (default.clone(), false),
        ("topk:0.02,int8".into(), true),
        ("lowrank:4,topk:0.01,int8".into(), true),
    ];
    println!(
        "\n[{} / {}] {target}: {ROUNDS} rounds x {STEPS} steps, each from base + decoded so \
         far; loss base {} micro-nats",
        model.config().preset,
        sc.name,
        sc.base_loss
    );
    println!(
        "{:<26} {:>8} {:>8} {:>10} {:>9} {:>7}",
        "pipeline", "feedback", "ratio", "loss", "penalty%", "kept%"
    );
    let mut reference = None;
    for (spec, with_fb) in runs {
        let p: Pipeline = spec.parse()?;
        let mut cur = model.clone();
        let mut fb = ErrorFeedback::new();
        let (mut raw, mut enc) = (0u64, 0u64);
        for r in 0..ROUNDS {
            let tc = TrainConfig {
                steps: STEPS,
                seed: r as u64,
                ..TrainConfig::default()
            };
            let out = train(&cur, &blocks, seqs, &tc, &mut |_, _| {})?;
            let mut decoded: Deltas = BTreeMap::new();
            for (block, d) in &out.deltas {
                let fbm = if with_fb { Some(&mut fb) } else { None };
                let e = encode(&block.to_string(), &tensors_to_delta(d)?, &p, fbm)?;
                raw += e.stats.raw_bytes;
                enc += e.stats.encoded_bytes;
                decoded.insert(*block, delta_to_tensors(&decode(&e.bytes)?.tensors, &dev)?);
            }
            cur = with_delta(&cur, &decoded)?;
        }
        let loss = micro(&cur, val)?;
        let reference = *reference.get_or_insert(loss) as f64;
        let gain = sc.base_loss as f64 - reference;
        let mark = if spec == default { " (default)" } else { "" };
        println!(
            "{:<26} {:>8} {:>7.1}x {:>10} {:>9.3} {:>7.1}{mark}",
            spec,
            if with_fb { "yes" } else { "no" },
            raw as f64 / enc as f64,
            loss,
            100.0 * (loss as f64 - reference) / reference,
            100.0 * (sc.base_loss as f64 - loss as f64) / gain
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let filter = Filter::parse()?;
    let specs = filter.specs();
    let dev = Device::Cpu;
    println!("default pipeline: {}", Pipeline::default());
    for cfg in [MetaConfig::tiny(), MetaConfig::small()] {
        if !filter.presets.is_empty() && !filter.presets.contains(&cfg.preset) {
            continue;
        }
        let init = Model::init(&cfg, 1, &dev)?;
        let texts: Vec<String> = synth::split(7, "train", 4000)
            .into_iter()
            .map(|e| e.text)
            .collect();
        let seqs = data::sequences(&texts, cfg.max_seq);
        let val: Vec<String> = synth::split(7, "val", 400)
            .into_iter()
            .map(|e| e.text)
            .collect();
        let init_loss = micro(&init, &val)?;
        let mut scenarios: Vec<(&'static str, Model, u64, usize)> = Vec::new();
        if filter.scenario("random") {
            scenarios.push(("random-init", init.clone(), init_loss, 200));
        }
        if filter.scenario("pretrained") {
            let steps = pretrain_steps(&cfg);
            let all = parse_blocks("all", &cfg)?;
            let t0 = Instant::now();
            let tc = TrainConfig {
                steps,
                seed: PRETRAIN_SEED,
                ..TrainConfig::default()
            };
            let out = train(&init, &all, &seqs, &tc, &mut |_, _| {})?;
            let base = with_delta(&init, &out.deltas)?;
            let base_loss = micro(&base, &val)?;
            println!(
                "\n=== {} preset: pre-trained every block ({}) for {steps} steps in {:.1}s: \
                 val loss {init_loss} -> {base_loss} micro-nats",
                cfg.preset,
                all.len(),
                t0.elapsed().as_secs_f64()
            );
            scenarios.push(("pretrained", base, base_loss, ROUND_STEPS));
        }
        for (name, base, base_loss, steps) in &scenarios {
            let sc = Scenario {
                name,
                base,
                base_loss: *base_loss,
                steps: *steps,
            };
            println!(
                "\n=== {} preset, {name} scenario: miner's round of {steps} steps from a base \
                 at val loss {base_loss} micro-nats",
                cfg.preset
            );
            if !filter.rounds_only {
                for target in ["layer0.expert0", "layer0"] {
                    run_target(&sc, target, &seqs, &val, &specs)?;
                }
            }
            if !filter.no_rounds {
                rounds(&sc, "layer0.expert0", &seqs, &val)?;
            }
        }
    }
    Ok(())
}
