//! Aggregation rules: hand-checked examples, errors, rule specs, and determinism (input order,
//! repeated runs, a property test over permutations).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::compress::DeltaTensor;
use crate::rng::SplitMix64;

/// An update with one block `b` holding one tensor `w` of shape `[len]`.
fn up(id: u64, samples: u64, values: &[f32]) -> Update {
    upb(id, samples, "b", values)
}

fn upb(id: u64, samples: u64, block: &str, values: &[f32]) -> Update {
    Update {
        submission: id,
        samples,
        blocks: vec![Decoded {
            block: block.into(),
            tensors: vec![DeltaTensor {
                name: "w".into(),
                shape: vec![values.len()],
                values: values.to_vec(),
            }],
        }],
    }
}

fn run(ups: &[Update], rule: &str) -> BTreeMap<String, Vec<DeltaTensor>> {
    let refs: Vec<&Update> = ups.iter().collect();
    aggregate(&refs, &rule.parse().unwrap()).unwrap()
}

fn values(agg: &BTreeMap<String, Vec<DeltaTensor>>, block: &str) -> Vec<f32> {
    agg[block][0].values.clone()
}

#[test]
fn weighted_fedavg_weights_by_samples() {
    let ups = [up(1, 1, &[1.0, 2.0]), up(2, 3, &[5.0, 6.0])];
    // (1·1 + 3·5) / 4 = 4, (1·2 + 3·6) / 4 = 5
    assert_eq!(values(&run(&ups, "fedavg"), "b"), [4.0, 5.0]);
    let zero = [up(1, 0, &[1.0]), up(2, 0, &[2.0])];
    let refs: Vec<&Update> = zero.iter().collect();
    let err = aggregate(&refs, &AggregationRule::WeightedFedAvg).unwrap_err();
    assert_eq!(err, DefenseError::ZeroSamples("b".into()));
}

#[test]
fn server_learning_rate_scales_the_aggregate() {
    let ups = [up(1, 1, &[1.0, -0.3]), up(2, 1, &[3.0, 0.1])];
    let plain = run(&ups, "fedavg");
    let mut same = plain.clone();
    scale_aggregate(&mut same, 10_000);
    assert_eq!(
        aggregate_hash(&same),
        aggregate_hash(&plain),
        "10000 is the identity"
    );
    let mut double = plain.clone();
    scale_aggregate(&mut double, 20_000);
    let p = values(&plain, "b");
    assert_eq!(p[0], 2.0);
    assert_eq!(values(&double, "b"), [4.0, p[1] * 2.0]);
    let mut tenth = plain.clone();
    scale_aggregate(&mut tenth, 1_000);
    // each value times 0.1 in f64, rounded once to f32
    let want: Vec<f32> = p.iter().map(|&v| (f64::from(v) * 0.1) as f32).collect();
    assert_eq!(values(&tenth, "b"), want);
    assert_ne!(aggregate_hash(&double), aggregate_hash(&plain));
}

#[test]
fn coordinate_median_odd_and_even() {
    let odd = [
        up(1, 1, &[1.0, -2.0]),
        up(2, 1, &[5.0, 0.0]),
        up(3, 9, &[3.0, 7.0]),
    ];
    assert_eq!(values(&run(&odd, "median"), "b"), [3.0, 0.0]);
    // even count: the mean of the two middle values (2 and 4 → 3; 0.1 and 0.2 in f64)
    let even = [
        up(1, 1, &[1.0, 0.1]),
        up(2, 1, &[4.0, 0.2]),
        up(3, 1, &[2.0, 0.3]),
        up(4, 1, &[10.0, -5.0]),
    ];
    let want = ((f64::from(0.1f32) + f64::from(0.2f32)) * 0.5) as f32;
    assert_eq!(values(&run(&even, "median"), "b"), [3.0, want]);
}

#[test]
fn trimmed_mean_drops_both_ends() {
    let ups: Vec<Update> = [1.0, 2.0, 3.0, 4.0, 100.0]
        .iter()
        .enumerate()
        .map(|(i, &v)| up(i as u64, 1, &[v]))
        .collect();
    // 5 · 2000 / 10000 = 1 per end: mean(2, 3, 4)
    assert_eq!(values(&run(&ups, "trimmed:2000"), "b"), [3.0]);
    // 5 · 1000 / 10000 = 0: the plain mean
    assert_eq!(values(&run(&ups, "trimmed:1000"), "b"), [22.0]);
    // 3 · 4999 / 10000 = 1 per end: the middle one (at least one value stays)
    assert_eq!(values(&run(&ups[2..], "trimmed:4999"), "b"), [4.0]);
    assert_eq!(values(&run(&ups[3..], "trimmed:4999"), "b"), [52.0]);
}

