//! Phase-1 judging by contribution (leave-one-out), in process: a `tiny` model, real
//! AdamW deltas of miners on disjoint shards of the synthetic corpus, attackers that flip
//! labels or signs. What the chain would decide is emulated with its rule: harmful when
//! the attested loss is above the recorded loss by more than 2 standard errors.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use candle_core::Device;

use super::base::Base;
use super::candidate::Outer;
use super::contribution::{leave_one_out, paired, LeaveOneOut, Measured};
use super::judge::{judge_updates, judgements, Judging, Outcome};
use super::weights::BlockWeights;
use crate::compress::{tensors_to_delta, Decoded};
use crate::data::{self, synth};
use crate::defense::{AggregationRule, DefenseParams, Update};
use crate::eval::SequenceLosses;
use crate::model::{MetaConfig, Model};
use crate::tensorblock::DEFAULT_TILE_SIZE;
use crate::train::{self, TargetMode, TrainConfig};

const SEED: u64 = 4;

fn texts(seed: u64, split: &str, n: usize) -> Vec<String> {
    synth::split(seed, split, n)
        .into_iter()
        .map(|e| e.text)
        .collect()
}

fn val() -> &'static [String] {
    static VAL: OnceLock<Vec<String>> = OnceLock::new();
    VAL.get_or_init(|| texts(99, "val", 80))
}

fn model() -> Model {
    Model::init(&MetaConfig::tiny(), SEED, &Device::Cpu).unwrap()
}

fn base() -> Base {
    let m = model();
    let cfg = MetaConfig::tiny();
    let blocks: BTreeMap<String, BlockWeights> = Model::block_names(&cfg)
        .iter()
        .map(|b| {
            let tensors = tensors_to_delta(&m.block_tensors(b).unwrap()).unwrap();
            (
                b.to_string(),
                BlockWeights {
                    block: b.to_string(),
                    tensors,
                    tile_size: DEFAULT_TILE_SIZE,
                },
            )
        })
        .collect();
    Base::from_weights(&cfg, blocks, Vec::new(), &Device::Cpu).unwrap()
}

/// Miner `shard`'s delta of every block after a short AdamW run on its own shard.
fn trained(shard: u64, targets: TargetMode) -> Vec<Decoded> {
    let m = model();
    let cfg = m.config().clone();
    let seqs = data::sequences(&texts(10 + shard, "train", 300), cfg.max_seq);
    let tc = TrainConfig {
        steps: 40,
        lr: 3e-3,
        seed: shard,
        targets,
        ..TrainConfig::default()
    };
    let blocks = train::parse_blocks("all", &cfg).unwrap();
    let out = train::train(&m, &blocks, &seqs, &tc, &mut |_, _| {}).unwrap();
    out.deltas
        .iter()
        .map(|(b, d)| Decoded {
            block: b.to_string(),
            tensors: tensors_to_delta(d).unwrap(),
        })
        .collect()
}

/// Three honest updates (submissions 1..=3), a label-flipped one (4) and the sign flip
/// of honest update 1 (5), trained once for all tests.
fn updates() -> &'static [Update] {
    static UPDATES: OnceLock<Vec<Update>> = OnceLock::new();
    UPDATES.get_or_init(|| {
        let mut out: Vec<Update> = (1..=3)
            .map(|i| Update {
                submission: i,
                samples: 320,
                blocks: trained(i, TargetMode::Normal),
            })
            .collect();
        out.push(Update {
            submission: 4,
            samples: 320,
            blocks: trained(4, TargetMode::Flipped),
        });
        let mut flipped = out[0].blocks.clone();
        for d in &mut flipped {
            for t in &mut d.tensors {
                for v in &mut t.values {
                    *v = -*v;
                }
            }
        }
        out.push(Update {
            submission: 5,
            samples: 320,
            blocks: flipped,
        });
        out
    })
}

fn fedavg() -> Outer {
    Outer {
        rule: AggregationRule::WeightedFedAvg,
        optimizer: blyan_proto::pol::OuterOptimizer::default(),
    }
}

/// The chain's verdict at its defaults: harmful beyond 2 standard errors.
fn harmful(o: &Outcome, recorded: u64) -> bool {
    o.loss.unwrap() > recorded + 2 * o.noise
}

