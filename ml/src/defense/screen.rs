//! Phase 1: [`screen`] every submission of a round.

use std::collections::BTreeMap;

use super::vector::{self, by_value_then_pos, median, View};
use super::{
    flag, micro_i, micro_u, BaseBlock, DefenseParams, Screening, Update, COSINE_NONE, KRUM_NONE,
    MIN_COSINE, MIN_ROBUST, SIGN_BIAS_NONE,
};
use crate::compress::Decoded;

/// Screens every update of a round; the result is in the order of `updates`, one per update,
/// and does not depend on that order (updates are processed by ascending submission id).
///
/// `base` maps every block of the model to its [`BaseBlock`]: the structure (tensor names
/// and shapes) of its current weights and their L2 norm `‖W_b‖₂`.
///
/// In order:
/// 1. Structure ([`flag::SHAPE`]): see [`flag::SHAPE`]; a block's reference structure is the
///    base block's (all its tensors, with their shapes), never what the round's updates
///    carry, so any number of identical updates on a subset of a block's tensors cannot
///    make an honest full-block update look malformed. Then NaN/Inf ([`flag::NON_FINITE`]).
///    An update with either flag takes no further part.
/// 2. Absolute bounds: `‖Δ‖₂ > max_l2_norm` → [`flag::NORM`]; some block with
///    `‖Δ_b‖ / ‖W_b‖ > max_l2_distance` → [`flag::DISTANCE`].
/// 3. Per block with `n ≥ MIN_ROBUST` well-formed updates on it: the median `m_b` of their
///    block norms, and Krum scores (`krum_f`, reduced for small `n`): `score_b` the sum of
///    the squared distances to the `k_b = n − f − 2` nearest others. Per update, over those
///    blocks: the norm ratio `R = √(Σ‖Δ_b‖² / Σ m_b²)`, flagged [`flag::NORM`] when
///    `R > med(R) + norm_mad_k · max(1.4826 · MAD(R), norm_min_spread · med(R))` across the
///    round's updates; the relative Krum score `K = Σ (score_b / k_b) / Σ m_b²` (the mean
///    squared distance to the nearest neighbours in units of the typical squared norm, so
///    it does not blow up when honest updates agree closely), flagged [`flag::KRUM`] above
///    `krum_max_ratio`.
/// 4. Per block with `n ≥ MIN_COSINE` updates: for every value, the median of the *other*
///    updates' values there (leave-one-out; the mean of the two middle values for an even
///    count). Per update, over those blocks: `cos = Σ Δ·med / (‖Δ‖ ‖med‖)`, flagged
///    [`flag::COSINE`] when `cos < max(min_cosine, cosine_z / √D)` (`D` values compared).
///    A zero update or a zero reference gives no cosine and no flag. The reference is
///    honest when honest updates are a strict majority of each honest update's peers
///    (`h − 1 > a`: at most 1 attacker among 5 updates, 2 among 6–8, 3 among 9–10); with
///    more (2 sign-flippers among 5) honest updates can be flagged, which is the price of
///    excluding the update itself (a self-inclusive median lets random noise of honest
///    size vote for itself and pass).
///
/// Per-update sums over blocks run in block-name order; per-block figures are computed over
/// members in submission order.
pub fn screen(
    updates: &[Update],
    base: &BTreeMap<String, BaseBlock>,
    params: &DefenseParams,
) -> Vec<Screening> {
    let n = updates.len();
    let mut out: Vec<Screening> = updates
        .iter()
        .map(|u| Screening {
            submission: u.submission,
            flags: 0,
            l2_norm_micro: u64::MAX,
            distance_micro: u64::MAX,
            cosine_micro: COSINE_NONE,
            krum_score_micro: KRUM_NONE,
            sign_bias_micro: SIGN_BIAS_NONE,
        })
        .collect();
    let refs: Vec<&Update> = updates.iter().collect();
    let order = vector::order(&refs);

    // 1. structure (against the base blocks) and finiteness
    let mut views: Vec<Option<View<'_>>> = (0..n).map(|_| None).collect();
    for &i in &order {
        match vector::view(&updates[i]) {
            Ok(v) => {
                let off = v
                    .blocks
                    .iter()
                    .any(|b| base.get(&b.block).is_none_or(|r| !r.layout.matches(b)));
                if off {
                    out[i].flags |= flag::SHAPE;
                }
                if !vector::all_finite(&v) {
                    out[i].flags |= flag::NON_FINITE;
                }
                views[i] = Some(v);
            }
            Err(_) => out[i].flags |= flag::SHAPE,
        }
    }

    // 2. absolute bounds; groups of well-formed updates per block
    let mut groups: BTreeMap<&str, Vec<(usize, &Decoded)>> = BTreeMap::new();
    for &i in &order {
        let Some(v) = views[i].as_ref().filter(|_| out[i].flags == 0) else {
            continue;
        };
        let (mut total, mut dist) = (0.0f64, 0.0f64);
        for b in &v.blocks {
            let sq = vector::sq_norm(b);
            total += sq;
            let w = base.get(&b.block).map_or(0.0, |r| r.norm);
            if w > 0.0 && w.is_finite() {
                dist = dist.max(sq.sqrt() / w);
            }
            groups.entry(b.block.as_str()).or_default().push((i, b));
        }
        let norm = total.sqrt();
        out[i].l2_norm_micro = micro_u(norm);
        out[i].distance_micro = micro_u(dist);
        if norm > params.max_l2_norm {
            out[i].flags |= flag::NORM;
        }
        if dist > params.max_l2_distance {
            out[i].flags |= flag::DISTANCE;
        }
    }

    // 3–4. round-relative statistics, per block in name order
    let mut acc = vec![Acc::default(); n];
    for members in groups.values() {
        let m = members.len();
        if m < MIN_ROBUST {
            continue;
        }
        let blocks: Vec<&Decoded> = members.iter().map(|(_, b)| *b).collect();
        let sq: Vec<f64> = blocks.iter().map(|b| vector::sq_norm(b)).collect();
        let med_norm = median(&mut sq.iter().map(|x| x.sqrt()).collect::<Vec<_>>());
        let scores = vector::krum_scores(&vector::pairwise(&blocks), m, params.krum_f);
        let neighbours = vector::krum_neighbours(m, params.krum_f) as f64;
        for (p, &(i, _)) in members.iter().enumerate() {
            let a = &mut acc[i];
            a.norm_sq += sq[p];
            a.med_sq += med_norm * med_norm;
            a.krum += scores[p] / neighbours;
        }
        if m < MIN_COSINE {
            continue;
        }
        let cos = loo_median_dots(&blocks);
        let values = vector::numel(blocks[0]) as f64;
        for (p, &(i, _)) in members.iter().enumerate() {
            let a = &mut acc[i];
            a.dot += cos[p].dot;
            a.ref_sq += cos[p].ref_sq;
            a.above += cos[p].above;
            a.below += cos[p].below;
            a.cos_sq += sq[p];
            a.cos_values += values;
        }
    }

    let mut ratios: Vec<f64> = Vec::new();
    for &i in &order {
        if acc[i].med_sq > 0.0 {
            ratios.push((acc[i].norm_sq / acc[i].med_sq).sqrt());
        }
    }
    let norm_bound = if ratios.len() >= MIN_ROBUST {
        let med = median(&mut ratios.clone());
        let mut dev: Vec<f64> = ratios.iter().map(|r| (r - med).abs()).collect();
        let spread = (1.4826 * median(&mut dev)).max(params.norm_min_spread * med);
        Some(med + params.norm_mad_k * spread)
    } else {
        None
    };
    for &i in &order {
        let a = &acc[i];
        if let Some(bound) = norm_bound.filter(|_| a.med_sq > 0.0) {
            if (a.norm_sq / a.med_sq).sqrt() > bound {
                out[i].flags |= flag::NORM;
            }
        }
        if a.med_sq > 0.0 {
            let rel = a.krum / a.med_sq;
            out[i].krum_score_micro = micro_u(rel);
            if rel > params.krum_max_ratio {
                out[i].flags |= flag::KRUM;
            }
        }
        if a.cos_sq > 0.0 && a.ref_sq > 0.0 {
            let cos = (a.dot / (a.cos_sq.sqrt() * a.ref_sq.sqrt())).clamp(-1.0, 1.0);
            out[i].cosine_micro = micro_i(cos);
            let bound = params.min_cosine.max(params.cosine_z / a.cos_values.sqrt());
            if cos < bound {
                out[i].flags |= flag::COSINE;
            }
        }
    }
    sign_bias(&order, &acc, params, &mut out);
    out
}

