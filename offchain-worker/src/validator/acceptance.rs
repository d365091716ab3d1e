//! A round's acceptance set (issue 12, "real text"): the texts phase 1 judges the
//! submissions on and phase 2 measures the new model on.
//!
//! Without a hidden corpus it is the model's public validation set (the genesis
//! validation-set file), as before. With one (`blyan-worker validator --hidden-corpus`), it
//! is the public set followed by [`TextSplits::hidden_sample`] of the corpus's hidden
//! region, `n` passages seeded by [`hidden_seed`]: SHA3-256 of
//! [`HIDDEN_SEED_DOMAIN`] ‖ model id ‖ round id ‖ the CometBFT hash of the last block of
//! the submission window (`RoundInfo::submit_until`). Nobody knows that hash before the
//! round stops taking submissions, every honest validator reads the same one, so they all
//! judge on the same set and no miner can have trained on it (the hidden region shares no
//! text with the training region, [`crate::data::split`]).
//!
//! The chain compares phase-2 losses with the model's recorded loss, which was measured on
//! the public set at genesis. A loss on this round's set is not comparable with it, so
//! with a hidden corpus phase 2 attests [`chained_loss`]: the recorded loss moved by the
//! improvement measured on this round's set, `recorded − (loss_base(S) − loss_new(S))`.
//! The recorded loss thus becomes a chained index anchored at the genesis baseline: each
//! accepted round lowers it by the improvement its own acceptance set measured. Phase 1's
//! contributions are already differences (`recorded − contribution`); a submission measured
//! alone is moved the same way ([`rebase_alone`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use blyan_proto::pol::RoundInfo;
use sha3::Digest;

use super::base::Base;
use super::judge::{Outcome, MAX_LOSS_MICRO};
use super::weights::BlockWeights;
use crate::chain::RpcClient;
use crate::data::{SplitSpec, TextSplits};
use crate::tensorblock::PayloadHash;

/// Domain tag of [`hidden_seed`].
pub const HIDDEN_SEED_DOMAIN: &[u8] = b"blyan/hidden-val/v1";

