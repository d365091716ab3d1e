//! Unit tests of the validator role's pure parts: judgements, the aggregate → new block
//! bytes (deterministic CIDs and payload hashes), and the replay arithmetic.

use blyan_proto::pol::{flags, AggregationRule as ChainRule, OuterOptimizer};
use candle_core::Device;

use super::aggregate::{self, build_block};
use super::judge::{chain_flags, judgements, Outcome, MAX_LOSS_MICRO};
use super::replay::replay_step;
use super::weights::{ApplyError, BlockWeights};
use crate::compress::{DeltaTensor, Pipeline};
use crate::defense::{flag, synthetic, AggregationRule, Update};
use crate::ipfs::cid_of_bytes;
use crate::model::{BlockName, MetaConfig, Model};
use crate::tensorblock::{TensorBlock, DEFAULT_TILE_SIZE};

const EXPERT: BlockName = BlockName::Expert {
    layer: 0,
    expert: 0,
};

fn expert_weights(seed: u64) -> BlockWeights {
    let m = Model::init(&MetaConfig::tiny(), seed, &Device::Cpu).unwrap();
    let tensors = crate::compress::tensors_to_delta(&m.block_tensors(&EXPERT).unwrap()).unwrap();
    BlockWeights {
        block: EXPERT.to_string(),
        tensors,
        tile_size: DEFAULT_TILE_SIZE,
    }
}

fn update(submission: u64, samples: u64, seed: u64) -> Update {
    let layout = synthetic::layout(&MetaConfig::tiny(), &[EXPERT]);
    Update {
        submission,
        samples,
        blocks: synthetic::gaussian(&layout, 0.01, seed),
    }
}

fn outcome(submission: u64, flags: u32, loss: Option<u64>) -> Outcome {
    Outcome {
        submission,
        flags,
        loss,
        noise: 7,
        contribution: None,
        note: String::new(),
    }
}

#[test]
fn judgements_follow_the_round_order_and_clamp_losses() {
    let outcomes = vec![
        outcome(9, 0, Some(0)),
        outcome(7, flags::NORM | flags::KRUM, Some(4_000_000)),
        outcome(8, flags::NON_FINITE, None),
        outcome(10, 0, Some(5 * MAX_LOSS_MICRO)),
        outcome(11, 0x1000 | flags::COSINE, Some(3)),
    ];
    let js = judgements(&[7, 8, 9, 10, 11, 12], &outcomes);
    let got: Vec<(u64, u32, u64)> = js
        .iter()
        .map(|j| (j.submission, j.flags, j.loss_micro))
        .collect();
    assert_eq!(js[0].noise_micro, 7);
    assert_eq!(js[5].noise_micro, 0);
    assert_eq!(
        got,
        vec![
            (7, flags::NORM | flags::KRUM, 4_000_000),
            (8, flags::NON_FINITE, MAX_LOSS_MICRO),
            (9, 0, 1),
            (10, 0, MAX_LOSS_MICRO),
            (11, flags::COSINE, 3),
            // no outcome (never fetched): flagged, the largest loss
            (12, flags::HASH, MAX_LOSS_MICRO),
        ]
    );
}

#[test]
fn defense_flags_map_to_the_chain_bits() {
    for (bit, _) in flag::ALL {
        assert_eq!(chain_flags(bit).count_ones(), 1);
    }
    assert_eq!(chain_flags(flag::DECODE), flags::DECODE);
    assert_eq!(chain_flags(flag::NON_FINITE), flags::NON_FINITE);
    assert_eq!(
        chain_flags(flag::NORM | flag::KRUM),
        flags::NORM | flags::KRUM
    );
    assert_eq!(chain_flags(flag::DISTANCE), flags::DISTANCE);
    assert_eq!(chain_flags(flag::COSINE), flags::COSINE);
    assert_eq!(chain_flags(flag::SHAPE), flags::SHAPE);
    assert_eq!(chain_flags(flag::SIGN_BIAS), flags::SIGN_BIAS);
    assert_eq!(chain_flags(0), 0);
    assert_eq!(
        super::describe_flags(flags::SIGN_BIAS | flags::CONTRIBUTION),
        "contribution|sign-bias"
    );
    assert_eq!(super::describe_flags(flags::HASH), "hash");
    assert_eq!(
        super::describe_flags(flags::NORM | flags::HASH),
        "norm|hash"
    );
    assert_eq!(super::describe_flags(0), "-");
}

