use super::container::stored_values;
use super::encode::encode_tensor_for_test;
use super::*;
use crate::rng::SplitMix64;

pub(super) fn noise(seed: u64, n: usize, amp: f32) -> Vec<f32> {
    let mut r = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            // Sum of 4 uniforms: roughly gaussian, deterministic.
            let s: f64 = (0..4)
                .map(|_| (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
                .sum();
            ((s - 2.0) * f64::from(amp)) as f32
        })
        .collect()
}

/// An m×n matrix of rank `r` plus `eps` noise.
fn low_rank_matrix(seed: u64, m: usize, n: usize, r: usize, eps: f32) -> Vec<f32> {
    let u = noise(seed, m * r, 1.0);
    let v = noise(seed + 1, r * n, 1.0);
    let e = noise(seed + 2, m * n, eps);
    let mut a = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = e[i * n + j];
            for k in 0..r {
                acc += u[i * r + k] * v[k * n + j];
            }
            a[i * n + j] = acc;
        }
    }
    a
}

pub(super) fn block() -> Vec<DeltaTensor> {
    vec![
        DeltaTensor {
            name: "w1".into(),
            shape: vec![48, 40],
            values: low_rank_matrix(1, 48, 40, 4, 0.01),
        },
        DeltaTensor {
            name: "norm".into(),
            shape: vec![40],
            values: noise(5, 40, 0.1),
        },
        DeltaTensor {
            name: "w2".into(),
            shape: vec![40, 48],
            values: noise(6, 40 * 48, 0.02),
        },
    ]
}

pub(super) fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let (mut e, mut n) = (0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        e += f64::from(x - y).powi(2);
        n += f64::from(*x).powi(2);
    }
    (e / n).sqrt()
}

fn roundtrip(spec: &str, tensors: &[DeltaTensor]) -> (Encoded, Decoded) {
    let p: Pipeline = spec.parse().unwrap();
    let enc = encode("layer0.expert1", tensors, &p, None).unwrap();
    let dec = decode(&enc.bytes).unwrap();
    assert_eq!(dec.block, "layer0.expert1");
    assert_eq!(enc.hash, sha3(&enc.bytes));
    (enc, dec)
}

fn sorted(t: &[DeltaTensor]) -> Vec<DeltaTensor> {
    let mut t = t.to_vec();
    t.sort_by(|a, b| a.name.cmp(&b.name));
    t
}

fn find<'a>(d: &'a Decoded, name: &str) -> &'a DeltaTensor {
    d.tensors.iter().find(|t| t.name == name).unwrap()
}

#[test]
fn pipeline_specs_parse_and_print() {
    for s in [
        "none",
        "int8",
        "topk:0.05",
        "lowrank:8,topk:0.02,int8",
        "lowrank:e0.9/16,int8",
    ] {
        assert_eq!(s.parse::<Pipeline>().unwrap().to_string(), s);
    }
    assert_eq!(
        "int8,lowrank:4".parse::<Pipeline>().unwrap().to_string(),
        "lowrank:4,int8"
    );
    assert_eq!(
        "lowrank:e0.5"
            .parse::<Pipeline>()
            .unwrap()
            .low_rank
            .unwrap()
            .rank,
        64
    );
    let d = Pipeline::default();
    assert_eq!(d.to_string().parse::<Pipeline>().unwrap(), d);
    for bad in [
        "",
        "int8,int8",
        "topk:0",
        "topk:1.5",
        "topk:x",
        "lowrank:0",
        "lowrank",
        "zip",
    ] {
        assert!(bad.parse::<Pipeline>().is_err(), "{bad:?} accepted");
    }
}

#[test]
fn none_is_lossless() {
    let t = block();
    let (enc, dec) = roundtrip("none", &t);
    for x in &t {
        assert_eq!(find(&dec, &x.name), x);
    }
    assert_eq!(enc.stats.l2_error_rel, 0.0);
    assert!(enc.stats.ratio < 1.0);
}

#[test]
fn int8_alone_is_within_half_a_step_per_row() {
    let t = block();
    let (enc, dec) = roundtrip("int8", &t);
    assert!(enc.stats.ratio > 3.5, "{:?}", enc.stats);
    for x in &t {
        let d = find(&dec, &x.name);
        let (rows, row_len) = quant::row_layout(&x.shape, x.values.len());
        for r in 0..rows {
            let row = &x.values[r * row_len..(r + 1) * row_len];
            let step = quant::scale_of(row.iter().copied());
            for (a, b) in row.iter().zip(&d.values[r * row_len..(r + 1) * row_len]) {
                assert!((a - b).abs() <= step * 0.5 * 1.0001 + 1e-12, "{a} vs {b}");
            }
        }
    }
    assert!(enc.stats.l2_error_rel < 0.01, "{:?}", enc.stats);
}

