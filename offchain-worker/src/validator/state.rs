//! What a validator remembers across restarts (`{home}/validator-state.json`): the last
//! height it saw, the phases it attested (so a restart mid-round never attests twice), the
//! attestations it prepared and committed to with their salts (so a restart mid-phase
//! reveals exactly what it committed to and never commits twice) and a transaction in
//! flight.

use std::path::{Path, PathBuf};

use anyhow::Context;
use blyan_proto::pol::PolMsg;
use blyan_proto::Address;
use serde::{Deserialize, Serialize};

/// Attestations remembered in the state file.
pub const KEEP: usize = 512;

/// One attestation recorded on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attested {
    /// Round.
    pub round: u64,
    /// 1 or 2.
    pub phase: u8,
    /// Transaction hash (empty when learned from the chain's record).
    pub tx_hash: String,
    /// Height it was committed at.
    pub height: u64,
}

/// An attestation prepared for a phase: what will be revealed (its `salt` is the secret of
/// the commitment) and the commitment sent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepared {
    /// Round.
    pub round: u64,
    /// 1 or 2.
    pub phase: u8,
    /// The attestation (`attest_submissions` or `attest_aggregate`, with its salt).
    pub msg: PolMsg,
    /// Its commitment, hex.
    pub commitment: String,
}

impl Prepared {
    /// Prepares `msg` (an attestation with its salt set) for `validator`.
    pub fn new(validator: &Address, msg: PolMsg) -> anyhow::Result<Self> {
        let (round, phase, commitment) = match &msg {
            PolMsg::AttestSubmissions(m) => (m.round, 1, m.commitment(validator)),
            PolMsg::AttestAggregate(m) => (m.round, 2, m.commitment(validator)),
            other => anyhow::bail!("{} is not an attestation", other.kind()),
        };
        Ok(Self {
            round,
            phase,
            msg,
            commitment: hex::encode(commitment),
        })
    }
}

/// What to do next for a prepared phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Send the commitment (the chain has none from us and the window is open).
    Commit,
    /// Wait: the commitment is recorded and the commit window is still open.
    AwaitReveals,
    /// Send the prepared attestation.
    Reveal,
    /// The commit window closed without our commitment: this phase is lost.
    Missed,
    /// The chain holds another commitment from us (a lost state file): it cannot be
    /// revealed.
    Foreign,
}

/// A broadcast transaction (a commitment or an attestation) not yet seen in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAttestation {
    /// Round.
    pub round: u64,
    /// 1 or 2.
    pub phase: u8,
    /// True for a commitment (`MsgCommit`), false for the attestation itself.
    #[serde(default)]
    pub commit: bool,
    /// Transaction hash.
    pub tx_hash: String,
    /// Its nonce.
    pub nonce: u64,
    /// Height it was sent at.
    pub sent_at: u64,
}

/// The validator's persistent state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorState {
    /// Last height processed.
    pub last_height: u64,
    /// Phases attested, oldest first.
    pub attested: Vec<Attested>,
    /// A transaction in flight.
    pub pending: Option<PendingAttestation>,
    /// Attestations prepared and committed to, not yet settled (at most [`KEEP_PREPARED`]).
    #[serde(default)]
    pub prepared: Vec<Prepared>,
}

/// Prepared attestations kept (one per phase of the round in progress is all there is).
pub const KEEP_PREPARED: usize = 8;

impl ValidatorState {
    /// The state file under `home`.
    pub fn path(home: &Path) -> PathBuf {
        home.join("validator-state.json")
    }

    /// Loads the state (empty when there is none yet).
    pub fn load(home: &Path) -> anyhow::Result<Self> {
        let path = Self::path(home);
        match std::fs::read(&path) {
            Ok(b) => {
                serde_json::from_slice(&b).with_context(|| format!("{} is corrupt", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| path.display().to_string()),
        }
    }

    /// Writes the state atomically (temporary file, then rename).
    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        let path = Self::path(home);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| tmp.display().to_string())?;
        std::fs::rename(&tmp, &path).with_context(|| path.display().to_string())?;
        Ok(())
    }

    /// Whether `phase` of `round` was attested (or is in flight).
    pub fn has(&self, round: u64, phase: u8) -> bool {
        self.attested
            .iter()
            .any(|a| a.round == round && a.phase == phase)
            || self
                .pending
                .as_ref()
                .is_some_and(|p| p.round == round && p.phase == phase)
    }

    /// The attestation prepared for `phase` of `round`, if any.
    pub fn prepared_for(&self, round: u64, phase: u8) -> Option<&Prepared> {
        self.prepared
            .iter()
            .find(|p| p.round == round && p.phase == phase)
    }

    /// Keeps `p` (replacing nothing: a phase is prepared once); only the latest
    /// [`KEEP_PREPARED`] are kept.
    pub fn prepare(&mut self, p: Prepared) {
        if self.prepared_for(p.round, p.phase).is_none() {
            self.prepared.push(p);
        }
        if self.prepared.len() > KEEP_PREPARED {
            let extra = self.prepared.len() - KEEP_PREPARED;
            self.prepared.drain(..extra);
        }
    }

    /// What to do with `phase` of `round` at `height`, given our commitment on chain and
    /// the last height of the commit window; `None` when nothing is prepared for it.
    pub fn plan(
        &self,
        round: u64,
        phase: u8,
        on_chain: Option<&[u8; 32]>,
        commit_until: u64,
        height: u64,
    ) -> Option<Plan> {
        let p = self.prepared_for(round, phase)?;
        Some(match on_chain {
            Some(c) if hex::encode(c) != p.commitment => Plan::Foreign,
            // A transaction sent now lands in a later block: after the window when the
            // latest block is its last.
            Some(_) if height >= commit_until => Plan::Reveal,
            Some(_) => Plan::AwaitReveals,
            None if height < commit_until => Plan::Commit,
            None => Plan::Missed,
        })
    }

