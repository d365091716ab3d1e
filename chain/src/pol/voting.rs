//! Who votes in a round and when (issue 11): the operator → power snapshot taken when the
//! round enters phase 1, and each phase's commit window (`MsgCommit`) before its reveal
//! window (the attestations themselves). Both phases are weighted by the snapshot, so
//! stake redelegated after it cannot attest twice; only operators in it may commit or
//! attest; and an attestation counts only if it reveals what its signer committed to
//! before anyone could see another validator's attestation.

use std::collections::BTreeMap;

use blyan_proto::event::Event;
use blyan_proto::pol::{
    CommitAttestation, Commitment, PolEvent, RoundInfo, RoundStatus, RoundVoting,
};
use blyan_proto::{Address, ErrorCode};

use super::state::*;
use crate::error::{TxError, TxResult};
use crate::runtime::MsgContext;
use crate::state::StateWrite;

/// Takes the round's power snapshot from the active set (operators with positive power,
/// sorted by address) and sets both commit windows; returns the total power. A validator
/// jailed or tombstoned earlier in this block is still in the set sent to CometBFT (the
/// set is updated after this hook) but gets no say in the round.
pub(super) fn take_snapshot<S: StateWrite + ?Sized>(state: &mut S, r: &RoundInfo) -> TxResult<u64> {
    let p = params(state)?;
    let mut powers: BTreeMap<Address, u64> = BTreeMap::new();
    for (op, pw) in crate::staking::active_set(state)? {
        let in_good_standing =
            crate::staking::validator(state, &op)?.is_some_and(|v| !v.jailed && !v.tombstoned);
        if pw > 0 && in_good_standing {
            let e = powers.entry(op).or_insert(0);
            *e = e.saturating_add(pw);
        }
    }
    let v = RoundVoting {
        round: r.id,
        powers: powers.into_iter().collect(),
        phase1_commit_until: r
            .submit_until
            .saturating_add(p.commit_blocks(p.phase1_blocks)),
        // moved to the actual start of phase 2 when phase 1 closes ([`start_phase2`])
        phase2_commit_until: r
            .phase1_until
            .saturating_add(p.commit_blocks(p.phase2_blocks)),
        commitments: Vec::new(),
        deviating: Vec::new(),
    };
    let total = v.total_power();
    set_round_voting(state, &v);
    Ok(total)
}

/// `who`'s power in the round's snapshot: `NotValidator` for an account that operates no
/// active validator, `NotInPowerSnapshot` for one that joined the active set after it.
pub(super) fn snapshot_power<S: StateWrite + ?Sized>(
    state: &S,
    v: &RoundVoting,
    who: &Address,
) -> TxResult<u64> {
    if let Some(p) = v.power_of(who).filter(|p| *p > 0) {
        return Ok(p);
    }
    if crate::staking::active_set(state)?
        .iter()
        .any(|(op, p)| op == who && *p > 0)
    {
        return Err(TxError::new(
            ErrorCode::NotInPowerSnapshot,
            format!(
                "{who} was not in the active set when round {} entered phase 1",
                v.round
            ),
        ));
    }
    Err(TxError::new(
        ErrorCode::NotValidator,
        format!("{who} does not operate an active validator"),
    ))
}

/// The phase number of a phase status.
pub(super) fn phase_number(phase: RoundStatus) -> u8 {
    if phase == RoundStatus::Phase1 {
        1
    } else {
        2
    }
}

/// The round, checked to be in `phase` with its deadline not passed.
pub(super) fn open_round<S: StateWrite + ?Sized>(
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
                "round {id} is {:?} (deadline {deadline}); this message is for {phase:?}",
                r.status
            ),
        ));
    }
    Ok(r)
}

/// Records `MsgCommit`: a snapshot validator's commitment for the open phase, once, inside
/// the phase's commit window.
pub fn commit<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    m: &CommitAttestation,
) -> TxResult<Vec<Event>> {
    let phase = match m.phase {
        1 => RoundStatus::Phase1,
        2 => RoundStatus::Phase2,
        n => {
            return Err(TxError::new(
                ErrorCode::MalformedAttestation,
                format!("phase {n}: a round has phases 1 and 2"),
            ))
        }
    };
    let r = open_round(state, m.round, phase, ctx.height)?;
    let mut v = must_round_voting(state, r.id)?;
    snapshot_power(state, &v, &ctx.signer)?;
    let until = v.commit_until(m.phase);
    if ctx.height > until {
        return Err(TxError::new(
            ErrorCode::CommitWindowClosed,
            format!(
                "phase {} of round {} took commitments through height {until}",
                m.phase, r.id
            ),
        ));
    }
    if v.commitment_of(m.phase, &ctx.signer).is_some() {
        return Err(TxError::new(
            ErrorCode::DuplicateCommitment,
            format!(
                "{} already committed to phase {} of round {}",
                ctx.signer, m.phase, r.id
            ),
        ));
    }
    v.commitments.push(Commitment {
        phase: m.phase,
        validator: ctx.signer,
        commitment: m.commitment,
        height: ctx.height,
    });
    set_round_voting(state, &v);
    Ok(vec![Event::Pol(PolEvent::Committed {
        round: r.id,
        validator: ctx.signer,
        phase: m.phase,
    })])
}

