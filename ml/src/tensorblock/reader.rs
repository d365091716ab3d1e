//! Opening TensorBlocks from a memory map and viewing their tensors in place.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use candle_core::{Device, Tensor};
use memmap2::Mmap;

use super::format::{Header, TensorDesc, DESC_LEN, HEADER_LEN, ROOT_RANGE};
use super::merkle::{leaf_hash, root, MerkleProof, PayloadHash};
use super::{DType, Layout, Quantization, Result, TensorBlockError};

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map_file(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: memmap2 requires that the mapped file is not modified or truncated while the
    // map lives (that would change or unmap the bytes behind our slices). TensorBlock files
    // are content-addressed and immutable: the writer creates a new file and renames it into
    // place, so a new version replaces the directory entry, never the mapped inode, and no
    // code of this crate writes to a block file in place. The map is read-only (PROT_READ),
    // and every byte read through it is bounds-checked against the header and verified by
    // hash before use. An outside process truncating the file would be a fault of the same
    // kind every mmap-based loader (safetensors, candle) accepts.
    unsafe { Mmap::map(file) }
}

enum Backing {
    Mmap(Mmap),
    /// An owned copy in 8-byte-aligned storage (so f32/f16 views stay aligned), and its
    /// length in bytes.
    Owned(Vec<u64>, usize),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mmap(m) => m,
            Backing::Owned(words, len) => &bytemuck::cast_slice(words)[..*len],
        }
    }
}

/// An opened TensorBlock: header and descriptors checked, the Merkle root recomputed from the
/// header and the tile index. Tile contents are checked by [`TensorBlock::verify_all`] or
/// [`TensorBlock::verify_tile`].
pub struct TensorBlock {
    backing: Backing,
    header: Header,
    descs: Vec<TensorDesc>,
    root: PayloadHash,
}

/// A borrowed view of one tensor of a [`TensorBlock`]: its bytes stay in the file's memory
/// map.
#[derive(Clone, Copy)]
pub struct TensorView<'a> {
    desc: &'a TensorDesc,
    data: &'a [u8],
    scales: &'a [u8],
}

