//! The parameter DAG's wire types: models, parameter blocks and their versions.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// A block id: keccak256 of the SCALE encoding of the block's header fields.
pub type BlockId = [u8; 32];

/// What a parameter block holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BlockType {
    /// The architecture config (inline on chain).
    #[codec(index = 0)]
    Meta,
    /// One expert's tensors (`layer{i}.expert{j}`).
    #[codec(index = 1)]
    Expert,
    /// One layer's router (`layer{i}.router`).
    #[codec(index = 2)]
    Router,
    /// A layer's attention and norms (`layer{i}.backbone`), the embeddings (`embed`) or
    /// the output head (`head`).
    #[codec(index = 3)]
    Backbone,
    /// A weight delta (Proof-of-Learning submissions).
    #[codec(index = 4)]
    Delta,
    /// A dataset reference.
    #[codec(index = 5)]
    Data,
    /// The Proof-of-Learning outer optimizer's momentum buffer of a block after a learned
    /// version (DiLoCo's Nesterov momentum), a TensorBlock; recorded with the version it
    /// belongs to, which depends on it. Like a delta it never becomes a head.
    #[codec(index = 6)]
    Momentum,
}

/// Semantic version of a block.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
pub struct SemVer {
    /// Incompatible change.
    pub major: u32,
    /// Compatible change.
    pub minor: u32,
    /// Fix or training update.
    pub patch: u32,
}

impl std::fmt::Display for SemVer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What the chain needs of a model's architecture to check block names.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ModelArch {
    /// Architecture tag (e.g. `blyan-moe-v1`).
    pub arch: String,
    /// Transformer layers.
    pub n_layers: u32,
    /// Experts per layer.
    pub n_experts: u32,
}

/// One block in a publish message.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BlockSpec {
    /// Block name (`embed`, `head`, `layer{i}.backbone|router|expert{j}`).
    pub name: String,
    /// Its type; must agree with the name.
    pub block_type: BlockType,
    /// Payload hash (the TensorBlock's Merkle root).
    #[serde(with = "crate::msg::hex32")]
    pub payload_hash: [u8; 32],
    /// IPFS CID of the TensorBlock file.
    pub cid: String,
    /// File size, bytes.
    pub size: u64,
    /// Version; must be above the current head's.
    pub version: SemVer,
    /// Further blocks of the same model this one depends on (the meta block and the
    /// previous version of the same name are added by the chain).
    pub depends_on: Vec<BlockId>,
}

/// A recorded parameter block.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ParamBlock {
    /// Its id.
    #[serde(with = "crate::msg::hex32")]
    pub id: BlockId,
    /// Model namespace.
    pub model: String,
    /// Type.
    pub block_type: BlockType,
    /// Name.
    pub name: String,
    /// Layer index for layer blocks.
    pub layer: Option<u32>,
    /// Blocks it depends on (all earlier, so the graph is acyclic by construction).
    pub depends_on: Vec<BlockId>,
    /// Payload hash.
    #[serde(with = "crate::msg::hex32")]
    pub payload_hash: [u8; 32],
    /// IPFS CID (empty for the inline meta block).
    pub cid: String,
    /// Size, bytes.
    pub size: u64,
    /// Version.
    pub version: SemVer,
    /// Who published it.
    pub author: Address,
    /// Height it was recorded at.
    pub height: u64,
}

/// A model's public validation set and the loss of its current heads on it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ValidationSet {
    /// IPFS CID of the validation file.
    pub cid: String,
    /// Payload hash of the file (sha3-256 of its bytes), hex in JSON.
    #[serde(with = "crate::msg::hex32")]
    pub hash: [u8; 32],
    /// Validation loss of the genesis heads, micro-nats.
    pub baseline_loss_micro: u64,
}

