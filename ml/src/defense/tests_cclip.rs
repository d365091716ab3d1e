//! Centered clipping: the mean when every update is within the radius, bounded influence of
//! an outlier, sample weights, determinism, and its spec/code arguments.

use std::collections::BTreeMap;

use super::*;
use crate::compress::DeltaTensor;
use crate::rng::SplitMix64;

fn up(id: u64, samples: u64, values: &[f32]) -> Update {
    Update {
        submission: id,
        samples,
        blocks: vec![Decoded {
            block: "b".into(),
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

fn values(agg: &BTreeMap<String, Vec<DeltaTensor>>) -> Vec<f32> {
    agg["b"][0].values.clone()
}

/// `n` updates of `len` values around `centre` with seeded noise of `spread`.
fn cloud(n: usize, len: usize, centre: f32, spread: f32, seed: u64) -> Vec<Update> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let v: Vec<f32> = (0..len)
                .map(|_| centre + spread * (rng.unit_f64() as f32 - 0.5))
                .collect();
            up(i as u64 + 1, 10 + i as u64, &v)
        })
        .collect()
}

#[test]
fn equals_the_weighted_mean_when_all_updates_are_within_tau() {
    // median (3, 4); both at distance √8, far within 100 × √8: one step lands on the
    // samples-weighted mean exactly (dyadic values)
    let ups = [up(1, 1, &[1.0, 2.0]), up(2, 3, &[5.0, 6.0])];
    assert_eq!(values(&run(&ups, "cclip:1:1000000")), [4.0, 5.0]);
    assert_eq!(values(&run(&ups, "cclip:5:1000000")), [4.0, 5.0]);
    // a real-sized cloud: the mean to f32 rounding, for 1 and several iterations
    let ups = cloud(7, 64, 0.01, 0.02, 3);
    let mean = values(&run(&ups, "fedavg"));
    for spec in ["cclip:1:1000000", "cclip:3:1000000"] {
        for (a, b) in values(&run(&ups, spec)).iter().zip(&mean) {
            assert!((a - b).abs() <= 1e-8, "{spec}: {a} vs {b}");
        }
    }
}

#[test]
fn one_huge_outlier_has_bounded_influence() {
    let mut ups = cloud(5, 32, 1.0, 0.1, 5);
    let honest_mean = values(&run(&ups, "fedavg"));
    ups.push(up(99, 10, &[1.0e6; 32]));
    let fedavg = values(&run(&ups, "fedavg"));
    assert!(fedavg[0] > 1.0e5, "FedAvg is not robust: {}", fedavg[0]);
    // τ ≈ the honest distance to the median (≈ 0.1 · √(32/12) ≈ 0.16); each of 3 iterations
    // lets the outlier move v by at most τ · 10 / 70 ≈ 0.023 in norm
    let v = values(&run(&ups, "cclip:3:10000"));
    let dist = v
        .iter()
        .zip(&honest_mean)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!(dist < 0.2, "distance to the honest mean {dist}");
    // a larger outlier moves it no further: the clip caps the step, not the size
    let last = ups.len() - 1;
    ups[last] = up(99, 10, &[1.0e30; 32]);
    let w = values(&run(&ups, "cclip:3:10000"));
    let dist2 = w
        .iter()
        .zip(&honest_mean)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!((dist2 - dist).abs() < 1e-3, "{dist} vs {dist2}");
}

#[test]
fn weights_are_the_samples() {
    // within τ: the samples decide (1:3 → a quarter of the way from 8 to 0 is 2)
    let ups = [up(1, 3, &[0.0]), up(2, 1, &[8.0])];
    assert_eq!(values(&run(&ups, "cclip:1:1000000")), [2.0]);
    let swapped = [up(1, 1, &[0.0]), up(2, 3, &[8.0])];
    assert_eq!(values(&run(&swapped, "cclip:1:1000000")), [6.0]);
    // clipped at τ = 1 × the median distance (4) from the median 4: nothing moves (balanced)
    // when the samples are equal, and towards the heavier update when they are not
    let eq = [up(1, 1, &[0.0]), up(2, 1, &[8.0])];
    assert_eq!(values(&run(&eq, "cclip:1:10000")), [4.0]);
    assert_eq!(values(&run(&ups, "cclip:1:10000")), [2.0]);
    let zero = [up(1, 0, &[1.0]), up(2, 0, &[2.0])];
    let refs: Vec<&Update> = zero.iter().collect();
    let rule = AggregationRule::CenteredClip {
        iters: 1,
        tau_bps: 10_000,
    };
    assert_eq!(
        aggregate(&refs, &rule),
        Err(DefenseError::ZeroSamples("b".into()))
    );
}

#[test]
fn identical_updates_and_a_single_update_are_themselves() {
    let one = [up(1, 5, &[0.3, -0.7])];
    assert_eq!(values(&run(&one, "cclip:4:20000")), [0.3, -0.7]);
    let same = [
        up(1, 5, &[0.3, -0.7]),
        up(2, 2, &[0.3, -0.7]),
        up(3, 1, &[0.3, -0.7]),
    ];
    assert_eq!(values(&run(&same, "cclip:4:20000")), [0.3, -0.7]);
}

#[test]
fn deterministic_across_input_order_and_reruns() {
    let mut ups = cloud(9, 50, 0.0, 1.0, 8);
    ups.push(up(50, 30, &[40.0; 50]));
    let first = aggregate_hash(&run(&ups, "cclip:3:15000"));
    assert_eq!(first, aggregate_hash(&run(&ups, "cclip:3:15000")));
    let mut rng = SplitMix64::new(2);
    for _ in 0..5 {
        rng.shuffle(&mut ups);
        assert_eq!(first, aggregate_hash(&run(&ups, "cclip:3:15000")));
    }
    assert_ne!(first, aggregate_hash(&run(&ups, "cclip:2:15000")));
}

#[test]
fn specs_codes_and_invalid_arguments() {
    let r: AggregationRule = "cclip:3:20000".parse().unwrap();
    assert_eq!(
        r,
        AggregationRule::CenteredClip {
            iters: 3,
            tau_bps: 20_000
        }
    );
    assert_eq!(r.to_string(), "cclip:3:20000");
    assert_eq!((r.code(), r.args()), (5, [3, 20_000]));
    assert_eq!(AggregationRule::from_code(5, [3, 20_000]).unwrap(), r);
    let max = format!("cclip:{MAX_CCLIP_ITERS}:{MAX_CCLIP_TAU_BPS}");
    assert!(max.parse::<AggregationRule>().is_ok());
    for bad in [
        "cclip",
        "cclip:3",
        "cclip:0:10000",
        "cclip:3:0",
        "cclip:101:10000",
        "cclip:3:1000001",
        "cclip:03:10000",
        "cclip:3:10000:1",
        "cclip:-1:10000",
    ] {
        assert!(bad.parse::<AggregationRule>().is_err(), "{bad:?} parsed");
    }
    for args in [[0, 10_000], [1, 0], [MAX_CCLIP_ITERS + 1, 1]] {
        assert!(AggregationRule::from_code(5, args).is_err(), "{args:?}");
    }
    let refs = [&up(1, 1, &[1.0])];
    let bad = AggregationRule::CenteredClip {
        iters: 0,
        tau_bps: 10_000,
    };
    assert!(matches!(aggregate(&refs, &bad), Err(DefenseError::Rule(_))));
}