impl TensorBlock {
    /// Memory-maps `path` and checks its structure and root (not its tiles).
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| TensorBlockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < HEADER_LEN as u64 {
            // Too short to be a block (and an empty file cannot be mapped): read it so that
            // the parser names what is missing.
            return Self::from_bytes(&std::fs::read(path).map_err(io)?);
        }
        Self::parse(Backing::Mmap(map_file(&file).map_err(io)?))
    }

    /// [`open`](Self::open), then checks that the payload hash is `expected` and that every
    /// tile matches: what a loader must do with a block named by the chain.
    pub fn open_verified(path: &Path, expected: &PayloadHash) -> Result<Self> {
        let tb = Self::open(path)?;
        tb.expect_hash(expected)?;
        tb.verify_all()?;
        Ok(tb)
    }

    /// Parses a block held in memory (copied once into aligned storage).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self::parse(Backing::Owned(words, bytes.len()))
    }

    fn parse(backing: Backing) -> Result<Self> {
        let b = backing.bytes();
        let header = Header::decode(b)?;
        let (start, end) = (header.data_offset, header.index_offset);
        let mut descs: Vec<TensorDesc> = Vec::with_capacity(header.tensor_count as usize);
        for i in 0..header.tensor_count as usize {
            let at = HEADER_LEN + i * DESC_LEN;
            let d = TensorDesc::decode(&b[at..at + DESC_LEN], start, end)?;
            if descs.last().is_some_and(|p| p.name >= d.name) {
                return Err(TensorBlockError::InvalidHeader(format!(
                    "tensor {:?} out of order or duplicated",
                    d.name
                )));
            }
            descs.push(d);
        }
        let mut sections: Vec<(u64, u64)> = descs
            .iter()
            .flat_map(|d| [(d.scales_offset, d.scales_len), (d.data_offset, d.data_len)])
            .filter(|&(_, len)| len > 0)
            .collect();
        sections.sort_unstable();
        if sections.windows(2).any(|w| w[0].0 + w[0].1 > w[1].0) {
            return Err(TensorBlockError::InvalidHeader(
                "tensor sections overlap".into(),
            ));
        }
        let mut leaves = Vec::with_capacity(header.tile_count as usize + 1);
        leaves.push(head_leaf(b, &header));
        leaves.extend(index_leaves(b, &header));
        let computed = root(&leaves);
        let stored = PayloadHash(header.merkle_root);
        if computed != stored {
            return Err(TensorBlockError::RootMismatch { stored, computed });
        }
        Ok(Self {
            backing,
            header,
            descs,
            root: stored,
        })
    }

    fn bytes(&self) -> &[u8] {
        self.backing.bytes()
    }

    /// The payload hash (Merkle root) recorded in the header and matched by the index.
    pub fn payload_hash(&self) -> PayloadHash {
        self.root
    }

    /// Fails with [`TensorBlockError::PayloadHashMismatch`] unless the root is `expected`.
    pub fn expect_hash(&self, expected: &PayloadHash) -> Result<()> {
        if self.root != *expected {
            return Err(TensorBlockError::PayloadHashMismatch {
                expected: *expected,
                actual: self.root,
            });
        }
        Ok(())
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.header.file_len
    }

    /// Bytes per tile.
    pub fn tile_size(&self) -> u32 {
        self.header.tile_size
    }

    /// Number of data tiles.
    pub fn tile_count(&self) -> u32 {
        self.header.tile_count
    }

    /// The bytes of tile `i`.
    pub fn tile(&self, i: u32) -> Result<&[u8]> {
        let h = &self.header;
        if i >= h.tile_count {
            return Err(TensorBlockError::TileOutOfRange {
                tile: i,
                tile_count: h.tile_count,
            });
        }
        let s = h.data_offset + u64::from(i) * u64::from(h.tile_size);
        let e = (s + u64::from(h.tile_size)).min(h.index_offset);
        Ok(&self.bytes()[s as usize..e as usize])
    }

    /// Checks that tile `i` hashes to its index entry (and so, the index being bound to the
    /// root at open, to the payload hash).
    pub fn verify_tile(&self, i: u32) -> Result<()> {
        let actual = leaf_hash(&[self.tile(i)?]);
        let at = self.header.index_offset as usize + 32 * i as usize;
        let mut expected = PayloadHash::default();
        expected.0.copy_from_slice(&self.bytes()[at..at + 32]);
        if actual != expected {
            return Err(TensorBlockError::CorruptTile {
                tile: i,
                tile_count: self.header.tile_count,
                expected,
                actual,
            });
        }
        Ok(())
    }

    /// Checks every tile; the first bad one is reported.
    pub fn verify_all(&self) -> Result<()> {
        (0..self.header.tile_count).try_for_each(|i| self.verify_tile(i))
    }

    /// The Merkle proof of tile `i` (leaf `1 + i`) against the payload hash.
    pub fn tile_proof(&self, i: u32) -> Result<MerkleProof> {
        self.tile(i)?;
        let b = self.bytes();
        let mut leaves = vec![head_leaf(b, &self.header)];
        leaves.extend(index_leaves(b, &self.header));
        MerkleProof::build(&leaves, 1 + i as usize).ok_or(TensorBlockError::TileOutOfRange {
            tile: i,
            tile_count: self.header.tile_count,
        })
    }

    /// Names of the tensors, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.descs.iter().map(|d| d.name.as_str())
    }

    /// Views of every tensor, sorted by name.
    pub fn tensors(&self) -> impl Iterator<Item = TensorView<'_>> {
        self.descs.iter().map(|d| self.view(d))
    }

    /// A view of the tensor `name`.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let i = self
            .descs
            .binary_search_by(|d| d.name.as_str().cmp(name))
            .map_err(|_| TensorBlockError::NoSuchTensor(name.to_string()))?;
        Ok(self.view(&self.descs[i]))
    }

    fn view<'a>(&'a self, d: &'a TensorDesc) -> TensorView<'a> {
        let b = self.bytes();
        let data = &b[d.data_offset as usize..(d.data_offset + d.data_len) as usize];
        let scales = &b[d.scales_offset as usize..(d.scales_offset + d.scales_len) as usize];
        TensorView {
            desc: d,
            data,
            scales,
        }
    }

    /// Every tensor as a candle tensor on `device` (one copy each; see
    /// [`TensorView::to_tensor`]).
    pub fn to_tensors(&self, device: &Device) -> Result<BTreeMap<String, Tensor>> {
        self.tensors()
            .map(|v| Ok((v.name().to_string(), v.to_tensor(device)?)))
            .collect()
    }
}