/// The sign-balance check ([`flag::SIGN_BIAS`]). Each update's balance `(above − below) /
/// (above + below)` against the leave-one-out median is compared with the round's typical
/// balance (the median over the updates, once there are [`MIN_ROBUST`] of them; 0 before):
/// coordinated attackers shift the others' median and with it every honest balance the same
/// way (by about `f / (n − f)` of their own), so the attackers stand out from the round's
/// centre, not from 0.
fn sign_bias(order: &[usize], acc: &[Acc], params: &DefenseParams, out: &mut [Screening]) {
    let mut biases = Vec::new();
    for &i in order {
        let signed = acc[i].above + acc[i].below;
        if signed > 0 {
            let bias = (acc[i].above as f64 - acc[i].below as f64) / signed as f64;
            out[i].sign_bias_micro = micro_i(bias);
            biases.push(bias);
        }
    }
    let centre = if biases.len() >= MIN_ROBUST {
        median(&mut biases)
    } else {
        0.0
    };
    for &i in order {
        let signed = (acc[i].above + acc[i].below) as f64;
        if signed == 0.0 {
            continue;
        }
        let excess = acc[i].above as f64 - acc[i].below as f64 - centre * signed;
        let z = excess.abs() / signed.sqrt();
        if excess.abs() / signed > params.max_sign_bias && z > params.sign_bias_z {
            out[i].flags |= flag::SIGN_BIAS;
        }
    }
}

