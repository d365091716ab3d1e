//! Round trips, every error case, and a property test over random shapes.

use proptest::prelude::*;

use super::merkle::leaf_hash;
use super::*;

fn sample() -> TensorBlockWriter {
    let mut w = TensorBlockWriter::new().tile_size(256).unwrap();
    let a: Vec<f32> = (0..96).map(|i| i as f32 * 0.5 - 3.0).collect();
    let b: Vec<f32> = (0..300).map(|i| (i as f32).sin()).collect();
    w.add_f32("w1.weight", &[8, 12], &a).unwrap();
    w.add_f32("norm.weight", &[300], &b).unwrap();
    w.add_int8_per_channel(
        "q",
        &[3, 5],
        &[
            1.0, -2.0, 0.5, 0.0, 3.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0,
        ],
    )
    .unwrap();
    w
}

fn open_bytes(b: &[u8]) -> Result<TensorBlock> {
    TensorBlock::from_bytes(b)
}

#[test]
fn round_trip_through_a_memory_map() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.blyt");
    let (hash, size) = sample().write(&path).unwrap();
    assert_eq!(size, std::fs::metadata(&path).unwrap().len());
    let tb = TensorBlock::open_verified(&path, &hash).unwrap();
    assert_eq!(
        tb.names().collect::<Vec<_>>(),
        ["norm.weight", "q", "w1.weight"]
    );
    let v = tb.tensor("w1.weight").unwrap();
    assert_eq!(v.shape(), [8, 12]);
    assert_eq!(v.as_f32().unwrap()[5], -0.5);
    // the view is the mapped bytes, not a copy
    assert_eq!(
        v.as_f32().unwrap().as_ptr() as *const u8,
        v.bytes().as_ptr()
    );
    assert_eq!(v.bytes().as_ptr() as usize % 64, 0);
    let t = v.to_tensor(&candle_core::Device::Cpu).unwrap();
    assert_eq!(t.dims(), [8, 12]);
    let q = tb.tensor("q").unwrap();
    assert_eq!(q.quantization(), Quantization::PerChannelInt8);
    let deq = q
        .to_tensor(&candle_core::Device::Cpu)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!((deq[1] + 2.0).abs() < 3.0 / 127.0 / 2.0 + 1e-6);
    assert_eq!(&deq[10..], &[0.0; 5]);
}

#[test]
fn same_tensors_give_same_bytes_in_any_insertion_order() {
    let (a, ha) = sample().to_bytes().unwrap();
    let mut w = TensorBlockWriter::new().tile_size(256).unwrap();
    w.add_int8_per_channel(
        "q",
        &[3, 5],
        &[
            1.0, -2.0, 0.5, 0.0, 3.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0,
        ],
    )
    .unwrap();
    w.add_f32(
        "norm.weight",
        &[300],
        &(0..300).map(|i| (i as f32).sin()).collect::<Vec<_>>(),
    )
    .unwrap();
    w.add_f32(
        "w1.weight",
        &[8, 12],
        &(0..96).map(|i| i as f32 * 0.5 - 3.0).collect::<Vec<_>>(),
    )
    .unwrap();
    let (b, hb) = w.to_bytes().unwrap();
    assert_eq!(a, b);
    assert_eq!(ha, hb);
}

#[test]
fn truncated_files_are_named_as_such() {
    let (b, _) = sample().to_bytes().unwrap();
    let tb = open_bytes(&b).unwrap();
    let index_at = b.len() - 32 * tb.tile_count() as usize;
    for cut in [0, 7, 100, 200, 300, index_at - 1, b.len() - 1] {
        let e = open_bytes(&b[..cut]).err().unwrap();
        assert!(
            matches!(e, TensorBlockError::Truncated { .. }),
            "cut {cut}: {e}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.blyt");
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(
        TensorBlock::open(&p),
        Err(TensorBlockError::Truncated { .. })
    ));
}

