//! Screening on synthetic rounds: honest updates never flagged, each attack flagged, small
//! rounds on absolute bounds only, structure checks, partial mining, order independence.

use std::collections::BTreeMap;

use super::synthetic::{self, Attack, Layout};
use super::*;
use crate::compress::DeltaTensor;
use crate::model::{BlockName, MetaConfig};
use crate::rng::SplitMix64;

pub(super) fn expert_layout() -> Layout {
    synthetic::layout(
        &MetaConfig::tiny(),
        &[BlockName::Expert {
            layer: 0,
            expert: 1,
        }],
    )
}

/// Base blocks with weights 20× the size of an honest delta (relative distance ≈ 0.05).
pub(super) fn base_norms(layout: &Layout, delta_std: f64) -> BTreeMap<String, BaseBlock> {
    synthetic::base_blocks(layout, |n| 20.0 * delta_std * (n as f64).sqrt())
}

pub(super) use synthetic::round;

#[test]
fn honest_rounds_are_not_flagged() {
    let layout = expert_layout();
    let norms = base_norms(&layout, 1e-3);
    let p = DefenseParams::default();
    for n in [1, 2, 3, 4, 5, 8, 13] {
        for noise_rel in [0.3, 1.0, 2.0, 3.0] {
            for seed in 0..4 {
                let (ups, _) = round(&layout, n, &[], noise_rel, seed);
                for s in screen(&ups, &norms, &p) {
                    assert!(s.is_clean(), "n {n} noise {noise_rel} seed {seed}: {s}");
                    assert_eq!(s.cosine_micro == COSINE_NONE, n < MIN_COSINE, "{s}");
                    assert_eq!(s.krum_score_micro == KRUM_NONE, n < MIN_ROBUST, "{s}");
                }
            }
        }
    }
}

