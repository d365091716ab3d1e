//! What a miner remembers across restarts (`{home}/miner-state.json`): the last height it
//! saw, the submissions it made (so it never submits twice to a round) and a transaction
//! in flight; plus the prepared submission for the current heads
//! (`{home}/prepared.json`), so a restart does not train again; and the AdamW state it
//! continues from round to round ([`optimizer_state_path`], format in
//! [`crate::train::state_file`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use blyan_proto::pol::{BaseHead, DeltaRef};
use serde::{Deserialize, Serialize};

/// One submission recorded on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    /// Round.
    pub round: u64,
    /// Submission id.
    pub submission: u64,
    /// Transaction hash.
    pub tx_hash: String,
    /// Height it was committed at.
    pub height: u64,
}

/// A broadcast transaction not yet seen in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Transaction hash.
    pub tx_hash: String,
    /// Its nonce.
    pub nonce: u64,
    /// Height it was sent at.
    pub sent_at: u64,
}

/// The miner's persistent state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinerState {
    /// Last height processed.
    pub last_height: u64,
    /// Submissions made, oldest first.
    pub submitted: Vec<Submitted>,
    /// A submission in flight.
    pub pending: Option<Pending>,
}

/// A trained, compressed and uploaded update, ready to submit against `base_heads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prepared {
    /// The heads it was trained on.
    pub base_heads: Vec<BaseHead>,
    /// Per-block delta references.
    pub deltas: Vec<DeltaRef>,
    /// Training samples.
    pub samples: u64,
    /// Dataset references.
    pub dataset_refs: Vec<String>,
    /// Manifest CID.
    pub manifest_cid: String,
    /// Manifest sha3-256, hex.
    pub manifest_hash: String,
    /// Manifest size.
    pub manifest_size: u64,
    /// Compression ratio over all blocks.
    pub ratio: f64,
    /// Final training loss, nats.
    pub final_loss: f32,
}

/// Where a miner keeps its AdamW state for `model_id` and `blocks`:
/// `{home}/optimizer/adamw-{model}-{hash of model id and blocks}.blyo`.
pub fn optimizer_state_path(
    home: &Path,
    model_id: &str,
    blocks: &[crate::model::BlockName],
) -> PathBuf {
    crate::train::state_file::path_for(&home.join("optimizer"), model_id, blocks)
}

impl MinerState {
    /// The state file under `home`.
    pub fn path(home: &Path) -> PathBuf {
        home.join("miner-state.json")
    }

    /// Loads the state (empty when there is none yet).
    pub fn load(home: &Path) -> anyhow::Result<Self> {
        read_json(&Self::path(home)).map(Option::unwrap_or_default)
    }

    /// Writes the state atomically.
    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        write_json(&Self::path(home), self)
    }

    /// The submission made to `round`, if any.
    pub fn in_round(&self, round: u64) -> Option<&Submitted> {
        self.submitted.iter().find(|s| s.round == round)
    }
}

impl Prepared {
    fn path(home: &Path) -> PathBuf {
        home.join("prepared.json")
    }

    /// The prepared submission, if one is stored.
    pub fn load(home: &Path) -> anyhow::Result<Option<Self>> {
        read_json(&Self::path(home))
    }

    /// Stores it.
    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        write_json(&Self::path(home), self)
    }

    /// Forgets it (after it was submitted or the heads moved).
    pub fn clear(home: &Path) -> anyhow::Result<()> {
        match std::fs::remove_file(Self::path(home)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => {
            Ok(Some(serde_json::from_slice(&b).with_context(|| {
                format!("{} is corrupt", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| path.display().to_string()),
    }
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(v)?)
        .with_context(|| tmp.display().to_string())?;
    std::fs::rename(&tmp, path).with_context(|| path.display().to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_starts_empty() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(MinerState::load(d.path()).unwrap(), MinerState::default());
        let s = MinerState {
            last_height: 9,
            submitted: vec![Submitted {
                round: 2,
                submission: 5,
                tx_hash: "AB".into(),
                height: 8,
            }],
            pending: None,
        };
        s.save(d.path()).unwrap();
        let back = MinerState::load(d.path()).unwrap();
        assert_eq!(back, s);
        assert!(back.in_round(2).is_some() && back.in_round(3).is_none());
        assert!(Prepared::load(d.path()).unwrap().is_none());
        Prepared::clear(d.path()).unwrap();
    }
}
