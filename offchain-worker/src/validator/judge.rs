//! Phase 1 (DESIGN.md, Proof-of-Learning step 3): judge every submission of a round.
//!
//! Each submission's deltas were fetched by CID within the round's fetch budget, checked
//! against the hash on chain and decoded against the base block's layout
//! ([`fetch_round`](super::fetch::fetch_round)); content nobody could fetch in time is
//! flagged [`flags::UNFETCHABLE`], content that is not what the chain records (hash, CID,
//! more bytes than declared) [`flags::HASH`], a container that does not fit the base block
//! [`flags::SHAPE`] and one that does not decode [`flags::DECODE`].
//! The decoded updates go through [`defense::screen`] together (the Byzantine screen).
//!
//! The updates the screen does not flag, and that apply to the base, are the round's
//! candidate set: each is judged by its contribution to their aggregate, leave-one-out
//! ([`super::contribution`]), and reported as `loss = recorded loss − contribution` with
//! the contribution's standard error as its noise, so the chain's comparison with the base
//! (harmful beyond the noise tolerance) and its rewards by improvement keep their meaning.
//! A contribution negative beyond the noise tolerance whose submission's own direction
//! still lowers the loss ([`super::direction`]) is reported as 0 with
//! [`flags::CONTRIBUTION`], a round-relative flag: the chain leaves it out of the
//! aggregate with its bond returned (honest miners with other data can measure negative
//! against the others' mean); one pointing uphill is reported as measured, and the chain
//! finds it harmful.
//! A flagged update is measured alone (base + it), as before, with noise 0. A non-finite
//! loss or weight sets [`flags::NON_FINITE`]. Losses that could not be measured are
//! reported as [`MAX_LOSS_MICRO`], the largest value the chain takes.

use std::collections::BTreeMap;

use blyan_proto::pol::{flags, Judgement, SubmissionInfo};

use super::base::Base;
use super::candidate::Outer;
use super::contribution::{leave_one_out, LeaveOneOut, Measured};
use super::direction;
use super::weights::ApplyError;
use crate::chain::submission::{FetchError, FetchedDelta};
use crate::defense::{self, flag, DefenseParams, Update};

/// The largest loss the chain accepts in an attestation, micro-nats (1,000 nats).
pub const MAX_LOSS_MICRO: u64 = 1_000_000_000;

/// One submission's phase-1 result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Submission.
    pub submission: u64,
    /// [`flags`] bits.
    pub flags: u32,
    /// The loss to attest, micro-nats (`None`: not measured): the recorded loss minus the
    /// submission's contribution for a candidate, the loss of base + it alone otherwise.
    pub loss: Option<u64>,
    /// The noise of `loss` (the contribution's standard error), micro-nats; 0 when
    /// measured alone.
    pub noise: u64,
    /// Its measured contribution, micro-nats (`None`: not a candidate).
    pub contribution: Option<i64>,
    /// What was found, for the log.
    pub note: String,
}

/// The chain's flag bits for the defense's [`flag`] bits.
pub fn chain_flags(defense_flags: u32) -> u32 {
    [
        (flag::DECODE, flags::DECODE),
        (flag::NON_FINITE, flags::NON_FINITE),
        (flag::NORM, flags::NORM),
        (flag::DISTANCE, flags::DISTANCE),
        (flag::COSINE, flags::COSINE),
        (flag::KRUM, flags::KRUM),
        (flag::SHAPE, flags::SHAPE),
        (flag::SIGN_BIAS, flags::SIGN_BIAS),
    ]
    .iter()
    .filter(|(d, _)| defense_flags & d != 0)
    .fold(0, |acc, (_, c)| acc | c)
}

/// The flags of a failed fetch, or `None` when the failure says nothing about the
/// submission (the chain could not be asked: try again later).
pub fn fetch_flags(e: &FetchError) -> Option<u32> {
    match e {
        FetchError::Chain { .. } => None,
        FetchError::Ipfs { .. } => Some(flags::UNFETCHABLE),
        FetchError::Content { .. } | FetchError::HashMismatch { .. } => Some(flags::HASH),
        FetchError::Shape { .. } => Some(flags::SHAPE),
        FetchError::Decode { .. } => Some(flags::DECODE),
    }
}

