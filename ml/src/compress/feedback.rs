//! Error feedback: what compression dropped from a miner's delta, carried to its next round.
//!
//! [`super::encode`] with a feedback state adds the stored residual of each (block, tensor)
//! to the new delta before compressing, then stores `corrected − decoded` (exactly what the
//! decoder will not reproduce) as the new residual. Summed over rounds, the decoded deltas
//! then equal the summed true deltas minus the last residual (Seide et al. 2014; Stich et
//! al. 2018, "Sparsified SGD with memory").
//!
//! # File format (little-endian)
//!
//! `b"BLYF"`, version `u16 = 1`, entry count `u32`, then per entry: block (u16 length +
//! UTF-8), tensor name (u16 length + UTF-8), rank `u8`, dims `u64 × rank`, values `f32 ×
//! numel`; then the sha3-256 of everything before it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha3::{Digest, Sha3_256};

use super::container::{put_f32s, read_str, Cursor};
use super::{put_str, CompressError, MAX_DIMS, MAX_NAME_LEN};

const MAGIC: &[u8; 4] = b"BLYF";
const VERSION: u16 = 1;

/// One residual.
#[derive(Debug, Clone, PartialEq)]
struct Residual {
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// Per-(block, tensor) residuals a miner keeps across rounds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorFeedback {
    residuals: BTreeMap<(String, String), Residual>,
}

impl ErrorFeedback {
    /// An empty state (every residual zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// The residual of `tensor` in `block`, if one is stored.
    pub fn residual(&self, block: &str, tensor: &str) -> Option<&[f32]> {
        self.residuals
            .get(&(block.to_string(), tensor.to_string()))
            .map(|r| r.values.as_slice())
    }

    /// The stored residual when its shape is `shape`.
    pub(crate) fn residual_for(
        &self,
        block: &str,
        tensor: &str,
        shape: &[usize],
    ) -> Option<&[f32]> {
        self.residuals
            .get(&(block.to_string(), tensor.to_string()))
            .filter(|r| r.shape == shape)
            .map(|r| r.values.as_slice())
    }

    /// Replaces the residual of `tensor` in `block`.
    pub(crate) fn set(&mut self, block: &str, tensor: &str, shape: Vec<usize>, values: Vec<f32>) {
        self.residuals.insert(
            (block.to_string(), tensor.to_string()),
            Residual { shape, values },
        );
    }

    /// Number of stored residuals.
    pub fn len(&self) -> usize {
        self.residuals.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.residuals.is_empty()
    }

    /// L2 norm of every stored residual together.
    pub fn l2_norm(&self) -> f64 {
        let mut s = 0f64;
        for r in self.residuals.values() {
            for &x in &r.values {
                s += f64::from(x) * f64::from(x);
            }
        }
        s.sqrt()
    }

    /// Drops every residual of `block` (after the block's base changed underneath, say).
    pub fn clear_block(&mut self, block: &str) {
        self.residuals.retain(|(b, _), _| b != block);
    }

    /// The state as bytes (see the module doc).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.residuals.len() as u32).to_le_bytes());
        for ((block, name), r) in &self.residuals {
            put_str(&mut out, block);
            put_str(&mut out, name);
            out.push(r.shape.len() as u8);
            for &d in &r.shape {
                out.extend_from_slice(&(d as u64).to_le_bytes());
            }
            put_f32s(&mut out, &r.values);
        }
        let h: [u8; 32] = Sha3_256::digest(&out).into();
        out.extend_from_slice(&h);
        out
    }

    /// Parses [`ErrorFeedback::to_bytes`] output, checking the hash and every length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CompressError> {
        let bad = |m: &str| CompressError::Malformed(format!("feedback file: {m}"));
        let body_len = bytes
            .len()
            .checked_sub(32)
            .ok_or_else(|| bad("too short"))?;
        let (body, hash) = bytes.split_at(body_len);
        if super::sha3(body)[..] != *hash {
            return Err(bad("hash mismatch"));
        }
        let mut c = Cursor { buf: body, pos: 0 };
        if c.take(4)? != MAGIC || c.u16()? != VERSION {
            return Err(bad("not a version-1 feedback file"));
        }
        let count = c.u32()?;
        let mut fb = Self::new();
        for _ in 0..count {
            let block = read_str(&mut c, "block name", MAX_NAME_LEN)?;
            let name = read_str(&mut c, "tensor name", MAX_NAME_LEN)?;
            let rank = usize::from(c.u8()?);
            if rank > MAX_DIMS {
                return Err(bad("rank too large"));
            }
            let mut shape = Vec::with_capacity(rank);
            let mut numel = 1usize;
            for _ in 0..rank {
                let d = usize::try_from(c.u64()?).map_err(|_| bad("dimension overflow"))?;
                numel = numel.checked_mul(d).ok_or_else(|| bad("size overflow"))?;
                shape.push(d);
            }
            let raw = c.take(numel.checked_mul(4).ok_or_else(|| bad("size overflow"))?)?;
            let values = raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            fb.set(&block, &name, shape, values);
        }
        if c.pos != body.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(fb)
    }

    /// Reads a state written by [`ErrorFeedback::save`].
    pub fn load(path: &Path) -> Result<Self, CompressError> {
        let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
        Self::from_bytes(&bytes)
    }

    /// Writes the state to `path` (through a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<(), CompressError> {
        let mut tmp = PathBuf::from(path);
        tmp.as_mut_os_string().push(".tmp");
        std::fs::write(&tmp, self.to_bytes()).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))
    }
}

fn io(path: &Path, e: std::io::Error) -> CompressError {
    CompressError::Io(format!("{}: {e}", path.display()))
}
