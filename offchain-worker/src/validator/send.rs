//! The sending side of the validator: a prepared attestation's commitment (`MsgCommit`),
//! then the attestation itself once the commit window is over, each tracked as the state
//! file's transaction in flight until it is seen in a block.

use std::time::Duration;

use anyhow::Context;
use blyan_proto::pol::{CommitAttestation, PolMsg};
use blyan_proto::{ErrorCode, Msg};
use rand::RngCore;

use super::{Attested, PendingAttestation, Step, Validator};
use crate::chain::{Committed, Resolution, Settle};

/// Refusals to send again later: a reveal sent before the reveal window opened, and a
/// commitment the chain already has (ours: the next pass reveals it).
fn retry_later(code: u32, commit: bool) -> bool {
    let c = ErrorCode::from_u32(code);
    c == Some(ErrorCode::RevealWindowNotOpen)
        || (commit && c == Some(ErrorCode::DuplicateCommitment))
}

/// Whether a CheckTx refusal of a commitment (`commit`) or an attestation settles the
/// phase for this validator: the pol refusals would come back the same. Others (nonce,
/// fees, [`retry_later`]) are sent again at the next block.
fn settles_phase(code: u32, commit: bool) -> bool {
    let pol = |from: ErrorCode, to: ErrorCode| (from.as_u32()..=to.as_u32()).contains(&code);
    !retry_later(code, commit)
        && (pol(ErrorCode::UnknownRound, ErrorCode::MalformedAttestation)
            || pol(
                ErrorCode::NotInPowerSnapshot,
                ErrorCode::RevealWindowNotOpen,
            ))
}

impl Validator {
    /// Records `phase` of `round` as settled without an attestation (`why` in place of the
    /// transaction hash).
    pub(super) fn give_up(
        &mut self,
        round: u64,
        phase: u8,
        height: u64,
        why: &str,
    ) -> anyhow::Result<Step> {
        tracing::warn!(round, phase, "phase given up: {why}");
        self.state.record(Attested {
            round,
            phase,
            tx_hash: why.into(),
            height,
        });
        self.state.save(&self.cfg.home)?;
        Ok(Step::Idle(format!(
            "phase {phase} of round {round} given up: {why}"
        )))
    }

    /// Sends the commitment to the attestation prepared for `phase` of `round`.
    pub(super) fn send_commit(
        &mut self,
        round: u64,
        phase: u8,
        height: u64,
    ) -> anyhow::Result<Step> {
        let p = self
            .state
            .prepared_for(round, phase)
            .context("nothing prepared to commit to")?;
        let commitment: [u8; 32] = hex::decode(&p.commitment)
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("a prepared commitment is not 32 bytes of hex")?;
        let msg = PolMsg::Commit(CommitAttestation {
            round,
            phase,
            commitment,
        });
        self.send(round, phase, msg, height, true)
    }

    /// Reveals the attestation prepared for `phase` of `round`.
    pub(super) fn send_reveal(
        &mut self,
        round: u64,
        phase: u8,
        height: u64,
    ) -> anyhow::Result<Step> {
        let msg = self
            .state
            .prepared_for(round, phase)
            .context("nothing prepared to reveal")?
            .msg
            .clone();
        self.send(round, phase, msg, height, false)
    }

    pub(super) fn send(
        &mut self,
        round: u64,
        phase: u8,
        msg: PolMsg,
        height: u64,
        commit: bool,
    ) -> anyhow::Result<Step> {
        let what = if commit { "commitment" } else { "attestation" };
        let sent = self.sender.send(|_| vec![Msg::Pol(msg.clone())])?;
        if sent.code != 0 {
            if settles_phase(sent.code, commit) {
                self.state.record(Attested {
                    round,
                    phase,
                    tx_hash: format!("refused:{}", sent.code),
                    height,
                });
                self.state.save(&self.cfg.home)?;
            }
            return Ok(Step::Idle(format!(
                "phase-{phase} {what} of round {round} refused by CheckTx: code {} {}",
                sent.code, sent.log
            )));
        }
        tracing::info!(round, phase, tx = %sent.hash, "{what} broadcast");
        self.state.pending = Some(PendingAttestation {
            round,
            phase,
            tx_hash: sent.hash.clone(),
            nonce: sent.nonce,
            sent_at: height,
            commit,
        });
        self.state.save(&self.cfg.home)?;
        // Never wait on the hash alone: the nonce settles it too (issue 11, item 12).
        let outcome = self
            .sender
            .settle(&sent.hash, sent.nonce, Duration::from_secs(60))?;
        let now = match &outcome {
            Resolution::Committed(c) => c.height,
            _ => height,
        };
        match self.settle_pending(now)? {
            Some(step) => Ok(step),
            None => Ok(Step::Idle(format!(
                "phase-{phase} {what} of round {round} not taken: {outcome:?}"
            ))),
        }
    }

