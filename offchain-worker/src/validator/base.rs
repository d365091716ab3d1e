//! The model a round is judged against: the chain's current heads, every block fetched
//! from Kubo by the CID the chain records and verified against its payload hash, held both
//! as a candle [`Model`] (to measure losses) and as plain f32 [`BlockWeights`] (to apply
//! deltas bit-exactly).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use candle_core::Device;

use blyan_proto::pol::OuterOptimizer;

use super::outer::{self, Stepped};
use super::weights::{ApplyError, BlockWeights};
use crate::chain::ChainSource;
use crate::compress::{self, BlockLayout, DeltaTensor};
use crate::defense::BaseBlock;
use crate::eval::{self, EvalError, SequenceLosses};
use crate::ipfs::KuboClient;
use crate::model::{BlockName, MetaConfig, Model};
use crate::source::{self, BlockSource};
use crate::tensorblock::PayloadHash;

/// The base model of a round.
pub struct Base {
    model: Model,
    blocks: BTreeMap<String, BlockWeights>,
    hashes: Vec<(String, PayloadHash)>,
    momentum: BTreeMap<String, BlockWeights>,
}

impl std::fmt::Debug for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Base")
            .field("blocks", &self.hashes.len())
            .finish()
    }
}

/// The heads' payload hashes, in block order: what identifies a base.
pub fn head_hashes(source: &ChainSource) -> anyhow::Result<Vec<(String, PayloadHash)>> {
    Ok(source
        .manifest()?
        .blocks
        .into_iter()
        .map(|b| (b.name, b.payload_hash))
        .collect())
}

impl Base {
    /// Loads the heads `source` names (fetching and verifying every block).
    pub fn load(source: &ChainSource, device: &Device) -> anyhow::Result<Self> {
        let m = source.manifest()?;
        source::check_manifest(&m)?;
        let mut blocks = BTreeMap::new();
        for entry in &m.blocks {
            let tb = source::open_block(source, entry)?;
            let w = BlockWeights::from_tensor_block(&entry.name, &tb)
                .with_context(|| format!("block {}", entry.name))?;
            blocks.insert(entry.name.clone(), w);
        }
        let hashes = m
            .blocks
            .into_iter()
            .map(|b| (b.name, b.payload_hash))
            .collect();
        Self::from_weights(&m.meta, blocks, hashes, device)
    }

    /// A base of `blocks` (every block of a model with `meta`), identified by `hashes`.
    pub fn from_weights(
        meta: &MetaConfig,
        blocks: BTreeMap<String, BlockWeights>,
        hashes: Vec<(String, PayloadHash)>,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let mut tensors = BTreeMap::new();
        for (name, w) in &blocks {
            tensors.insert(
                name.clone(),
                compress::delta_to_tensors(&w.tensors, device)?,
            );
        }
        let model = Model::from_blocks(meta, &tensors, device)?;
        Ok(Self {
            model,
            blocks,
            hashes,
            momentum: BTreeMap::new(),
        })
    }

    /// Sets the blocks' outer momenta (recorded with their current versions; a block
    /// without one has zero momentum).
    pub fn set_momentum(&mut self, momentum: BTreeMap<String, BlockWeights>) {
        self.momentum = momentum;
    }

    /// A block's outer momentum (`None`: zero).
    pub fn momentum(&self, name: &str) -> Option<&BlockWeights> {
        self.momentum.get(name)
    }

    /// The blocks after the outer step of `agg` with `o` ([`outer::step`] from each block's
    /// weights and momentum): what a round's aggregate makes of the base.
    pub fn stepped(
        &self,
        agg: &BTreeMap<String, Vec<DeltaTensor>>,
        o: OuterOptimizer,
    ) -> Result<BTreeMap<String, Stepped>, ApplyError> {
        agg.iter()
            .map(|(block, g)| {
                let base = self.blocks.get(block).ok_or_else(|| {
                    ApplyError::Shape(format!("the model has no block {block:?}"))
                })?;
                Ok((
                    block.clone(),
                    outer::step(base, self.momentum(block), g, o)?,
                ))
            })
            .collect()
    }