/// The judgements to attest, one per submission in the round's `order`: each outcome's
/// flags and its loss clamped to `1..=MAX_LOSS_MICRO` ([`MAX_LOSS_MICRO`] when not
/// measured) and its noise; a submission without an outcome gets [`flags::HASH`] and the
/// largest loss.
pub fn judgements(order: &[u64], outcomes: &[Outcome]) -> Vec<Judgement> {
    order
        .iter()
        .map(|&id| match outcomes.iter().find(|o| o.submission == id) {
            Some(o) => Judgement {
                submission: id,
                flags: o.flags & flags::ALL,
                loss_micro: o
                    .loss
                    .map_or(MAX_LOSS_MICRO, |l| l.clamp(1, MAX_LOSS_MICRO)),
                noise_micro: o.noise.min(MAX_LOSS_MICRO),
            },
            None => Judgement {
                submission: id,
                flags: flags::HASH,
                loss_micro: MAX_LOSS_MICRO,
                noise_micro: 0,
            },
        })
        .collect()
}

/// An update's deltas by block.
pub fn by_block(u: &Update) -> BTreeMap<String, Vec<crate::compress::DeltaTensor>> {
    u.blocks
        .iter()
        .map(|d| (d.block.clone(), d.tensors.clone()))
        .collect()
}

/// What judging takes besides the submissions.
#[derive(Debug, Clone, Copy)]
pub struct Judging<'a> {
    /// Screening thresholds.
    pub defense: &'a DefenseParams,
    /// The model's rule and outer step (what phase 2 applies).
    pub outer: &'a Outer,
    /// The validation texts.
    pub texts: &'a [String],
    /// The model's recorded loss (the round's `base_loss_micro`); `None`: measure the base.
    pub recorded_loss: Option<u64>,
    /// The chain's `harmful_noise_bps`: a contribution below minus this share of its
    /// noise is checked for direction ([`super::direction`]).
    pub harmful_noise_bps: u32,
}

/// Judges the round's submissions (`subs`, with `fetched[i]` the fetch result of
/// `subs[i]`) against `base`. Errors only for failures that say nothing about the
/// submissions (the chain unreachable, the model failing).
pub fn judge(
    base: &mut Base,
    subs: &[SubmissionInfo],
    fetched: Vec<Result<Vec<FetchedDelta>, FetchError>>,
    j: &Judging<'_>,
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(subs.len());
    let mut updates = Vec::new();
    for (s, f) in subs.iter().zip(fetched) {
        match f {
            Ok(deltas) => updates.push(Update {
                submission: s.id,
                samples: s.weight,
                blocks: deltas.into_iter().map(|d| d.decoded).collect(),
            }),
            Err(e) => {
                let Some(fl) = fetch_flags(&e) else {
                    return Err(e.into());
                };
                outcomes.push(Outcome {
                    submission: s.id,
                    flags: fl,
                    loss: None,
                    noise: 0,
                    contribution: None,
                    note: e.to_string(),
                });
            }
        }
    }
    outcomes.extend(judge_updates(base, &updates, j)?);
    Ok(outcomes)
}

/// Judges decoded `updates` against `base`: the screen, then leave-one-out over the
/// candidates (see the module doc); one outcome per update, in order.
pub fn judge_updates(
    base: &mut Base,
    updates: &[Update],
    j: &Judging<'_>,
) -> anyhow::Result<Vec<Outcome>> {
    let screenings = defense::screen(updates, &base.screen_reference(), j.defense);
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(updates.len());
    let mut cands: Vec<usize> = Vec::new();
    for (k, (u, sc)) in updates.iter().zip(&screenings).enumerate() {
        let mut o = Outcome {
            submission: u.submission,
            flags: chain_flags(sc.flags),
            loss: None,
            noise: 0,
            contribution: None,
            note: sc.to_string(),
        };
        if sc.flags & (flag::SHAPE | flag::NON_FINITE) == 0 {
            if o.flags == 0 {
                // a candidate that does not apply to the base breaks the aggregate and is
                // then judged alone ([`contributions`])
                cands.push(k);
            } else {
                judge_alone(base, u, j.texts, &mut o)?;
            }
        }
        outcomes.push(o);
    }
    contributions(base, updates, &mut cands, &mut outcomes, j)?;
    Ok(outcomes)
}

