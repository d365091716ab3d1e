//! Validators' attestations: phase 1 (`MsgAttestSubmissions`: flags and loss per
//! submission) and phase 2 (`MsgAttestAggregate`: the aggregate's hash, its new blocks and
//! loss). Only operators of active validators may attest, once per round and phase, while
//! the phase is open.

use blyan_proto::event::Event;
use blyan_proto::pol::{
    flags, AttestAggregate, AttestSubmissions, Attestation, PolEvent, RoundInfo, RoundStatus,
};
use blyan_proto::{Address, ErrorCode};

use super::state::*;
use crate::error::{TxError, TxResult};
use crate::runtime::MsgContext;
use crate::state::StateWrite;

/// Longest CID in an attestation.
const MAX_CID_LEN: usize = 128;

fn malformed(log: impl Into<String>) -> TxError {
    TxError::new(ErrorCode::MalformedAttestation, log)
}

/// The signer's voting power if it operates an active validator.
fn attester_power<S: StateWrite + ?Sized>(state: &S, who: &Address) -> TxResult<u64> {
    crate::staking::active_set(state)?
        .iter()
        .find(|(op, _)| op == who)
        .map(|(_, p)| *p)
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            TxError::new(
                ErrorCode::NotValidator,
                format!("{who} does not operate an active validator"),
            )
        })
}

/// The round, checked to be in `phase` with its deadline not passed.
fn open_round<S: StateWrite + ?Sized>(
    state: &S,
    id: u64,
    phase: RoundStatus,
    height: u64,
) -> TxResult<RoundInfo> {
    let r = round(state, id)?
        .ok_or_else(|| TxError::new(ErrorCode::UnknownRound, format!("no round {id}")))?;
    let deadline = match phase {
        RoundStatus::Phase1 => r.phase1_until,
        _ => r.phase2_until,
    };
    if r.status != phase || height > deadline {
        return Err(TxError::new(
            ErrorCode::PhaseClosed,
            format!(
                "round {id} is {:?} (deadline {deadline}); this attestation is for {phase:?}",
                r.status
            ),
        ));
    }
    Ok(r)
}

/// The round an attestation for `phase` may be recorded in, and the signer's power: an
/// active validator's operator that has not attested this phase yet, while it is open.
fn admit<S: StateWrite + ?Sized>(
    state: &S,
    ctx: &MsgContext<'_>,
    round_id: u64,
    phase: RoundStatus,
) -> TxResult<(RoundInfo, u64)> {
    let power = attester_power(state, &ctx.signer)?;
    let r = open_round(state, round_id, phase, ctx.height)?;
    let n = phase_number(phase);
    if attestation(state, r.id, n, &ctx.signer)?.is_some() {
        return Err(TxError::new(
            ErrorCode::DuplicateAttestation,
            format!(
                "{} already attested phase {n} of round {}",
                ctx.signer, r.id
            ),
        ));
    }
    Ok((r, power))
}

fn phase_number(phase: RoundStatus) -> u8 {
    if phase == RoundStatus::Phase1 {
        1
    } else {
        2
    }
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
    }
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
        for (what, cid) in [("cid", &b.cid), ("delta_cid", &b.delta_cid)] {
            if cid.is_empty()
                || cid.len() > MAX_CID_LEN
                || !cid.bytes().all(|c| c.is_ascii_graphic())
            {
                return Err(malformed(format!("block {}: bad {what} {cid:?}", b.block)));
            }
        }
        if b.size == 0 || b.delta_size == 0 {
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