#[test]
fn chain_rules_map_to_worker_rules() {
    assert_eq!(
        aggregate::rule(ChainRule::FedAvg),
        AggregationRule::WeightedFedAvg
    );
    assert_eq!(
        aggregate::rule(ChainRule::Median),
        AggregationRule::CoordinateMedian
    );
    assert_eq!(
        aggregate::rule(ChainRule::TrimmedMean { trim_bps: 1000 }),
        AggregationRule::TrimmedMean { trim_bps: 1000 }
    );
    assert_eq!(
        aggregate::rule(ChainRule::Krum { f: 1 }),
        AggregationRule::Krum { f: 1 }
    );
    assert_eq!(
        aggregate::rule(ChainRule::MultiKrum { f: 1, m: 2 }),
        AggregationRule::MultiKrum { f: 1, m: 2 }
    );
}

#[test]
fn applying_adds_in_f32_and_refuses_what_does_not_fit() {
    let base = BlockWeights {
        block: "b".into(),
        tensors: vec![
            DeltaTensor {
                name: "a".into(),
                shape: vec![2],
                values: vec![1.0, 2.0],
            },
            DeltaTensor {
                name: "z".into(),
                shape: vec![1],
                values: vec![5.0],
            },
        ],
        tile_size: 64,
    };
    let d = |name: &str, shape: Vec<usize>, values: Vec<f32>| DeltaTensor {
        name: name.into(),
        shape,
        values,
    };
    let out = base.apply(&[d("a", vec![2], vec![0.5, -2.0])]).unwrap();
    assert_eq!(out.tensors[0].values, vec![1.5, 0.0]);
    assert_eq!(
        out.tensors[1].values,
        vec![5.0],
        "untouched tensors are kept"
    );
    // 0.1 + 0.2 in f32, not f64
    let third = base.apply(&[d("z", vec![1], vec![0.1])]).unwrap();
    assert_eq!(third.tensors[1].values[0], 5.0f32 + 0.1f32);
    assert!(matches!(
        base.apply(&[d("q", vec![1], vec![1.0])]),
        Err(ApplyError::Shape(_))
    ));
    assert!(matches!(
        base.apply(&[d("a", vec![1, 2], vec![1.0, 1.0])]),
        Err(ApplyError::Shape(_))
    ));
    assert!(matches!(
        base.apply(&[d("a", vec![2], vec![f32::MAX, 0.0])])
            .and_then(|w| w.apply(&[d("a", vec![2], vec![f32::MAX, 0.0])])),
        Err(ApplyError::NonFinite(_))
    ));
}