    /// Resolves the transaction in flight, if any. A failed attestation or commitment is
    /// recorded too (with the code in place of the hash): the chain's checks are
    /// deterministic, so sending it again would fail again (except [`retry_later`]'s).
    pub(super) fn settle_pending(&mut self, height: u64) -> anyhow::Result<Option<Step>> {
        let Some(p) = self.state.pending.clone() else {
            return Ok(None);
        };
        let done = match self.sender.resolve(&p.tx_hash, p.nonce)? {
            Resolution::Committed(Committed {
                height: h, code: 0, ..
            }) if p.commit => Some(Step::Committed {
                round: p.round,
                phase: p.phase,
                height: h,
            }),
            Resolution::Committed(Committed {
                height: h, code: 0, ..
            }) => {
                let a = Attested {
                    round: p.round,
                    phase: p.phase,
                    tx_hash: p.tx_hash.clone(),
                    height: h,
                };
                self.state.record(a.clone());
                Some(Step::Attested(a))
            }
            Resolution::Committed(Committed {
                height: h,
                code,
                log,
            }) => {
                tracing::warn!(
                    height = h,
                    code,
                    round = p.round,
                    phase = p.phase,
                    commit = p.commit,
                    "transaction failed in its block: {log}"
                );
                if !retry_later(code, p.commit) {
                    self.state.record(Attested {
                        round: p.round,
                        phase: p.phase,
                        tx_hash: format!("failed:{code}"),
                        height: h,
                    });
                }
                None
            }
            // Another transaction took the nonce (this one under another encoding, or
            // another): the next pass reads from the chain's record whether it has the
            // commitment or attestation before sending again.
            Resolution::Superseded { next_nonce } => {
                tracing::warn!(tx = %p.tx_hash, nonce = p.nonce, next_nonce,
                    "settled by nonce: its hash is not on chain");
                None
            }
            Resolution::Pending { .. } if height > p.sent_at.saturating_add(20) => {
                tracing::warn!(tx = %p.tx_hash, "transaction dropped from the mempool");
                None
            }
            Resolution::Pending { .. } => return Ok(None),
        };
        self.state.pending = None;
        self.state.save(&self.cfg.home)?;
        Ok(done)
    }
}

/// A secret salt for a commitment.
pub(super) fn fresh_salt() -> [u8; 32] {
    let mut salt = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_reveals_and_known_commitments_are_retried_other_pol_refusals_settle() {
        let code = |c: ErrorCode| c.as_u32();
        assert!(!settles_phase(code(ErrorCode::RevealWindowNotOpen), false));
        assert!(retry_later(code(ErrorCode::RevealWindowNotOpen), false));
        assert!(!settles_phase(code(ErrorCode::DuplicateCommitment), true));
        for c in [
            ErrorCode::PhaseClosed,
            ErrorCode::NotInPowerSnapshot,
            ErrorCode::CommitWindowClosed,
            ErrorCode::NoCommitment,
            ErrorCode::CommitmentMismatch,
        ] {
            assert!(
                settles_phase(code(c), false) && !retry_later(code(c), true),
                "{c:?}"
            );
        }
        // nonce and fee refusals are sent again
        assert!(!settles_phase(code(ErrorCode::NonceTooLow), true));
        assert!(fresh_salt() != fresh_salt());
    }
}