fn judge_set(ids: &[u64], defense: &DefenseParams) -> (Vec<Outcome>, u64) {
    let mut b = base();
    let recorded = b.loss_with(&BTreeMap::new(), val()).unwrap().unwrap();
    let set: Vec<Update> = updates()
        .iter()
        .filter(|u| ids.contains(&u.submission))
        .cloned()
        .collect();
    let outer = fedavg();
    let j = Judging {
        defense,
        outer: &outer,
        texts: val(),
        recorded_loss: Some(recorded),
        harmful_noise_bps: blyan_proto::pol::PolParams::default().harmful_noise_bps,
    };
    (judge_updates(&mut b, &set, &j).unwrap(), recorded)
}

#[test]
fn paired_differences_give_the_mean_and_its_standard_error() {
    let m = model();
    let a = crate::eval::sequence_losses(&m, val(), |_, _| {}).unwrap();
    // the same model: no difference, no noise
    let p = paired(&a, &a).unwrap();
    assert_eq!((p.diff_micro, p.noise_micro), (0, 0));
    let mut b = base();
    let blocks = b.applied(&super::judge::by_block(&updates()[0])).unwrap();
    let after: SequenceLosses = b.sequence_losses_with(&blocks, val()).unwrap().unwrap();
    let p = paired(&a, &after).unwrap();
    let want = a.loss().unwrap().micro_nats as i64 - after.loss().unwrap().micro_nats as i64;
    assert_eq!(p.diff_micro, want);
    assert!(p.diff_micro > 0, "training helps: {p:?}");
    assert!(p.noise_micro > 0 && p.noise_micro < p.diff_micro.unsigned_abs());
    // sequences that do not match are not compared
    let mut short = after.clone();
    short.sequences.pop();
    assert_eq!(paired(&a, &short), None);
}

#[test]
fn honest_updates_are_not_harmful() {
    let (outs, recorded) = judge_set(&[1, 2, 3], &DefenseParams::default());
    for o in &outs {
        assert_eq!(o.flags, 0, "{o:?}");
        assert!(o.contribution.is_some() && o.noise > 0, "{o:?}");
        assert!(!harmful(o, recorded), "{o:?} (recorded {recorded})");
    }
    // alone, a single honest update is the base for leave-one-out: its contribution is
    // its own improvement
    let (outs, recorded) = judge_set(&[2], &DefenseParams::default());
    assert!(outs[0].contribution.unwrap() > 0, "{:?}", outs[0]);
    assert!(!harmful(&outs[0], recorded));
}

#[test]
fn label_and_sign_flips_contribute_negatively_beyond_their_noise() {
    // the default screen flags the sign flip (cosine): it is measured alone; the label
    // flip passes the screen and is caught by its contribution
    let (outs, recorded) = judge_set(&[1, 2, 3, 4, 5], &DefenseParams::default());
    let by_id = |id: u64| outs.iter().find(|o| o.submission == id).unwrap();
    assert_ne!(by_id(5).flags, 0, "{:?}", by_id(5));
    let lf = by_id(4);
    assert!(lf.contribution.unwrap() < -2 * lf.noise as i64, "{lf:?}");
    // it is kept out of the aggregate: harmful when its own direction raises the loss,
    // excluded (round-relative CONTRIBUTION flag) when, from this barely trained base, it
    // still lowers it at its share (it learns the printable range even with flipped
    // targets)
    assert!(
        harmful(lf, recorded) || lf.flags == blyan_proto::pol::flags::CONTRIBUTION,
        "{lf:?}"
    );
    assert_eq!(
        lf.flags & !blyan_proto::pol::flags::CONTRIBUTION,
        0,
        "{lf:?}"
    );
    for id in 1..=3 {
        assert!(!harmful(by_id(id), recorded), "{:?}", by_id(id));
    }
    // with the screen off, the sign flip is in the set too: its contribution is negative
    // beyond its noise, the honest ones' still are not
    let mut b = base();
    let set: Vec<&Update> = updates().iter().collect();
    let LeaveOneOut::Measured { each, .. } = leave_one_out(&mut b, &set, &fedavg(), val()).unwrap()
    else {
        panic!("the aggregate is finite");
    };
    let c: Vec<(i64, u64)> = each
        .iter()
        .map(|m| match m {
            Measured::Contribution(p) => (p.diff_micro, p.noise_micro),
            Measured::Undetermined => panic!("{each:?}"),
        })
        .collect();
    for (d, n) in &c[3..] {
        assert!(*d < -2 * *n as i64, "{c:?}");
    }
    for (d, n) in &c[..3] {
        assert!(*d > -2 * *n as i64, "{c:?}");
    }
}