    /// The model's context length (`max_seq` positions).
    pub fn max_seq(&self) -> usize {
        self.model.config().max_seq
    }

    /// The heads' payload hashes this base was loaded from.
    pub fn hashes(&self) -> &[(String, PayloadHash)] {
        &self.hashes
    }

    /// A block's weights.
    pub fn block(&self, name: &str) -> Option<&BlockWeights> {
        self.blocks.get(name)
    }

    /// Every block's layout and `‖W_b‖₂`: the reference [`crate::defense::screen`] takes.
    pub fn screen_reference(&self) -> BTreeMap<String, BaseBlock> {
        self.blocks
            .iter()
            .map(|(k, w)| (k.clone(), BaseBlock::of(k, &w.tensors)))
            .collect()
    }

    /// Every block's layout: what a delta for it may carry ([`compress::decode_for`]).
    pub fn layouts(&self) -> BTreeMap<String, BlockLayout> {
        self.blocks
            .iter()
            .map(|(k, w)| (k.clone(), BlockLayout::of(k, &w.tensors)))
            .collect()
    }

    /// The base plus per-block deltas (each block's delta applied with
    /// [`BlockWeights::apply`]).
    pub fn applied(
        &self,
        deltas: &BTreeMap<String, Vec<DeltaTensor>>,
    ) -> Result<BTreeMap<String, BlockWeights>, ApplyError> {
        deltas
            .iter()
            .map(|(block, d)| {
                let base = self.blocks.get(block).ok_or_else(|| {
                    ApplyError::Shape(format!("the model has no block {block:?}"))
                })?;
                Ok((block.clone(), base.apply(d)?))
            })
            .collect()
    }

    /// The validation loss (micro-nats) of the model with `blocks` replacing the base's;
    /// `None` when it is not finite. The base blocks are put back afterwards, whatever
    /// happens.
    pub fn loss_with(
        &mut self,
        blocks: &BTreeMap<String, BlockWeights>,
        texts: &[String],
    ) -> anyhow::Result<Option<u64>> {
        Ok(match self.sequence_losses_with(blocks, texts)? {
            Some(l) => l.loss().ok().map(|l| l.micro_nats),
            None => None,
        })
    }

    /// The per-sequence validation losses of the model with `blocks` replacing the base's
    /// (the base itself for no blocks); `None` when the loss is not finite. The base blocks
    /// are put back afterwards, whatever happens.
    pub fn sequence_losses_with(
        &mut self,
        blocks: &BTreeMap<String, BlockWeights>,
        texts: &[String],
    ) -> anyhow::Result<Option<SequenceLosses>> {
        let device = self.model.device().clone();
        let result = (|| -> anyhow::Result<Option<SequenceLosses>> {
            for (name, w) in blocks {
                let b: BlockName = name.parse()?;
                self.model
                    .set_block(&b, &compress::delta_to_tensors(&w.tensors, &device)?)?;
            }
            let per = eval::sequence_losses(&self.model, texts, |_, _| {})?;
            match per.loss() {
                Ok(_) => Ok(Some(per)),
                Err(EvalError::NonFinite) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })();
        for name in blocks.keys() {
            if let (Ok(b), Some(w)) = (name.parse::<BlockName>(), self.blocks.get(name)) {
                self.model
                    .set_block(&b, &compress::delta_to_tensors(&w.tensors, &device)?)?;
            }
        }
        result
    }
}

/// Opens the chain's view of `model` (its heads) with blocks cached under `home/cache`.
pub fn open_source(
    rpc_url: &str,
    model: &str,
    kubo: &KuboClient,
    home: &Path,
) -> anyhow::Result<ChainSource> {
    Ok(ChainSource::open(
        rpc_url,
        model,
        kubo.clone(),
        home.join("cache"),
    )?)
}