#[test]
fn topk_alone_keeps_the_largest_exactly() {
    let t = block();
    let (enc, dec) = roundtrip("topk:0.1", &t);
    let w2 = &t[2];
    let d = find(&dec, "w2");
    let k = sparse::k_of(w2.values.len(), 0.1);
    let kept: Vec<usize> = (0..d.values.len())
        .filter(|&i| d.values[i] != 0.0)
        .collect();
    assert_eq!(kept.len(), k);
    let min_kept = kept
        .iter()
        .map(|&i| w2.values[i].abs())
        .fold(f32::MAX, f32::min);
    for i in 0..w2.values.len() {
        if kept.contains(&i) {
            assert_eq!(d.values[i], w2.values[i]);
        } else {
            assert!(w2.values[i].abs() <= min_kept);
        }
    }
    // 1-D tensors stay dense.
    assert_eq!(find(&dec, "norm").values, t[1].values);
    assert!(enc.stats.ratio > 3.0, "{:?}", enc.stats);
}

#[test]
fn topk_ties_go_to_the_lower_index_and_zeros_are_never_kept() {
    let x = [1.0, -2.0, 2.0, 0.5, -2.0, 0.0, 0.0, 0.0];
    assert_eq!(sparse::top_k(&x, 2), vec![1, 2]);
    assert_eq!(sparse::top_k(&x, 3), vec![1, 2, 4]);
    assert_eq!(sparse::top_k(&x, 8), vec![0, 1, 2, 3, 4]);
    let mut out = Vec::new();
    sparse::put_indices(&mut out, &[0, 1, 300, 100_000]);
    let mut pos = 0;
    assert_eq!(
        sparse::get_indices(&out, &mut pos, 4, 100_001).unwrap(),
        vec![0, 1, 300, 100_000]
    );
    assert_eq!(pos, out.len());
}

#[test]
fn lowrank_alone_recovers_a_low_rank_matrix() {
    let t = block();
    let (enc, dec) = roundtrip("lowrank:4", &t);
    assert!(rel_err(&t[0].values, &find(&dec, "w1").values) < 0.01);
    // w2 is noise: rank 4 keeps little of it, but never more error than the matrix itself.
    assert!(rel_err(&t[2].values, &find(&dec, "w2").values) < 1.0);
    assert!(enc.stats.ratio > 3.0, "{:?}", enc.stats);
    // Exactly rank 3, f32 factors: reconstruction to float precision.
    let a = low_rank_matrix(9, 64, 30, 3, 0.0);
    let f = lowrank::factorize(&a, 64, 30, &LowRank::fixed(3));
    let mut out = vec![0f32; a.len()];
    lowrank::reconstruct(&f.u, &f.v, 64, 30, 3, &mut out);
    assert!(rel_err(&a, &out) < 1e-5, "{}", rel_err(&a, &out));
}

#[test]
fn lowrank_energy_picks_the_rank() {
    let a = low_rank_matrix(11, 50, 60, 5, 0.001);
    let spec = LowRank {
        rank: 32,
        energy: Some(0.999),
    };
    let f = lowrank::factorize(&a, 50, 60, &spec);
    assert_eq!(f.r, 5);
    let small = LowRank {
        rank: 2,
        energy: Some(0.999),
    };
    assert_eq!(lowrank::factorize(&a, 50, 60, &small).r, 2);
}

#[test]
fn lowrank_skips_small_or_unprofitable_matrices() {
    let p: Pipeline = "lowrank:8".parse().unwrap();
    let x = noise(1, 16 * 100, 1.0);
    assert!(matches!(
        encode_tensor_for_test(&x, &[16, 100], &p),
        container::Body::Dense(_)
    ));
    let p: Pipeline = "lowrank:20".parse().unwrap();
    let x = noise(1, 30 * 30, 1.0);
    assert!(matches!(
        encode_tensor_for_test(&x, &[30, 30], &p),
        container::Body::Dense(_)
    ));
}

