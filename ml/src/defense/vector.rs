//! Shared plumbing of screening and aggregation: canonical views of updates (blocks by name),
//! structural checks, exact medians, squared distances and Krum scores, all plain ordered
//! loops with `f64` accumulators.

use std::cmp::Ordering;

use super::Update;
use crate::compress::Decoded;

/// An update with its blocks in ascending block-name order.
pub(crate) struct View<'a> {
    /// The blocks, sorted by name, names unique.
    pub blocks: Vec<&'a Decoded>,
}

/// A block's structure: its tensors' names and shapes, in order.
pub(crate) type Signature<'a> = Vec<(&'a str, &'a [usize])>;

/// The structure of `d`.
pub(crate) fn signature(d: &Decoded) -> Signature<'_> {
    d.tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect()
}

/// Input positions of `updates` in processing order: ascending submission id, then position.
pub(crate) fn order(updates: &[&Update]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..updates.len()).collect();
    idx.sort_by(|&a, &b| {
        updates[a]
            .submission
            .cmp(&updates[b].submission)
            .then(a.cmp(&b))
    });
    idx
}

/// The canonical view of `u`, or what is structurally wrong with it: no blocks, a duplicate
/// block name, tensor names not strictly increasing, or a value count that is not the shape's
/// product.
pub(crate) fn view(u: &Update) -> Result<View<'_>, String> {
    if u.blocks.is_empty() {
        return Err("no blocks".into());
    }
    let mut blocks: Vec<&Decoded> = u.blocks.iter().collect();
    blocks.sort_by(|a, b| a.block.cmp(&b.block));
    for w in blocks.windows(2) {
        if w[0].block == w[1].block {
            return Err(format!("block {:?} appears twice", w[0].block));
        }
    }
    for b in &blocks {
        if b.tensors.is_empty() {
            return Err(format!("block {:?} has no tensors", b.block));
        }
        for w in b.tensors.windows(2) {
            if w[0].name >= w[1].name {
                return Err(format!(
                    "block {:?}: tensor names not strictly increasing at {:?}",
                    b.block, w[1].name
                ));
            }
        }
        for t in &b.tensors {
            let numel = t
                .shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d));
            if numel != Some(t.values.len()) {
                return Err(format!(
                    "block {:?} tensor {:?}: {} values for shape {:?}",
                    b.block,
                    t.name,
                    t.values.len(),
                    t.shape
                ));
            }
        }
    }
    Ok(View { blocks })
}

/// Whether every value of every block is finite.
pub(crate) fn all_finite(v: &View<'_>) -> bool {
    v.blocks.iter().all(|b| {
        b.tensors
            .iter()
            .all(|t| t.values.iter().all(|x| x.is_finite()))
    })
}

/// Number of values of a block.
pub(crate) fn numel(d: &Decoded) -> usize {
    d.tensors.iter().map(|t| t.values.len()).sum()
}

/// `‖d‖₂²`: one `f64` accumulator, tensors in order, values in row-major order.
pub(crate) fn sq_norm(d: &Decoded) -> f64 {
    let mut acc = 0.0f64;
    for t in &d.tensors {
        for &x in &t.values {
            let x = f64::from(x);
            acc += x * x;
        }
    }
    acc
}

/// `‖a − b‖₂²` of two blocks of the same signature: one `f64` accumulator, tensors in order,
/// values in row-major order, each difference taken in `f64`.
pub(crate) fn sq_dist(a: &Decoded, b: &Decoded) -> f64 {
    let mut acc = 0.0f64;
    for (ta, tb) in a.tensors.iter().zip(&b.tensors) {
        for (&x, &y) in ta.values.iter().zip(&tb.values) {
            let d = f64::from(x) - f64::from(y);
            acc += d * d;
        }
    }
    acc
}

/// The symmetric `m × m` matrix (row-major, zero diagonal) of squared distances between the
/// members, computed for `a < b` in lexicographic order.
pub(crate) fn pairwise(members: &[&Decoded]) -> Vec<f64> {
    let m = members.len();
    let mut d = vec![0.0f64; m * m];
    for a in 0..m {
        for b in a + 1..m {
            let x = sq_dist(members[a], members[b]);
            d[a * m + b] = x;
            d[b * m + a] = x;
        }
    }
    d
}

/// The Krum neighbour count for `m` updates and `f` assumed Byzantine: `f` is reduced to
/// `(m − 3) / 2` when the round is too small for it, and the count `m − f − 2` is at least 1
/// (for `m = 2` both updates then score the same) and 0 for a single update.
pub(crate) fn krum_neighbours(m: usize, f: usize) -> usize {
    if m <= 1 {
        return 0;
    }
    let f_eff = f.min(m.saturating_sub(3) / 2);
    (m - f_eff).saturating_sub(2).max(1)
}

/// Krum scores (Blanchard et al. 2017): for each member, the sum of its squared distances to
/// its `krum_neighbours(m, f)` nearest other members, added in ascending order of distance.
pub(crate) fn krum_scores(dist: &[f64], m: usize, f: usize) -> Vec<f64> {
    let k = krum_neighbours(m, f);
    let mut row = Vec::with_capacity(m);
    (0..m)
        .map(|a| {
            row.clear();
            row.extend((0..m).filter(|&b| b != a).map(|b| dist[a * m + b]));
            row.sort_by(|x, y| x.total_cmp(y));
            row.iter().take(k).fold(0.0f64, |acc, x| acc + x)
        })
        .collect()
}

/// Positions `0..m` of `scores` in ascending score order, ties by position.
pub(crate) fn ranked(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    idx
}

/// The median of `xs` (sorted in place with `total_cmp`): the middle value for an odd count,
/// the mean of the two middle values for an even count; 0 for none.
pub(crate) fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => xs[n / 2],
        _ => (xs[n / 2 - 1] + xs[n / 2]) * 0.5,
    }
}

/// Orders `(value, position)` pairs by value (`total_cmp`), then position: a total order, so
/// any sort gives the same permutation.
pub(crate) fn by_value_then_pos(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}
