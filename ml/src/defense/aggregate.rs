//! Phase 2: [`aggregate`] the admitted updates, and [`aggregate_hash`].

use std::collections::BTreeMap;

use sha3::{Digest, Sha3_256};

use super::cclip::centered_clip;
use super::vector::{self, krum_scores, pairwise, ranked};
use super::{AggregationRule, DefenseError, Update};
use crate::compress::{Decoded, DeltaTensor};

/// Aggregates `updates` with `rule`, per block: each block of the result combines the
/// updates that touch that block (an update that does not touch a block has no say in it).
/// The result maps block names to tensors in tensor-name order.
///
/// Updates are taken in ascending submission id whatever their order in `updates`; every
/// update must be well formed and finite, and all updates of a block must have the same
/// tensor names and shapes. Per rule, per value (row-major, tensors in name order):
///
/// * `WeightedFedAvg`: `Σ_i (s_i · x_i) / Σ_i s_i` with `s_i` the samples as `f64`, the sum
///   an `f64` accumulator over updates in submission order, rounded once to `f32`.
///   Samples summing to 0 is an error.
/// * `CoordinateMedian`: the values sorted with `f32::total_cmp`; the middle one for an odd
///   count, `((a + b) / 2)` in `f64` of the two middle ones for an even count, rounded to
///   `f32`.
/// * `TrimmedMean { trim_bps }`: sorted likewise, `t = min(⌊n · trim_bps / 10000⌋,
///   ⌊(n − 1) / 2⌋)` dropped at each end, the rest summed in ascending order in `f64` and
///   divided by their count, rounded to `f32`.
/// * `Krum { f }`: the block delta of the update with the lowest Krum score (sum of squared
///   distances to its `n − f − 2` nearest others, `f` reduced to `(n − 3) / 2` in small
///   rounds, at least one neighbour), ties to the lower submission id; copied exactly.
/// * `MultiKrum { f, m }`: the `min(m, n)` updates with the lowest Krum scores, combined by
///   `WeightedFedAvg` (in submission order).
/// * `CenteredClip { iters, tau_bps }`: from the coordinate-wise median `v`, `iters` times
///   `v ← v + Σ s_i · clip(x_i − v, τ) / Σ s_i` (`clip` scales to norm ≤ `τ`), `τ` =
///   `tau_bps / 10000 ·` the median of the block's `‖x_i − v₀‖₂`; norms are per block (see
///   `defense/cclip.rs` for the exact arithmetic). Samples summing to 0 is an error.
pub fn aggregate(
    updates: &[&Update],
    rule: &AggregationRule,
) -> Result<BTreeMap<String, Vec<DeltaTensor>>, DefenseError> {
    rule.validate()?;
    if updates.is_empty() {
        return Err(DefenseError::Empty);
    }
    let order = vector::order(updates);
    for w in order.windows(2) {
        if updates[w[0]].submission == updates[w[1]].submission {
            return Err(DefenseError::DuplicateSubmission(updates[w[0]].submission));
        }
    }
    let mut groups: BTreeMap<&str, Vec<(&Update, &Decoded)>> = BTreeMap::new();
    for &i in &order {
        let u = updates[i];
        let v = vector::view(u).map_err(|reason| DefenseError::Shape {
            submission: u.submission,
            reason,
        })?;
        if !vector::all_finite(&v) {
            return Err(DefenseError::NonFinite(u.submission));
        }
        for b in v.blocks {
            groups.entry(b.block.as_str()).or_default().push((u, b));
        }
    }
    let mut out = BTreeMap::new();
    for (block, members) in groups {
        let (first, rest) = members.split_first().ok_or(DefenseError::Empty)?;
        let sig = vector::signature(first.1);
        for (u, b) in rest {
            if vector::signature(b) != sig {
                return Err(DefenseError::Shape {
                    submission: u.submission,
                    reason: format!(
                        "block {block:?}: tensors or shapes differ from submission {}'s",
                        first.0.submission
                    ),
                });
            }
        }
        let tensors = match *rule {
            AggregationRule::WeightedFedAvg => weighted_mean(block, &members)?,
            AggregationRule::CoordinateMedian => coordinatewise(&members, median_sorted),
            AggregationRule::TrimmedMean { trim_bps } => {
                coordinatewise(&members, |s| trimmed_mean_sorted(s, trim_bps))
            }
            AggregationRule::Krum { f } => {
                let best = krum_rank(&members, f)[0];
                members[best].1.tensors.clone()
            }
            AggregationRule::MultiKrum { f, m } => {
                let mut keep = krum_rank(&members, f);
                keep.truncate((m as usize).min(members.len()));
                keep.sort_unstable();
                let chosen: Vec<_> = keep.iter().map(|&p| members[p]).collect();
                weighted_mean(block, &chosen)?
            }
            AggregationRule::CenteredClip { iters, tau_bps } => {
                centered_clip(block, &members, iters, tau_bps)?
            }
        };
        out.insert(block.to_string(), tensors);
    }
    Ok(out)
}

