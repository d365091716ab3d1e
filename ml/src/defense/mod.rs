//! Byzantine defense for Proof-of-Learning rounds (seeds 003 §4.2 "The Shield", DESIGN.md
//! "Proof-of-Learning protocol").
//!
//! * Phase 1, [`screen`]: every submission of a round gets a [`Screening`]: a bitset of
//!   [`flag`]s (structure, NaN/Inf, L2 norm, L2 distance to the current weights, cosine to the
//!   round's other updates, Krum score) and its figures as integers. A flag carried by ≥ 1/3
//!   of the attesting power makes the chain treat the submission as Byzantine.
//! * Phase 2, [`aggregate`]: the admitted updates are combined per block with the model's
//!   [`AggregationRule`] (weighted FedAvg by samples, coordinate-wise median, trimmed mean,
//!   Krum, Multi-Krum, centered clipping); [`aggregate_hash`] is what validators attest.
//!
//! # Determinism
//!
//! Honest validators on different machines must reach identical flags and identical aggregate
//! bytes. Everything here is therefore plain single-threaded loops in a fixed order over IEEE
//! arithmetic (Rust never contracts `a * b + c` into an FMA), with no BLAS, no candle ops, no
//! threads and no hash-map iteration:
//!
//! * updates are processed in ascending `submission` id (ties, which a round never has, by
//!   input position), whatever order the caller passes them in;
//! * blocks in ascending block name, tensors in ascending tensor name, values in row-major
//!   order; an update's vector is the concatenation in that order;
//! * every sum (norms, dot products, distances, weighted sums) is an `f64` accumulator that
//!   adds one term per value in that order; medians sort with [`f32::total_cmp`] (ties by
//!   update order) so the selection is exact;
//! * figures leave as integers (`round(x · 10⁶)`, saturating).
//!
//! # Robust statistics and thresholds
//!
//! Absolute bounds ([`DefenseParams::max_l2_norm`], [`DefenseParams::max_l2_distance`]) apply
//! to every update. The round-relative checks compare an update only with the other updates
//! that touch the same block (partial mining: a miner may train one expert), and need enough
//! of them: the norm and Krum checks need ≥ [`MIN_ROBUST`] updates on a block, the cosine
//! check ≥ [`MIN_COSINE`] (so that the reference, the coordinate-wise median of the *other*
//! updates, is a median of at least three). With fewer (1–2 updates in a round), only the
//! absolute bounds apply. See [`screen`] for the exact statistics.

mod aggregate;
mod cclip;
mod rule;
mod screen;
pub mod synthetic;
mod vector;

use std::fmt;

pub use aggregate::{aggregate, aggregate_hash, scale_aggregate};
pub use rule::{AggregationRule, MAX_CCLIP_ITERS, MAX_CCLIP_TAU_BPS};
pub use screen::screen;

use crate::compress::{self, BlockLayout, CompressError, Decoded};

/// Fewest updates on a block for the round-relative norm and Krum checks.
pub const MIN_ROBUST: usize = 3;
/// Fewest updates on a block for the cosine check (the update plus ≥ 3 others).
pub const MIN_COSINE: usize = 4;
/// [`Screening::cosine_micro`] when the cosine was not computed.
pub const COSINE_NONE: i64 = i64::MIN;
/// [`Screening::krum_score_micro`] when the Krum score was not computed.
pub const KRUM_NONE: u64 = u64::MAX;
/// [`Screening::sign_bias_micro`] when the sign balance was not computed.
pub const SIGN_BIAS_NONE: i64 = i64::MIN;

/// What screening takes of one block of the model being changed: the structure of its
/// current weights (every update of the block must carry exactly these tensors with these
/// shapes: [`flag::SHAPE`]) and their L2 norm `‖W_b‖₂` (the distance check's unit).
#[derive(Debug, Clone, PartialEq)]
pub struct BaseBlock {
    /// Tensor names and shapes of the block's current weights.
    pub layout: BlockLayout,
    /// `‖W_b‖₂` of the current weights.
    pub norm: f64,
}

impl BaseBlock {
    /// The reference of block `block` whose current weights are `tensors` (sorted by name):
    /// their layout and `‖W_b‖₂`, an f64 sum of squares over the tensors in order, values in
    /// row-major order.
    pub fn of(block: &str, tensors: &[compress::DeltaTensor]) -> Self {
        Self {
            layout: BlockLayout::of(block, tensors),
            norm: l2_norm(tensors),
        }
    }
}