#[test]
fn judging_is_deterministic() {
    let ids = [1, 2, 3, 4];
    let (one, _) = judge_set(&ids, &DefenseParams::default());
    let (two, _) = judge_set(&ids, &DefenseParams::default());
    assert_eq!(one, two);
    let order: Vec<u64> = ids.to_vec();
    assert_eq!(judgements(&order, &one), judgements(&order, &two));
    // another validator's order of the same submissions: the same judgements
    let mut b = base();
    let recorded = b.loss_with(&BTreeMap::new(), val()).unwrap().unwrap();
    let mut set: Vec<Update> = updates()[..4].to_vec();
    set.reverse();
    let outer = fedavg();
    let j = Judging {
        defense: &DefenseParams::default(),
        outer: &outer,
        texts: val(),
        recorded_loss: Some(recorded),
        harmful_noise_bps: blyan_proto::pol::PolParams::default().harmful_noise_bps,
    };
    let three = judge_updates(&mut b, &set, &j).unwrap();
    assert_eq!(judgements(&order, &one), judgements(&order, &three));
}

#[test]
fn an_update_that_breaks_the_aggregate_is_flagged_and_the_rest_judged_without_it() {
    // a screen that lets everything through, and an update of huge finite values with a
    // huge weight: with the outer step (×2) the aggregate overflows f32, so each candidate
    // is measured alone; the culprit does not apply to the base (non-finite) and is
    // flagged, and leave-one-out runs again over the others
    let open = DefenseParams {
        max_l2_norm: f64::INFINITY,
        max_l2_distance: f64::INFINITY,
        min_cosine: -1.0,
        cosine_z: -1e9,
        krum_max_ratio: f64::INFINITY,
        norm_mad_k: f64::INFINITY,
        max_sign_bias: f64::INFINITY,
        ..DefenseParams::default()
    };
    let mut set: Vec<Update> = updates()[..3].to_vec();
    let mut huge = updates()[0].clone();
    huge.submission = 9;
    huge.samples = 1_000_000;
    for d in &mut huge.blocks {
        for t in &mut d.tensors {
            for v in &mut t.values {
                *v = 3e38;
            }
        }
    }
    set.push(huge);
    let mut b = base();
    let recorded = b.loss_with(&BTreeMap::new(), val()).unwrap().unwrap();
    let outer = Outer {
        rule: AggregationRule::WeightedFedAvg,
        // a 10x outer step makes the aggregate with the huge update overflow
        optimizer: blyan_proto::pol::OuterOptimizer {
            lr_bps: 100_000,
            momentum_bps: 9_000,
        },
    };
    let j = Judging {
        defense: &open,
        outer: &outer,
        texts: val(),
        recorded_loss: Some(recorded),
        harmful_noise_bps: blyan_proto::pol::PolParams::default().harmful_noise_bps,
    };
    let outs = judge_updates(&mut b, &set, &j).unwrap();
    let bad = &outs[3];
    assert_eq!(bad.flags, blyan_proto::pol::flags::NON_FINITE, "{bad:?}");
    assert_eq!((bad.loss, bad.noise, bad.contribution), (None, 0, None));
    for o in &outs[..3] {
        assert!(o.note.contains("judged alone"), "{o:?}");
        // at this 10x outer step the honest aggregate overshoots: an honest update may be
        // excluded by its contribution, never penalized
        assert_eq!(o.flags & !blyan_proto::pol::flags::CONTRIBUTION, 0, "{o:?}");
        assert!(o.contribution.is_some() && o.noise > 0, "{o:?}");
        assert!(!harmful(o, recorded), "{o:?} (recorded {recorded})");
    }
}
