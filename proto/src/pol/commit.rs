//! Commit–reveal of attestations (issue 11): each phase of a round splits into a commit
//! window and a reveal window, so a validator cannot copy another's phase-1 judgements or
//! phase-2 aggregate. A validator first sends [`CommitAttestation`] with
//! [`commitment`] of what it will attest and a secret salt, then, once the commit window
//! is over, reveals by sending the attestation itself (`MsgAttestSubmissions` or
//! `MsgAttestAggregate`, whose `salt` field carries the salt). The chain counts only
//! revealed attestations that match their commitment, weighted by the operator → power
//! snapshot taken when the round entered phase 1 ([`RoundVoting`]).

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use sha3::{Digest as _, Sha3_256};

use super::{AttestAggregate, AttestSubmissions, RoundId};
use crate::Address;

/// Domain tag that leads every attestation commitment.
pub const COMMIT_DOMAIN: &[u8] = b"blyan/pol/commit/v1";

/// `MsgCommit`: a validator's commitment to the attestation it will reveal for one phase.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CommitAttestation {
    /// Round.
    pub round: RoundId,
    /// 1 (judgements) or 2 (aggregate).
    pub phase: u8,
    /// [`commitment`] of the attestation to come.
    #[serde(with = "crate::msg::hex32")]
    pub commitment: [u8; 32],
}

/// sha3-256(`"blyan/pol/commit/v1"` ‖ round (u64 BE) ‖ phase (1 byte) ‖ validator (20
/// bytes) ‖ u32 BE length of payload ‖ payload ‖ salt (32 bytes)), where the payload is
/// the SCALE bytes of what the attestation says ([`AttestSubmissions::payload`],
/// [`AttestAggregate::payload`]).
pub fn commitment(
    round: RoundId,
    phase: u8,
    validator: &Address,
    payload: &[u8],
    salt: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(COMMIT_DOMAIN);
    h.update(round.to_be_bytes());
    h.update([phase]);
    h.update(validator.0);
    h.update(
        u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    h.update(payload);
    h.update(salt);
    h.finalize().into()
}

impl AttestSubmissions {
    /// What the commitment covers: the SCALE bytes of the judgements.
    pub fn payload(&self) -> Vec<u8> {
        self.judgements.encode()
    }

    /// The phase-1 commitment `validator` makes to this attestation (with its `salt`).
    pub fn commitment(&self, validator: &Address) -> [u8; 32] {
        commitment(self.round, 1, validator, &self.payload(), &self.salt)
    }
}

impl AttestAggregate {
    /// What the commitment covers: the SCALE bytes of `(aggregate_hash, blocks, loss_micro)`.
    pub fn payload(&self) -> Vec<u8> {
        (self.aggregate_hash, &self.blocks, self.loss_micro).encode()
    }

    /// The phase-2 commitment `validator` makes to this attestation (with its `salt`).
    pub fn commitment(&self, validator: &Address) -> [u8; 32] {
        commitment(self.round, 2, validator, &self.payload(), &self.salt)
    }
}

/// One validator's commitment as the chain stores it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Commitment {
    /// 1 or 2.
    pub phase: u8,
    /// Validator operator.
    pub validator: Address,
    /// The committed hash.
    #[serde(with = "crate::msg::hex32")]
    pub commitment: [u8; 32],
    /// Height it was recorded at.
    pub height: u64,
}

/// How a round votes (`/pol/voting/{round}`): the power snapshot taken when it entered
/// phase 1, each phase's commit window, the commitments and the validators recorded as
/// deviating in phase 1. Bounded by the active-set size.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode, Serialize, Deserialize)]
pub struct RoundVoting {
    /// Round.
    pub round: RoundId,
    /// Operator → voting power of the active set when submissions closed, sorted by
    /// operator; both phases are weighted by it and only these operators may attest.
    pub powers: Vec<(Address, u64)>,
    /// Last height of phase 1's commit window (reveals from the next height on).
    pub phase1_commit_until: u64,
    /// Last height of phase 2's commit window (set when phase 1 closes: the first
    /// `commit_blocks(phase2_blocks)` blocks after it).
    pub phase2_commit_until: u64,
    /// Commitments, in the order they were recorded.
    pub commitments: Vec<Commitment>,
    /// Validators whose phase-1 losses were far from the median: no validation reward.
    pub deviating: Vec<Address>,
}

impl RoundVoting {
    /// `who`'s power in the snapshot, if it is in it.
    pub fn power_of(&self, who: &Address) -> Option<u64> {
        self.powers.iter().find(|(a, _)| a == who).map(|(_, p)| *p)
    }

    /// The last height of `phase`'s commit window.
    pub fn commit_until(&self, phase: u8) -> u64 {
        if phase == 1 {
            self.phase1_commit_until
        } else {
            self.phase2_commit_until
        }
    }

    /// `who`'s commitment for `phase`, if any.
    pub fn commitment_of(&self, phase: u8, who: &Address) -> Option<&Commitment> {
        self.commitments
            .iter()
            .find(|c| c.phase == phase && c.validator == *who)
    }

    /// Snapshot power that committed `phase`.
    pub fn committed_power(&self, phase: u8) -> u64 {
        self.commitments
            .iter()
            .filter(|c| c.phase == phase)
            .fold(0u64, |a, c| {
                a.saturating_add(self.power_of(&c.validator).unwrap_or(0))
            })
    }

    /// Total snapshot power.
    pub fn total_power(&self) -> u64 {
        self.powers
            .iter()
            .fold(0u64, |a, (_, p)| a.saturating_add(*p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pol::Judgement;

    #[test]
    fn commitments_bind_round_phase_validator_payload_and_salt() {
        let a = AttestSubmissions {
            round: 3,
            judgements: vec![Judgement {
                submission: 1,
                flags: 0,
                loss_micro: 7,
                noise_micro: 3,
            }],
            salt: [1; 32],
        };
        let v = Address([9; 20]);
        let c = a.commitment(&v);
        assert_eq!(c, commitment(3, 1, &v, &a.payload(), &[1; 32]));
        assert_ne!(c, a.commitment(&Address([8; 20])), "validator");
        assert_ne!(c, commitment(3, 2, &v, &a.payload(), &[1; 32]), "phase");
        assert_ne!(c, commitment(4, 1, &v, &a.payload(), &[1; 32]), "round");
        let mut b = a.clone();
        b.salt = [2; 32];
        assert_ne!(c, b.commitment(&v), "salt");
        b = a.clone();
        b.judgements[0].loss_micro = 8;
        assert_ne!(c, b.commitment(&v), "payload");
        b = a.clone();
        b.judgements[0].noise_micro = 4;
        assert_ne!(c, b.commitment(&v), "noise");
        let g = AttestAggregate {
            round: 3,
            aggregate_hash: [4; 32],
            blocks: vec![],
            loss_micro: 5,
            salt: [1; 32],
        };
        assert_eq!(g.payload(), ([4u8; 32], Vec::<u8>::new(), 5u64).encode());
        assert_ne!(g.commitment(&v), c);
    }
}
