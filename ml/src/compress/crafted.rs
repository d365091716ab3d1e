//! Crafted delta containers for tests of the decoder's limits (issue 11 item 4), and an
//! allocator that measures what a decode allocated. Compiled into blyan-ml's own tests and,
//! with the `test-support` feature, into the tests of crates that depend on it (the
//! validator's fetch tests), so the helpers exist once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use super::{put_str, sha3, BlockLayout, MAGIC, VERSION};
use crate::model::{tensor_shapes, BlockName, MetaConfig};

/// A global allocator that records the largest single allocation of the current thread.
/// Install it in a test binary with `#[global_allocator]`, then measure with
/// [`largest_allocation`].
pub struct LargestAllocation;

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

/// `f()` and the largest single allocation it made on this thread, in bytes (0 unless
/// [`LargestAllocation`] is the global allocator).
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

/// The base block the crafted containers target: expert 1 of layer 0 of the `tiny` model.
pub fn expert_layout() -> BlockLayout {
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
pub type Record<'a> = (&'a str, &'a [u64], Vec<u8>);

/// A container for `block` claiming `total` values with these records, with a valid hash.
pub fn craft(block: &str, total: u64, records: &[Record<'_>]) -> Vec<u8> {
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
pub fn empty_sparse() -> Vec<u8> {
    let mut b = vec![2u8]; // ENC_SPARSE
    b.extend(0u64.to_le_bytes());
    b.push(0); // f32 values
    b
}

/// A low-rank body of rank `r` with int4 factors of `m×n`, all codes and scales zero.
pub fn lowrank_int4(m: u64, n: u64, r: u32) -> Vec<u8> {
    let mut b = vec![3u8]; // ENC_LOWRANK
    b.extend(r.to_le_bytes());
    b.push(2); // int4
    b.extend(vec![0u8; 8 * r as usize]); // U and V scales
    b.extend(vec![0u8; ((m * u64::from(r)).div_ceil(2)) as usize]);
    b.extend(vec![0u8; ((u64::from(r) * n).div_ceil(2)) as usize]);
    b.push(0); // no residual
    b
}
