//! Element types, layouts and quantization schemes of TensorBlock tensors, and their codes.

use super::{Result, TensorBlockError};

/// Element type of a tensor's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DType {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16.
    BF16,
    /// Signed 8-bit integers (usually with per-channel scales).
    I8,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::I8 => 1,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::BF16 => 2,
            DType::I8 => 3,
        }
    }

    pub(crate) fn from_code(c: u8) -> Result<Self> {
        Ok(match c {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::BF16,
            3 => DType::I8,
            _ => {
                return Err(TensorBlockError::InvalidHeader(format!(
                    "unknown dtype code {c}"
                )))
            }
        })
    }
}

/// Memory layout of a tensor's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// C order: the last dimension is contiguous.
    RowMajor,
}

/// How a tensor's stored values map to real values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// Values are stored as they are.
    None,
    /// int8 values, one f32 scale per index of dimension 0: `value = q * scale[row]`.
    PerChannelInt8,
}