/// A model as queries show it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model id.
    pub id: String,
    /// Owner (publisher).
    pub owner: Address,
    /// Architecture.
    pub arch: ModelArch,
    /// Id of the meta block.
    #[serde(with = "crate::msg::hex32")]
    pub meta_block: BlockId,
    /// The meta config JSON, inline.
    pub meta_json: String,
    /// Locked deposit, base units.
    #[serde(with = "crate::params::u128_string")]
    pub deposit: u128,
    /// Blocks recorded (all versions, meta included).
    pub blocks: u64,
    /// Public validation set, if the model has one.
    pub validation: Option<ValidationSet>,
    /// Recorded validation loss of the current heads, micro-nats.
    pub loss_micro: Option<u64>,
}

/// `MsgPublishModel`: a new model (meta + every block of its architecture) with its
/// deposit, or, from the owner of an existing model, new versions of some of its blocks.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PublishModel {
    /// Model id (`[a-z0-9_-]{1,64}`).
    pub model_id: String,
    /// Architecture.
    pub arch: ModelArch,
    /// The architecture config as JSON (stored inline as the meta block).
    pub meta_json: String,
    /// Blocks.
    pub blocks: Vec<BlockSpec>,
    /// Deposit locked with a new model, base units.
    #[serde(with = "crate::params::u128_string")]
    pub deposit: u128,
}

/// Messages of the `dag` module.
///
/// The SCALE and JSON encodings are those of the former struct variant: a newtype variant
/// of a struct encodes its fields in the same order under the same tag.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DagMsg {
    /// Publishes a new model or new block versions ([`PublishModel`]).
    #[codec(index = 0)]
    PublishModel(PublishModel),
}

/// DAG parameters: written at genesis (`dag/params`), queryable at `/dag/params`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DagParams {
    /// Deposit a new model locks, base units.
    #[serde(with = "crate::params::u128_string")]
    pub publish_deposit: u128,
    /// Most blocks in one message.
    pub max_blocks_per_msg: u32,
    /// Longest meta JSON, bytes.
    pub max_meta_bytes: u32,
    /// Most layers or experts per layer.
    pub max_arch_dim: u32,
}

impl Default for DagParams {
    fn default() -> Self {
        DagParams {
            publish_deposit: 100 * crate::BLY,
            max_blocks_per_msg: 4_096,
            max_meta_bytes: 16 * 1024,
            max_arch_dim: 256,
        }
    }
}

impl DagParams {
    /// Checks that the limits leave room for a model: every limit is at least 1.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_blocks_per_msg == 0 || self.max_meta_bytes == 0 || self.max_arch_dim == 0 {
            return Err(
                "dag: max_blocks_per_msg, max_meta_bytes and max_arch_dim must be positive"
                    .to_string(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> PublishModel {
        PublishModel {
            model_id: "tiny".into(),
            arch: ModelArch {
                arch: "blyan-moe-v1".into(),
                n_layers: 1,
                n_experts: 2,
            },
            meta_json: "{}".into(),
            blocks: Vec::new(),
            deposit: 5,
        }
    }

    /// The message struct keeps the wire format of the former struct variant: the variant
    /// index, then the fields in order (SCALE), and the fields beside the tag (JSON).
    #[test]
    fn publish_model_keeps_the_struct_variant_encodings() {
        let m = msg();
        let scale = DagMsg::PublishModel(m.clone()).encode();
        let fields = (
            0u8,
            &m.model_id,
            &m.arch,
            &m.meta_json,
            &m.blocks,
            m.deposit,
        )
            .encode();
        assert_eq!(scale, fields);
        let json = serde_json::to_value(DagMsg::PublishModel(m.clone())).unwrap();
        assert_eq!(json["type"], "publish_model");
        assert_eq!(json["model_id"], "tiny");
        assert_eq!(json["deposit"], "5");
        let back: DagMsg = serde_json::from_value(json).unwrap();
        assert_eq!(back, DagMsg::PublishModel(m));
    }

    #[test]
    fn dag_params_refuse_zero_limits() {
        assert!(DagParams::default().validate().is_ok());
        let p = DagParams {
            max_meta_bytes: 0,
            ..DagParams::default()
        };
        assert!(p.validate().is_err());
    }
}
