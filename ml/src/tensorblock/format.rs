//! Fixed-size, little-endian header and tensor descriptors (see the module doc for the
//! byte layout) and their encoding.

use super::{DType, Quantization, Result, TensorBlockError};

/// The four magic bytes every TensorBlock starts with.
pub const MAGIC: [u8; 4] = *b"BLYT";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Bytes in the fixed header.
pub const HEADER_LEN: usize = 128;
/// Bytes in one tensor descriptor.
pub(crate) const DESC_LEN: usize = 128;
/// Longest tensor name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 48;
/// Highest tensor rank.
pub const MAX_RANK: usize = 4;
/// Alignment of every scales and data section, in bytes.
pub(crate) const ALIGN: u64 = 64;
/// Byte range of the Merkle root inside the header.
pub(crate) const ROOT_RANGE: std::ops::Range<usize> = 64..96;

/// The decoded fixed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub tensor_count: u32,
    pub table_offset: u64,
    pub data_offset: u64,
    pub data_len: u64,
    pub index_offset: u64,
    pub tile_size: u32,
    pub tile_count: u32,
    pub file_len: u64,
    pub merkle_root: [u8; 32],
}

/// One decoded tensor descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorDesc {
    pub name: String,
    pub dtype: DType,
    pub quant: Quantization,
    pub shape: Vec<u64>,
    pub scales_offset: u64,
    pub scales_len: u64,
    pub data_offset: u64,
    pub data_len: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Header {
    pub(super) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&VERSION.to_le_bytes());
        b[6..8].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        // 8..12 flags = 0
        b[12..16].copy_from_slice(&self.tensor_count.to_le_bytes());
        b[16..24].copy_from_slice(&self.table_offset.to_le_bytes());
        b[24..32].copy_from_slice(&self.data_offset.to_le_bytes());
        b[32..40].copy_from_slice(&self.data_len.to_le_bytes());
        b[40..48].copy_from_slice(&self.index_offset.to_le_bytes());
        b[48..52].copy_from_slice(&self.tile_size.to_le_bytes());
        b[52..56].copy_from_slice(&self.tile_count.to_le_bytes());
        b[56..64].copy_from_slice(&self.file_len.to_le_bytes());
        b[ROOT_RANGE].copy_from_slice(&self.merkle_root);
        b
    }

    /// Decodes and checks the header of `file` (the whole file, for length checks).
    pub(super) fn decode(file: &[u8]) -> Result<Self> {
        let len = file.len() as u64;
        if file.len() < 8 {
            return Err(TensorBlockError::Truncated {
                what: "header",
                needed: HEADER_LEN as u64,
                len,
            });
        }
        let mut magic = [0u8; 4];
        magic.copy_from_slice(&file[0..4]);
        if magic != MAGIC {
            return Err(TensorBlockError::BadMagic(magic));
        }
        let version = u16_at(file, 4);
        if version != VERSION {
            return Err(TensorBlockError::UnsupportedVersion(version));
        }
        if file.len() < HEADER_LEN {
            return Err(TensorBlockError::Truncated {
                what: "header",
                needed: HEADER_LEN as u64,
                len,
            });
        }
        let b = &file[..HEADER_LEN];
        let bad = |m: String| Err(TensorBlockError::InvalidHeader(m));
        if usize::from(u16_at(b, 6)) != HEADER_LEN {
            return bad(format!(
                "header_len {} (expected {HEADER_LEN})",
                u16_at(b, 6)
            ));
        }
        if u32_at(b, 8) != 0 {
            return bad(format!("unknown flags {:#x}", u32_at(b, 8)));
        }
        if b[96..128].iter().any(|&x| x != 0) {
            return bad("reserved header bytes are not zero".into());
        }
        let mut merkle_root = [0u8; 32];
        merkle_root.copy_from_slice(&b[ROOT_RANGE]);
        let h = Header {
            tensor_count: u32_at(b, 12),
            table_offset: u64_at(b, 16),
            data_offset: u64_at(b, 24),
            data_len: u64_at(b, 32),
            index_offset: u64_at(b, 40),
            tile_size: u32_at(b, 48),
            tile_count: u32_at(b, 52),
            file_len: u64_at(b, 56),
            merkle_root,
        };
        h.check(len)?;
        Ok(h)
    }

    /// Internal consistency of the header and its fit in a file of `len` bytes.
    fn check(&self, len: u64) -> Result<()> {
        let bad = |m: String| Err(TensorBlockError::InvalidHeader(m));
        if self.table_offset != HEADER_LEN as u64 {
            return bad(format!(
                "table_offset {} (expected {HEADER_LEN})",
                self.table_offset
            ));
        }
        if self.tile_size < 64 || !self.tile_size.is_power_of_two() {
            return bad(format!(
                "tile_size {} is not a power of two >= 64",
                self.tile_size
            ));
        }
        let table_end = u64::from(self.tensor_count) * DESC_LEN as u64 + self.table_offset;
        if self.data_offset < table_end || !self.data_offset.is_multiple_of(ALIGN) {
            return bad(format!(
                "data_offset {} (table ends at {table_end}, must be 64-aligned)",
                self.data_offset
            ));
        }
        let expect_tiles = self.data_len.div_ceil(u64::from(self.tile_size));
        if u64::from(self.tile_count) != expect_tiles {
            return bad(format!(
                "tile_count {} but data_len {} needs {expect_tiles}",
                self.tile_count, self.data_len
            ));
        }
        let index_offset = self.data_offset.checked_add(self.data_len);
        if index_offset != Some(self.index_offset) {
            return bad(format!(
                "index_offset {} != data_offset + data_len",
                self.index_offset
            ));
        }
        let file_len = self
            .index_offset
            .checked_add(32 * u64::from(self.tile_count));
        if file_len != Some(self.file_len) {
            return bad(format!(
                "file_len {} != index_offset + 32 * tile_count",
                self.file_len
            ));
        }
        if len < table_end {
            return Err(TensorBlockError::Truncated {
                what: "tensor table",
                needed: table_end,
                len,
            });
        }
        if len < self.index_offset {
            return Err(TensorBlockError::Truncated {
                what: "data region",
                needed: self.index_offset,
                len,
            });
        }
        if len < self.file_len {
            return Err(TensorBlockError::Truncated {
                what: "Merkle index",
                needed: self.file_len,
                len,
            });
        }
        if len > self.file_len {
            return bad(format!(
                "{} trailing bytes after the Merkle index",
                len - self.file_len
            ));
        }
        Ok(())
    }
}

