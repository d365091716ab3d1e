//! A submission's contribution to the round (issue 12, "judging that is fair to honest
//! work"): leave-one-out on the aggregate phase 2 would build. With `C` the candidate set
//! (the submissions the screen does not flag), `A = aggregate(C)` and
//! `A₋ᵢ = aggregate(C \ {i})` (the base when `C = {i}`), both built by
//! [`candidate`](super::candidate::candidate), submission `i`'s contribution is
//! `loss(base + A₋ᵢ) − loss(base + A)` (positive: it helps), and its noise is the standard
//! error of that difference over the validation sequences (paired: the same sequences
//! through both models, [`paired`]). One inner-trained model alone being a little worse is
//! expected; what matters is whether the aggregate is worse with it than without it.
//!
//! Cost per validator and round: `|C| + 1` aggregations and `|C| + 1` evaluations (one
//! more, of the base, when `|C| = 1`), where judging each submission alone took `|C|`.

use super::base::Base;
use super::candidate::{candidate, Outer};
use crate::defense::Update;
use crate::eval::SequenceLosses;

/// A paired comparison of two models on the same validation sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paired {
    /// `loss(a) − loss(b)`, micro-nats (the difference of the two reported integers).
    pub diff_micro: i64,
    /// Standard error of the difference, micro-nats, rounded up (0 with fewer than two
    /// sequences).
    pub noise_micro: u64,
}

/// The paired difference `a − b` of two evaluations of the same sequences, `None` when
/// they are not of the same sequences or a loss is not finite.
///
/// The loss is a mean over tokens, `Σⱼ sⱼ / Σⱼ tⱼ` (sequence `j`: summed loss `sⱼ` over
/// `tⱼ` tokens), so the difference is a ratio estimate `d = Σ Dⱼ / T` with
/// `Dⱼ = sⱼ(a) − sⱼ(b)`, `T = Σ tⱼ`; its standard error is
/// `√(n/(n−1) · Σ (Dⱼ − d·tⱼ)²) / T` over the `n` sequences (with equal `tⱼ`, the plain
/// `sd(d)/√n` of the per-sequence means). Plain f64 loops in sequence order.
pub fn paired(a: &SequenceLosses, b: &SequenceLosses) -> Option<Paired> {
    if a.sequences.len() != b.sequences.len() {
        return None;
    }
    let (la, lb) = (a.loss().ok()?, b.loss().ok()?);
    let n = a.sequences.len();
    let mut diffs = Vec::with_capacity(n);
    let mut tokens = 0u64;
    for (&(sa, ta), &(sb, tb)) in a.sequences.iter().zip(&b.sequences) {
        if ta != tb {
            return None;
        }
        diffs.push((sa - sb, ta as f64));
        tokens += ta;
    }
    let diff_micro = i64::try_from(la.micro_nats).ok()? - i64::try_from(lb.micro_nats).ok()?;
    let noise_micro = if n < 2 || tokens == 0 {
        0
    } else {
        let t = tokens as f64;
        let d = diffs.iter().map(|(dj, _)| dj).sum::<f64>() / t;
        let mut ss = 0f64;
        for (dj, tj) in &diffs {
            let r = dj - d * tj;
            ss += r * r;
        }
        let se = (ss * n as f64 / (n - 1) as f64).sqrt() / t * 1e6;
        if !se.is_finite() {
            return None;
        }
        se.ceil().min(u64::MAX as f64) as u64
    };
    Some(Paired {
        diff_micro,
        noise_micro,
    })
}

/// One candidate's measured contribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measured {
    /// `loss(base + A₋ᵢ) − loss(base + A)` and its standard error, micro-nats.
    Contribution(Paired),
    /// The aggregate without it has a non-finite loss (the others break the model and it
    /// does not): judge it alone instead.
    Undetermined,
}

/// What leave-one-out found for a candidate set.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaveOneOut {
    /// The aggregate of the whole set could be measured: one result per candidate, in
    /// order, and the loss of `base + A`, micro-nats.
    Measured {
        /// Per candidate.
        each: Vec<Measured>,
        /// Loss of base + the aggregate of the whole set.
        aggregate_loss: u64,
    },
    /// The aggregate of the whole set does not apply to the base or has a non-finite
    /// loss: the candidates must be judged alone (and the culprits flagged).
    Broken(String),
}

/// Leave-one-out over `cands` on `base` with `outer`, losses on `texts`. Errors only for
/// failures that say nothing about the submissions (the model failing).
pub fn leave_one_out(
    base: &mut Base,
    cands: &[&Update],
    outer: &Outer,
    texts: &[String],
) -> anyhow::Result<LeaveOneOut> {
    let all = match candidate(base, cands, outer, false) {
        Ok(c) => c,
        Err(e) => return Ok(LeaveOneOut::Broken(format!("aggregate: {e:#}"))),
    };
    let Some(with) = base.sequence_losses_with(&all.blocks, texts)? else {
        return Ok(LeaveOneOut::Broken("aggregate: non-finite loss".into()));
    };
    let aggregate_loss = with.loss()?.micro_nats;
    let mut each = Vec::with_capacity(cands.len());
    for i in 0..cands.len() {
        let rest: Vec<&Update> = cands
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, u)| *u)
            .collect();
        let without = match candidate(base, &rest, outer, false) {
            Ok(c) => base.sequence_losses_with(&c.blocks, texts)?,
            Err(_) => None,
        };
        each.push(match without.as_ref().and_then(|w| paired(w, &with)) {
            Some(p) => Measured::Contribution(p),
            None => Measured::Undetermined,
        });
    }
    Ok(LeaveOneOut::Measured {
        each,
        aggregate_loss,
    })
}
