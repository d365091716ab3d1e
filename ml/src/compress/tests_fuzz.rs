//! Malicious containers: random bytes, bit flips, truncation, mutations behind a valid hash,
//! and huge claimed sizes. The decoder must answer an error, never panic or over-allocate.

use proptest::prelude::*;

use super::tests::block;
use super::*;

/// Replaces the trailing hash so the parser (not just the hash check) sees the mutation.
fn rehash(mut body: Vec<u8>) -> Vec<u8> {
    let n = body.len().saturating_sub(32);
    body.truncate(n);
    let h = sha3(&body);
    body.extend_from_slice(&h);
    body
}

fn valid(spec: &str) -> Vec<u8> {
    encode("layer0.expert1", &block(), &spec.parse().unwrap(), None)
        .unwrap()
        .bytes
}

const SPECS: [&str; 6] = [
    "none",
    "int8",
    "topk:0.05",
    "topk:0.05,int8",
    "lowrank:4,int8",
    "lowrank:4,topk:0.05",
];

/// A header with one tensor of `shape` and the given raw body bytes after the shape.
fn handmade(total: u64, shape: &[u64], body: &[u8]) -> Vec<u8> {
    handmade_many(total, &[("t", shape, body)])
}

/// A header with the given tensors, each a name, a claimed shape and raw body bytes.
fn handmade_many(total: u64, tensors: &[(&str, &[u64], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    put_str(&mut out, "none");
    put_str(&mut out, "b");
    out.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    for (name, shape, body) in tensors {
        put_str(&mut out, name);
        out.push(shape.len() as u8);
        for d in *shape {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(body);
    }
    rehash([out, vec![0; 32]].concat())
}

#[test]
fn huge_claimed_shapes_are_refused_before_allocating() {
    let e = decode(&handmade(u64::MAX, &[1 << 40, 1 << 40], &[0])).unwrap_err();
    assert!(matches!(e, CompressError::TooLarge { .. }), "{e}");
    // A small total with a huge shape: the shape is over the total.
    let e = decode(&handmade(4, &[1 << 40, 1 << 40], &[0])).unwrap_err();
    assert!(matches!(e, CompressError::TooLarge { .. }), "{e}");
    // Overflowing product.
    let e = decode(&handmade(4, &[u64::MAX, u64::MAX, 4], &[0])).unwrap_err();
    assert!(matches!(e, CompressError::TooLarge { .. }), "{e}");
    // A saturated product after a first tensor: the running count must not overflow (found
    // by `mutated_containers_never_panic` in CI).
    let mut dense = vec![0u8];
    dense.extend_from_slice(&1f32.to_le_bytes());
    let huge: &[u64] = &[u64::MAX, u64::MAX, u64::MAX];
    let e = decode(&handmade_many(4, &[("a", &[1], &dense), ("b", huge, &[0])])).unwrap_err();
    assert!(matches!(e, CompressError::TooLarge { .. }), "{e}");
    // Within the limit but the bytes are not there.
    let e = decode(&handmade(1 << 20, &[1 << 20], &[0])).unwrap_err();
    assert!(matches!(e, CompressError::Malformed(_)), "{e}");
    // Sparse claiming more entries than bytes.
    let mut sparse = vec![2u8];
    sparse.extend_from_slice(&(1u64 << 19).to_le_bytes());
    sparse.push(0);
    let e = decode(&handmade(1 << 20, &[1 << 20], &sparse)).unwrap_err();
    assert!(matches!(e, CompressError::Malformed(_)), "{e}");
    // Low-rank of a vector, and a rank above the dimensions.
    let e = decode(&handmade(8, &[8], &[3, 1, 0, 0, 0])).unwrap_err();
    assert!(matches!(e, CompressError::Malformed(_)), "{e}");
    let e = decode(&handmade(6, &[2, 3], &[3, 3, 0, 0, 0])).unwrap_err();
    assert!(matches!(e, CompressError::Malformed(_)), "{e}");
    // A shape with a zero dimension and a huge one is empty, and fine.
    let d = decode(&handmade(0, &[0, u64::MAX], &[0])).unwrap();
    assert!(d.tensors[0].values.is_empty());
    let d = decode(&handmade(0, &[u64::MAX, 2, 0], &[0])).unwrap();
    assert!(d.tensors[0].values.is_empty());
}

#[test]
fn nan_scales_and_minus_128_are_refused() {
    let mut body = vec![1u8];
    body.extend_from_slice(&f32::NAN.to_le_bytes());
    body.extend_from_slice(&[1, 2]);
    assert!(matches!(
        decode(&handmade(2, &[2], &body)),
        Err(CompressError::NonFinite)
    ));
    let mut body = vec![1u8];
    body.extend_from_slice(&1f32.to_le_bytes());
    body.extend_from_slice(&[0x80, 2]);
    assert!(decode(&handmade(2, &[2], &body)).is_err());
    let mut body = vec![0u8];
    body.extend_from_slice(&f32::MAX.to_le_bytes());
    body.extend_from_slice(&f32::INFINITY.to_le_bytes());
    assert!(decode(&handmade(2, &[2], &body)).is_err());
}

#[test]
fn every_truncation_and_trailing_byte_is_refused() {
    for spec in SPECS {
        let good = valid(spec);
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "{spec} cut at {cut}");
            // Behind a valid hash too.
            if cut < good.len() - 32 {
                assert!(decode(&rehash([&good[..cut], &[0u8; 32][..]].concat())).is_err());
            }
        }
        let mut longer = good[..good.len() - 32].to_vec();
        longer.push(0);
        assert!(decode(&rehash([longer, vec![0; 32]].concat())).is_err());
    }
}

#[test]
fn every_single_bit_flip_is_refused() {
    let good = valid("lowrank:4,topk:0.05,int8");
    for i in (0..good.len()).step_by(7) {
        for bit in [0, 3, 7] {
            let mut b = good.clone();
            b[i] ^= 1 << bit;
            assert!(decode(&b).is_err(), "flip {i}/{bit} accepted");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
        let _ = decode(&rehash(bytes.clone()));
        let _ = ErrorFeedback::from_bytes(&rehash(bytes));
    }

    #[test]
    fn mutated_containers_never_panic(
        spec in 0..SPECS.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut b = valid(SPECS[spec]);
        let body_len = b.len() - 32;
        for (pos, val) in edits {
            b[pos % body_len] = val;
        }
        let cut = body_len.saturating_sub(cut % 64);
        let b = rehash([&b[..cut], &[0u8; 32][..]].concat());
        if let Ok(d) = decode(&b) {
            // Whatever decodes is finite and shaped as it claims.
            for t in &d.tensors {
                prop_assert_eq!(t.shape.iter().product::<usize>(), t.values.len());
                prop_assert!(t.values.iter().all(|x| x.is_finite()));
            }
        }
        let _ = inspect(&b, 1 << 20);
    }

    #[test]
    fn random_deltas_round_trip(
        vals in proptest::collection::vec(-1.0f32..1.0, 20 * 24),
        spec in 0..SPECS.len(),
    ) {
        let t = vec![DeltaTensor { name: "m".into(), shape: vec![20, 24], values: vals }];
        let enc = encode("b", &t, &SPECS[spec].parse().unwrap(), None).unwrap();
        let d = decode(&enc.bytes).unwrap();
        prop_assert_eq!(&d.tensors[0].shape, &t[0].shape);
        prop_assert_eq!(decoded_hash(&d), decoded_hash(&decode(&enc.bytes).unwrap()));
    }
}
