//! Building TensorBlock files.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use candle_core::Tensor;

use super::format::{
    align_up, Header, TensorDesc, DESC_LEN, HEADER_LEN, MAX_NAME_LEN, MAX_RANK, ROOT_RANGE,
};
use super::merkle::{leaf_hash, root, PayloadHash};
use super::{DType, Quantization, Result, TensorBlockError};

/// Default tile size: 64 KiB (a 16 MiB expert has 256 tiles and an 8 KiB index).
pub const DEFAULT_TILE_SIZE: u32 = 64 * 1024;

struct Pending {
    dtype: DType,
    quant: Quantization,
    shape: Vec<u64>,
    scales: Vec<u8>,
    data: Vec<u8>,
}

/// Collects named tensors and writes them as one TensorBlock. Tensors are stored sorted by
/// name, so the same set of tensors always gives the same bytes and the same payload hash.
pub struct TensorBlockWriter {
    tile_size: u32,
    tensors: BTreeMap<String, Pending>,
}

impl Default for TensorBlockWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn le_f32(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl TensorBlockWriter {
    /// An empty writer with [`DEFAULT_TILE_SIZE`].
    pub fn new() -> Self {
        Self {
            tile_size: DEFAULT_TILE_SIZE,
            tensors: BTreeMap::new(),
        }
    }

    /// Sets the tile size (a power of two, at least 64 bytes).
    pub fn tile_size(mut self, tile_size: u32) -> Result<Self> {
        if tile_size < 64 || !tile_size.is_power_of_two() {
            return Err(TensorBlockError::Writer(format!(
                "tile size {tile_size} is not a power of two >= 64"
            )));
        }
        self.tile_size = tile_size;
        Ok(self)
    }

    fn check_new(&self, name: &str, shape: &[usize]) -> Result<Vec<u64>> {
        if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('\0') {
            return Err(TensorBlockError::Writer(format!(
                "tensor name {name:?} must be 1..={MAX_NAME_LEN} bytes without NUL"
            )));
        }
        if self.tensors.contains_key(name) {
            return Err(TensorBlockError::Writer(format!(
                "duplicate tensor {name:?}"
            )));
        }
        if shape.len() > MAX_RANK {
            return Err(TensorBlockError::Writer(format!(
                "tensor {name}: rank {} > {MAX_RANK}",
                shape.len()
            )));
        }
        Ok(shape.iter().map(|&d| d as u64).collect())
    }

    fn push(&mut self, name: &str, shape: Vec<u64>, p: Pending) -> Result<()> {
        let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let expected = numel.and_then(|n| n.checked_mul(p.dtype.size()));
        if expected != Some(p.data.len() as u64) {
            return Err(TensorBlockError::ShapeMismatch {
                tensor: name.to_string(),
                shape,
                expected: expected.unwrap_or(u64::MAX),
                actual: p.data.len() as u64,
            });
        }
        self.tensors
            .insert(name.to_string(), Pending { shape, ..p });
        Ok(())
    }

    /// Adds an f32 tensor.
    pub fn add_f32(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<&mut Self> {
        let shape = self.check_new(name, shape)?;
        let p = Pending {
            dtype: DType::F32,
            quant: Quantization::None,
            shape: vec![],
            scales: vec![],
            data: le_f32(data),
        };
        self.push(name, shape, p)?;
        Ok(self)
    }

    /// Adds a tensor from its raw little-endian element bytes (`dtype` f32, f16, bf16 or int8,
    /// no quantization).
    pub fn add_raw(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[usize],
        bytes: Vec<u8>,
    ) -> Result<&mut Self> {
        let shape = self.check_new(name, shape)?;
        let p = Pending {
            dtype,
            quant: Quantization::None,
            shape: vec![],
            scales: vec![],
            data: bytes,
        };
        self.push(name, shape, p)?;
        Ok(self)
    }

    /// Quantizes an f32 tensor to int8 with one f32 scale per index of dimension 0
    /// (`scale = max |x| / 127` over the row, `q = round(x / scale)`).
    pub fn add_int8_per_channel(
        &mut self,
        name: &str,
        shape: &[usize],
        data: &[f32],
    ) -> Result<&mut Self> {
        let shape64 = self.check_new(name, shape)?;
        let rows = *shape.first().ok_or_else(|| {
            TensorBlockError::Writer(format!("tensor {name}: int8 per-channel needs rank >= 1"))
        })?;
        let numel: usize = shape.iter().product();
        if data.len() != numel {
            return Err(TensorBlockError::ShapeMismatch {
                tensor: name.into(),
                shape: shape64,
                expected: numel as u64 * 4,
                actual: data.len() as u64 * 4,
            });
        }
        if data.iter().any(|x| !x.is_finite()) {
            return Err(TensorBlockError::Writer(format!(
                "tensor {name}: cannot quantize NaN or infinity"
            )));
        }
        let row_len = numel.checked_div(rows).unwrap_or(0);
        let mut scales = Vec::with_capacity(rows);
        let mut q = Vec::with_capacity(numel);
        for r in 0..rows {
            let row = &data[r * row_len..(r + 1) * row_len];
            let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
            let scale = max / 127.0;
            scales.push(scale);
            for &x in row {
                let v = if scale > 0.0 {
                    (x / scale).round().clamp(-127.0, 127.0)
                } else {
                    0.0
                };
                q.push((v as i8) as u8);
            }
        }
        let p = Pending {
            dtype: DType::I8,
            quant: Quantization::PerChannelInt8,
            shape: vec![],
            scales: le_f32(&scales),
            data: q,
        };
        self.push(name, shape64, p)?;
        Ok(self)
    }

    /// Adds a candle tensor: f32, f16 and bf16 are stored as they are, other dtypes as f32.
    pub fn add_tensor(&mut self, name: &str, t: &Tensor) -> Result<&mut Self> {
        let dims = t.dims().to_vec();
        let t = t.flatten_all()?;
        match t.dtype() {
            candle_core::DType::F16 => {
                let v = t.to_vec1::<half::f16>()?;
                self.add_raw(
                    name,
                    DType::F16,
                    &dims,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            }
            candle_core::DType::BF16 => {
                let v = t.to_vec1::<half::bf16>()?;
                self.add_raw(
                    name,
                    DType::BF16,
                    &dims,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            }
            _ => {
                let v = t.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
                self.add_f32(name, &dims, &v)
            }
        }
    }

    /// The complete file and its payload hash.
    pub fn to_bytes(&self) -> Result<(Vec<u8>, PayloadHash)> {
        let n = self.tensors.len();
        let tensor_count =
            u32::try_from(n).map_err(|_| TensorBlockError::Writer("too many tensors".into()))?;
        let table_end = (HEADER_LEN + n * DESC_LEN) as u64;
        let data_offset = align_up(table_end);
        let mut cur = data_offset;
        let mut descs = Vec::with_capacity(n);
        for (name, p) in &self.tensors {
            let (scales_offset, scales_len) = if p.quant == Quantization::None {
                (0, 0)
            } else {
                let at = cur;
                cur = align_up(cur + p.scales.len() as u64);
                (at, p.scales.len() as u64)
            };
            descs.push(TensorDesc {
                name: name.clone(),
                dtype: p.dtype,
                quant: p.quant,
                shape: p.shape.clone(),
                scales_offset,
                scales_len,
                data_offset: cur,
                data_len: p.data.len() as u64,
            });
            cur = align_up(cur + p.data.len() as u64);
        }
        let data_len = cur - data_offset;
        let tile_count = u32::try_from(data_len.div_ceil(u64::from(self.tile_size)))
            .map_err(|_| TensorBlockError::Writer("too many tiles".into()))?;
        let index_offset = cur;
        let file_len = index_offset + 32 * u64::from(tile_count);
        let header = Header {
            tensor_count,
            table_offset: HEADER_LEN as u64,
            data_offset,
            data_len,
            index_offset,
            tile_size: self.tile_size,
            tile_count,
            file_len,
            merkle_root: [0; 32],
        };
        let len = usize::try_from(file_len)
            .map_err(|_| TensorBlockError::Writer("file too large".into()))?;
        let mut buf = vec![0u8; len];
        buf[..HEADER_LEN].copy_from_slice(&header.encode());
        for (i, d) in descs.iter().enumerate() {
            buf[HEADER_LEN + i * DESC_LEN..HEADER_LEN + (i + 1) * DESC_LEN]
                .copy_from_slice(&d.encode());
        }
        for (d, p) in descs.iter().zip(self.tensors.values()) {
            let s = d.scales_offset as usize;
            buf[s..s + p.scales.len()].copy_from_slice(&p.scales);
            let o = d.data_offset as usize;
            buf[o..o + p.data.len()].copy_from_slice(&p.data);
        }
        let region = &buf[data_offset as usize..index_offset as usize];
        let mut leaves = Vec::with_capacity(tile_count as usize + 1);
        leaves.push(leaf_hash(&[&buf[..data_offset as usize]])); // root field still zero
        leaves.extend(
            region
                .chunks(self.tile_size as usize)
                .map(|t| leaf_hash(&[t])),
        );
        let r = root(&leaves);
        for (i, l) in leaves.iter().skip(1).enumerate() {
            let at = index_offset as usize + 32 * i;
            buf[at..at + 32].copy_from_slice(&l.0);
        }
        buf[ROOT_RANGE].copy_from_slice(&r.0);
        Ok((buf, r))
    }

    /// Writes the file to `path` (through a temporary file in the same directory and a
    /// rename, so a reader never sees half a block) and returns its payload hash and size.
    pub fn write(&self, path: &Path) -> Result<(PayloadHash, u64)> {
        let (bytes, hash) = self.to_bytes()?;
        let io = |source| TensorBlockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension("blyt.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok((hash, bytes.len() as u64))
    }
}