    /// Records an attestation (once) and forgets what was prepared for it; only the latest
    /// [`KEEP`] are kept (rounds end long before that many phases pass).
    pub fn record(&mut self, a: Attested) {
        self.prepared
            .retain(|p| !(p.round == a.round && p.phase == a.phase));
        if !self
            .attested
            .iter()
            .any(|x| x.round == a.round && x.phase == a.phase)
        {
            self.attested.push(a);
        }
        if self.attested.len() > KEEP {
            let extra = self.attested.len() - KEEP;
            self.attested.drain(..extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blyan_proto::pol::{AttestSubmissions, Judgement};

    #[test]
    fn state_round_trips_and_knows_what_was_attested() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            ValidatorState::load(d.path()).unwrap(),
            ValidatorState::default()
        );
        let mut s = ValidatorState {
            last_height: 12,
            ..Default::default()
        };
        s.record(Attested {
            round: 3,
            phase: 1,
            tx_hash: "AA".into(),
            height: 10,
        });
        s.record(Attested {
            round: 3,
            phase: 1,
            tx_hash: "BB".into(),
            height: 11,
        });
        s.pending = Some(PendingAttestation {
            round: 3,
            phase: 2,
            tx_hash: "CC".into(),
            nonce: 4,
            sent_at: 12,
            commit: false,
        });
        s.save(d.path()).unwrap();
        let back = ValidatorState::load(d.path()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.attested.len(), 1);
        assert!(back.has(3, 1) && back.has(3, 2) && !back.has(4, 1));
        let mut s = ValidatorState::default();
        for round in 0..(KEEP as u64 + 10) {
            s.record(Attested {
                round,
                phase: 1,
                tx_hash: String::new(),
                height: round,
            });
        }
        assert_eq!(s.attested.len(), KEEP);
        assert!(s.has(KEEP as u64 + 9, 1) && !s.has(0, 1));
    }

    fn attestation(round: u64, salt: u8) -> PolMsg {
        PolMsg::AttestSubmissions(AttestSubmissions {
            round,
            judgements: vec![Judgement {
                submission: 1,
                flags: 0,
                loss_micro: 4_000_000,
                noise_micro: 0,
            }],
            salt: [salt; 32],
        })
    }

    #[test]
    fn a_restart_mid_phase_reveals_what_was_committed_and_never_commits_again() {
        let d = tempfile::tempdir().unwrap();
        let me = Address([7; 20]);
        let mut s = ValidatorState::default();
        assert_eq!(s.plan(3, 1, None, 20, 10), None, "nothing prepared");
        let p = Prepared::new(&me, attestation(3, 1)).unwrap();
        let c: [u8; 32] = hex::decode(&p.commitment).unwrap().try_into().unwrap();
        let PolMsg::AttestSubmissions(m) = &p.msg else {
            unreachable!()
        };
        assert_eq!(c, m.commitment(&me));
        s.prepare(p.clone());
        // preparing again (e.g. after re-judging) keeps the first salt and payload
        s.prepare(Prepared::new(&me, attestation(3, 2)).unwrap());
        assert_eq!(s.prepared_for(3, 1), Some(&p));
        s.pending = Some(PendingAttestation {
            round: 3,
            phase: 1,
            tx_hash: "DD".into(),
            nonce: 5,
            sent_at: 10,
            commit: true,
        });
        s.save(d.path()).unwrap();

        // the worker restarts: the same salt and payload come back
        let back = ValidatorState::load(d.path()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.prepared_for(3, 1), Some(&p));
        assert!(back.pending.as_ref().unwrap().commit);
        // the chain has our commitment: wait, then reveal; never commit again
        assert_eq!(back.plan(3, 1, Some(&c), 20, 15), Some(Plan::AwaitReveals));
        assert_eq!(back.plan(3, 1, Some(&c), 20, 20), Some(Plan::Reveal));
        // not yet on chain: commit while the window is open, else the phase is missed
        assert_eq!(back.plan(3, 1, None, 20, 19), Some(Plan::Commit));
        assert_eq!(back.plan(3, 1, None, 20, 20), Some(Plan::Missed));
        assert_eq!(back.plan(3, 1, Some(&[0; 32]), 20, 25), Some(Plan::Foreign));
        assert_eq!(back.plan(3, 2, Some(&c), 20, 25), None);

        // once attested the prepared entry goes; the list stays bounded
        let mut s = back;
        s.record(Attested {
            round: 3,
            phase: 1,
            tx_hash: "EE".into(),
            height: 21,
        });
        assert!(s.prepared_for(3, 1).is_none() && s.has(3, 1));
        for round in 0..20 {
            s.prepare(Prepared::new(&me, attestation(round, 1)).unwrap());
        }
        assert_eq!(s.prepared.len(), KEEP_PREPARED);
        assert!(Prepared::new(
            &me,
            PolMsg::Commit(blyan_proto::pol::CommitAttestation {
                round: 1,
                phase: 1,
                commitment: c,
            })
        )
        .is_err());
    }

    #[test]
    fn a_state_file_from_before_commit_reveal_still_loads() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            ValidatorState::path(d.path()),
            r#"{"last_height":9,"attested":[],"pending":{"round":2,"phase":1,"tx_hash":"AB","nonce":1,"sent_at":8}}"#,
        )
        .unwrap();
        let s = ValidatorState::load(d.path()).unwrap();
        assert!(s.prepared.is_empty());
        assert!(!s.pending.unwrap().commit);
    }
}
