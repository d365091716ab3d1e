//! Block weights as plain f32 vectors, and the arithmetic every honest validator (and
//! `pol replay`) must reproduce bit for bit: `new = base + delta` in a plain ordered f32
//! loop, TensorBlock bytes written by [`TensorBlockWriter`] (tensors sorted by name, f32,
//! the base block's tile size), and L2 norms in f64 in a fixed order.

use candle_core::{DType, Device};

use crate::compress::DeltaTensor;
use crate::tensorblock::{PayloadHash, TensorBlock, TensorBlockWriter};

/// Why a delta could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Names or shapes do not fit the block (or the model has no such block).
    #[error("shape: {0}")]
    Shape(String),
    /// The result has a NaN or an infinity.
    #[error("non-finite weight in {0}")]
    NonFinite(String),
}

/// A block's current weights: its tensors (sorted by name, f32, row-major) and the tile size
/// of the TensorBlock they came from (new versions keep it, so every validator writes the
/// same bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockWeights {
    /// Block name.
    pub block: String,
    /// Tensors sorted by name.
    pub tensors: Vec<DeltaTensor>,
    /// Tile size of the block's TensorBlock.
    pub tile_size: u32,
}

impl BlockWeights {
    /// Reads a (verified) TensorBlock: every tensor widened to f32 (f16/bf16 exactly;
    /// quantized tensors dequantized).
    pub fn from_tensor_block(block: &str, tb: &TensorBlock) -> anyhow::Result<Self> {
        let mut tensors = Vec::new();
        for view in tb.tensors() {
            let t = view.to_tensor(&Device::Cpu)?;
            let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            tensors.push(DeltaTensor {
                name: view.name().to_string(),
                shape: view.shape(),
                values,
            });
        }
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            block: block.to_string(),
            tensors,
            tile_size: tb.tile_size(),
        })
    }

    /// `self + delta`: every tensor the delta names (same shape) gets `base[i] + delta[i]`
    /// in a plain f32 loop in row-major order; tensors the delta does not name are kept.
    /// A delta tensor the block does not have, a shape mismatch or a non-finite result is an
    /// error.
    pub fn apply(&self, delta: &[DeltaTensor]) -> Result<Self, ApplyError> {
        for d in delta {
            if !self.tensors.iter().any(|t| t.name == d.name) {
                return Err(ApplyError::Shape(format!(
                    "block {} has no tensor {:?}",
                    self.block, d.name
                )));
            }
        }
        let mut out = self.clone();
        for t in &mut out.tensors {
            let Some(d) = delta.iter().find(|d| d.name == t.name) else {
                continue;
            };
            if d.shape != t.shape || d.values.len() != t.values.len() {
                return Err(ApplyError::Shape(format!(
                    "block {}, tensor {}: delta shape {:?} is not {:?}",
                    self.block, t.name, d.shape, t.shape
                )));
            }
            for (w, x) in t.values.iter_mut().zip(&d.values) {
                *w += *x;
            }
            if t.values.iter().any(|v| !v.is_finite()) {
                return Err(ApplyError::NonFinite(format!(
                    "block {}, tensor {}",
                    self.block, t.name
                )));
            }
        }
        Ok(out)
    }

    /// The TensorBlock file of these weights (f32, tensors by name, `tile_size`) and its
    /// payload hash: the same tensors always give the same bytes.
    pub fn to_tensor_block(&self) -> anyhow::Result<(Vec<u8>, PayloadHash)> {
        let mut w = TensorBlockWriter::new().tile_size(self.tile_size)?;
        for t in &self.tensors {
            w.add_f32(&t.name, &t.shape, &t.values)?;
        }
        Ok(w.to_bytes()?)
    }

    /// `‖W‖₂`: f64 sum of squares over tensors by name, values in row-major order.
    pub fn l2_norm(&self) -> f64 {
        crate::defense::l2_norm(&self.tensors)
    }
}
