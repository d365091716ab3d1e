//! Phase 2 (DESIGN.md, Proof-of-Learning step 4): aggregate the admitted submissions with
//! the model's rule, apply the aggregate to the base, and build what is attested: per
//! changed block, the new TensorBlock (payload hash, CID) and the aggregate delta encoded
//! losslessly (sha3, CID). Honest validators get identical bytes: the aggregate comes from
//! [`defense::aggregate`] (plain ordered loops), `new = base + aggregate` is a plain f32
//! loop, both files are written deterministically, and Kubo adds with fixed parameters.

use std::collections::BTreeMap;

use blyan_proto::pol::{AggregationRule as ChainRule, NewBlockVersion};

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
    /// The new weights (`base + aggregate`).
    pub weights: BlockWeights,
    /// Their TensorBlock file.
    pub bytes: Vec<u8>,
    /// Its payload hash.
    pub payload_hash: PayloadHash,
    /// The aggregate delta of the block, encoded losslessly.
    pub delta: Encoded,
}

/// Builds a block's new version: `base + delta` ([`BlockWeights::apply`]), its
/// TensorBlock, and the delta's lossless container (`Pipeline::none()`).
pub fn build_block(base: &BlockWeights, delta: &[DeltaTensor]) -> anyhow::Result<BuiltBlock> {
    let weights = base.apply(delta)?;
    let (bytes, payload_hash) = weights.to_tensor_block()?;
    let delta = compress::encode(&base.block, delta, &Pipeline::none(), None)?;
    Ok(BuiltBlock {
        weights,
        bytes,
        payload_hash,
        delta,
    })
}

/// Adds a built block and its delta to Kubo; the version to attest.
pub fn upload(kubo: &KuboClient, b: &BuiltBlock) -> anyhow::Result<NewBlockVersion> {
    let cid = kubo.add_bytes(&b.bytes)?;
    let delta_cid = kubo.add_bytes(&b.delta.bytes)?;
    Ok(NewBlockVersion {
        block: b.weights.block.clone(),
        delta_cid: delta_cid.to_string(),
        delta_hash: b.delta.hash,
        delta_size: b.delta.bytes.len() as u64,
        cid: cid.to_string(),
        payload_hash: b.payload_hash.0,
        size: b.bytes.len() as u64,
    })
}

/// The aggregate of `updates` with `rule`, scaled by the chain's server learning rate
/// `server_lr_bps` ([`defense::scale_aggregate`]), perturbed when `fake` (see [`perturb`]);
/// and its [`defense::aggregate_hash`].
pub fn aggregate(
    updates: &[defense::Update],
    rule: &AggregationRule,
    server_lr_bps: u32,
    fake: bool,
) -> anyhow::Result<(Aggregate, [u8; 32])> {
    let refs: Vec<&defense::Update> = updates.iter().collect();
    let mut agg = defense::aggregate(&refs, rule)?;
    defense::scale_aggregate(&mut agg, server_lr_bps);
    if fake {
        perturb(&mut agg);
    }
    let hash = defense::aggregate_hash(&agg);
    Ok((agg, hash))
}