impl TensorDesc {
    /// Elements in the tensor (None on overflow).
    pub(super) fn numel(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    pub(super) fn encode(&self) -> [u8; DESC_LEN] {
        let mut b = [0u8; DESC_LEN];
        b[..self.name.len()].copy_from_slice(self.name.as_bytes());
        b[48] = self.dtype.code();
        b[49] = 0; // row-major
        b[50] = match self.quant {
            Quantization::None => 0,
            Quantization::PerChannelInt8 => 1,
        };
        b[51] = self.shape.len() as u8;
        for (i, d) in self.shape.iter().enumerate() {
            b[56 + 8 * i..64 + 8 * i].copy_from_slice(&d.to_le_bytes());
        }
        b[88..96].copy_from_slice(&self.scales_offset.to_le_bytes());
        b[96..104].copy_from_slice(&self.scales_len.to_le_bytes());
        b[104..112].copy_from_slice(&self.data_offset.to_le_bytes());
        b[112..120].copy_from_slice(&self.data_len.to_le_bytes());
        b
    }

    /// Decodes descriptor bytes `b` (exactly [`DESC_LEN`]) and checks them against the data
    /// region `[region_start, region_end)`.
    pub(super) fn decode(b: &[u8], region_start: u64, region_end: u64) -> Result<Self> {
        let bad = |m: String| Err(TensorBlockError::InvalidHeader(m));
        let name_len = b[..MAX_NAME_LEN]
            .iter()
            .position(|&x| x == 0)
            .unwrap_or(MAX_NAME_LEN);
        if name_len == 0 || b[name_len..MAX_NAME_LEN].iter().any(|&x| x != 0) {
            return bad("tensor name is empty or not zero padded".into());
        }
        let Ok(name) = std::str::from_utf8(&b[..name_len]) else {
            return bad("tensor name is not UTF-8".into());
        };
        let name = name.to_string();
        let dtype = DType::from_code(b[48])?;
        if b[49] != 0 {
            return bad(format!("tensor {name}: unsupported layout code {}", b[49]));
        }
        let quant = match b[50] {
            0 => Quantization::None,
            1 => Quantization::PerChannelInt8,
            q => return bad(format!("tensor {name}: unknown quantization code {q}")),
        };
        let rank = usize::from(b[51]);
        if rank > MAX_RANK {
            return bad(format!("tensor {name}: rank {rank} > {MAX_RANK}"));
        }
        if u32_at(b, 52) != 0
            || u64_at(b, 120) != 0
            || (rank..MAX_RANK).any(|i| u64_at(b, 56 + 8 * i) != 0)
        {
            return bad(format!(
                "tensor {name}: reserved descriptor bytes are not zero"
            ));
        }
        let d = TensorDesc {
            shape: (0..rank).map(|i| u64_at(b, 56 + 8 * i)).collect(),
            name,
            dtype,
            quant,
            scales_offset: u64_at(b, 88),
            scales_len: u64_at(b, 96),
            data_offset: u64_at(b, 104),
            data_len: u64_at(b, 112),
        };
        d.check(region_start, region_end)?;
        Ok(d)
    }

    fn check(&self, start: u64, end: u64) -> Result<()> {
        let name = &self.name;
        let bad = |m: String| {
            Err(TensorBlockError::InvalidHeader(format!(
                "tensor {name}: {m}"
            )))
        };
        let within = |off: u64, len: u64| {
            off >= start
                && off.is_multiple_of(ALIGN)
                && off.checked_add(len).is_some_and(|e| e <= end)
        };
        let expected = self.numel().and_then(|n| n.checked_mul(self.dtype.size()));
        if expected != Some(self.data_len) {
            return Err(TensorBlockError::ShapeMismatch {
                tensor: name.clone(),
                shape: self.shape.clone(),
                expected: expected.unwrap_or(u64::MAX),
                actual: self.data_len,
            });
        }
        if !within(self.data_offset, self.data_len) {
            return bad(format!(
                "data [{}, +{}) outside the data region or misaligned",
                self.data_offset, self.data_len
            ));
        }
        match self.quant {
            Quantization::None => {
                if self.scales_offset != 0 || self.scales_len != 0 {
                    return bad("scales given without quantization".into());
                }
            }
            Quantization::PerChannelInt8 => {
                if self.dtype != DType::I8 || self.shape.is_empty() {
                    return bad("per-channel int8 needs dtype int8 and rank >= 1".into());
                }
                if self.scales_len != self.shape[0].saturating_mul(4) {
                    return bad(format!(
                        "{} scale bytes for {} channels",
                        self.scales_len, self.shape[0]
                    ));
                }
                if !within(self.scales_offset, self.scales_len) {
                    return bad("scales outside the data region or misaligned".into());
                }
            }
        }
        Ok(())
    }
}

/// Rounds `x` up to a multiple of [`ALIGN`].
pub(crate) fn align_up(x: u64) -> u64 {
    x.div_ceil(ALIGN) * ALIGN
}
