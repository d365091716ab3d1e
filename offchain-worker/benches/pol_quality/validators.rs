//! The validators' side of a simulated round, through the worker's own code: phase 1 is
//! [`judge_updates`] (the screen, then each unflagged submission's leave-one-out
//! contribution to the aggregate with its standard error) followed by the chain's verdict
//! rule in integers; phase 2 is [`candidate`] (the model's rule, then the DiLoCo outer step
//! from each block's momentum) and the 1% acceptance rule. One validator stands for all:
//! honest validators compute the same bytes, so the stake-weighted medians are its values.

use super::*;

use blyan_proto::pol::flags;
use blyan_worker::validator::candidate::{candidate, Outer};
use blyan_worker::validator::judge::{judge_updates, Judging, MAX_LOSS_MICRO};
use blyan_worker::validator::outer::Stepped;
use blyan_worker::validator::Base;

/// What the chain decides of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// In the aggregate.
    Admitted,
    /// Absolute evidence (decode, non-finite, norm, distance, shape): bond slashed.
    Byzantine,
    /// Worse for the aggregate beyond the tolerance: a fee out of the bond.
    Harmful,
    /// Round-relative flags only (cosine, Krum): left out, bond returned.
    Excluded,
}

/// One submission's phase-1 result.
pub(crate) struct Judged {
    pub(crate) verdict: Verdict,
    pub(crate) flags: u32,
    pub(crate) loss: u64,
    pub(crate) noise: u64,
    pub(crate) contribution: Option<i64>,
    /// The screen's figures (norm, distance, cosine, Krum score).
    pub(crate) screen: String,
}

/// The chain's verdict rule (`chain/src/pol/verdict.rs`) for one validator's judgement.
pub(crate) fn verdict(
    p: &PolParams,
    recorded: u64,
    j_flags: u32,
    loss: u64,
    noise: u64,
) -> Verdict {
    let fixed = u128::from(recorded) * u128::from(p.harmful_tolerance_bps) / 10_000;
    let measured = u128::from(noise) * u128::from(p.harmful_noise_bps) / 10_000;
    let tolerance = u64::try_from(fixed.max(measured)).unwrap_or(u64::MAX);
    if j_flags & !(flags::ROUND_RELATIVE | flags::UNFETCHABLE) != 0 {
        Verdict::Byzantine
    } else if loss > recorded.saturating_add(tolerance) {
        Verdict::Harmful
    } else if j_flags & flags::ROUND_RELATIVE != 0 {
        Verdict::Excluded
    } else {
        Verdict::Admitted
    }
}

/// The base of a round: the current weights and momenta as the validators hold them.
pub(crate) fn base_of(
    s: &Setup,
    weights: &BTreeMap<String, BlockWeights>,
    momentum: &BTreeMap<String, BlockWeights>,
) -> anyhow::Result<Base> {
    let mut b = Base::from_weights(&s.cfg, weights.clone(), Vec::new(), &Device::Cpu)?;
    b.set_momentum(momentum.clone());
    Ok(b)
}

/// The model's rule and outer optimizer (the chain's, or the bench's overrides).
pub(crate) fn outer_of(s: &Setup) -> Outer {
    Outer {
        rule: s.opts.rule,
        optimizer: s.opts.outer,
    }
}

/// Phase 1: decodes every submission and judges the decoded ones; one result per
/// submission, in order, and the admitted updates.
pub(crate) fn phase1(
    s: &Setup,
    base: &mut Base,
    subs: &[Submission],
    recorded: u64,
    row: &mut Row,
) -> anyhow::Result<(Vec<Judged>, Vec<Update>)> {
    let (decoded, t, _) = timed(|| {
        subs.iter()
            .map(|sub| {
                let c: Vec<&[u8]> = sub.containers.iter().map(Vec::as_slice).collect();
                Update::decode(sub.id, sub.samples, &c).ok()
            })
            .collect::<Vec<Option<Update>>>()
    });
    row.decode_ms = 1e3 * t;
    let ok: Vec<Update> = decoded.iter().flatten().cloned().collect();
    let outer = outer_of(s);
    let judging = Judging {
        defense: &DefenseParams::default(),
        outer: &outer,
        texts: &s.val,
        recorded_loss: Some(recorded),
        harmful_noise_bps: s.chain.harmful_noise_bps,
    };
    let (outcomes, t, _) = timed(|| judge_updates(base, &ok, &judging));
    let outcomes = outcomes?;
    row.evals_ms = 1e3 * t;
    let mut judged = Vec::with_capacity(subs.len());
    let mut admitted = Vec::new();
    for (sub, dec) in subs.iter().zip(&decoded) {
        let o = dec
            .as_ref()
            .and_then(|_| outcomes.iter().find(|o| o.submission == sub.id));
        let j = match o {
            None => Judged {
                verdict: Verdict::Byzantine,
                flags: flags::DECODE,
                loss: MAX_LOSS_MICRO,
                noise: 0,
                contribution: None,
                screen: String::new(),
            },
            Some(o) => {
                let loss = o
                    .loss
                    .map_or(MAX_LOSS_MICRO, |l| l.clamp(1, MAX_LOSS_MICRO));
                Judged {
                    verdict: verdict(&s.chain, recorded, o.flags, loss, o.noise),
                    flags: o.flags,
                    loss,
                    noise: o.noise,
                    contribution: o.contribution,
                    screen: o.note.clone(),
                }
            }
        };
        if j.verdict == Verdict::Admitted {
            if let Some(u) = dec {
                admitted.push(u.clone());
            }
        }
        judged.push(j);
    }
    Ok((judged, admitted))
}

/// Phase 2: the candidate of the admitted updates; its loss (`MAX_LOSS_MICRO` when not
/// finite) and the stepped blocks (new weights and momenta).
pub(crate) fn phase2(
    s: &Setup,
    base: &mut Base,
    admitted: &[Update],
    row: &mut Row,
) -> anyhow::Result<(u64, BTreeMap<String, Stepped>)> {
    let refs: Vec<&Update> = admitted.iter().collect();
    let outer = outer_of(s);
    let (cand, t, _) = timed(|| candidate(base, &refs, &outer, false));
    let cand = cand?;
    let stepped = base.stepped(&cand.aggregate, outer.optimizer)?;
    row.aggregate_ms = 1e3 * t;
    let (loss, t, _) = timed(|| base.loss_with(&cand.blocks, &s.val));
    row.agg_eval_ms = 1e3 * t;
    Ok((loss?.unwrap_or(MAX_LOSS_MICRO), stepped))
}