/// Multiplies every value of `agg` by `server_lr_bps / 10_000` (the chain's server learning
/// rate), each value as `(f64(v) · server_lr_bps / 10_000)` rounded once to `f32`, in plain
/// order; 10,000 leaves the aggregate unchanged bit for bit.
pub fn scale_aggregate(agg: &mut BTreeMap<String, Vec<DeltaTensor>>, server_lr_bps: u32) {
    if server_lr_bps == 10_000 {
        return;
    }
    let k = f64::from(server_lr_bps) / 10_000.0;
    for t in agg.values_mut().flatten() {
        for v in &mut t.values {
            *v = (f64::from(*v) * k) as f32;
        }
    }
}

/// sha3-256 of an aggregate: block count, then per block (in name order) its name, tensor
/// count, and per tensor its name, rank, dims and values as f32 little-endian. Counts, lengths
/// and dims are u64 little-endian; names are length-prefixed UTF-8 (the layout of
/// [`crate::compress::decoded_hash`], with the block count in front).
pub fn aggregate_hash(agg: &BTreeMap<String, Vec<DeltaTensor>>) -> [u8; 32] {
    let mut h = Sha3_256::new();
    let put_str = |h: &mut Sha3_256, s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    h.update((agg.len() as u64).to_le_bytes());
    let mut buf = Vec::new();
    for (block, tensors) in agg {
        put_str(&mut h, block);
        h.update((tensors.len() as u64).to_le_bytes());
        for t in tensors {
            put_str(&mut h, &t.name);
            h.update((t.shape.len() as u64).to_le_bytes());
            for &d in &t.shape {
                h.update((d as u64).to_le_bytes());
            }
            buf.clear();
            for x in &t.values {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            h.update(&buf);
        }
    }
    h.finalize().into()
}

/// Positions of `members` in ascending Krum score, ties by position (= submission order).
fn krum_rank(members: &[(&Update, &Decoded)], f: u32) -> Vec<usize> {
    let blocks: Vec<&Decoded> = members.iter().map(|(_, b)| *b).collect();
    let scores = krum_scores(&pairwise(&blocks), blocks.len(), f as usize);
    ranked(&scores)
}

/// Samples-weighted mean of the members' tensors.
fn weighted_mean(
    block: &str,
    members: &[(&Update, &Decoded)],
) -> Result<Vec<DeltaTensor>, DefenseError> {
    let total: u128 = members.iter().map(|(u, _)| u128::from(u.samples)).sum();
    if total == 0 {
        return Err(DefenseError::ZeroSamples(block.to_string()));
    }
    let total = total as f64;
    let template = &members[0].1.tensors;
    let mut out = Vec::with_capacity(template.len());
    for (t, tt) in template.iter().enumerate() {
        let mut acc = vec![0.0f64; tt.values.len()];
        for (u, b) in members {
            let w = u.samples as f64;
            for (a, &x) in acc.iter_mut().zip(&b.tensors[t].values) {
                *a += w * f64::from(x);
            }
        }
        out.push(DeltaTensor {
            name: tt.name.clone(),
            shape: tt.shape.clone(),
            values: acc.iter().map(|a| (a / total) as f32).collect(),
        });
    }
    Ok(out)
}

/// Applies `f` to every value position's members' values, sorted ascending with
/// `f32::total_cmp` (equal keys are equal bits, so the sorted list is unique).
pub(super) fn coordinatewise(
    members: &[(&Update, &Decoded)],
    f: impl Fn(&[f32]) -> f32,
) -> Vec<DeltaTensor> {
    let template = &members[0].1.tensors;
    let mut buf: Vec<f32> = Vec::with_capacity(members.len());
    let mut out = Vec::with_capacity(template.len());
    for (t, tt) in template.iter().enumerate() {
        let cols: Vec<&[f32]> = members
            .iter()
            .map(|(_, b)| b.tensors[t].values.as_slice())
            .collect();
        let mut values = Vec::with_capacity(tt.values.len());
        for k in 0..tt.values.len() {
            buf.clear();
            buf.extend(cols.iter().map(|c| c[k]));
            buf.sort_unstable_by(|a, b| a.total_cmp(b));
            values.push(f(&buf));
        }
        out.push(DeltaTensor {
            name: tt.name.clone(),
            shape: tt.shape.clone(),
            values,
        });
    }
    out
}

/// Median of a sorted non-empty slice (mean of the two middle values, in `f64`, for an even
/// count).
pub(crate) fn median_sorted(s: &[f32]) -> f32 {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        ((f64::from(s[n / 2 - 1]) + f64::from(s[n / 2])) * 0.5) as f32
    }
}

/// Trimmed mean of a sorted non-empty slice (see [`aggregate`]).
pub(crate) fn trimmed_mean_sorted(s: &[f32], trim_bps: u32) -> f32 {
    let n = s.len();
    let t = ((n as u64 * u64::from(trim_bps) / 10_000) as usize).min((n - 1) / 2);
    let kept = &s[t..n - t];
    let sum = kept.iter().fold(0.0f64, |acc, &x| acc + f64::from(x));
    (sum / kept.len() as f64) as f32
}