#[test]
fn the_same_aggregate_gives_the_same_block_bytes_cids_and_hashes() {
    let base = expert_weights(3);
    let updates = [update(4, 100, 1), update(2, 300, 2), update(9, 50, 3)];
    let build = |ups: &[Update], fake: bool| {
        let refs: Vec<&Update> = ups.iter().collect();
        let (agg, hash) =
            aggregate::aggregate(&refs, &AggregationRule::WeightedFedAvg, fake).unwrap();
        let delta = agg.get(&EXPERT.to_string()).unwrap();
        let b = build_block(&base, None, delta, OuterOptimizer::DILOCO).unwrap();
        (
            hash,
            b.payload_hash,
            cid_of_bytes(&b.bytes),
            b.delta.hash,
            cid_of_bytes(&b.delta.bytes),
            b,
        )
    };
    let one = build(&updates, false);
    // another validator sees the submissions in another order
    let reordered = [updates[2].clone(), updates[0].clone(), updates[1].clone()];
    let two = build(&reordered, false);
    assert_eq!(one.0, two.0, "aggregate hash");
    assert_eq!(one.1, two.1, "payload hash");
    assert_eq!(one.2, two.2, "block CID");
    assert_eq!(one.3, two.3, "delta hash");
    assert_eq!(one.4, two.4, "delta CID");
    assert_eq!(one.5.bytes, two.5.bytes);
    assert_eq!(one.5.momentum_hash, two.5.momentum_hash, "momentum hash");
    assert_eq!(one.5.momentum_bytes, two.5.momentum_bytes);
    // the first momentum is the aggregate itself
    let delta = crate::compress::decode(&one.5.delta.bytes).unwrap();
    assert_eq!(one.5.momentum.tensors, delta.tensors);
    // the new block is the outer step from the base, readable, with the base's tile size
    let tb = TensorBlock::from_bytes(&one.5.bytes).unwrap();
    tb.verify_all().unwrap();
    assert_eq!(tb.payload_hash(), one.1);
    let back = BlockWeights::from_tensor_block(&base.block, &tb).unwrap();
    assert_eq!(back, one.5.weights);
    assert_ne!(back.tensors, base.tensors);
    // the delta container is lossless
    let d = crate::compress::decode(&one.5.delta.bytes).unwrap();
    assert_eq!(d.block, base.block);
    assert!(d.tensors.iter().all(|t| !t.values.is_empty()));
    assert_eq!(
        one.5.delta.bytes,
        crate::compress::encode(&base.block, &d.tensors, &Pipeline::none(), None)
            .unwrap()
            .bytes
    );
    // the fake aggregate hashes differently, and so does its block
    let fake = build(&updates, true);
    assert_ne!(fake.0, one.0);
    assert_ne!(fake.1, one.1);
}

#[test]
fn replaying_the_recorded_deltas_reproduces_each_version() {
    let o = OuterOptimizer::DILOCO;
    let v0 = expert_weights(5);
    let mut cur = v0.clone();
    let mut momentum: Option<BlockWeights> = None;
    let mut recorded = Vec::new();
    for round in 0..3u64 {
        let ups = [update(1, 10, 10 + round), update(2, 20, 20 + round)];
        let refs: Vec<&Update> = ups.iter().collect();
        let (agg, _) =
            aggregate::aggregate(&refs, &AggregationRule::WeightedFedAvg, false).unwrap();
        let b = build_block(&cur, momentum.as_ref(), &agg[&EXPERT.to_string()], o).unwrap();
        recorded.push((
            b.delta.bytes.clone(),
            b.delta.hash,
            b.payload_hash,
            b.momentum_hash,
        ));
        cur = b.weights;
        momentum = Some(b.momentum);
    }
    let mut replayed = v0;
    let mut m: Option<BlockWeights> = None;
    for (bytes, hash, want, want_m) in &recorded {
        let step = replay_step(&replayed, m.as_ref(), bytes, hash, o).unwrap();
        assert_eq!(&step.hash, want);
        assert_eq!(&step.momentum_hash, want_m);
        replayed = step.weights;
        m = Some(step.momentum);
    }
    assert_eq!(replayed, cur);
    // other outer settings do not reproduce the history
    let plain = OuterOptimizer {
        lr_bps: 10_000,
        momentum_bps: 0,
    };
    let (bytes, hash, want, _) = &recorded[0];
    let step = replay_step(&expert_weights(5), None, bytes, hash, plain).unwrap();
    assert_ne!(&step.hash, want);
    // a tampered delta is refused, naming the hashes
    let mut bad = bytes.clone();
    bad[10] ^= 1;
    let e = replay_step(&expert_weights(5), None, &bad, hash, o).unwrap_err();
    assert!(e.to_string().contains("hashes to"), "{e}");
    // a delta for another block is refused
    let other = BlockWeights {
        block: "layer1.expert0".into(),
        ..expert_weights(5)
    };
    let e = replay_step(&other, None, bytes, hash, o).unwrap_err();
    assert!(e.to_string().contains("not layer1.expert0"), "{e}");
}

#[test]
fn norms_are_f64_sums_in_order() {
    let w = BlockWeights {
        block: "b".into(),
        tensors: vec![DeltaTensor {
            name: "a".into(),
            shape: vec![2],
            values: vec![3.0, 4.0],
        }],
        tile_size: 64,
    };
    assert_eq!(w.l2_norm(), 5.0);
}