#[test]
fn bad_magic_and_version_and_trailing_bytes() {
    let (mut b, _) = sample().to_bytes().unwrap();
    let mut m = b.clone();
    m[0] = b'X';
    assert!(matches!(open_bytes(&m), Err(TensorBlockError::BadMagic(_))));
    b[4] = 2;
    assert!(matches!(
        open_bytes(&b),
        Err(TensorBlockError::UnsupportedVersion(2))
    ));
    let (mut b, _) = sample().to_bytes().unwrap();
    b.push(0);
    assert!(matches!(
        open_bytes(&b),
        Err(TensorBlockError::InvalidHeader(_))
    ));
}

#[test]
fn corrupt_tile_is_named() {
    let (mut b, _) = sample().to_bytes().unwrap();
    let tb = open_bytes(&b).unwrap();
    let data_at = tb.tensor("w1.weight").unwrap().bytes().as_ptr() as usize
        - tb.tile(0).unwrap().as_ptr() as usize;
    let data_offset = {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[24..32]);
        u64::from_le_bytes(a) as usize
    };
    let flip = data_offset + data_at + 10;
    b[flip] ^= 0x40;
    let tb = open_bytes(&b).unwrap(); // structure and root are intact
    let tile = ((flip - data_offset) / 256) as u32;
    match tb.verify_all() {
        Err(TensorBlockError::CorruptTile { tile: t, .. }) => assert_eq!(t, tile),
        other => panic!("expected a corrupt tile, got {other:?}"),
    }
    assert!(matches!(
        tb.verify_tile(tile),
        Err(TensorBlockError::CorruptTile { .. })
    ));
    for i in (0..tb.tile_count()).filter(|&i| i != tile) {
        tb.verify_tile(i).unwrap();
    }
    assert!(matches!(
        tb.verify_tile(tb.tile_count()),
        Err(TensorBlockError::TileOutOfRange { .. })
    ));
}

#[test]
fn tampered_header_or_index_breaks_the_root() {
    let (b, _) = sample().to_bytes().unwrap();
    // shape [8, 12] -> [12, 8]: same length, so only the root can catch it
    let desc = HEADER_LEN + 2 * 128; // w1.weight is the third descriptor
    let mut s = b.clone();
    s[desc + 56] = 12;
    s[desc + 64] = 8;
    assert!(matches!(
        open_bytes(&s),
        Err(TensorBlockError::RootMismatch { .. })
    ));
    let mut i = b.clone();
    let last = i.len() - 1;
    i[last] ^= 1;
    assert!(matches!(
        open_bytes(&i),
        Err(TensorBlockError::RootMismatch { .. })
    ));
    let mut r = b.clone();
    r[70] ^= 1;
    assert!(matches!(
        open_bytes(&r),
        Err(TensorBlockError::RootMismatch { .. })
    ));
}

#[test]
fn shape_and_length_mismatches() {
    let mut w = TensorBlockWriter::new();
    assert!(matches!(
        w.add_f32("x", &[2, 3], &[0.0; 5]),
        Err(TensorBlockError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        w.add_raw("y", DType::F16, &[3], vec![0; 5]),
        Err(TensorBlockError::ShapeMismatch { .. })
    ));
    w.add_f32("x", &[2], &[1.0, 2.0]).unwrap();
    assert!(matches!(
        w.add_f32("x", &[2], &[1.0, 2.0]),
        Err(TensorBlockError::Writer(_))
    ));
    assert!(matches!(
        w.add_f32(&"n".repeat(49), &[1], &[1.0]),
        Err(TensorBlockError::Writer(_))
    ));
    assert!(matches!(
        w.add_f32("r", &[1, 1, 1, 1, 1], &[1.0]),
        Err(TensorBlockError::Writer(_))
    ));
    assert!(TensorBlockWriter::new().tile_size(100).is_err());
    // a file whose descriptor claims a data length its shape does not have
    let (mut b, _) = sample().to_bytes().unwrap();
    let desc = HEADER_LEN; // norm.weight: 300 f32
    b[desc + 112..desc + 120].copy_from_slice(&1196u64.to_le_bytes());
    assert!(matches!(
        open_bytes(&b),
        Err(TensorBlockError::ShapeMismatch { .. })
    ));
}

#[test]
fn payload_hash_mismatch_and_view_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.blyt");
    let (h, _) = sample().write(&p).unwrap();
    let other = leaf_hash(&[b"other"]);
    match TensorBlock::open_verified(&p, &other) {
        Err(TensorBlockError::PayloadHashMismatch { expected, actual }) => {
            assert_eq!(expected, other);
            assert_eq!(actual, h);
        }
        other => panic!("{:?}", other.err()),
    }
    let tb = TensorBlock::open(&p).unwrap();
    assert!(matches!(
        tb.tensor("nope"),
        Err(TensorBlockError::NoSuchTensor(_))
    ));
    assert!(matches!(
        tb.tensor("q").unwrap().as_f32(),
        Err(TensorBlockError::WrongDType { .. })
    ));
}

