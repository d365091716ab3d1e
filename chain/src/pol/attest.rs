//! Validators' attestations: phase 1 (`MsgAttestSubmissions`: flags and loss per
//! submission) and phase 2 (`MsgAttestAggregate`: the aggregate's hash, its new blocks and
//! loss). Each is the reveal of a commitment (`MsgCommit`, [`super::voting`]): only
//! operators in the round's power snapshot may attest, once per round and phase, in the
//! phase's reveal window, and only what they committed to; they weigh their snapshot power.

use blyan_proto::event::Event;
use blyan_proto::pol::{
    flags, AttestAggregate, AttestSubmissions, Attestation, PolEvent, RoundInfo, RoundStatus,
};
use blyan_proto::ErrorCode;

use super::state::*;
use super::voting::{check_commitment, check_reveal, open_round, phase_number};
use crate::error::{TxError, TxResult};
use crate::runtime::MsgContext;
use crate::state::StateWrite;

/// Longest CID in an attestation.
const MAX_CID_LEN: usize = 128;

fn malformed(log: impl Into<String>) -> TxError {
    TxError::new(ErrorCode::MalformedAttestation, log)
}

/// The round an attestation (a reveal) for `phase` may be recorded in, and the signer's
/// snapshot power: the phase is open, its commit window is over, the signer is in the
/// round's power snapshot and has not attested this phase yet. The content is checked
/// next, then that it is what the signer committed to ([`check_commitment`]).
fn admit<S: StateWrite + ?Sized>(
    state: &S,
    ctx: &MsgContext<'_>,
    round_id: u64,
    phase: RoundStatus,
) -> TxResult<(RoundInfo, u64)> {
    let r = open_round(state, round_id, phase, ctx.height)?;
    let power = check_reveal(state, ctx, &r, phase_number(phase))?;
    Ok((r, power))
}

/// Stores a checked attestation and adds its power to the round's phase.
fn store<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    mut r: RoundInfo,
    power: u64,
    judgements: Vec<blyan_proto::pol::Judgement>,
    aggregate: Option<AttestAggregate>,
) -> Vec<Event> {
    let phase = phase_number(r.status);
    set_attestation(
        state,
        r.id,
        phase,
        &Attestation {
            validator: ctx.signer,
            power,
            height: ctx.height,
            judgements,
            aggregate,
        },
    );
    if phase == 1 {
        r.phase1_power = r.phase1_power.saturating_add(power);
    } else {
        r.phase2_power = r.phase2_power.saturating_add(power);
    }
    set_round(state, &r);
    vec![Event::Pol(PolEvent::Attested {
        round: r.id,
        validator: ctx.signer,
        phase,
        power,
    })]
}

/// Records a phase-1 attestation.
pub fn attest_submissions<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    m: &AttestSubmissions,
) -> TxResult<Vec<Event>> {
    let (r, power) = admit(state, ctx, m.round, RoundStatus::Phase1)?;
    if m.judgements.len() != r.submissions.len() {
        return Err(malformed(format!(
            "{} judgements for the {} submissions of round {}",
            m.judgements.len(),
            r.submissions.len(),
            r.id
        )));
    }
    for (j, want) in m.judgements.iter().zip(&r.submissions) {
        if j.submission != *want {
            if !r.submissions.contains(&j.submission) {
                return Err(TxError::new(
                    ErrorCode::UnknownSubmission,
                    format!("submission {} is not in round {}", j.submission, r.id),
                ));
            }
            return Err(malformed(format!(
                "judgements must follow the round's submission order: expected {want}, got {}",
                j.submission
            )));
        }
        if j.flags & !flags::ALL != 0 {
            return Err(malformed(format!(
                "submission {}: unknown flag bits {:#x}",
                j.submission,
                j.flags & !flags::ALL
            )));
        }
        if j.loss_micro == 0 || j.loss_micro > MAX_LOSS_MICRO {
            return Err(malformed(format!(
                "submission {}: loss {} µnats is outside 1..={MAX_LOSS_MICRO}",
                j.submission, j.loss_micro
            )));
        }
        if j.noise_micro > MAX_LOSS_MICRO {
            return Err(malformed(format!(
                "submission {}: noise {} µnats is above {MAX_LOSS_MICRO}",
                j.submission, j.noise_micro
            )));
        }
    }
    check_commitment(state, ctx, r.id, 1, &m.commitment(&ctx.signer))?;
    Ok(store(state, ctx, r, power, m.judgements.clone(), None))
}

/// Records a phase-2 attestation.
pub fn attest_aggregate<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    m: &AttestAggregate,
) -> TxResult<Vec<Event>> {
    let (r, power) = admit(state, ctx, m.round, RoundStatus::Phase2)?;
    let want = admitted_blocks(state, &r)?;
    let got: Vec<&str> = m.blocks.iter().map(|b| b.block.as_str()).collect();
    if got != want.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(malformed(format!(
            "the aggregate must give a new version of exactly {want:?} (sorted), got {got:?}"
        )));
    }
    for b in &m.blocks {
        for (what, cid) in [
            ("cid", &b.cid),
            ("delta_cid", &b.delta_cid),
            ("momentum_cid", &b.momentum_cid),
        ] {
            if cid.is_empty()
                || cid.len() > MAX_CID_LEN
                || !cid.bytes().all(|c| c.is_ascii_graphic())
            {
                return Err(malformed(format!("block {}: bad {what} {cid:?}", b.block)));
            }
        }
        if b.size == 0 || b.delta_size == 0 || b.momentum_size == 0 {
            return Err(malformed(format!(
                "block {}: sizes must be positive",
                b.block
            )));
        }
    }
    if m.loss_micro == 0 || m.loss_micro > MAX_LOSS_MICRO {
        return Err(malformed(format!(
            "loss {} µnats is outside 1..={MAX_LOSS_MICRO}",
            m.loss_micro
        )));
    }
    check_commitment(state, ctx, r.id, 2, &m.commitment(&ctx.signer))?;
    Ok(store(state, ctx, r, power, Vec::new(), Some(m.clone())))
}

/// The sorted, distinct block names the round's admitted submissions change.
pub fn admitted_blocks<S: crate::state::StateRead + ?Sized>(
    state: &S,
    r: &RoundInfo,
) -> TxResult<Vec<String>> {
    let mut names = std::collections::BTreeSet::new();
    for s in round_submissions(state, r)? {
        if s.status == blyan_proto::pol::SubmissionStatus::Admitted {
            names.extend(s.deltas.iter().map(|d| d.block.clone()));
        }
    }
    Ok(names.into_iter().collect())
}
