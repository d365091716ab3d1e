//! Phase 1 (DESIGN.md, Proof-of-Learning step 3): judge every submission of a round.
//!
//! Each submission's deltas were fetched by CID within the round's fetch budget, checked
//! against the hash on chain and decoded against the base block's layout
//! ([`fetch_round`](super::fetch::fetch_round)); content nobody could fetch in time is
//! flagged [`flags::UNFETCHABLE`], content that is not what the chain records (hash, CID,
//! more bytes than declared) [`flags::HASH`], a container that does not fit the base block
//! [`flags::SHAPE`] and one that does not decode [`flags::DECODE`].
//! The decoded updates go through [`defense::screen`] together, and each well-formed update
//! is applied alone to the base to measure its validation loss (a non-finite loss or weight
//! sets [`flags::NON_FINITE`]). Losses that could not be measured are reported as
//! [`MAX_LOSS_MICRO`], the largest value the chain takes.

use std::collections::BTreeMap;

use blyan_proto::pol::{flags, Judgement, SubmissionInfo};

use super::base::Base;
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
    /// Validation loss of base + this submission, micro-nats (`None`: not measured).
    pub loss: Option<u64>,
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
/// measured); a submission without an outcome gets [`flags::HASH`] and the largest loss.
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
            },
            None => Judgement {
                submission: id,
                flags: flags::HASH,
                loss_micro: MAX_LOSS_MICRO,
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

/// Judges the round's submissions (`subs`, with `fetched[i]` the fetch result of
/// `subs[i]`) against `base`, measuring losses on `texts`. Errors only for failures that
/// say nothing about the submissions (the chain unreachable, the model failing).
pub fn judge(
    base: &mut Base,
    subs: &[SubmissionInfo],
    fetched: Vec<Result<Vec<FetchedDelta>, FetchError>>,
    params: &DefenseParams,
    texts: &[String],
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
                    note: e.to_string(),
                });
            }
        }
    }
    let screenings = defense::screen(&updates, &base.screen_reference(), params);
    for (u, sc) in updates.iter().zip(&screenings) {
        let mut fl = chain_flags(sc.flags);
        let mut note = sc.to_string();
        let loss = if sc.flags & (flag::SHAPE | flag::NON_FINITE) != 0 {
            None
        } else {
            match base.applied(&by_block(u)) {
                Ok(blocks) => {
                    let l = base.loss_with(&blocks, texts)?;
                    if l.is_none() {
                        fl |= flags::NON_FINITE;
                        note.push_str(" (non-finite loss)");
                    }
                    l
                }
                Err(e) => {
                    fl |= match e {
                        ApplyError::Shape(_) => flags::SHAPE,
                        ApplyError::NonFinite(_) => flags::NON_FINITE,
                    };
                    note.push_str(&format!(" ({e})"));
                    None
                }
            }
        };
        outcomes.push(Outcome {
            submission: u.submission,
            flags: fl,
            loss,
            note,
        });
    }
    Ok(outcomes)
}
