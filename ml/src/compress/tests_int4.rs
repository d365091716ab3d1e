//! 4-bit low-rank factors (`int4f`): spec, round trip, packing and the decoder's checks.

use super::container::{pack4, Cursor};
use super::tests::{block, rel_err};
use super::*;

#[test]
fn int4f_spec_parses_prints_and_needs_lowrank_and_int8() {
    let p: Pipeline = "int4f, lowrank:16, int8".parse().unwrap();
    assert!(p.int4_factors && p.int8);
    assert_eq!(p.to_string(), "lowrank:16,int8,int4f");
    assert_eq!(p.to_string().parse::<Pipeline>().unwrap(), p);
    for bad in [
        "int4f",
        "int8,int4f",
        "lowrank:8,int4f",
        "lowrank:8,int8,int4f,int4f",
    ] {
        assert!(bad.parse::<Pipeline>().is_err(), "{bad}");
    }
    assert!(!p.is_lossless());
}

#[test]
fn int4f_round_trip_is_close_and_smaller_than_int8() {
    let t = block();
    let p4: Pipeline = "lowrank:4,int8,int4f".parse().unwrap();
    let p8: Pipeline = "lowrank:4,int8".parse().unwrap();
    let e4 = encode("layer0.expert1", &t, &p4, None).unwrap();
    let e8 = encode("layer0.expert1", &t, &p8, None).unwrap();
    assert!(e4.stats.encoded_bytes < e8.stats.encoded_bytes);
    let d4 = decode(&e4.bytes).unwrap();
    let w1 = d4.tensors.iter().find(|x| x.name == "w1").unwrap();
    // w1 is rank 4 plus 1 % noise: 4-bit factors keep it within a few per cent.
    let err = rel_err(&t[0].values, &w1.values);
    assert!(err < 0.15, "{err}");
    assert!((err - e4.stats.l2_error_rel).abs() < 0.2);
    // Decoding is deterministic.
    assert_eq!(decode(&e4.bytes).unwrap(), d4);
    let info = inspect(&e4.bytes, 1 << 20).unwrap();
    assert_eq!(info.pipeline, "lowrank:4,int8,int4f");
    assert_eq!(info.tensors[1].encoding, "lowrank-int4");
    assert_eq!(info.tensors[0].encoding, "dense-int8");
    // With a sparse residual too.
    let p: Pipeline = "lowrank:4,topk:0.05,int8,int4f".parse().unwrap();
    let e = encode("b", &t, &p, None).unwrap();
    assert_eq!(decode(&e.bytes).unwrap().tensors.len(), 3);
}

#[test]
fn int4_packing_round_trips_and_rejects_bad_nibbles() {
    let codes: Vec<i8> = (-7..=7).collect(); // 15 codes: odd, one padding nibble
    let packed = pack4(&codes);
    assert_eq!(packed.len(), 8);
    let mut c = Cursor {
        buf: &packed,
        pos: 0,
    };
    assert_eq!(c.i4s(15).unwrap(), codes);
    assert_eq!(c.pos, 8);
    // -8 (nibble 0x8) is never produced.
    let mut c = Cursor {
        buf: &[0x80],
        pos: 0,
    };
    assert!(c.i4s(2).is_err());
    // Non-zero padding.
    let mut c = Cursor {
        buf: &[0x11],
        pos: 0,
    };
    assert!(c.i4s(1).is_err());
    let mut c = Cursor {
        buf: &[0x01],
        pos: 0,
    };
    assert_eq!(c.i4s(1).unwrap(), [1]);
    // Truncated.
    let mut c = Cursor { buf: &[], pos: 0 };
    assert!(c.i4s(1).is_err());
}