/// Checks that the signer may reveal `phase` of `r` now: it is in the round's snapshot,
/// has not attested this phase yet and the commit window is over. Returns its power.
pub(super) fn check_reveal<S: StateWrite + ?Sized>(
    state: &S,
    ctx: &MsgContext<'_>,
    r: &RoundInfo,
    phase: u8,
) -> TxResult<u64> {
    let v = must_round_voting(state, r.id)?;
    let power = snapshot_power(state, &v, &ctx.signer)?;
    if attestation(state, r.id, phase, &ctx.signer)?.is_some() {
        return Err(TxError::new(
            ErrorCode::DuplicateAttestation,
            format!(
                "{} already attested phase {phase} of round {}",
                ctx.signer, r.id
            ),
        ));
    }
    let until = v.commit_until(phase);
    if ctx.height <= until {
        return Err(TxError::new(
            ErrorCode::RevealWindowNotOpen,
            format!(
                "phase {phase} of round {} takes commitments through height {until}; reveal after it",
                r.id
            ),
        ));
    }
    Ok(power)
}

/// Checks that `commitment` (of a well-formed attestation) is what the signer committed
/// to for `phase` of `round`.
pub(super) fn check_commitment<S: StateWrite + ?Sized>(
    state: &S,
    ctx: &MsgContext<'_>,
    round: u64,
    phase: u8,
    commitment: &[u8; 32],
) -> TxResult<()> {
    let v = must_round_voting(state, round)?;
    let Some(c) = v.commitment_of(phase, &ctx.signer) else {
        return Err(TxError::new(
            ErrorCode::NoCommitment,
            format!(
                "{} did not commit to phase {phase} of round {round} in its commit window",
                ctx.signer
            ),
        ));
    };
    if c.commitment != *commitment {
        return Err(TxError::new(
            ErrorCode::CommitmentMismatch,
            format!(
                "the attestation hashes to {} but {} committed to {}",
                hex::encode(commitment),
                ctx.signer,
                hex::encode(c.commitment)
            ),
        ));
    }
    Ok(())
}

/// What the end of block does with a phase in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PhaseStep {
    /// Nothing yet.
    Wait,
    /// Every snapshot validator committed before the window's end: reveals from the next
    /// height on.
    OpenReveals,
    /// The phase is over: its deadline, or every committed validator revealed after the
    /// commit window (nobody else can).
    Close,
}

/// Decides the step for `phase` of `r` at the end of block `height`.
pub(super) fn phase_step(r: &RoundInfo, v: &RoundVoting, phase: u8, height: u64) -> PhaseStep {
    let (deadline, revealed) = if phase == 1 {
        (r.phase1_until, r.phase1_power)
    } else {
        (r.phase2_until, r.phase2_power)
    };
    let committed = v.committed_power(phase);
    let until = v.commit_until(phase);
    if height >= deadline || (height >= until && revealed >= committed) {
        PhaseStep::Close
    } else if height < until && r.total_power > 0 && committed >= r.total_power {
        PhaseStep::OpenReveals
    } else {
        PhaseStep::Wait
    }
}

/// Phase 1 of round `id` closed at `height`: if the round went on to phase 2, its commit
/// window takes the first blocks of what is left of it (phase 2 starts early when phase 1
/// closes early).
pub(super) fn start_phase2<S: StateWrite + ?Sized>(
    state: &mut S,
    id: u64,
    height: u64,
) -> TxResult<()> {
    if round(state, id)?.map(|r| r.status) != Some(RoundStatus::Phase2) {
        return Ok(());
    }
    let p = params(state)?;
    let mut v = must_round_voting(state, id)?;
    v.phase2_commit_until = height.saturating_add(p.commit_blocks(p.phase2_blocks));
    set_round_voting(state, &v);
    Ok(())
}

/// Ends `phase`'s commit window at `height` and says so.
pub(super) fn open_reveals<S: StateWrite + ?Sized>(
    state: &mut S,
    round: u64,
    phase: u8,
    height: u64,
) -> TxResult<Event> {
    let mut v = must_round_voting(state, round)?;
    if phase == 1 {
        v.phase1_commit_until = height;
    } else {
        v.phase2_commit_until = height;
    }
    set_round_voting(state, &v);
    Ok(Event::Pol(PolEvent::RevealsOpen {
        round,
        phase,
        from: height.saturating_add(1),
    }))
}
