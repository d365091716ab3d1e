//! Stage 2: top-k selection and the delta-varint index coding.
//!
//! Selection keeps the `k` entries with the largest `|x|`, ties broken by the lower index
//! (a total order, so the kept set is unique whatever the selection algorithm); exact zeros
//! are never kept. Kept indices are stored ascending as LEB128 varints of the gaps: the
//! first index itself, then `index − previous − 1`.

use std::cmp::Ordering;

use super::CompressError;

/// Number of entries top-k keeps of `n` with `fraction`: `ceil(fraction·n)`, within `1..=n`.
pub fn k_of(n: usize, fraction: f32) -> usize {
    if n == 0 {
        return 0;
    }
    let k = (f64::from(fraction) * n as f64).ceil();
    (k as usize).clamp(1, n)
}

/// The indices (ascending) of the `k` largest-|x| non-zero entries of `x`.
pub fn top_k(x: &[f32], k: usize) -> Vec<u64> {
    let mut idx: Vec<usize> = (0..x.len()).filter(|&i| x[i] != 0.0).collect();
    if k < idx.len() {
        let order = |&a: &usize, &b: &usize| -> Ordering {
            x[b].abs().total_cmp(&x[a].abs()).then_with(|| a.cmp(&b))
        };
        idx.select_nth_unstable_by(k, order);
        idx.truncate(k);
    }
    idx.sort_unstable();
    idx.into_iter().map(|i| i as u64).collect()
}

/// Appends `v` as an LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends ascending `indices` as delta varints.
pub fn put_indices(out: &mut Vec<u8>, indices: &[u64]) {
    let mut next = 0u64;
    for &i in indices {
        put_varint(out, i - next);
        next = i + 1;
    }
}

/// Reads one varint from `buf` at `*pos` (at most 10 bytes, no overflow).
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64, CompressError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = buf.get(*pos) else {
            return Err(CompressError::Malformed("truncated varint".into()));
        };
        *pos += 1;
        let part = u64::from(b & 0x7f);
        if shift == 63 && part > 1 {
            return Err(CompressError::Malformed("varint overflows u64".into()));
        }
        v |= part << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(CompressError::Malformed(
        "varint longer than 10 bytes".into(),
    ))
}

/// Reads `nnz` delta-varint indices, each below `numel`.
pub fn get_indices(
    buf: &[u8],
    pos: &mut usize,
    nnz: usize,
    numel: usize,
) -> Result<Vec<u64>, CompressError> {
    // Every varint takes at least one byte: a count larger than what is left is a lie.
    if nnz > buf.len().saturating_sub(*pos) {
        return Err(CompressError::Malformed(format!(
            "{nnz} indices claimed with {} bytes left",
            buf.len().saturating_sub(*pos)
        )));
    }
    let mut out = Vec::with_capacity(nnz);
    let mut next = 0u64;
    for _ in 0..nnz {
        let gap = get_varint(buf, pos)?;
        let i = next
            .checked_add(gap)
            .filter(|&i| i < numel as u64)
            .ok_or_else(|| CompressError::Malformed("sparse index out of range".into()))?;
        out.push(i);
        next = i + 1;
    }
    Ok(out)
}