#[test]
fn each_attack_is_flagged_and_honest_stay_clean() {
    let layout = expert_layout();
    let norms = base_norms(&layout, 1e-3);
    let p = DefenseParams::default();
    // (attack, flags it must carry, flags of which it must carry at least one)
    let cases = [
        (Attack::Noise { norm_rel: 1.0 }, flag::COSINE, 0),
        (
            Attack::Noise { norm_rel: 6.0 },
            flag::COSINE | flag::NORM,
            0,
        ),
        (Attack::AddNoise { sigma: 5.0 }, 0, flag::NORM | flag::KRUM),
        (Attack::SignFlip { k: 1.0 }, flag::COSINE, 0),
        (Attack::SignFlip { k: 5.0 }, flag::COSINE | flag::NORM, 0),
        (Attack::Scaled { k: 5.0 }, 0, flag::NORM | flag::KRUM),
        (Attack::Scaled { k: 20.0 }, flag::NORM | flag::KRUM, 0),
        (Attack::NonFinite, flag::NON_FINITE, 0),
    ];
    for (attack, want, any) in cases {
        for noise_rel in [0.5, 2.0] {
            for seed in 0..3 {
                let (ups, kinds) = round(&layout, 7, &[attack; 3], noise_rel, seed);
                for (s, k) in screen(&ups, &norms, &p).iter().zip(&kinds) {
                    match k {
                        None => assert!(s.is_clean(), "{attack:?} {noise_rel}: honest {s}"),
                        Some(_) => {
                            assert_eq!(s.flags & want, want, "{attack:?} {noise_rel}: {s}");
                            assert!(any == 0 || s.flags & any != 0, "{attack:?}: {s}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn mixed_attackers_are_all_flagged() {
    let layout = expert_layout();
    let norms = base_norms(&layout, 1e-3);
    let attacks = [
        Attack::Noise { norm_rel: 2.0 },
        Attack::SignFlip { k: 1.0 },
        Attack::Scaled { k: 6.0 },
        Attack::SignFlip { k: 10.0 },
    ];
    for seed in 0..4 {
        let (ups, kinds) = round(&layout, 9, &attacks, 1.0, seed);
        let res = screen(&ups, &norms, &DefenseParams::default());
        for (s, k) in res.iter().zip(&kinds) {
            assert_eq!(s.is_clean(), k.is_none(), "seed {seed} {k:?}: {s}");
        }
    }
}

#[test]
fn small_rounds_use_absolute_bounds_only() {
    let layout = expert_layout();
    let norms = base_norms(&layout, 1e-3);
    let p = DefenseParams::default();
    // one honest, one 5x scaled sign flip: no round statistics, so no flag
    let (ups, _) = round(&layout, 1, &[Attack::SignFlip { k: 5.0 }], 1.0, 3);
    assert!(screen(&ups, &norms, &p).iter().all(Screening::is_clean));
    // ... until it passes the distance bound (relative distance ≈ 0.05 per unit of scale)
    let (ups, kinds) = round(&layout, 1, &[Attack::Scaled { k: 60.0 }], 1.0, 3);
    for (s, k) in screen(&ups, &norms, &p).iter().zip(&kinds) {
        assert_eq!(s.flags, if k.is_some() { flag::DISTANCE } else { 0 }, "{s}");
    }
    // the absolute norm bound
    let tight = DefenseParams {
        max_l2_norm: 0.01,
        ..p.clone()
    };
    let (ups, _) = round(&layout, 1, &[], 1.0, 3);
    let s = &screen(&ups, &norms, &tight)[0];
    assert_eq!(s.flags, flag::NORM, "{s}");
    assert_eq!(s.cosine_micro, COSINE_NONE);
    assert_eq!(s.krum_score_micro, KRUM_NONE);
    let n = synthetic::norm(&ups[0].blocks);
    assert_eq!(s.l2_norm_micro, (n * 1e6).round() as u64);
    // a block with a zero base norm is not distance-checked
    let zero = synthetic::base_blocks(&layout, |_| 0.0);
    let s = &screen(&ups, &zero, &p)[0];
    assert!(s.is_clean() && s.distance_micro == 0, "{s}");
}

#[test]
fn structure_is_checked() {
    let layout = expert_layout();
    let norms = base_norms(&layout, 1e-3);
    let (mut ups, _) = round(&layout, 7, &[], 1.0, 5);
    ups.sort_by_key(|u| u.submission);
    let dup = ups[0].blocks[0].clone();
    ups[0].blocks.push(dup); // duplicate block
    ups[1].blocks[0].tensors[0].values.pop(); // value count
    ups[2].blocks[0].tensors.swap(0, 1); // unsorted tensor names
    ups[3].blocks[0].block = "layer9.expert9".into(); // unknown block
    let t = &mut ups[4].blocks[0].tensors[2];
    t.shape = vec![t.shape[1], t.shape[0]]; // same count, other shape than the round's
    let res = screen(&ups, &norms, &DefenseParams::default());
    for s in &res[..5] {
        assert_eq!(s.flags, flag::SHAPE, "{s}");
        assert_eq!(s.l2_norm_micro, u64::MAX);
    }
    for s in &res[5..] {
        assert!(s.is_clean(), "{s}");
        assert_eq!(s.cosine_micro, COSINE_NONE, "two well-formed updates left");
    }
    let empty = Update {
        submission: 1,
        samples: 1,
        blocks: vec![],
    };
    assert_eq!(
        screen(&[empty], &norms, &DefenseParams::default())[0].flags,
        flag::SHAPE
    );
}

#[test]
fn partial_mining_rounds() {
    // 5 miners on expert 1, 4 on expert 2, 1 on both, 1 sign-flipper on expert 2
    let cfg = MetaConfig::tiny();
    let (e1, e2) = (
        BlockName::Expert {
            layer: 0,
            expert: 1,
        },
        BlockName::Expert {
            layer: 1,
            expert: 2,
        },
    );
    let both = synthetic::layout(&cfg, &[e1, e2]);
    let norms = base_norms(&both, 1e-3);
    let (mut a, _) = round(&synthetic::layout(&cfg, &[e1]), 6, &[], 1.0, 1);
    let (b, kb) = round(
        &synthetic::layout(&cfg, &[e2]),
        5,
        &[Attack::SignFlip { k: 1.0 }],
        1.0,
        2,
    );
    let (mut b, kb): (Vec<Update>, Vec<Option<Attack>>) = b.into_iter().zip(kb).unzip();
    let h = kb.iter().position(Option::is_none).unwrap_or(0);
    let mut c = a.remove(0);
    c.blocks.extend(b.remove(h).blocks);
    let kb: Vec<_> = kb
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != h)
        .map(|(_, x)| *x)
        .collect();
    let mut ups = Vec::new();
    for (k, u) in a.into_iter().chain(b).chain([c]).enumerate() {
        ups.push(Update {
            submission: k as u64,
            ..u
        });
    }
    let res = screen(&ups, &norms, &DefenseParams::default());
    let attacker = 5 + kb.iter().position(Option::is_some).unwrap_or(99);
    for (k, s) in res.iter().enumerate() {
        assert_eq!(s.is_clean(), k != attacker, "{s}");
        assert_ne!(s.cosine_micro, COSINE_NONE, "{s}");
    }
    assert_eq!(res[attacker].flags, flag::COSINE);
}

#[test]
fn screening_does_not_depend_on_input_order() {
    let layout = expert_layout();
    let norms = base_norms(&layout, 1e-3);
    let (ups, _) = round(
        &layout,
        6,
        &[Attack::Noise { norm_rel: 1.0 }, Attack::Scaled { k: 5.0 }],
        1.0,
        9,
    );
    let p = DefenseParams::default();
    let by_id = |v: Vec<Screening>| -> BTreeMap<u64, Screening> {
        v.into_iter().map(|s| (s.submission, s)).collect()
    };
    let first = by_id(screen(&ups, &norms, &p));
    let mut rev = ups.clone();
    rev.reverse();
    // and blocks/tensors built in another order (the blocks list is canonicalised)
    assert_eq!(first, by_id(screen(&rev, &norms, &p)));
    let mut rng = SplitMix64::new(4);
    for _ in 0..3 {
        let mut shuffled = ups.clone();
        rng.shuffle(&mut shuffled);
        assert_eq!(first, by_id(screen(&shuffled, &norms, &p)));
    }
}

#[test]
fn flags_describe_and_screening_display() {
    assert_eq!(flag::describe(0), "-");
    assert_eq!(flag::describe(flag::NORM | flag::KRUM), "norm|krum");
    assert_eq!(flag::describe(flag::SHAPE | 0x100), "shape|0x100");
    let s = Screening::decode_failed(7);
    assert_eq!(s.flags, flag::DECODE);
    assert!(!s.is_clean());
    assert_eq!(s.to_string(), "submission 7 flags decode norm n/a");
    assert_eq!(micro_u(f64::NAN), u64::MAX);
    assert_eq!(micro_u(-1.0), 0);
    assert_eq!(micro_u(1.2345675), 1_234_568);
    assert_eq!(micro_i(-0.5), -500_000);
    assert_eq!(micro_i(f64::NEG_INFINITY), COSINE_NONE + 1);
    // Update::decode reports a broken container
    assert!(Update::decode(1, 1, &[b"nope".as_slice()]).is_err());
}

/// Issue 11 item 5: the structure reference used to be the round's majority, so identical
/// Sybil updates on a subset of a block's tensors got every honest full-block update flagged
/// SHAPE. The reference is the base block now: the honest update is clean, the Sybils (which
/// do not carry the block's tensors) are the ones flagged.
#[test]
fn sybil_majority_on_a_subset_of_tensors_does_not_flag_the_honest_full_block() {
    let layout = expert_layout();
    let norms = base_norms(&layout, 1e-3);
    let (mut ups, _) = round(&layout, 6, &[], 1.0, 11);
    ups.sort_by_key(|u| u.submission);
    let honest = ups[5].clone();
    let mut sybil = ups[0].clone();
    sybil.blocks[0].tensors.remove(0); // a subset of the block's tensors
    assert!(!sybil.blocks[0].tensors.is_empty());
    let mut round_ups: Vec<Update> = (0..5)
        .map(|k| Update {
            submission: k,
            ..sybil.clone()
        })
        .collect();
    round_ups.push(Update {
        submission: 5,
        ..honest
    });
    let res = screen(&round_ups, &norms, &DefenseParams::default());
    assert_eq!(res[5].flags & flag::SHAPE, 0, "honest: {}", res[5]);
    assert!(res[5].is_clean(), "honest: {}", res[5]);
    for s in &res[..5] {
        assert_eq!(s.flags, flag::SHAPE, "sybil: {s}");
    }
}

/// Issue 12: "a little is enough" (Baruch et al. 2019) sends, per value, the benign mean
/// shifted by `z` benign standard deviations: small in norm and close in direction, so the
/// norm, distance, cosine and Krum checks pass it. Every one of its values lies on the same
/// side of the other updates' median, which independent training noise never does:
/// [`flag::SIGN_BIAS`] catches it and leaves every honest update clean.
#[test]
fn a_little_is_enough_is_flagged_sign_bias_and_honest_stay_clean() {
    let layout = expert_layout();
    let norms = base_norms(&layout, 1e-3);
    let p = DefenseParams::default();
    for noise_rel in [0.5, 1.0, 2.0] {
        for seed in 0..3 {
            let (mut ups, _) = round(&layout, 4, &[], noise_rel, seed);
            let z = crate::attack::alie_z(6, 2) as f32;
            let alie: Vec<Decoded> = (0..ups[0].blocks.len())
                .map(|b| {
                    let benign: Vec<&[DeltaTensor]> =
                        ups.iter().map(|u| u.blocks[b].tensors.as_slice()).collect();
                    let tensors = crate::attack::alie_block(z, &benign).unwrap();
                    Decoded {
                        block: ups[0].blocks[b].block.clone(),
                        tensors,
                    }
                })
                .collect();
            for k in 0..2 {
                ups.push(Update {
                    submission: 2000 + k,
                    samples: 150,
                    blocks: alie.clone(),
                });
            }
            let (mut honest_min, mut alie_max) = (f64::MAX, f64::MIN);
            for s in screen(&ups, &norms, &p) {
                let bias = s.sign_bias_micro as f64 / 1e6;
                if s.submission >= 2000 {
                    assert_ne!(s.flags & flag::SIGN_BIAS, 0, "{noise_rel}/{seed} alie: {s}");
                    alie_max = alie_max.max(bias);
                } else {
                    assert!(s.is_clean(), "{noise_rel}/{seed} honest: {s}");
                    honest_min = honest_min.min(bias);
                }
            }
            // the attackers shift every honest balance upwards (the others' median is
            // lower) and stand well below the round's centre
            assert!(
                honest_min - alie_max > p.max_sign_bias,
                "{honest_min} {alie_max}"
            );
        }
    }
}
