//! Screening real deltas: miners train `layer0.expert0` and `layer0.router` of the same
//! `tiny` base on different synthetic data with different seeds and step counts (honest),
//! or on flipped labels; the deltas go through the default compression pipeline like a real
//! submission. No honest update may be flagged; the attacks built from real deltas must be.

use std::collections::BTreeMap;

use candle_core::Device;

use super::synthetic::{self, Attack};
use super::*;
use crate::compress::{encode, tensors_to_delta, Pipeline};
use crate::data::{self, synth};
use crate::model::{BlockName, MetaConfig, Model};
use crate::train::{train, TargetMode, TrainConfig};

const BLOCKS: [BlockName; 2] = [
    BlockName::Expert {
        layer: 0,
        expert: 0,
    },
    BlockName::Router { layer: 0 },
];

/// A miner's decoded update: trained on corpus `data_seed`, batch order `seed`, `steps`.
fn miner(
    model: &Model,
    data_seed: u64,
    seed: u64,
    steps: usize,
    targets: TargetMode,
) -> Vec<Decoded> {
    let cfg = model.config().clone();
    let texts: Vec<String> = synth::split(data_seed, "train", 120)
        .into_iter()
        .map(|e| e.text)
        .collect();
    let seqs = data::sequences(&texts, cfg.max_seq);
    let tc = TrainConfig {
        steps,
        seed,
        targets,
        ..TrainConfig::default()
    };
    let out = train(model, &BLOCKS, &seqs, &tc, &mut |_, _| {}).unwrap();
    out.deltas
        .iter()
        .map(|(b, d)| {
            let tensors = tensors_to_delta(d).unwrap();
            let enc = encode(&b.to_string(), &tensors, &Pipeline::default(), None).unwrap();
            compress::decode(&enc.bytes).unwrap()
        })
        .collect()
}

fn base_norms(model: &Model) -> BTreeMap<String, BaseBlock> {
    let mut out = BTreeMap::new();
    for b in Model::block_names(model.config()) {
        let tensors = tensors_to_delta(&model.block_tensors(&b).unwrap()).unwrap();
        out.insert(b.to_string(), BaseBlock::of(&b.to_string(), &tensors));
    }
    out
}

fn cos(a: &[Decoded], b: &[Decoded]) -> f64 {
    let mut dot = 0.0;
    for (x, y) in a.iter().zip(b) {
        for (s, t) in x.tensors.iter().zip(&y.tensors) {
            for (p, q) in s.values.iter().zip(&t.values) {
                dot += f64::from(*p) * f64::from(*q);
            }
        }
    }
    dot / (synthetic::norm(a) * synthetic::norm(b))
}

#[test]
fn real_deltas_honest_pass_and_attacks_are_flagged() {
    let model = Model::init(&MetaConfig::tiny(), 1, &Device::Cpu).unwrap();
    let norms = base_norms(&model);
    let steps = [30, 40, 50, 30, 60, 40];
    let honest: Vec<Vec<Decoded>> = steps
        .iter()
        .enumerate()
        .map(|(i, &s)| miner(&model, 10 + i as u64, i as u64, s, TargetMode::Normal))
        .collect();
    let flipped = miner(&model, 30, 7, 40, TargetMode::Flipped);
    for (i, h) in honest.iter().enumerate() {
        let pair: Vec<String> = honest.iter().map(|g| format!("{:.3}", cos(h, g))).collect();
        eprintln!(
            "honest {i}: norm {:.4} cos to honest [{}] to label-flip {:.3}",
            synthetic::norm(h),
            pair.join(" "),
            cos(h, &flipped)
        );
    }
    let mut updates: Vec<Update> = honest
        .iter()
        .enumerate()
        .map(|(i, h)| Update {
            submission: i as u64,
            samples: 8 * steps[i] as u64,
            blocks: h.clone(),
        })
        .collect();
    let attacks = [
        (Attack::SignFlip { k: 1.0 }, flag::COSINE),
        (Attack::Scaled { k: 5.0 }, flag::NORM),
        (Attack::Noise { norm_rel: 1.0 }, flag::COSINE),
        (Attack::AddNoise { sigma: 5.0 }, flag::NORM),
        (Attack::NonFinite, flag::NON_FINITE),
    ];
    for (k, (a, _)) in attacks.iter().enumerate() {
        updates.push(Update {
            submission: 100 + k as u64,
            samples: 320,
            blocks: synthetic::attack(*a, &honest[k % honest.len()], k as u64),
        });
    }
    updates.push(Update {
        submission: 200,
        samples: 320,
        blocks: flipped,
    });
    let long = miner(&model, 40, 9, 200, TargetMode::Normal);
    updates.push(Update {
        submission: 300,
        samples: 1600,
        blocks: long,
    });
    let res = screen(&updates, &norms, &DefenseParams::default());
    for s in &res {
        eprintln!("{s} distance {}", s.distance_micro);
    }
    let long = &res[res.len() - 1];
    assert!(long.is_clean(), "honest 200-step update flagged: {long}");
    let label_flip = &res[res.len() - 2];
    for s in &res[..honest.len()] {
        assert!(
            s.cosine_micro > 3 * label_flip.cosine_micro,
            "{s} vs {label_flip}"
        );
        assert!(s.is_clean(), "honest flagged: {s}");
        assert!(s.distance_micro < 1_000_000, "{s}");
    }
    for (s, (a, want)) in res[honest.len()..].iter().zip(&attacks) {
        assert!(s.flags & want != 0, "{a:?} not flagged as expected: {s}");
    }
}
