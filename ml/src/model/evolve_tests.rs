//! The evolved model loads in candle, is deterministic, keeps every old block and router
//! row, and gives the old outputs for sequences whose tokens never pick a new expert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::*;
use crate::model::{block_names, BlockKind, ExpertProvider, ExpertWeights};

fn bytes(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Serves experts from a loaded model, recording which were asked for.
struct Recording<'a> {
    model: &'a Model,
    asked: RefCell<BTreeSet<(usize, usize)>>,
}

impl ExpertProvider for Recording<'_> {
    fn expert(&self, layer: usize, expert: usize) -> Result<Arc<ExpertWeights>> {
        self.asked.borrow_mut().insert((layer, expert));
        let b = BlockName::Expert { layer, expert };
        let t = self.model.block_tensors(&b)?;
        Ok(Arc::new(ExpertWeights::from_tensors(
            self.model.config(),
            &b,
            &t,
            self.model.device(),
        )?))
    }
}

fn resident(m: &Model) -> Model {
    let blocks: BTreeMap<String, BTreeMap<String, Tensor>> = block_names(m.config())
        .into_iter()
        .filter(|b| b.kind() != BlockKind::Expert)
        .map(|b| (b.to_string(), m.block_tensors(&b).unwrap()))
        .collect();
    Model::from_resident_blocks(m.config(), &blocks, m.device()).unwrap()
}

#[test]
fn evolution_is_deterministic_and_keeps_the_old_blocks() {
    let dev = Device::Cpu;
    let cfg = MetaConfig::tiny();
    let old = Model::init(&cfg, 3, &dev).unwrap();
    let a = evolve_model(&old, 2, 1, 42).unwrap();
    let b = evolve_model(&old, 2, 1, 42).unwrap();
    let c = evolve_model(&old, 2, 1, 43).unwrap();
    assert_eq!(a.config().n_experts, cfg.n_experts + 2);
    for blk in block_names(a.config()) {
        let (ta, tb) = (
            a.block_tensors(&blk).unwrap(),
            b.block_tensors(&blk).unwrap(),
        );
        for (k, v) in &ta {
            assert_eq!(bytes(v), bytes(&tb[k]), "{blk}.{k}");
        }
        if let Ok(to) = old.block_tensors(&blk) {
            if blk.kind() != BlockKind::Router {
                for (k, v) in &to {
                    assert_eq!(bytes(v), bytes(&ta[k]), "{blk}.{k} carried over");
                }
            }
        }
    }
    let d = cfg.d_model;
    for layer in 0..cfg.n_layers {
        let r = BlockName::Router { layer };
        let old_rows = bytes(&old.block_tensors(&r).unwrap()["gate.weight"]);
        let new_rows = bytes(&a.block_tensors(&r).unwrap()["gate.weight"]);
        assert_eq!(&new_rows[..old_rows.len()], &old_rows[..], "old rows kept");
        // The new rows are the source's plus small noise, and differ from each other.
        let src = &old_rows[d..2 * d];
        let (r4, r5) = (&new_rows[4 * d..5 * d], &new_rows[5 * d..6 * d]);
        let bound = EVOLUTION_NOISE / (d as f32).sqrt() + 1e-7;
        assert!(r4.iter().zip(src).all(|(x, y)| (x - y).abs() <= bound));
        assert_ne!(r4, r5);
        let e = BlockName::Expert { layer, expert: 4 };
        let src = old
            .block_tensors(&BlockName::Expert { layer, expert: 1 })
            .unwrap();
        let new = a.block_tensors(&e).unwrap();
        assert_ne!(bytes(&new["w1.weight"]), bytes(&src["w1.weight"]));
        let diff = bytes(&new["w1.weight"])
            .iter()
            .zip(bytes(&src["w1.weight"]))
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff <= EVOLUTION_NOISE / (d as f32).sqrt() + 1e-7, "{diff}");
    }
    let r = BlockName::Router { layer: 0 };
    assert_ne!(
        bytes(&a.block_tensors(&r).unwrap()["gate.weight"]),
        bytes(&c.block_tensors(&r).unwrap()["gate.weight"]),
        "the seed matters"
    );
    assert!(evolve_model(&old, 1, 4, 42).is_err());
    assert!(evolve_model(&old, 0, 0, 42).is_err());
}

#[test]
fn sequences_that_never_pick_the_new_expert_keep_their_outputs() {
    let dev = Device::Cpu;
    let cfg = MetaConfig::tiny();
    let old = Model::init(&cfg, 5, &dev).unwrap();
    let new = evolve_model(&old, 1, 0, 7).unwrap();
    let new_res = resident(&new);
    let mut rng = crate::rng::SplitMix64::new(11);
    let (mut same, mut routed) = (0, 0);
    for _ in 0..60 {
        let ids: Vec<u32> = (0..4).map(|_| rng.below(259) as u32).collect();
        let input = Tensor::from_vec(ids, (1, 4), &dev).unwrap();
        let rec = Recording {
            model: &new,
            asked: RefCell::new(BTreeSet::new()),
        };
        let got = new_res.forward_with_experts(&input, &rec).unwrap();
        let full = new.forward(&input).unwrap();
        let diff_full = (got.clone() - full)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff_full.to_scalar::<f32>().unwrap() < 1e-5);
        let picked_new = rec.asked.borrow().iter().any(|(_, e)| *e == cfg.n_experts);
        if picked_new {
            routed += 1;
            continue;
        }
        same += 1;
        let before = old.forward(&input).unwrap();
        let diff = (got - before).unwrap().abs().unwrap().max_all().unwrap();
        let diff = diff.to_scalar::<f32>().unwrap();
        assert!(
            diff < 1e-5,
            "a sequence never routed to the new expert moved by {diff}"
        );
    }
    assert!(same > 0 && routed > 0, "same {same}, routed {routed}");
}

#[test]
fn appended_layers_start_as_the_identity_and_are_deterministic() {
    let dev = Device::Cpu;
    let cfg = MetaConfig::tiny();
    let old = Model::init(&cfg, 9, &dev).unwrap();
    let deep = deepen_model(&old, 2, 13).unwrap();
    assert_eq!(deep.config().n_layers, cfg.n_layers + 2);
    let mut rng = crate::rng::SplitMix64::new(3);
    let ids: Vec<u32> = (0..2 * 16).map(|_| rng.below(259) as u32).collect();
    let input = Tensor::from_vec(ids, (2, 16), &dev).unwrap();
    assert_eq!(
        bytes(&old.forward(&input).unwrap()),
        bytes(&deep.forward(&input).unwrap()),
        "bit-identical logits"
    );
    let (_, added) = add_layers(&old, 2, 13).unwrap();
    assert_eq!(added.len(), 2 * (2 + cfg.n_experts));
    let again = add_layers(&old, 2, 13).unwrap().1;
    for ((b, t), (b2, t2)) in added.iter().zip(&again) {
        assert_eq!(b, b2);
        for (k, v) in t {
            assert_eq!(bytes(v), bytes(&t2[k]), "{b}.{k} deterministic");
            let zero = k == "attn.o_proj.weight" || k == "w2.weight";
            assert_eq!(bytes(v).iter().all(|x| *x == 0.0), zero, "{b}.{k}");
        }
    }
    assert!(add_layers(&old, 0, 13).is_err());
}
