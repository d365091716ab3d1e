//! Phase 2 (DESIGN.md, Proof-of-Learning step 4): aggregate the admitted submissions with
//! the model's rule, apply the aggregate to the base with the model's outer optimizer
//! ([`super::outer`]), and build what is attested: per changed block, the new TensorBlock
//! (payload hash, CID), the aggregate delta encoded losslessly (sha3, CID) and the new
//! momentum TensorBlock (payload hash, CID). Honest validators get identical bytes: the
//! aggregate comes from [`defense::aggregate`] (plain ordered loops), the outer step is a
//! plain f32 loop, the files are written deterministically, and Kubo adds with fixed
//! parameters.

use std::collections::BTreeMap;

use blyan_proto::pol::{AggregationRule as ChainRule, NewBlockVersion, OuterOptimizer};

use super::outer;
use super::weights::BlockWeights;
use crate::compress::{self, DeltaTensor, Encoded, Pipeline};
use crate::defense::{self, AggregationRule};
use crate::ipfs::KuboClient;
use crate::tensorblock::PayloadHash;

/// An aggregate delta: per block name, its tensors in name order.
pub type Aggregate = BTreeMap<String, Vec<DeltaTensor>>;

/// The worker's rule for the chain's rule parameter.
pub fn rule(r: ChainRule) -> AggregationRule {
    match r {
        ChainRule::FedAvg => AggregationRule::WeightedFedAvg,
        ChainRule::Median => AggregationRule::CoordinateMedian,
        ChainRule::TrimmedMean { trim_bps } => AggregationRule::TrimmedMean { trim_bps },
        ChainRule::Krum { f } => AggregationRule::Krum { f },
        ChainRule::MultiKrum { f, m } => AggregationRule::MultiKrum { f, m },
        ChainRule::CenteredClip { iters, tau_bps } => {
            AggregationRule::CenteredClip { iters, tau_bps }
        }
    }
}

/// Test aid for `--fake-aggregate`: shifts the first value of the first tensor of the first
/// block by 0.01, so this validator attests an aggregate no honest validator computes.
pub fn perturb(agg: &mut Aggregate) {
    if let Some(v) = agg
        .values_mut()
        .next()
        .and_then(|ts| ts.first_mut())
        .and_then(|t| t.values.first_mut())
    {
        *v += 0.01;
    }
}

/// One block's new version, built locally.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltBlock {
    /// The new weights (the outer step of the aggregate from the base).
    pub weights: BlockWeights,
    /// Their TensorBlock file.
    pub bytes: Vec<u8>,
    /// Its payload hash.
    pub payload_hash: PayloadHash,
    /// The aggregate delta of the block, encoded losslessly.
    pub delta: Encoded,
    /// The block's new outer momentum.
    pub momentum: BlockWeights,
    /// Its TensorBlock file.
    pub momentum_bytes: Vec<u8>,
    /// Its payload hash.
    pub momentum_hash: PayloadHash,
}

/// Builds a block's new version: the outer step of `delta` from `base` with `momentum`
/// (`None`: zeros) and `o` ([`outer::step`]), its TensorBlock, the delta's lossless
/// container (`Pipeline::none()`) and the new momentum's TensorBlock.
pub fn build_block(
    base: &BlockWeights,
    momentum: Option<&BlockWeights>,
    delta: &[DeltaTensor],
    o: OuterOptimizer,
) -> anyhow::Result<BuiltBlock> {
    let stepped = outer::step(base, momentum, delta, o)?;
    let (bytes, payload_hash) = stepped.weights.to_tensor_block()?;
    let (momentum_bytes, momentum_hash) = stepped.momentum.to_tensor_block()?;
    let delta = compress::encode(&base.block, delta, &Pipeline::none(), None)?;
    Ok(BuiltBlock {
        weights: stepped.weights,
        bytes,
        payload_hash,
        delta,
        momentum: stepped.momentum,
        momentum_bytes,
        momentum_hash,
    })
}

/// Adds a built block, its delta and its momentum to Kubo; the version to attest.
pub fn upload(kubo: &KuboClient, b: &BuiltBlock) -> anyhow::Result<NewBlockVersion> {
    let cid = kubo.add_bytes(&b.bytes)?;
    let delta_cid = kubo.add_bytes(&b.delta.bytes)?;
    let momentum_cid = kubo.add_bytes(&b.momentum_bytes)?;
    Ok(NewBlockVersion {
        block: b.weights.block.clone(),
        delta_cid: delta_cid.to_string(),
        delta_hash: b.delta.hash,
        delta_size: b.delta.bytes.len() as u64,
        cid: cid.to_string(),
        payload_hash: b.payload_hash.0,
        size: b.bytes.len() as u64,
        momentum_cid: momentum_cid.to_string(),
        momentum_hash: b.momentum_hash.0,
        momentum_size: b.momentum_bytes.len() as u64,
    })
}

/// The aggregate of `updates` with `rule`, perturbed when `fake` (see [`perturb`]); and its
/// [`defense::aggregate_hash`]. The outer optimizer is applied afterwards, per block
/// ([`build_block`]).
pub fn aggregate(
    updates: &[&defense::Update],
    rule: &AggregationRule,
    fake: bool,
) -> anyhow::Result<(Aggregate, [u8; 32])> {
    let mut agg = defense::aggregate(updates, rule)?;
    if fake {
        perturb(&mut agg);
    }
    let hash = defense::aggregate_hash(&agg);
    Ok((agg, hash))
}
