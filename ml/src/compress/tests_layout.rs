//! Issue 11 item 4: crafted containers that claim far more than the base block holds are
//! refused by [`decode_for`] before anything big is allocated or computed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use super::*;
use crate::model::{tensor_shapes, BlockName, MetaConfig};

/// Counts the largest single allocation of the current thread.
struct LargestAllocation;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded to `System` unchanged; the thread-local counter neither
// allocates nor panics (`try_with`). Test builds only: the one way to show that a decode
// did not allocate what a container claims.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// `f()` and the largest single allocation it made on this thread, in bytes.
pub(crate) fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

/// The base block the crafted containers target: expert 1 of layer 0 of the `tiny` model.
pub(crate) fn expert_layout() -> BlockLayout {
    let b = BlockName::Expert {
        layer: 0,
        expert: 1,
    };
    let mut tensors: Vec<(String, Vec<usize>)> = tensor_shapes(&MetaConfig::tiny(), &b)
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    tensors.sort();
    BlockLayout {
        block: b.to_string(),
        tensors,
    }
}

/// One crafted tensor record: name, dims, body bytes (encoding byte first).
pub(crate) type Record<'a> = (&'a str, &'a [u64], Vec<u8>);

/// A container for `block` claiming `total` values with these records, with a valid hash.
pub(crate) fn craft(block: &str, total: u64, records: &[Record<'_>]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(VERSION.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    put_str(&mut out, "topk:0.02,int8");
    put_str(&mut out, block);
    out.extend((records.len() as u32).to_le_bytes());
    out.extend(total.to_le_bytes());
    for (name, dims, body) in records {
        put_str(&mut out, name);
        out.push(dims.len() as u8);
        for d in *dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(body);
    }
    let h = sha3(&out);
    out.extend(h);
    out
}

/// A sparse body keeping nothing (`nnz = 0`): a few bytes that stand for `numel` zeros.
pub(crate) fn empty_sparse() -> Vec<u8> {
    let mut b = vec![2u8]; // ENC_SPARSE
    b.extend(0u64.to_le_bytes());
    b.push(0); // f32 values
    b
}

/// A low-rank body of rank `r` with int4 factors of `m×n`, all codes and scales zero.
pub(crate) fn lowrank_int4(m: u64, n: u64, r: u32) -> Vec<u8> {
    let mut b = vec![3u8]; // ENC_LOWRANK
    b.extend(r.to_le_bytes());
    b.push(2); // int4
    b.extend(vec![0u8; 8 * r as usize]); // U and V scales
    b.extend(vec![0u8; ((m * u64::from(r)).div_ceil(2)) as usize]);
    b.extend(vec![0u8; ((u64::from(r) * n).div_ceil(2)) as usize]);
    b.push(0); // no residual
    b
}

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
