//! What a validator remembers across restarts (`{home}/validator-state.json`): the last
//! height it saw, the phases it attested (so a restart mid-round never attests twice) and
//! an attestation in flight.

use std::path::{Path, PathBuf};

use anyhow::Context;
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

/// A broadcast attestation not yet seen in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAttestation {
    /// Round.
    pub round: u64,
    /// 1 or 2.
    pub phase: u8,
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
    /// An attestation in flight.
    pub pending: Option<PendingAttestation>,
}

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

    /// Records an attestation (once); only the latest [`KEEP`] are kept (rounds end long
    /// before that many phases pass).
    pub fn record(&mut self, a: Attested) {
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
}