/// The seed of round `round`'s hidden sample of model `model`: the first 8 bytes
/// (little-endian) of SHA3-256(`HIDDEN_SEED_DOMAIN` ‖ len ‖ model ‖ round ‖ len ‖
/// `block_hash`), lengths and the round as u64 little-endian; `block_hash` is the CometBFT
/// hash of the block at the round's `submit_until` height.
pub fn hidden_seed(model: &str, round: u64, block_hash: &[u8]) -> u64 {
    let mut h = sha3::Sha3_256::new();
    h.update(HIDDEN_SEED_DOMAIN);
    h.update((model.len() as u64).to_le_bytes());
    h.update(model.as_bytes());
    h.update(round.to_le_bytes());
    h.update((block_hash.len() as u64).to_le_bytes());
    h.update(block_hash);
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// The acceptance set: the `public` texts in order, then the `n` passages of
/// `splits.hidden_sample(seed, n)` that are not already among them, in sample order.
pub fn acceptance_set(public: &[String], splits: &TextSplits, seed: u64, n: usize) -> Vec<String> {
    let mut set = public.to_vec();
    for t in splits.hidden_sample(seed, n) {
        if !public.contains(&t) {
            set.push(t);
        }
    }
    set
}

/// The loss phase 2 attests with a hidden sample: `recorded − (base_on_set − new_on_set)`,
/// clamped to `1..=MAX_LOSS_MICRO` (exact integer arithmetic, micro-nats).
pub fn chained_loss(recorded: u64, base_on_set: u64, new_on_set: u64) -> u64 {
    let l = i128::from(recorded) - (i128::from(base_on_set) - i128::from(new_on_set));
    u64::try_from(l.clamp(1, i128::from(MAX_LOSS_MICRO))).unwrap_or(MAX_LOSS_MICRO)
}

/// Moves the losses of the outcomes measured alone (a loss and no contribution) from the
/// acceptance set onto the recorded loss's scale with [`chained_loss`]; contributions are
/// left alone (already `recorded − contribution`).
pub fn rebase_alone(outcomes: &mut [Outcome], recorded: u64, base_on_set: u64) {
    for o in outcomes.iter_mut() {
        if let (Some(l), None) = (o.loss, o.contribution) {
            let moved = chained_loss(recorded, base_on_set, l);
            o.note.push_str(&format!(
                " (loss {l} on this round's set, base {base_on_set}: reported {moved})"
            ));
            o.loss = Some(moved);
        }
    }
}

/// Phase 1 with a hidden sample (`set.seed` set) and a `recorded` loss: [`rebase_alone`]
/// with the base's (cached) loss on the set, measured only if some outcome was measured
/// alone. Nothing changes otherwise, nor when the base's loss on the set is not finite.
pub fn rebase_phase1(
    set: &mut RoundSet,
    base: &mut Base,
    recorded: Option<u64>,
    outcomes: &mut [Outcome],
) -> anyhow::Result<()> {
    let (Some(_), Some(rec)) = (set.seed, recorded) else {
        return Ok(());
    };
    if outcomes
        .iter()
        .any(|o| o.loss.is_some() && o.contribution.is_none())
    {
        if let Some(b) = set.base_loss(base)? {
            rebase_alone(outcomes, rec, b);
        }
    }
    Ok(())
}

/// The hidden corpus a validator samples, its splits loaded once per `max_seq`.
#[derive(Debug, Clone)]
pub struct HiddenCorpus {
    /// The corpus file (the one genesis's validation set was cut from).
    pub path: PathBuf,
    /// Hidden passages added each round.
    pub passages: usize,
    loaded: Option<(usize, TextSplits)>,
}

impl HiddenCorpus {
    /// The corpus at `path`, `passages` hidden passages a round (not loaded yet).
    pub fn new(path: PathBuf, passages: usize) -> Self {
        Self {
            path,
            passages,
            loaded: None,
        }
    }

    /// The corpus's splits ([`SplitSpec::default`], what `data text` and the miners use)
    /// for a model with `max_seq` positions: loaded on the first call (1–2 s), then cached.
    pub fn splits(&mut self, max_seq: usize) -> anyhow::Result<&TextSplits> {
        let loaded = match self.loaded.take() {
            Some(l) if l.0 == max_seq => l,
            _ => {
                let s = TextSplits::load(&self.path, max_seq, &SplitSpec::default())?;
                tracing::info!(path = %self.path.display(), max_seq, hidden = s.hidden.len(),
                    "hidden validation corpus loaded");
                (max_seq, s)
            }
        };
        Ok(&self.loaded.insert(loaded).1)
    }
}

/// One round's acceptance set and, once measured, the base's loss on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundSet {
    /// Round.
    pub round: u64,
    /// The base it was built for (its heads' payload hashes).
    pub heads: Vec<(String, PayloadHash)>,
    /// The hidden sample's seed (`None`: no hidden corpus).
    pub seed: Option<u64>,
    /// Hidden passages in `texts` (after the public ones).
    pub hidden: usize,
    /// The texts.
    pub texts: Vec<String>,
    /// The base's loss on `texts` once measured (`Some(None)`: not finite).
    base_loss: Option<Option<u64>>,
}

impl RoundSet {
    /// The set of a round without a hidden corpus: the public texts.
    pub fn public(round: u64, heads: Vec<(String, PayloadHash)>, public: &[String]) -> Self {
        Self {
            round,
            heads,
            seed: None,
            hidden: 0,
            texts: public.to_vec(),
            base_loss: None,
        }
    }

