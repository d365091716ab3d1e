//! Model evolution proposals: a passed `ModelEvolution` gives a model new experts as a new
//! architecture version (its meta block's major version bumps).
//!
//! The chain never runs a model, so it cannot compute the new tensors. It records a
//! deterministic recipe instead, and the proposal carries the CIDs and payload hashes of
//! the blocks that recipe gives: anyone (voters before voting, every worker when loading
//! the new version) re-derives them from the chain's heads with
//! `blyan_ml::model::evolve` and compares the hashes. The chain's work is bounded by the
//! number of new blocks (`n_layers * (count + 1)`).
//!
//! Recipe `AddExperts { count, source_expert }`, seed [`evolution_seed`] of the meta block
//! the proposal applies to:
//! - in every layer `l`, expert `n + i` (`n` the current expert count, `i < count`) is a
//!   copy of the head of `layer{l}.expert{source_expert}` plus uniform noise in
//!   `±0.01/sqrt(fan_in)` per element, drawn from `SplitMix64::for_label(seed,
//!   "layer{l}.expert{n+i}.{tensor}")`;
//! - `layer{l}.router` keeps its `n` rows bit for bit and gains one row per new expert: the
//!   source expert's row plus noise of the same bound, label
//!   `"layer{l}.router.gate.weight.row{n+i}"`.
//!
//! Routing renormalises the top-k weights over the chosen experts, so a token none of
//! whose layers pick a new expert gets the same output as before (up to float rounding).
//!
//! Recipe `AddLayers { count }` (deepening), same seed: layers `L..L+count` (`L` the
//! current layer count) are appended before the head; each of their blocks
//! (`backbone`, `router`, `expert0..n`) is freshly initialised as by
//! `blyan_ml::model::init_block_tensors(new_config, block, seed)`, then the residual
//! projections (`attn.o_proj.weight` of the backbone, `w2.weight` of every expert) are
//! zeroed, so each new layer starts as the identity and the model's outputs are
//! unchanged bit for bit; their `base` is the meta block the proposal applies to.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::dag::BlockId;

/// Most experts one proposal adds per layer.
pub const MAX_EXPERTS_ADDED: u32 = 16;

/// Most layers one proposal adds.
pub const MAX_LAYERS_ADDED: u32 = 4;

/// How a model's architecture changes.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelChange {
    /// Adds `count` experts to every MoE layer, each initialised from expert
    /// `source_expert` of its layer (see the module doc for the exact recipe).
    #[codec(index = 0)]
    AddExperts {
        /// Experts added per layer (1..=[`MAX_EXPERTS_ADDED`]; the new total is at most
        /// the DAG's `max_arch_dim`).
        count: u32,
        /// The expert (of each layer) the new ones start from.
        source_expert: u32,
    },
    /// Appends `count` layers, each starting as the identity (see the module doc).
    #[codec(index = 1)]
    AddLayers {
        /// Layers added (1..=[`MAX_LAYERS_ADDED`]; the new total is at most the DAG's
        /// `max_arch_dim`).
        count: u32,
    },
}

/// One block a model evolution records: a new expert or a grown router.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct EvolvedBlock {
    /// Block name (`layer{l}.router` or `layer{l}.expert{j}`).
    pub name: String,
    /// The block it is derived from, which must still be current when the proposal
    /// executes: the router's current head, the source expert's head for a new expert,
    /// or the meta block the proposal applies to for a new layer's block.
    #[serde(with = "crate::msg::hex32")]
    pub base: BlockId,
    /// Payload hash of the derived TensorBlock.
    #[serde(with = "crate::msg::hex32")]
    pub payload_hash: [u8; 32],
    /// Its IPFS CID.
    pub cid: String,
    /// Its size, bytes.
    pub size: u64,
}

/// The seed of an evolution's noise: the first 8 bytes (little-endian) of the meta block
/// id the proposal applies to, so it comes from chain data nobody chooses freely.
pub fn evolution_seed(base_meta: &BlockId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&base_meta[..8]);
    u64::from_le_bytes(b)
}

/// The names an `AddExperts` evolution records, in order: per layer, the router, then the
/// new experts `n..n+count`. `None` when the numbers overflow.
pub fn add_experts_names(n_layers: u32, n_experts: u32, count: u32) -> Option<Vec<String>> {
    let end = n_experts.checked_add(count)?;
    let per_layer = usize::try_from(count).ok()?.checked_add(1)?;
    let mut out = Vec::with_capacity(usize::try_from(n_layers).ok()?.checked_mul(per_layer)?);
    for l in 0..n_layers {
        out.push(format!("layer{l}.router"));
        for e in n_experts..end {
            out.push(format!("layer{l}.expert{e}"));
        }
    }
    Some(out)
}

/// The names an `AddLayers` evolution records, in order: per new layer `L..L+count`, the
/// backbone, the router, then experts `0..n_experts`. `None` when the numbers overflow.
pub fn add_layers_names(n_layers: u32, n_experts: u32, count: u32) -> Option<Vec<String>> {
    let end = n_layers.checked_add(count)?;
    let per_layer = usize::try_from(n_experts).ok()?.checked_add(2)?;
    let mut out = Vec::with_capacity(usize::try_from(count).ok()?.checked_mul(per_layer)?);
    for l in n_layers..end {
        out.push(format!("layer{l}.backbone"));
        out.push(format!("layer{l}.router"));
        for e in 0..n_experts {
            out.push(format!("layer{l}.expert{e}"));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_seed() {
        assert_eq!(
            add_experts_names(2, 4, 1).unwrap(),
            [
                "layer0.router",
                "layer0.expert4",
                "layer1.router",
                "layer1.expert4"
            ]
        );
        assert!(add_experts_names(1, u32::MAX, 1).is_none());
        assert_eq!(
            add_layers_names(2, 1, 1).unwrap(),
            ["layer2.backbone", "layer2.router", "layer2.expert0"]
        );
        let mut id = [0u8; 32];
        id[0] = 1;
        assert_eq!(evolution_seed(&id), 1);
    }

    #[test]
    fn change_json_is_tagged() {
        let c = ModelChange::AddExperts {
            count: 1,
            source_expert: 0,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["kind"], "add_experts");
        assert_eq!(serde_json::from_value::<ModelChange>(v).unwrap(), c);
    }
}