#[test]
fn krum_picks_the_honest_cluster() {
    // points 0, 1, 2, 3 and an outlier; f = 1 → 2 neighbours: scores 5, 2, 2, 5, huge;
    // the tie between 1 (id 7) and 2 (id 5) goes to the lower id
    let ups = [
        up(9, 1, &[0.0, 0.0]),
        up(7, 1, &[1.0, 0.0]),
        up(5, 1, &[2.0, 0.0]),
        up(3, 1, &[3.0, 0.0]),
        up(1, 1, &[100.0, -100.0]),
    ];
    assert_eq!(values(&run(&ups, "krum:1"), "b"), [2.0, 0.0]);
    // Multi-Krum keeps the two best (ids 5 and 7) and weights them by samples
    let mut w = ups.clone();
    w[1].samples = 3;
    assert_eq!(values(&run(&w, "multikrum:1:2"), "b"), [1.25, 0.0]);
    // m larger than the round: everyone, i.e. FedAvg
    assert_eq!(run(&ups, "multikrum:1:9"), run(&ups, "fedavg"));
    // one update: itself; two: the lower id
    assert_eq!(values(&run(&ups[..1], "krum:3"), "b"), [0.0, 0.0]);
    assert_eq!(values(&run(&ups[..2], "krum:0"), "b"), [1.0, 0.0]);
}

#[test]
fn robust_rules_ignore_a_poisoned_minority() {
    let mut ups: Vec<Update> = (0..7)
        .map(|i| up(i, 10, &[1.0 + 0.01 * i as f32, -1.0]))
        .collect();
    ups.push(up(50, 1000, &[-500.0, 500.0]));
    ups.push(up(51, 1000, &[f32::MAX / 4.0, 9.0e5]));
    for rule in ["median", "trimmed:2500", "krum:2", "multikrum:2:4"] {
        let v = values(&run(&ups, rule), "b");
        assert!(
            (1.0..=1.07).contains(&v[0]) && v[1] == -1.0,
            "{rule}: {v:?}"
        );
    }
    let v = values(&run(&ups, "fedavg"), "b");
    assert!(v[0] > 1.0e30, "FedAvg is not robust: {v:?}");
}

