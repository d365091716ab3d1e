//! Names of the model's parameter blocks and of the tensors inside each: the 1:1 map between
//! the model and its DAG blocks.

use std::fmt;
use std::str::FromStr;

use super::{MetaConfig, ModelError};

/// One parameter block of the model; its string form is the DAG block name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlockName {
    /// `embed`: token and position embeddings.
    Embed,
    /// `layer{i}.backbone`: a layer's attention and its two RMSNorms.
    Backbone {
        /// Layer index.
        layer: usize,
    },
    /// `layer{i}.router`: a layer's expert gate.
    Router {
        /// Layer index.
        layer: usize,
    },
    /// `layer{i}.expert{j}`: one expert's SwiGLU MLP.
    Expert {
        /// Layer index.
        layer: usize,
        /// Expert index within the layer.
        expert: usize,
    },
    /// `head`: the final RMSNorm and the LM head.
    Head,
}

/// The DAG block type a block is recorded as (DESIGN.md: embeddings and head count as
/// backbone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Attention, norms, embeddings, head.
    Backbone,
    /// A router.
    Router,
    /// An expert.
    Expert,
}

impl BlockName {
    /// The DAG block type.
    pub fn kind(&self) -> BlockKind {
        match self {
            BlockName::Router { .. } => BlockKind::Router,
            BlockName::Expert { .. } => BlockKind::Expert,
            _ => BlockKind::Backbone,
        }
    }

    /// The layer, for layer blocks.
    pub fn layer(&self) -> Option<usize> {
        match *self {
            BlockName::Backbone { layer }
            | BlockName::Router { layer }
            | BlockName::Expert { layer, .. } => Some(layer),
            BlockName::Embed | BlockName::Head => None,
        }
    }

    /// Fails unless the block exists in a model of architecture `cfg`.
    pub fn check(&self, cfg: &MetaConfig) -> Result<(), ModelError> {
        let ok = match *self {
            BlockName::Embed | BlockName::Head => true,
            BlockName::Backbone { layer } | BlockName::Router { layer } => layer < cfg.n_layers,
            BlockName::Expert { layer, expert } => layer < cfg.n_layers && expert < cfg.n_experts,
        };
        if ok {
            Ok(())
        } else {
            Err(ModelError::UnknownBlock(self.to_string()))
        }
    }
}

impl fmt::Display for BlockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockName::Embed => f.write_str("embed"),
            BlockName::Backbone { layer } => write!(f, "layer{layer}.backbone"),
            BlockName::Router { layer } => write!(f, "layer{layer}.router"),
            BlockName::Expert { layer, expert } => write!(f, "layer{layer}.expert{expert}"),
            BlockName::Head => f.write_str("head"),
        }
    }
}

/// A decimal index without sign or leading zeros (so every block has one spelling).
fn index(s: &str) -> Option<usize> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

impl FromStr for BlockName {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || ModelError::UnknownBlock(s.to_string());
        match s {
            "embed" => return Ok(BlockName::Embed),
            "head" => return Ok(BlockName::Head),
            _ => {}
        }
        let rest = s.strip_prefix("layer").ok_or_else(unknown)?;
        let (l, part) = rest.split_once('.').ok_or_else(unknown)?;
        let layer = index(l).ok_or_else(unknown)?;
        match part {
            "backbone" => Ok(BlockName::Backbone { layer }),
            "router" => Ok(BlockName::Router { layer }),
            _ => {
                let e = part.strip_prefix("expert").ok_or_else(unknown)?;
                Ok(BlockName::Expert {
                    layer,
                    expert: index(e).ok_or_else(unknown)?,
                })
            }
        }
    }
}

/// Every block of a model of architecture `cfg`, in load order: `embed`, then per layer its
/// backbone, router and experts, then `head`.
pub fn block_names(cfg: &MetaConfig) -> Vec<BlockName> {
    let mut v = vec![BlockName::Embed];
    for layer in 0..cfg.n_layers {
        v.push(BlockName::Backbone { layer });
        v.push(BlockName::Router { layer });
        v.extend((0..cfg.n_experts).map(|expert| BlockName::Expert { layer, expert }));
    }
    v.push(BlockName::Head);
    v
}

/// The tensors of `block` (names local to the block, sorted) and their shapes. Linear
/// weights are `[out, in]` as in candle and PyTorch.
pub fn tensor_shapes(cfg: &MetaConfig, block: &BlockName) -> Vec<(&'static str, Vec<usize>)> {
    let (d, f, v, e) = (cfg.d_model, cfg.d_ff, cfg.vocab_size, cfg.n_experts);
    match block {
        BlockName::Embed => vec![
            ("pos.weight", vec![cfg.max_seq, d]),
            ("tok.weight", vec![v, d]),
        ],
        BlockName::Backbone { .. } => vec![
            ("attn.k_proj.weight", vec![d, d]),
            ("attn.o_proj.weight", vec![d, d]),
            ("attn.q_proj.weight", vec![d, d]),
            ("attn.v_proj.weight", vec![d, d]),
            ("attn_norm.weight", vec![d]),
            ("ffn_norm.weight", vec![d]),
        ],
        BlockName::Router { .. } => vec![("gate.weight", vec![e, d])],
        BlockName::Expert { .. } => vec![
            ("w1.weight", vec![f, d]),
            ("w2.weight", vec![d, f]),
            ("w3.weight", vec![f, d]),
        ],
        BlockName::Head => vec![("lm_head.weight", vec![v, d]), ("norm.weight", vec![d])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_odd_spellings() {
        let cfg = MetaConfig::tiny();
        let names = block_names(&cfg);
        assert_eq!(names.len(), 2 + cfg.n_layers * (2 + cfg.n_experts));
        for n in &names {
            assert_eq!(&n.to_string().parse::<BlockName>().unwrap(), n);
            n.check(&cfg).unwrap();
        }
        assert_eq!(
            "layer3.expert5".parse::<BlockName>().unwrap(),
            BlockName::Expert {
                layer: 3,
                expert: 5
            }
        );
        for bad in [
            "layer",
            "layer01.router",
            "layer1.expert",
            "layer1.expert+2",
            "layer-1.router",
            "Embed",
            "layer1.mlp",
        ] {
            assert!(bad.parse::<BlockName>().is_err(), "{bad}");
        }
        assert!(BlockName::Expert {
            layer: 0,
            expert: 4
        }
        .check(&cfg)
        .is_err());
        assert!(BlockName::Router { layer: 2 }.check(&cfg).is_err());
    }

    #[test]
    fn tensor_names_are_sorted() {
        let cfg = MetaConfig::tiny();
        for b in block_names(&cfg) {
            let t = tensor_shapes(&cfg, &b);
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "{b}");
        }
    }
}
