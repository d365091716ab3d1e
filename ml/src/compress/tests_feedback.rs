//! Error feedback across rounds and its file.

use super::tests::{block, noise, rel_err};
use super::*;

#[test]
fn error_feedback_carries_what_was_dropped() {
    let p: Pipeline = "topk:0.05,int8".parse().unwrap();
    let mut fb = ErrorFeedback::new();
    let rounds = 12;
    let mut sum_true = vec![0f64; 40 * 48];
    let mut sum_dec = vec![0f64; 40 * 48];
    for round in 0..rounds {
        let t = vec![DeltaTensor {
            name: "w".into(),
            shape: vec![40, 48],
            values: noise(100 + round, 40 * 48, 0.01),
        }];
        let enc = encode("layer1.expert0", &t, &p, Some(&mut fb)).unwrap();
        let dec = decode(&enc.bytes).unwrap();
        for i in 0..sum_true.len() {
            sum_true[i] += f64::from(t[0].values[i]);
            sum_dec[i] += f64::from(dec.tensors[0].values[i]);
        }
        // Invariant: decoded so far + residual = true so far.
        let r = fb.residual("layer1.expert0", "w").unwrap();
        for i in 0..sum_true.len() {
            let gap = sum_true[i] - sum_dec[i] - f64::from(r[i]);
            assert!(gap.abs() < 1e-4, "round {round} index {i}: {gap}");
        }
    }
    let true_f: Vec<f32> = sum_true.iter().map(|&x| x as f32).collect();
    let dec_f: Vec<f32> = sum_dec.iter().map(|&x| x as f32).collect();
    let with_fb = rel_err(&true_f, &dec_f);
    // Without feedback, each round loses ~all but the top 5%.
    let mut sum_nofb = vec![0f32; 40 * 48];
    for round in 0..rounds {
        let t = vec![DeltaTensor {
            name: "w".into(),
            shape: vec![40, 48],
            values: noise(100 + round, 40 * 48, 0.01),
        }];
        let dec = decode(&encode("b", &t, &p, None).unwrap().bytes).unwrap();
        for (s, x) in sum_nofb.iter_mut().zip(&dec.tensors[0].values) {
            *s += x;
        }
    }
    let without = rel_err(&true_f, &sum_nofb);
    assert!(with_fb < without * 0.8, "with {with_fb} without {without}");
    // A residual of another shape (the block changed) is ignored, not added.
    let t = vec![DeltaTensor {
        name: "w".into(),
        shape: vec![48, 40],
        values: vec![0.0; 40 * 48],
    }];
    let dec = decode(
        &encode("layer1.expert0", &t, &p, Some(&mut fb))
            .unwrap()
            .bytes,
    )
    .unwrap();
    assert!(dec.tensors[0].values.iter().all(|&x| x == 0.0));
}

#[test]
fn feedback_saves_and_loads() {
    let mut fb = ErrorFeedback::new();
    let p = Pipeline::default();
    encode("layer0.expert0", &block(), &p, Some(&mut fb)).unwrap();
    encode("embed", &block(), &p, Some(&mut fb)).unwrap();
    assert_eq!(fb.len(), 6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fb.bin");
    fb.save(&path).unwrap();
    assert_eq!(ErrorFeedback::load(&path).unwrap(), fb);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 1;
    assert!(ErrorFeedback::from_bytes(&bytes).is_err());
    assert!(ErrorFeedback::from_bytes(&bytes[..10]).is_err());
    fb.clear_block("embed");
    assert_eq!(fb.len(), 3);
}
