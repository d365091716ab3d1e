//! Issue 11 item 4: crafted containers that claim far more than the base block holds are
//! refused by [`decode_for`] before anything big is allocated or computed.

use super::crafted::{
    craft, empty_sparse, expert_layout, largest_allocation, lowrank_int4, LargestAllocation,
};
use super::*;

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

const HUGE: u64 = 1 << 14; // 2^14 × 2^14 = 2^28 values: the default decode limit, 1 GiB of f32

#[test]
fn an_empty_sparse_tensor_claiming_a_huge_shape_is_refused_without_allocating_it() {
    let layout = expert_layout();
    let (name, _) = &layout.tensors[0];
    let bytes = craft(
        &layout.block,
        HUGE * HUGE,
        &[(name, &[HUGE, HUGE], empty_sparse())],
    );
    assert!(bytes.len() < 150, "{} bytes", bytes.len());
    let (r, largest) = largest_allocation(|| decode_for(&bytes, &layout));
    let err = r.unwrap_err();
    assert!(matches!(err, CompressError::Layout(_)), "{err}");
    assert!(largest < 64 << 10, "largest allocation {largest} bytes");

    // Without the base block's layout the same ~100 bytes would decode to 2^28 zeros (the
    // attack); `inspect` shows the claim without reconstructing it.
    let info = inspect(&bytes, DEFAULT_MAX_VALUES).unwrap();
    assert_eq!(info.values, HUGE * HUGE);
    assert_eq!(info.tensors[0].kept, Some(0));
}

#[test]
fn a_claim_within_one_tensor_of_the_block_but_over_its_total_is_refused() {
    let layout = expert_layout();
    let (name, shape) = &layout.tensors[0];
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let bytes = craft(
        &layout.block,
        layout.numel() + 1,
        &[(name, &dims, empty_sparse())],
    );
    let err = decode_for(&bytes, &layout).unwrap_err();
    assert!(matches!(err, CompressError::Layout(_)), "{err}");
}

#[test]
fn low_rank_factors_of_an_absurd_shape_or_rank_are_refused_before_any_multiply() {
    let layout = expert_layout();
    let (name, shape) = layout
        .tensors
        .iter()
        .find(|(_, s)| s.len() == 2)
        .cloned()
        .unwrap();
    // An absurd shape: refused by the layout from the header, factor bytes never read.
    let huge = craft(
        &layout.block,
        HUGE * HUGE,
        &[(&name, &[HUGE, HUGE], vec![3u8, 0, 16, 0, 0, 2])],
    );
    let (r, largest) = largest_allocation(|| decode_for(&huge, &layout));
    assert!(matches!(r, Err(CompressError::Layout(_))), "{r:?}");
    assert!(largest < 64 << 10, "largest allocation {largest} bytes");

    // The block's own shape, but a rank whose factors are as big as the matrix: the
    // encoder never writes it, and it would cost m·n·r multiply-adds.
    let (m, n) = (shape[0] as u64, shape[1] as u64);
    let r = m.min(n) as u32;
    let dims = [m, n];
    let full = craft(
        &layout.block,
        m * n,
        &[(&name, &dims, lowrank_int4(m, n, r))],
    );
    let err = decode_for(&full, &layout).unwrap_err();
    assert!(
        err.to_string().contains("not smaller than the matrix"),
        "{err}"
    );
    assert!(decode(&full).is_err(), "refused without a layout too");
}

#[test]
fn tensors_and_blocks_the_base_does_not_have_are_refused() {
    let layout = expert_layout();
    let tiny = [4u64, 4];
    let evil = craft(
        &layout.block,
        16,
        &[("zz_not_in_block", &tiny, empty_sparse())],
    );
    let err = decode_for(&evil, &layout).unwrap_err();
    assert!(err.to_string().contains("has no tensor"), "{err}");

    let (name, shape) = &layout.tensors[0];
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let numel: u64 = dims.iter().product();
    let other_block = craft("layer1.expert3", numel, &[(name, &dims, empty_sparse())]);
    let err = decode_for(&other_block, &layout).unwrap_err();
    assert!(err.to_string().contains("is for block"), "{err}");

    let mut swapped = dims.clone();
    swapped.reverse();
    if swapped != dims {
        let wrong = craft(&layout.block, numel, &[(name, &swapped, empty_sparse())]);
        let err = decode_for(&wrong, &layout).unwrap_err();
        assert!(err.to_string().contains("shape"), "{err}");
    }
}

#[test]
fn honest_containers_decode_the_same_with_the_layout() {
    let layout = expert_layout();
    let tensors: Vec<DeltaTensor> = layout
        .tensors
        .iter()
        .enumerate()
        .map(|(k, (name, shape))| DeltaTensor {
            name: name.clone(),
            shape: shape.clone(),
            values: (0..shape.iter().product::<usize>())
                .map(|i| ((i * 7 + k) % 13) as f32 * 1e-3 - 6e-3)
                .collect(),
        })
        .collect();
    for spec in [
        "none",
        "topk:0.05,int8",
        "lowrank:4,topk:0.05,int8",
        "lowrank:4,int8,int4f",
    ] {
        let enc = encode(&layout.block, &tensors, &spec.parse().unwrap(), None).unwrap();
        let with = decode_for(&enc.bytes, &layout).unwrap();
        assert_eq!(with, decode(&enc.bytes).unwrap(), "{spec}");
        assert!(layout.matches(&with), "{spec}");
    }
}