/// `‖W‖₂` of `tensors`: an f64 sum of squares over the tensors in order, values in
/// row-major order.
pub fn l2_norm(tensors: &[compress::DeltaTensor]) -> f64 {
    let mut s = 0.0f64;
    for t in tensors {
        for &v in &t.values {
            s += f64::from(v) * f64::from(v);
        }
    }
    s.sqrt()
}

/// One submission's update for the round: all its blocks' decoded deltas. Its vector is the
/// concatenation of the blocks in block-name order, each block's tensors in tensor-name order
/// (the order of `blocks` as given does not matter).
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The submission id the chain assigned (unique within a round).
    pub submission: u64,
    /// Training samples behind the update (the FedAvg weight).
    pub samples: u64,
    /// One decoded delta per block the submission changes.
    pub blocks: Vec<Decoded>,
}

impl Update {
    /// Decodes a submission's containers (see [`compress::decode`]) into an update. A failure
    /// is what [`Screening::decode_failed`] records.
    pub fn decode(
        submission: u64,
        samples: u64,
        containers: &[&[u8]],
    ) -> Result<Self, CompressError> {
        let blocks = containers
            .iter()
            .map(|c| compress::decode(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            submission,
            samples,
            blocks,
        })
    }
}

/// The screening flags: a bitset in [`Screening::flags`].
pub mod flag {
    /// A container failed to decode (wrong hash, malformed, NaN in the data, too large).
    pub const DECODE: u32 = 1;
    /// A NaN or infinite value.
    pub const NON_FINITE: u32 = 2;
    /// L2 norm above the absolute bound, or far above the round's (median + k·MAD).
    pub const NORM: u32 = 4;
    /// Some block's `‖delta‖ / ‖current weights‖` above the bound.
    pub const DISTANCE: u32 = 8;
    /// Cosine to the coordinate-wise median of the round's other updates too low.
    pub const COSINE: u32 = 16;
    /// Krum score (mean squared distance to the nearest other updates) far above the round's
    /// typical squared norm.
    pub const KRUM: u32 = 32;
    /// Malformed structure: duplicate or unsorted names, values not matching the shape,
    /// a block the model does not have, or tensors/shapes other than the base block's
    /// (all of its tensors, with their shapes).
    pub const SHAPE: u32 = 64;
    /// The update's values lean to one side of the coordinate-wise median of the round's
    /// other updates far beyond chance: a coordinated shift of every value the same way
    /// ("a little is enough"), where independent training noise falls on both sides.
    pub const SIGN_BIAS: u32 = 128;
    /// Every flag, in bit order, with its name.
    pub const ALL: [(u32, &str); 8] = [
        (DECODE, "decode"),
        (NON_FINITE, "non-finite"),
        (NORM, "norm"),
        (DISTANCE, "distance"),
        (COSINE, "cosine"),
        (KRUM, "krum"),
        (SHAPE, "shape"),
        (SIGN_BIAS, "sign-bias"),
    ];

    /// `flags` as names joined by `|` (`"norm|krum"`), `"-"` for none; unknown bits as hex.
    pub fn describe(flags: u32) -> String {
        let mut parts: Vec<String> = ALL
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, name)| (*name).to_string())
            .collect();
        let known = ALL.iter().fold(0, |acc, (bit, _)| acc | bit);
        if flags & !known != 0 {
            parts.push(format!("{:#x}", flags & !known));
        }
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join("|")
        }
    }
}