    /// The set of round `round` of `model` with a hidden sample of `n` passages of
    /// `splits`, seeded by the block hash `block_hash` ([`hidden_seed`]).
    pub fn with_hidden(
        model: &str,
        round: u64,
        heads: Vec<(String, PayloadHash)>,
        block_hash: &[u8],
        public: &[String],
        splits: &TextSplits,
        n: usize,
    ) -> Self {
        let seed = hidden_seed(model, round, block_hash);
        let texts = acceptance_set(public, splits, seed, n);
        Self {
            round,
            heads,
            seed: Some(seed),
            hidden: texts.len() - public.len(),
            texts,
            base_loss: None,
        }
    }

    /// The base's loss on the set if it was measured (`Some(None)`: not finite).
    pub fn measured_base_loss(&self) -> Option<Option<u64>> {
        self.base_loss
    }

    /// The base's loss on the set, micro-nats (`None`: not finite), measured once.
    pub fn base_loss(&mut self, base: &mut Base) -> anyhow::Result<Option<u64>> {
        if let Some(l) = self.base_loss {
            return Ok(l);
        }
        let l = base.loss_with(&Default::default(), &self.texts)?;
        self.base_loss = Some(l);
        Ok(l)
    }
}

/// The acceptance set of round `r` of `model` on `base`: `current` when it was built for
/// this round and base, otherwise built anew (the public texts, plus the hidden sample when
/// `hidden` is set, seeded by the hash of block `r.submit_until` read from `rpc`).
pub fn round_set<'a>(
    current: &'a mut Option<RoundSet>,
    hidden: Option<&mut HiddenCorpus>,
    rpc: &RpcClient,
    model: &str,
    r: &RoundInfo,
    base: &Base,
    public: &[String],
) -> anyhow::Result<&'a mut RoundSet> {
    if let Some(s) = current.take() {
        if s.round == r.id && s.heads.as_slice() == base.hashes() {
            return Ok(current.insert(s));
        }
    }
    let heads = base.hashes().to_vec();
    let set = match hidden {
        None => RoundSet::public(r.id, heads, public),
        Some(h) => {
            let block_hash = rpc
                .block_hash(r.submit_until)
                .with_context(|| format!("the last block of round {}'s submissions", r.id))?;
            let n = h.passages;
            let splits = h.splits(base.max_seq())?;
            let s = RoundSet::with_hidden(model, r.id, heads, &block_hash, public, splits, n);
            tracing::info!(round = r.id, height = r.submit_until, block = %hex::encode(&block_hash),
                seed = ?s.seed, public = public.len(), hidden = s.hidden,
                "acceptance set: public validation set + hidden sample");
            s
        }
    };
    Ok(current.insert(set))
}

/// The loss phase 2 attests for the new model (its changed `blocks` on `base`), and its
/// measured loss on the set: without a hidden sample, the loss on the set (the public
/// texts) as measured; with one, [`chained_loss`] from the `recorded` loss and the base's
/// (cached) and new model's losses on the set. When there is no recorded loss yet, or the
/// base's loss on the set is not finite, the new model's loss on the `public` texts.
/// A non-finite new loss is [`MAX_LOSS_MICRO`].
pub fn phase2_loss(
    set: &mut RoundSet,
    base: &mut Base,
    blocks: &BTreeMap<String, BlockWeights>,
    recorded: Option<u64>,
    public: &[String],
) -> anyhow::Result<(u64, Option<u64>)> {
    let clamp = |l: Option<u64>| l.map_or(MAX_LOSS_MICRO, |l| l.clamp(1, MAX_LOSS_MICRO));
    let new = base.loss_with(blocks, &set.texts)?;
    let (Some(new_on_set), Some(_)) = (new, set.seed) else {
        return Ok((clamp(new), new));
    };
    if let (Some(rec), Some(base_on_set)) = (recorded, set.base_loss(base)?) {
        return Ok((chained_loss(rec, base_on_set, new_on_set), new));
    }
    Ok((clamp(base.loss_with(blocks, public)?), new))
}

#[cfg(test)]
#[path = "tests_acceptance.rs"]
mod tests;