/// Leave-one-out over the candidates `cands` (indices into `updates` and `outcomes`).
/// When their aggregate is broken, each is measured alone: the non-finite ones are
/// flagged and left out and leave-one-out runs once more over the rest; if it is still
/// broken, every candidate keeps its loss alone.
fn contributions(
    base: &mut Base,
    updates: &[Update],
    cands: &mut Vec<usize>,
    outcomes: &mut [Outcome],
    j: &Judging<'_>,
) -> anyhow::Result<()> {
    for attempt in 0..2 {
        if cands.is_empty() {
            return Ok(());
        }
        let set: Vec<&Update> = cands.iter().map(|&k| &updates[k]).collect();
        match leave_one_out(base, &set, j.outer, j.texts)? {
            LeaveOneOut::Measured {
                each,
                aggregate_loss,
            } => {
                let recorded = match j.recorded_loss {
                    Some(l) => l,
                    None => base
                        .loss_with(&BTreeMap::new(), j.texts)?
                        .unwrap_or(MAX_LOSS_MICRO),
                };
                let mut base_loss = None;
                for (&k, m) in cands.iter().zip(each) {
                    let o = &mut outcomes[k];
                    match m {
                        Measured::Contribution(p) => {
                            o.note.push_str(&format!(
                                " contribution {:+} ± {} µnats to the aggregate of {} (loss {aggregate_loss})",
                                p.diff_micro,
                                p.noise_micro,
                                set.len()
                            ));
                            let mut effective = p.diff_micro;
                            let limit = i128::from(p.noise_micro) * i128::from(j.harmful_noise_bps)
                                / 10_000;
                            if i128::from(effective) < -limit {
                                let (down, at) = direction::points_downhill(
                                    base,
                                    &updates[k],
                                    set.len(),
                                    j.texts,
                                    &mut base_loss,
                                )?;
                                if down {
                                    effective = 0;
                                    o.flags |= flags::CONTRIBUTION;
                                    o.note.push_str(&format!(
                                        "; its own direction lowers the loss ({at:?} at its share \
                                         vs {base_loss:?}): excluded, not harmful"
                                    ));
                                }
                            }
                            let loss = i128::from(recorded) - i128::from(effective);
                            o.loss = Some(u64::try_from(loss.max(1)).unwrap_or(u64::MAX));
                            o.noise = p.noise_micro;
                            o.contribution = Some(p.diff_micro);
                        }
                        Measured::Undetermined => {
                            o.note.push_str(" (the aggregate without it is broken)");
                            judge_alone(base, &updates[k], j.texts, o)?;
                        }
                    }
                }
                return Ok(());
            }
            LeaveOneOut::Broken(why) => {
                for &k in cands.iter() {
                    outcomes[k]
                        .note
                        .push_str(&format!(" ({why}: judged alone)"));
                    judge_alone(base, &updates[k], j.texts, &mut outcomes[k])?;
                }
                if attempt == 1 {
                    return Ok(());
                }
                let before = cands.len();
                cands.retain(|&k| outcomes[k].flags == 0);
                if cands.len() == before {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Measures `u` alone (base + it) into `o`.
fn judge_alone(
    base: &mut Base,
    u: &Update,
    texts: &[String],
    o: &mut Outcome,
) -> anyhow::Result<()> {
    match base.applied(&by_block(u)) {
        Ok(blocks) => measure_alone(base, &blocks, texts, o),
        Err(e) => {
            fail_apply(&e, o);
            Ok(())
        }
    }
}

/// The loss of base + `blocks` into `o` (a non-finite loss flags it).
fn measure_alone(
    base: &mut Base,
    blocks: &BTreeMap<String, super::weights::BlockWeights>,
    texts: &[String],
    o: &mut Outcome,
) -> anyhow::Result<()> {
    o.loss = base.loss_with(blocks, texts)?;
    o.noise = 0;
    o.contribution = None;
    if o.loss.is_none() {
        o.flags |= flags::NON_FINITE;
        o.note.push_str(" (non-finite loss)");
    }
    Ok(())
}

/// Records a delta that does not apply to the base.
fn fail_apply(e: &ApplyError, o: &mut Outcome) {
    o.flags |= match e {
        ApplyError::Shape(_) => flags::SHAPE,
        ApplyError::NonFinite(_) => flags::NON_FINITE,
    };
    o.loss = None;
    o.note.push_str(&format!(" ({e})"));
}