#[test]
fn chained_stages_stay_within_bounds() {
    let t = block();
    let (lr, lr_dec) = roundtrip("lowrank:4", &t);
    let (all, all_dec) = roundtrip("lowrank:4,topk:0.05,int8", &t);
    let (lq, _) = roundtrip("lowrank:4,int8", &t);
    let (tq, _) = roundtrip("topk:0.1,int8", &t);
    // The sparse residual corrects the low-rank error of the noise matrix.
    let e_lr = rel_err(&t[2].values, &find(&lr_dec, "w2").values);
    let e_all = rel_err(&t[2].values, &find(&all_dec, "w2").values);
    assert!(e_all < e_lr, "{e_all} >= {e_lr}");
    assert!(rel_err(&t[0].values, &find(&all_dec, "w1").values) < 0.02);
    assert!(
        lq.stats.ratio > lr.stats.ratio * 3.0,
        "{:?} {:?}",
        lq.stats,
        lr.stats
    );
    assert!(tq.stats.ratio > 10.0, "{:?}", tq.stats);
    assert!(all.stats.l2_error_rel < 1.0);
}

#[test]
fn encode_is_deterministic_and_reencoding_the_decoded_is_stable() {
    let t = block();
    for spec in [
        "int8",
        "topk:0.05",
        "lowrank:4",
        "lowrank:4,topk:0.05,int8",
        "topk:0.02,int8",
    ] {
        let p: Pipeline = spec.parse().unwrap();
        let e1 = encode("b", &t, &p, None).unwrap();
        let e2 = encode("b", &t, &p, None).unwrap();
        assert_eq!(e1.bytes, e2.bytes, "{spec}");
        let d1 = decode(&e1.bytes).unwrap();
        assert_eq!(decoded_hash(&d1), decoded_hash(&decode(&e1.bytes).unwrap()));
        let d2 = decode(&encode("b", &d1.tensors, &p, None).unwrap().bytes).unwrap();
        // Re-encoding moves the result by no more than the first encoding's own error.
        for ((a, b), x) in d1.tensors.iter().zip(&d2.tensors).zip(&sorted(&t)) {
            let e = rel_err(&a.values, &b.values);
            let first = rel_err(&x.values, &a.values);
            assert!(e <= first.max(1e-3), "{spec} {}: {e} > {first}", a.name);
        }
        if spec == "topk:0.05" {
            assert_eq!(d1, d2);
        }
    }
}

#[test]
fn stored_value_counts_match_the_stage() {
    let x = noise(3, 64 * 64, 1.0);
    let p: Pipeline = "lowrank:8,topk:0.01,int8".parse().unwrap();
    let body = encode_tensor_for_test(&x, &[64, 64], &p);
    assert_eq!(stored_values(&body), 8 * 128 + 41);
}

#[test]
fn hash_mismatch_is_a_clear_error() {
    let (enc, _) = roundtrip("int8", &block());
    let mut bad = enc.bytes.clone();
    bad[40] ^= 0x10;
    let e = decode(&bad).unwrap_err();
    assert!(matches!(e, CompressError::HashMismatch { .. }), "{e}");
    assert!(e.to_string().starts_with("hash mismatch"), "{e}");
}

#[test]
fn bad_input_is_refused() {
    let p = Pipeline::default();
    let mut t = block();
    t[0].values[3] = f32::NAN;
    assert!(matches!(
        encode("b", &t, &p, None),
        Err(CompressError::Input(_))
    ));
    let mut t = block();
    t[1].shape = vec![41];
    assert!(encode("b", &t, &p, None).is_err());
    let mut t = block();
    t[1].name = "w1".into();
    assert!(encode("b", &t, &p, None).is_err());
    assert!(encode("", &block(), &p, None).is_err());
    let bad = Pipeline {
        top_k: Some(TopK { fraction: 0.0 }),
        ..Pipeline::none()
    };
    assert!(encode("b", &block(), &bad, None).is_err());
}

#[test]
fn inspect_describes_the_container() {
    let (enc, _) = roundtrip("lowrank:4,topk:0.05,int8", &block());
    let info = inspect(&enc.bytes, 1 << 20).unwrap();
    assert_eq!(info.pipeline, "lowrank:4,topk:0.05,int8");
    let names: Vec<&str> = info.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["norm", "w1", "w2"]);
    assert_eq!(info.tensors[0].encoding, "dense-int8");
    assert_eq!(info.tensors[1].encoding, "lowrank-int8");
    assert_eq!(info.tensors[1].rank, Some(4));
    assert!(matches!(
        decode_with_limit(&enc.bytes, 100),
        Err(CompressError::TooLarge { .. })
    ));
}

#[test]
fn candle_round_trip() {
    let dev = candle_core::Device::Cpu;
    let t = block();
    let map = delta_to_tensors(&t, &dev).unwrap();
    let back = tensors_to_delta(&map).unwrap();
    assert_eq!(back, sorted(&t));
}
