//! Delta compression on real deltas: for the `tiny` and `small` presets, train one expert
//! (`layer0.expert0`) and one whole layer (`layer0`: backbone, router, every expert) of a
//! freshly initialised model for 200 AdamW steps on the synthetic corpus, then for each
//! pipeline print the compression ratio, encode and decode speed (MB of raw f32 per second),
//! the relative L2 error of the decoded delta, and the validation loss (micro-nats, on the
//! held-out synthetic `val` split) of base + decoded delta next to base + exact delta.
//!
//! `penalty` is `(loss(base + decoded) − loss(base + exact)) / loss(base + exact)`, the
//! target being ≤ 1 % for the default pipeline at ratio ≥ 50×; `kept` is the share of the
//! exact delta's improvement over the base that the decoded delta keeps,
//! `(loss(base) − loss(base + decoded)) / (loss(base) − loss(base + exact))`.
//!
//! ```text
//! cargo bench -p blyan-worker --bench compress            # add `-- tiny` to skip `small`
//! ```
//! Prints figures; asserts nothing.

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

const SPECS: [&str; 13] = [
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
];

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

fn run_target(
    model: &Model,
    spec: &str,
    seqs: &[Vec<u32>],
    val: &[String],
    base_loss: u64,
) -> anyhow::Result<()> {
    let cfg = model.config();
    let blocks = parse_blocks(spec, cfg)?;
    let t0 = Instant::now();
    let out = train(
        model,
        &blocks,
        seqs,
        &TrainConfig::default(),
        &mut |_, _| {},
    )?;
    let train_s = t0.elapsed().as_secs_f64();
    let exact_loss = micro(&with_delta(model, &out.deltas)?, val)?;
    let values: usize = out
        .deltas
        .values()
        .flat_map(|m| m.values())
        .map(|t| t.elem_count())
        .sum();
    println!(
        "\n{} {spec}: {} blocks, {values} values, trained {} steps in {train_s:.1}s; \
         loss base {base_loss} exact {exact_loss} micro-nats",
        cfg.preset,
        blocks.len(),
        out.steps
    );
    println!(
        "{:<26} {:>8} {:>9} {:>9} {:>8} {:>10} {:>9} {:>7}",
        "pipeline", "ratio", "enc MB/s", "dec MB/s", "l2 rel", "loss", "penalty%", "kept%"
    );
    let default = Pipeline::default().to_string();
    let mut specs: Vec<String> = SPECS.iter().map(|s| s.to_string()).collect();
    if !specs.contains(&default) {
        specs.push(default.clone());
    }
    let dev = Device::Cpu;
    for p_spec in &specs {
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
        let gain = base_loss as f64 - exact_loss as f64;
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

fn rounds(model: &Model, target: &str, seqs: &[Vec<u32>], val: &[String]) -> anyhow::Result<()> {
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
        "\n{} {target}: {ROUNDS} rounds x {STEPS} steps, each from base + decoded so far",
        model.config().preset
    );
    println!(
        "{:<26} {:>8} {:>8} {:>10} {:>9}",
        "pipeline", "feedback", "ratio", "loss", "penalty%"
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
        let base = *reference.get_or_insert(loss) as f64;
        println!(
            "{:<26} {:>8} {:>7.1}x {:>10} {:>9.3}",
            spec,
            if with_fb { "yes" } else { "no" },
            raw as f64 / enc as f64,
            loss,
            100.0 * (loss as f64 - base) / base
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let dev = Device::Cpu;
    for cfg in [MetaConfig::tiny(), MetaConfig::small()] {
        let presets: Vec<&String> = only.iter().filter(|a| *a != "rounds-only").collect();
        if !presets.is_empty() && !presets.contains(&&cfg.preset) {
            continue;
        }
        let model = Model::init(&cfg, 1, &dev)?;
        let texts: Vec<String> = synth::split(7, "train", 4000)
            .into_iter()
            .map(|e| e.text)
            .collect();
        let seqs = data::sequences(&texts, cfg.max_seq);
        let val: Vec<String> = synth::split(7, "val", 400)
            .into_iter()
            .map(|e| e.text)
            .collect();
        let base_loss = micro(&model, &val)?;
        if !only.iter().any(|a| a == "rounds-only") {
            for target in ["layer0.expert0", "layer0"] {
                run_target(&model, target, &seqs, &val, base_loss)?;
            }
        }
        rounds(&model, "layer0.expert0", &seqs, &val)?;
    }
    Ok(())
}