#[test]
fn blocks_combine_the_updates_that_touch_them() {
    let mut both = up(2, 3, &[3.0]);
    both.blocks
        .push(upb(0, 0, "a", &[10.0, 20.0]).blocks.remove(0));
    let ups = [up(1, 1, &[7.0]), both];
    let agg = run(&ups, "fedavg");
    assert_eq!(agg.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(values(&agg, "a"), [10.0, 20.0]);
    assert_eq!(values(&agg, "b"), [4.0]); // (7 + 9) / 4
}

#[test]
fn bad_inputs_are_errors() {
    let agg = |ups: &[Update]| {
        let refs: Vec<&Update> = ups.iter().collect();
        aggregate(&refs, &AggregationRule::CoordinateMedian)
    };
    assert_eq!(agg(&[]), Err(DefenseError::Empty));
    assert_eq!(
        agg(&[up(1, 1, &[1.0]), up(1, 1, &[2.0])]),
        Err(DefenseError::DuplicateSubmission(1))
    );
    assert_eq!(
        agg(&[up(1, 1, &[1.0]), up(2, 1, &[f32::NAN])]),
        Err(DefenseError::NonFinite(2))
    );
    assert!(matches!(
        agg(&[up(1, 1, &[1.0]), up(2, 1, &[1.0, 2.0])]),
        Err(DefenseError::Shape { submission: 2, .. })
    ));
    let mut broken = up(3, 1, &[1.0]);
    broken.blocks[0].tensors[0].shape = vec![2];
    assert!(matches!(
        agg(&[broken]),
        Err(DefenseError::Shape { submission: 3, .. })
    ));
    let refs = [&up(1, 1, &[1.0])];
    let bad = AggregationRule::TrimmedMean { trim_bps: 5000 };
    assert!(matches!(aggregate(&refs, &bad), Err(DefenseError::Rule(_))));
}

#[test]
fn rule_specs_and_codes_round_trip() {
    for s in [
        "fedavg",
        "median",
        "trimmed:1000",
        "krum:1",
        "multikrum:1:3",
        "trimmed:0",
    ] {
        let r: AggregationRule = s.parse().unwrap();
        assert_eq!(r.to_string(), s);
        assert_eq!(AggregationRule::from_code(r.code(), r.args()).unwrap(), r);
    }
    assert_eq!(AggregationRule::default(), AggregationRule::WeightedFedAvg);
    let codes: Vec<u8> = ["fedavg", "median", "trimmed:1", "krum:1", "multikrum:1:1"]
        .iter()
        .map(|s| s.parse::<AggregationRule>().unwrap().code())
        .collect();
    assert_eq!(codes, [0, 1, 2, 3, 4]);
    for bad in [
        "",
        "avg",
        "trimmed",
        "trimmed:5000",
        "trimmed:-1",
        "trimmed:01",
        "krum:",
        "krum:x",
        "multikrum:1",
        "multikrum:1:0",
        "median:1",
        "fedavg:",
        "krum:1:2",
    ] {
        assert!(bad.parse::<AggregationRule>().is_err(), "{bad:?} parsed");
    }
    assert!(AggregationRule::from_code(5, [0, 0]).is_err());
    assert!(AggregationRule::from_code(0, [1, 0]).is_err());
    assert!(AggregationRule::from_code(4, [1, 0]).is_err());
}

#[test]
fn aggregate_hash_covers_names_shapes_and_bits() {
    let ups = [up(1, 1, &[0.0, 1.0])];
    let agg = run(&ups, "fedavg");
    let h = aggregate_hash(&agg);
    assert_eq!(h, aggregate_hash(&agg.clone()));
    let mut neg = agg.clone();
    neg.get_mut("b").unwrap()[0].values[0] = -0.0;
    assert_ne!(h, aggregate_hash(&neg));
    let mut renamed = agg.clone();
    renamed.get_mut("b").unwrap()[0].name = "v".into();
    assert_ne!(h, aggregate_hash(&renamed));
    let mut reshaped = agg.clone();
    reshaped.get_mut("b").unwrap()[0].shape = vec![1, 2];
    assert_ne!(h, aggregate_hash(&reshaped));
    let moved: BTreeMap<String, Vec<DeltaTensor>> =
        agg.into_values().map(|t| ("c".to_string(), t)).collect();
    assert_ne!(h, aggregate_hash(&moved));
}

#[test]
fn aggregation_is_independent_of_input_order_and_repeatable() {
    let layout = super::tests::expert_layout();
    let (ups, _) = super::tests::round(&layout, 9, &[], 1.0, 4);
    let mut rng = SplitMix64::new(11);
    for rule in [
        "fedavg",
        "median",
        "trimmed:1000",
        "krum:2",
        "multikrum:2:5",
        "cclip:3:20000",
    ] {
        let first = aggregate_hash(&run(&ups, rule));
        assert_eq!(first, aggregate_hash(&run(&ups, rule)), "{rule}: rerun");
        let mut shuffled = ups.clone();
        rng.shuffle(&mut shuffled);
        for u in &mut shuffled {
            u.blocks.reverse();
        }
        assert_eq!(
            first,
            aggregate_hash(&run(&shuffled, rule)),
            "{rule}: order"
        );
    }
}

fn arb_round() -> impl Strategy<Value = (Vec<Update>, Vec<u64>)> {
    (1usize..7, 1usize..5)
        .prop_flat_map(|(n, len)| {
            let value = prop_oneof![
                Just(0.0f32),
                Just(-0.0f32),
                Just(1.0f32),
                -1.0e3f32..1.0e3,
                -1.0e-30f32..1.0e-30,
            ];
            let rows = prop::collection::vec((prop::collection::vec(value, len), 0u64..100), n);
            let ids = Just((0..n as u64).collect::<Vec<_>>()).prop_shuffle();
            let keys = prop::collection::vec(any::<u64>(), n);
            (rows, ids, keys)
        })
        .prop_map(|(rows, ids, keys)| {
            let ups = rows
                .into_iter()
                .zip(&ids)
                .map(|((v, s), &id)| up(id * 7 + 1, s + 1, &v))
                .collect();
            (ups, keys)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Permuting the updates (here: sorting them by random keys) never changes a bit.
    #[test]
    fn permuted_inputs_give_identical_bytes((ups, keys) in arb_round()) {
        let mut perm: Vec<usize> = (0..ups.len()).collect();
        perm.sort_by_key(|&i| (keys[i], i));
        let shuffled: Vec<Update> = perm.iter().map(|&i| ups[i].clone()).collect();
        for rule in ["fedavg", "median", "trimmed:2500", "krum:1", "multikrum:1:2", "cclip:2:15000"] {
            let a = run(&ups, rule);
            let b = run(&shuffled, rule);
            prop_assert_eq!(aggregate_hash(&a), aggregate_hash(&b), "{}", rule);
            let bits = |m: &BTreeMap<String, Vec<DeltaTensor>>| -> Vec<u32> {
                m.values().flatten().flat_map(|t| t.values.iter().map(|x| x.to_bits())).collect()
            };
            prop_assert_eq!(bits(&a), bits(&b));
        }
    }
}