/// Per-update sums over the blocks of the round-relative checks.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    norm_sq: f64,
    med_sq: f64,
    krum: f64,
    dot: f64,
    ref_sq: f64,
    cos_sq: f64,
    cos_values: f64,
    above: u64,
    below: u64,
}

/// Per member of a block group: its dot product with the coordinate-wise median of the
/// other members, that median's squared norm, and how many of its values lie above and
/// below that median.
#[derive(Debug, Clone, Copy, Default)]
struct LooMedian {
    dot: f64,
    ref_sq: f64,
    above: u64,
    below: u64,
}

/// For each member of a block group (all of one signature, `m ≥ 2`), its [`LooMedian`]
/// against `med`, the coordinate-wise median of the other members. Per value, the members'
/// values are sorted once (by value, then member position); the leave-one-out median of
/// member at rank `r` reads the sorted list with `r` skipped. Sums run over tensors in
/// order, values in row-major order.
fn loo_median_dots(blocks: &[&Decoded]) -> Vec<LooMedian> {
    let m = blocks.len();
    let mut out = vec![LooMedian::default(); m];
    let mut buf: Vec<(f32, u32)> = Vec::with_capacity(m);
    let rest = m - 1;
    for t in 0..blocks[0].tensors.len() {
        let cols: Vec<&[f32]> = blocks
            .iter()
            .map(|b| b.tensors[t].values.as_slice())
            .collect();
        for k in 0..cols[0].len() {
            buf.clear();
            buf.extend(cols.iter().enumerate().map(|(p, c)| (c[k], p as u32)));
            buf.sort_unstable_by(by_value_then_pos);
            for r in 0..m {
                let at = |q: usize| f64::from(if q < r { buf[q].0 } else { buf[q + 1].0 });
                let med = if rest % 2 == 1 {
                    at(rest / 2)
                } else {
                    (at(rest / 2 - 1) + at(rest / 2)) * 0.5
                };
                let (x, p) = (f64::from(buf[r].0), buf[r].1 as usize);
                let o = &mut out[p];
                o.dot += x * med;
                o.ref_sq += med * med;
                o.above += u64::from(x > med);
                o.below += u64::from(x < med);
            }
        }
    }
    out
}
