//! The model's architecture: the `meta` block's content.

use serde::{Deserialize, Serialize};

use super::tokenizer::VOCAB_SIZE;
use super::ModelError;

/// Architecture of a Blyan MoE model, stored as JSON in the model's `meta` block. Every size
/// the model code needs comes from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// Architecture family; this crate implements `"blyan-moe-v1"`.
    pub arch: String,
    /// Preset the sizes came from (`"tiny"`, `"small"`, or `"custom"`).
    pub preset: String,
    /// Vocabulary size (the byte tokenizer's 259).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Number of decoder layers.
    pub n_layers: usize,
    /// Attention heads per layer (`d_model` must be a multiple).
    pub n_heads: usize,
    /// Experts per layer.
    pub n_experts: usize,
    /// Experts each token is routed to.
    pub top_k: usize,
    /// Hidden width of each expert's SwiGLU MLP.
    pub d_ff: usize,
    /// Longest sequence (the learned position table's length).
    pub max_seq: usize,
}

/// The architecture name this crate implements.
pub const ARCH: &str = "blyan-moe-v1";

/// Epsilon of every RMSNorm.
pub const RMS_EPS: f64 = 1e-5;

impl MetaConfig {
    /// Trains on a 2-core CPU in minutes: d_model 64, 2 layers, 4 heads, 4 experts (top-2),
    /// d_ff 128, 64 positions (267,456 parameters).
    pub fn tiny() -> Self {
        Self {
            arch: ARCH.into(),
            preset: "tiny".into(),
            vocab_size: VOCAB_SIZE,
            d_model: 64,
            n_layers: 2,
            n_heads: 4,
            n_experts: 4,
            top_k: 2,
            d_ff: 128,
            max_seq: 64,
        }
    }

    /// d_model 256, 4 layers, 8 heads, 8 experts (top-2), d_ff 512, 128 positions (about
    /// 13.8 M parameters).
    pub fn small() -> Self {
        Self {
            preset: "small".into(),
            d_model: 256,
            n_layers: 4,
            n_heads: 8,
            n_experts: 8,
            d_ff: 512,
            max_seq: 128,
            ..Self::tiny()
        }
    }

    /// The preset called `name`.
    pub fn preset(name: &str) -> Result<Self, ModelError> {
        match name {
            "tiny" => Ok(Self::tiny()),
            "small" => Ok(Self::small()),
            _ => Err(ModelError::Config(format!(
                "unknown preset {name:?} (known: tiny, small)"
            ))),
        }
    }

    /// Checks that the sizes are usable by this crate's model.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.arch != ARCH {
            return bad(format!("architecture {:?} is not {ARCH:?}", self.arch));
        }
        if self.vocab_size < VOCAB_SIZE {
            return bad(format!(
                "vocab_size {} < {VOCAB_SIZE} (bytes + specials)",
                self.vocab_size
            ));
        }
        let sizes = [
            self.d_model,
            self.n_layers,
            self.n_heads,
            self.n_experts,
            self.top_k,
            self.d_ff,
            self.max_seq,
        ];
        if sizes.contains(&0) {
            return bad("every size must be positive".into());
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return bad(format!(
                "d_model {} is not a multiple of n_heads {}",
                self.d_model, self.n_heads
            ));
        }
        if self.top_k > self.n_experts {
            return bad(format!(
                "top_k {} > n_experts {}",
                self.top_k, self.n_experts
            ));
        }
        if self.n_layers > 1024 || self.n_experts > 1024 {
            return bad("at most 1024 layers and 1024 experts per layer".into());
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// Total number of parameters.
    pub fn n_params(&self) -> usize {
        super::names::block_names(self)
            .iter()
            .flat_map(|b| super::names::tensor_shapes(self, b))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_round_trip_through_json() {
        for name in ["tiny", "small"] {
            let c = MetaConfig::preset(name).unwrap();
            c.validate().unwrap();
            let j = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<MetaConfig>(&j).unwrap(), c);
        }
        assert!(MetaConfig::preset("huge").is_err());
        let mut c = MetaConfig::tiny();
        c.top_k = 5;
        assert!(c.validate().is_err());
    }
}
