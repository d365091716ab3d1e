//! Centered clipping (Karimireddy, He & Jaggi 2021, "Learning from History for Byzantine
//! Robust Optimization"), one block at a time: the rule behind
//! [`AggregationRule::CenteredClip`](super::AggregationRule::CenteredClip).
//!
//! Start from the coordinate-wise median `v₀` of the block's updates, set the radius
//! `τ = tau_bps / 10000 · median_i ‖x_i − v₀‖₂` (scale-free: one parameter fits any model
//! size and any training length), then `iters` times
//! `v ← v + Σ_i s_i · clip(x_i − v, τ) / Σ_i s_i` with `clip(d, τ) = d · min(1, τ / ‖d‖₂)`
//! and `s_i` the update's samples. An update within `τ` of `v` counts as in FedAvg; one
//! further away moves `v` by at most `τ · s_i / Σ s` per iteration whatever its size.
//!
//! Norms are per block, not over the whole update: aggregation combines, per block, the
//! updates that touch that block, and updates may touch different block sets (partial
//! mining), so only per-block distances compare like with like.

use super::aggregate::{coordinatewise, median_sorted};
use super::vector::median;
use super::{DefenseError, Update};
use crate::compress::{Decoded, DeltaTensor};

/// The centered-clipping aggregate of one block's `members` (in submission order, all of
/// the same signature). Arithmetic, all plain loops in a fixed order:
///
/// * `v` is an `f64` vector, starting from the coordinate-wise median (as
///   [`AggregationRule::CoordinateMedian`](super::AggregationRule::CoordinateMedian)
///   computes it, in `f32`);
/// * distances `‖x_i − v‖₂`: one `f64` accumulator over the tensors in order, values in
///   row-major order, each difference in `f64`; `τ` is `tau_bps / 10000 ·` their median
///   (mean of the two middle ones for an even count) at `v₀`;
/// * per iteration, per member in submission order, `c_i = s_i · min(1, τ / r_i)` (`1` when
///   `r_i ≤ τ`, so `r_i = 0` never divides) and `acc_k += c_i · (x_ik − v_k)` in `f64`; then
///   `v_k += acc_k / Σ s_i`;
/// * the result is `v` rounded once to `f32`.
///
/// Samples summing to 0 is [`DefenseError::ZeroSamples`].
pub(super) fn centered_clip(
    block: &str,
    members: &[(&Update, &Decoded)],
    iters: u32,
    tau_bps: u32,
) -> Result<Vec<DeltaTensor>, DefenseError> {
    let total: u128 = members.iter().map(|(u, _)| u128::from(u.samples)).sum();
    if total == 0 {
        return Err(DefenseError::ZeroSamples(block.to_string()));
    }
    let total = total as f64;
    let start = coordinatewise(members, median_sorted);
    let mut v: Vec<f64> = start
        .iter()
        .flat_map(|t| t.values.iter().map(|&x| f64::from(x)))
        .collect();
    let mut dists: Vec<f64> = members.iter().map(|(_, b)| distance(b, &v)).collect();
    let tau = f64::from(tau_bps) / 10_000.0 * median(&mut dists);
    let mut acc = vec![0.0f64; v.len()];
    for _ in 0..iters {
        acc.fill(0.0);
        for (u, b) in members {
            let r = distance(b, &v);
            let scale = if r > tau { tau / r } else { 1.0 };
            let c = u.samples as f64 * scale;
            for ((a, &vk), x) in acc.iter_mut().zip(&v).zip(values(b)) {
                *a += c * (f64::from(x) - vk);
            }
        }
        for (vk, a) in v.iter_mut().zip(&acc) {
            *vk += a / total;
        }
    }
    let mut flat = v.into_iter();
    Ok(start
        .into_iter()
        .map(|t| DeltaTensor {
            values: flat
                .by_ref()
                .take(t.values.len())
                .map(|x| x as f32)
                .collect(),
            ..t
        })
        .collect())
}

/// The block's values: tensors in order, values in row-major order.
fn values(b: &Decoded) -> impl Iterator<Item = f32> + '_ {
    b.tensors.iter().flat_map(|t| t.values.iter().copied())
}

/// `‖b − v‖₂`: one `f64` accumulator in value order, each difference in `f64`.
fn distance(b: &Decoded, v: &[f64]) -> f64 {
    let mut acc = 0.0f64;
    for (x, &vk) in values(b).zip(v) {
        let d = f64::from(x) - vk;
        acc += d * d;
    }
    acc.sqrt()
}