/// Thresholds of [`screen`]. The defaults are justified by the tests in `defense/tests*.rs`
/// (real `tiny` deltas and synthetic rounds) and the figures of `benches/defense.rs`.
#[derive(Debug, Clone, PartialEq)]
pub struct DefenseParams {
    /// Absolute bound on an update's L2 norm over all its blocks (the seeds'
    /// `NORM_THRESHOLD = 1000.0`); a last-resort bound that applies to every round.
    pub max_l2_norm: f64,
    /// Bound on the L2 distance to the current weights, relative: for every block,
    /// `‖delta_b‖₂ / ‖W_b‖₂` (`W_b` the block's current weights, whose norm the caller passes
    /// in `base_norms`). Blocks whose base norm is 0 or not finite are not checked.
    pub max_l2_distance: f64,
    /// An update whose cosine to the reference direction is below this is flagged.
    pub min_cosine: f64,
    /// Significance floor of the cosine: the cosine must also be ≥ `cosine_z / √D` (`D` the
    /// number of values compared), which a random direction reaches with probability
    /// `≈ 1 − Φ(cosine_z)`; this matters for small blocks (a router gate) where chance
    /// alignment of noise is not negligible.
    pub cosine_z: f64,
    /// Byzantine updates Krum assumes per block, capped at `⌊(n − 3) / 2⌋` (the most Krum
    /// tolerates among `n`); the default `usize::MAX` always takes the cap, so an honest
    /// update's `n − f − 2` neighbours are honest whenever a majority is.
    pub krum_f: usize,
    /// An update whose mean squared distance to its Krum neighbours is above this many times
    /// the round's median squared norm is flagged (6: the nearest honest updates are more
    /// than ≈ 2.45 typical norms away).
    pub krum_max_ratio: f64,
    /// The round-relative norm bound: ratio `> median + norm_mad_k · spread`, where `spread`
    /// is `max(1.4826 · MAD, norm_min_spread · median)` over the round's norm ratios.
    pub norm_mad_k: f64,
    /// Floor of the spread, as a fraction of the median (so that a round of near-identical
    /// honest norms does not flag an honest miner who trained a bit longer).
    pub norm_min_spread: f64,
    /// An update is flagged [`flag::SIGN_BIAS`] when the balance of its values above and
    /// below the median of the others, `(above − below) / (above + below)`, differs from the
    /// round's typical balance `c` (the median balance over the updates) by more than this...
    pub max_sign_bias: f64,
    /// ...and the difference is significant: `|above − below − c·(above + below)| >
    /// sign_bias_z · √(above + below)` (a fair coin's z-score; matters for small blocks).
    pub sign_bias_z: f64,
}

impl Default for DefenseParams {
    /// * `max_l2_norm` 1000: the seeds' figure, a last resort (real `tiny` expert+router
    ///   deltas are ≈ 5).
    /// * `max_l2_distance` 2.0: an honest 200-step AdamW run (the `TrainConfig` default) on a
    ///   fresh `tiny` model moves its blocks by ≈ 0.9 of their norm, 30–60 steps by 0.5–0.7;
    ///   a 5× scaled update reaches ≈ 2.3–2.9, so this also bounds rounds of 1–2 updates.
    /// * `min_cosine` 0.0 with `cosine_z` 4: honest real deltas have cosine ≈ 0.7–0.85 to the
    ///   median of the others, label-flipped ones ≈ 0.18 (left to the validation loss: a
    ///   miner with unusual but honest data must not be slashed), sign-flipped ones ≈ −0.8,
    ///   random noise ≈ 0 (below `4 / √D`).
    /// * `krum_f` `usize::MAX` (see the field), `krum_max_ratio` 6: honest relative Krum scores are ≈ 0.3–2 (two honest
    ///   updates at 1× and 2.5× the median norm in the same direction score 2.25), a 5×
    ///   scaled update ≈ 11 and more.
    /// * `norm_mad_k` 4, `norm_min_spread` 0.3: when honest norms agree, the norm bound is
    ///   2.2× the round's median (honest 30–200-step runs span 1.7×); honest norms spread
    ///   over 3× with 30% large attackers (which widen the MAD) put it near 4×, where Krum
    ///   still flags 5× scaled updates.
    fn default() -> Self {
        Self {
            max_l2_norm: 1000.0,
            max_l2_distance: 2.0,
            min_cosine: 0.0,
            cosine_z: 4.0,
            krum_f: usize::MAX,
            krum_max_ratio: 6.0,
            norm_mad_k: 4.0,
            norm_min_spread: 0.3,
            max_sign_bias: 0.2,
            sign_bias_z: 4.0,
        }
    }
}