/// Leaf 0: the header with its root field zeroed, the descriptors and the padding up to the
/// data region.
fn head_leaf(b: &[u8], h: &Header) -> PayloadHash {
    leaf_hash(&[
        &b[..ROOT_RANGE.start],
        &[0u8; 32],
        &b[ROOT_RANGE.end..h.data_offset as usize],
    ])
}

fn index_leaves<'a>(b: &'a [u8], h: &Header) -> impl Iterator<Item = PayloadHash> + 'a {
    let idx = &b[h.index_offset as usize..h.file_len as usize];
    idx.chunks_exact(32).map(|c| {
        let mut l = PayloadHash::default();
        l.0.copy_from_slice(c);
        l
    })
}

impl<'a> TensorView<'a> {
    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        &self.desc.name
    }

    /// Element type of the stored data.
    pub fn dtype(&self) -> DType {
        self.desc.dtype
    }

    /// Memory layout (row-major in format version 1).
    pub fn layout(&self) -> Layout {
        Layout::RowMajor
    }

    /// Quantization of the stored data.
    pub fn quantization(&self) -> Quantization {
        self.desc.quant
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.desc.shape.iter().map(|&d| d as usize).collect()
    }

    /// The raw little-endian data bytes, in place.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    fn cast<T: bytemuck::Pod>(&self, bytes: &'a [u8]) -> Result<&'a [T]> {
        if cfg!(target_endian = "big") {
            return Err(TensorBlockError::Unviewable(self.desc.name.clone()));
        }
        bytemuck::try_cast_slice(bytes)
            .map_err(|_| TensorBlockError::Unviewable(self.desc.name.clone()))
    }

    fn want(&self, dtype: DType) -> Result<()> {
        if self.desc.dtype != dtype {
            return Err(TensorBlockError::WrongDType {
                tensor: self.desc.name.clone(),
                expected: dtype,
                actual: self.desc.dtype,
            });
        }
        Ok(())
    }

    /// The f32 data in place: no copy, no deserialization (little-endian hosts).
    pub fn as_f32(&self) -> Result<&'a [f32]> {
        self.want(DType::F32)?;
        self.cast(self.data)
    }

    /// The f16 data in place.
    pub fn as_f16(&self) -> Result<&'a [half::f16]> {
        self.want(DType::F16)?;
        self.cast(self.data)
    }

    /// The bf16 data in place.
    pub fn as_bf16(&self) -> Result<&'a [half::bf16]> {
        self.want(DType::BF16)?;
        self.cast(self.data)
    }

    /// The int8 data in place.
    pub fn as_i8(&self) -> Result<&'a [i8]> {
        self.want(DType::I8)?;
        self.cast(self.data)
    }

    /// Per-channel scales in place (None without quantization).
    pub fn scales(&self) -> Result<Option<&'a [f32]>> {
        match self.desc.quant {
            Quantization::None => Ok(None),
            Quantization::PerChannelInt8 => self.cast(self.scales).map(Some),
        }
    }

    /// A candle tensor with this data. f32, f16 and bf16 are copied once, straight from the
    /// map into the tensor's storage (candle's CPU storage owns its buffer, so one copy is
    /// the floor); int8 is dequantized to f32 (`q * scale[row]`, or `q` unscaled).
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        let shape = self.shape();
        Ok(match self.desc.dtype {
            DType::F32 => Tensor::from_slice(self.as_f32()?, shape, device)?,
            DType::F16 => Tensor::from_slice(self.as_f16()?, shape, device)?,
            DType::BF16 => Tensor::from_slice(self.as_bf16()?, shape, device)?,
            DType::I8 => {
                let q = self.as_i8()?;
                let values: Vec<f32> = match self.scales()? {
                    Some(scales) => {
                        let row = q.len().checked_div(scales.len()).unwrap_or(0).max(1);
                        q.iter()
                            .enumerate()
                            .map(|(i, &x)| {
                                f32::from(x) * scales.get(i / row).copied().unwrap_or(0.0)
                            })
                            .collect()
                    }
                    None => q.iter().map(|&x| f32::from(x)).collect(),
                };
                Tensor::from_vec(values, shape, device)?
            }
        })
    }
}