#[test]
fn tile_proofs_check_against_the_payload_hash() {
    let (b, h) = sample().to_bytes().unwrap();
    let tb = open_bytes(&b).unwrap();
    for i in 0..tb.tile_count() {
        let p = tb.tile_proof(i).unwrap();
        assert!(p.verify(&leaf_hash(&[tb.tile(i).unwrap()]), &h));
        assert!(!p.verify(&leaf_hash(&[b"forged"]), &h));
    }
}

#[test]
fn half_precision_round_trip() {
    let vals = [1.5f32, -2.25, 0.0, 1024.0];
    let f16: Vec<u8> = vals
        .iter()
        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = vals
        .iter()
        .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
        .collect();
    let mut w = TensorBlockWriter::new();
    w.add_raw("a", DType::F16, &[2, 2], f16).unwrap();
    w.add_raw("b", DType::BF16, &[4], bf16).unwrap();
    let (bytes, _) = w.to_bytes().unwrap();
    let tb = open_bytes(&bytes).unwrap();
    tb.verify_all().unwrap();
    let a = tb
        .tensor("a")
        .unwrap()
        .as_f16()
        .unwrap()
        .iter()
        .map(|x| x.to_f32())
        .collect::<Vec<_>>();
    let b = tb
        .tensor("b")
        .unwrap()
        .as_bf16()
        .unwrap()
        .iter()
        .map(|x| x.to_f32())
        .collect::<Vec<_>>();
    assert_eq!(a, vals);
    assert_eq!(b, vals);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_shapes_round_trip(
        shapes in prop::collection::vec((prop::collection::vec(0usize..7, 0..=4), any::<bool>()), 0..5),
        tile_pow in 6u32..12,
        seed in any::<u64>(),
    ) {
        let mut rng = crate::rng::SplitMix64::new(seed);
        let mut w = TensorBlockWriter::new().tile_size(1 << tile_pow).unwrap();
        let mut expect = Vec::new();
        for (i, (shape, quant)) in shapes.iter().enumerate() {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|_| rng.unit_f32() * 8.0 - 4.0).collect();
            let name = format!("t{i}");
            if *quant && !shape.is_empty() {
                w.add_int8_per_channel(&name, shape, &data).unwrap();
            } else {
                w.add_f32(&name, shape, &data).unwrap();
            }
            expect.push((name, shape.clone(), data, *quant && !shape.is_empty()));
        }
        let (bytes, hash) = w.to_bytes().unwrap();
        let tb = open_bytes(&bytes).unwrap();
        prop_assert_eq!(tb.payload_hash(), hash);
        tb.verify_all().unwrap();
        for (name, shape, data, quant) in expect {
            let v = tb.tensor(&name).unwrap();
            prop_assert_eq!(v.shape(), shape);
            if quant {
                let t = v.to_tensor(&candle_core::Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                for (a, b) in t.iter().zip(&data) {
                    prop_assert!((a - b).abs() <= 4.0 / 127.0 / 2.0 + 1e-5);
                }
            } else {
                prop_assert_eq!(v.as_f32().unwrap(), &data[..]);
            }
        }
        // any single flipped byte is caught by open or by verify_all
        if !bytes.is_empty() {
            let mut bad = bytes.clone();
            let at = rng.index(bad.len());
            bad[at] ^= 0x01;
            let caught = match open_bytes(&bad) {
                Err(_) => true,
                Ok(tb) => tb.verify_all().is_err(),
            };
            prop_assert!(caught, "flip at {} not caught", at);
        }
    }
}