/// The phase-1 result for one submission. Integers only, so every validator reports the
/// same figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screening {
    /// The submission id.
    pub submission: u64,
    /// [`flag`] bits; 0 means clean.
    pub flags: u32,
    /// `round(‖delta‖₂ · 10⁶)` over all blocks (saturating; `u64::MAX` when not finite or
    /// not computed because of a structural flag).
    pub l2_norm_micro: u64,
    /// `round(max_b ‖delta_b‖ / ‖W_b‖ · 10⁶)`: the largest relative distance to the current
    /// weights over the update's blocks (0 when no block had a usable base norm; `u64::MAX`
    /// when not computed).
    pub distance_micro: u64,
    /// `round(cos · 10⁶)` of the cosine between the update and the coordinate-wise median
    /// of the *other* updates on the same blocks (blocks with ≥ [`MIN_COSINE`] updates,
    /// summed over blocks); [`COSINE_NONE`] when not computed.
    pub cosine_micro: i64,
    /// `round(K · 10⁶)` of the update's relative Krum score `K`: its mean squared distance to
    /// its `n − f − 2` nearest neighbours (per block with ≥ [`MIN_ROBUST`] updates, summed)
    /// over the sum of those blocks' median squared norms; [`KRUM_NONE`] when not computed.
    pub krum_score_micro: u64,
    /// `round(b · 10⁶)` of the update's sign balance `b = (above − below) / (above +
    /// below)` against the coordinate-wise median of the other updates (the cosine check's
    /// reference, the same blocks): ≈ 0 for independent training, negative for a shift of
    /// every value downwards; [`SIGN_BIAS_NONE`] when not computed.
    pub sign_bias_micro: i64,
}

impl Screening {
    /// The screening of a submission whose containers failed to decode.
    pub fn decode_failed(submission: u64) -> Self {
        Self {
            submission,
            flags: flag::DECODE,
            l2_norm_micro: u64::MAX,
            distance_micro: u64::MAX,
            cosine_micro: COSINE_NONE,
            krum_score_micro: KRUM_NONE,
            sign_bias_micro: SIGN_BIAS_NONE,
        }
    }

    /// Whether no flag is set.
    pub fn is_clean(&self) -> bool {
        self.flags == 0
    }
}

impl fmt::Display for Screening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "submission {} flags {} norm {}",
            self.submission,
            flag::describe(self.flags),
            micro_u_str(self.l2_norm_micro)
        )?;
        if self.cosine_micro != COSINE_NONE {
            write!(f, " cos {:.4}", self.cosine_micro as f64 / 1e6)?;
        }
        if self.krum_score_micro != KRUM_NONE {
            write!(f, " krum {:.3}", self.krum_score_micro as f64 / 1e6)?;
        }
        if self.sign_bias_micro != SIGN_BIAS_NONE {
            write!(f, " sign-bias {:+.4}", self.sign_bias_micro as f64 / 1e6)?;
        }
        Ok(())
    }
}

fn micro_u_str(x: u64) -> String {
    if x == u64::MAX {
        "n/a".into()
    } else {
        format!("{:.6}", x as f64 / 1e6)
    }
}

/// Errors of [`aggregate`] and of parsing an [`AggregationRule`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DefenseError {
    /// Nothing to aggregate.
    #[error("no updates to aggregate")]
    Empty,
    /// Two updates with the same submission id.
    #[error("submission {0} appears twice")]
    DuplicateSubmission(u64),
    /// Malformed or mismatched structure.
    #[error("submission {submission}: {reason}")]
    Shape {
        /// The submission.
        submission: u64,
        /// What is wrong.
        reason: String,
    },
    /// A NaN or infinite value.
    #[error("submission {0}: non-finite value")]
    NonFinite(u64),
    /// Weighted FedAvg over updates whose samples sum to 0.
    #[error("block {0}: the updates' samples sum to 0")]
    ZeroSamples(String),
    /// A bad rule spec or code.
    #[error("aggregation rule: {0}")]
    Rule(String),
}

/// `round(x · 10⁶)` as u64, saturating; `u64::MAX` for NaN or +∞.
pub(crate) fn micro_u(x: f64) -> u64 {
    if x.is_nan() {
        u64::MAX
    } else {
        (x * 1e6).round() as u64
    }
}

/// `round(x · 10⁶)` as i64, saturating; [`COSINE_NONE`] for NaN.
pub(crate) fn micro_i(x: f64) -> i64 {
    if x.is_nan() {
        COSINE_NONE
    } else {
        ((x * 1e6).round() as i64).max(COSINE_NONE + 1)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_aggregate;
#[cfg(test)]
mod tests_cclip;
#[cfg(test)]
mod tests_real;
