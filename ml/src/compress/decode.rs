//! The decoder: hash check, bounds-checked parse, exact reconstruction; plus the decoded
//! hash and conversions to and from candle tensors.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use sha3::{Digest, Sha3_256};

use super::container::{read_body, read_str, reconstruct, Body, Cursor, Values};
use super::layout::BlockLayout;
use super::{
    CompressError, Decoded, DeltaTensor, Pipeline, DEFAULT_MAX_VALUES, MAGIC, MAX_DIMS,
    MAX_NAME_LEN, MAX_SPEC_LEN, VERSION,
};

/// What a container holds, without the values.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContainerInfo {
    /// Block name.
    pub block: String,
    /// The pipeline spec it was encoded with.
    pub pipeline: String,
    /// Total tensor values.
    pub values: u64,
    /// Container size.
    pub bytes: u64,
    /// Per tensor, in stored order.
    pub tensors: Vec<TensorInfo>,
}

/// One tensor of a [`ContainerInfo`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TensorInfo {
    /// Name.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// `dense-f32`, `dense-int8`, `sparse-f32`/`sparse-int8` (with `kept`), or
    /// `lowrank-f32`/`lowrank-int8`/`lowrank-int4` (with `rank`, and `kept` for a sparse residual).
    pub encoding: String,
    /// Rank of the factors, for low-rank.
    pub rank: Option<usize>,
    /// Entries kept, for sparse values or a sparse residual.
    pub kept: Option<usize>,
}

struct Parsed {
    pipeline: String,
    block: String,
    total: u64,
    tensors: Vec<(String, Vec<usize>, usize, Body)>,
}

fn malformed(m: impl Into<String>) -> CompressError {
    CompressError::Malformed(m.into())
}

/// Parses and checks a container holding at most `max_values` values; with `layout`, it
/// must also fit that block (see [`decode_for`]), checked before any value is read.
fn parse(
    bytes: &[u8],
    max_values: usize,
    layout: Option<&BlockLayout>,
) -> Result<Parsed, CompressError> {
    let misfit = |m: String| CompressError::Layout(m);
    let body_len = bytes
        .len()
        .checked_sub(32)
        .ok_or_else(|| malformed(format!("{} bytes is shorter than a hash", bytes.len())))?;
    let (body, stored) = bytes.split_at(body_len);
    let computed = super::sha3(body);
    if computed[..] != *stored {
        return Err(CompressError::HashMismatch {
            stored: hex::encode(stored),
            computed: hex::encode(computed),
        });
    }
    let mut c = Cursor { buf: body, pos: 0 };
    if c.take(4)? != MAGIC {
        return Err(malformed("bad magic (not a Blyan delta container)"));
    }
    let (version, reserved) = (c.u16()?, c.u16()?);
    if version != VERSION || reserved != 0 {
        return Err(malformed(format!(
            "unsupported version {version}/{reserved}"
        )));
    }
    let pipeline = read_str(&mut c, "pipeline spec", MAX_SPEC_LEN)?;
    pipeline
        .parse::<Pipeline>()
        .map_err(|e| malformed(format!("recorded pipeline: {e}")))?;
    let block = read_str(&mut c, "block name", MAX_NAME_LEN)?;
    if let Some(l) = layout.filter(|l| l.block != block) {
        return Err(misfit(format!(
            "the container is for block {block:?}, not {:?}",
            l.block
        )));
    }
    let count = c.u32()? as usize;
    let total = c.u64()?;
    if let Some(l) = layout.filter(|l| total > l.numel()) {
        return Err(misfit(format!(
            "{total} values claimed, block {} holds {}",
            l.block,
            l.numel()
        )));
    }
    if total > max_values as u64 {
        return Err(CompressError::TooLarge {
            claimed: u128::from(total),
            limit: max_values,
        });
    }
    let mut seen = 0u64;
    let mut tensors: Vec<(String, Vec<usize>, usize, Body)> = Vec::new();
    for _ in 0..count {
        let name = read_str(&mut c, "tensor name", MAX_NAME_LEN)?;
        if tensors.last().is_some_and(|(prev, _, _, _)| *prev >= name) {
            return Err(malformed(format!(
                "tensor {name:?} out of order or repeated"
            )));
        }
        let rank = usize::from(c.u8()?);
        if rank > MAX_DIMS {
            return Err(malformed(format!("{name}: rank {rank} > {MAX_DIMS}")));
        }
        let mut shape = Vec::with_capacity(rank);
        let mut numel: u128 = 1;
        for _ in 0..rank {
            let d = c.u64()?;
            numel = numel.saturating_mul(u128::from(d));
            shape.push(d);
        }
        if let Some(l) = layout {
            let fits = l.shape(&name).is_some_and(|want| {
                want.len() == shape.len() && want.iter().zip(&shape).all(|(&w, &d)| w as u64 == d)
            });
            if !fits {
                return Err(misfit(match l.shape(&name) {
                    None => format!("block {} has no tensor {name:?}", l.block),
                    Some(want) => format!(
                        "tensor {name}: shape {shape:?} claimed, block {} has {want:?}",
                        l.block
                    ),
                }));
            }
        }
        let claimed = u128::from(seen).saturating_add(numel);
        if claimed > u128::from(total) {
            return Err(CompressError::TooLarge {
                claimed,
                limit: total as usize,
            });
        }
        // Bounded by `total <= max_values`, so these conversions cannot truncate.
        let numel = numel as usize;
        let shape: Vec<usize> = shape.into_iter().map(|d| d as usize).collect();
        seen = claimed as u64;
        let body = read_body(&mut c, &shape, numel)?;
        tensors.push((name, shape, numel, body));
    }
    if seen != total {
        return Err(malformed(format!(
            "total {total} values, tensors hold {seen}"
        )));
    }
    if c.pos != body.len() {
        return Err(malformed(format!("{} trailing bytes", body.len() - c.pos)));
    }
    Ok(Parsed {
        pipeline,
        block,
        total,
        tensors,
    })
}

/// [`decode_with_limit`] with [`DEFAULT_MAX_VALUES`].
pub fn decode(bytes: &[u8]) -> Result<Decoded, CompressError> {
    decode_with_limit(bytes, DEFAULT_MAX_VALUES)
}

/// Verifies and decodes a container holding at most `max_values` values in all.
pub fn decode_with_limit(bytes: &[u8], max_values: usize) -> Result<Decoded, CompressError> {
    reconstruct_all(parse(bytes, max_values, None)?)
}

/// Verifies and decodes a delta container for the block `layout` describes (a validator's
/// base block): the container's block must be that block, each tensor one the block has,
/// with the block's shape, and the values no more than the block holds, else
/// [`CompressError::Layout`]. These are checked as the header of each tensor is read,
/// before its values are read, allocated or reconstructed, so the work and memory are
/// bounded by the block's size (plus the container's own bytes) whatever it claims.
pub fn decode_for(bytes: &[u8], layout: &BlockLayout) -> Result<Decoded, CompressError> {
    reconstruct_all(parse(bytes, DEFAULT_MAX_VALUES, Some(layout))?)
}

fn reconstruct_all(p: Parsed) -> Result<Decoded, CompressError> {
    let mut tensors = Vec::with_capacity(p.tensors.len());
    for (name, shape, numel, body) in p.tensors {
        let values = reconstruct(&body, &shape, numel);
        if values.iter().any(|x| !x.is_finite()) {
            return Err(CompressError::NonFinite);
        }
        tensors.push(DeltaTensor {
            name,
            shape,
            values,
        });
    }
    Ok(Decoded {
        block: p.block,
        tensors,
    })
}

fn kind(v: &Values) -> &'static str {
    match v {
        Values::F32(_) => "f32",
        Values::Int8 { .. } => "int8",
        Values::Int4 { .. } => "int4",
    }
}

/// Verifies and parses a container (limit as [`decode_with_limit`]) and describes it.
pub fn inspect(bytes: &[u8], max_values: usize) -> Result<ContainerInfo, CompressError> {
    let p = parse(bytes, max_values, None)?;
    let tensors = p
        .tensors
        .iter()
        .map(|(name, shape, _, body)| {
            let (encoding, rank, kept) = match body {
                Body::Dense(v) => (format!("dense-{}", kind(v)), None, None),
                Body::Sparse(s) => (
                    format!("sparse-{}", kind(&s.values)),
                    None,
                    Some(s.indices.len()),
                ),
                Body::LowRank { r, u, residual, .. } => (
                    format!("lowrank-{}", kind(u)),
                    Some(*r),
                    residual.as_ref().map(|s| s.indices.len()),
                ),
            };
            TensorInfo {
                name: name.clone(),
                shape: shape.clone(),
                encoding,
                rank,
                kept,
            }
        })
        .collect();
    Ok(ContainerInfo {
        block: p.block,
        pipeline: p.pipeline,
        values: p.total,
        bytes: bytes.len() as u64,
        tensors,
    })
}

/// sha3-256 over the decoded content: block name (u64 LE length + bytes), tensor count
/// (u64 LE), then per tensor its name (u64 LE length + bytes), rank (u64 LE), dims (u64 LE
/// each) and values (f32 LE), in order. Equal on every machine that decodes the same bytes.
pub fn decoded_hash(d: &Decoded) -> [u8; 32] {
    let mut h = Sha3_256::new();
    let put_str = |h: &mut Sha3_256, s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    put_str(&mut h, &d.block);
    h.update((d.tensors.len() as u64).to_le_bytes());
    for t in &d.tensors {
        put_str(&mut h, &t.name);
        h.update((t.shape.len() as u64).to_le_bytes());
        for &dim in &t.shape {
            h.update((dim as u64).to_le_bytes());
        }
        let mut buf = Vec::with_capacity(t.values.len() * 4);
        for x in &t.values {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        h.update(&buf);
    }
    h.finalize().into()
}

/// A block's delta as [`DeltaTensor`]s (f32, row-major; sorted by name).
pub fn tensors_to_delta(map: &BTreeMap<String, Tensor>) -> Result<Vec<DeltaTensor>, CompressError> {
    map.iter()
        .map(|(name, t)| {
            let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            Ok(DeltaTensor {
                name: name.clone(),
                shape: t.dims().to_vec(),
                values,
            })
        })
        .collect()
}

/// [`DeltaTensor`]s as f32 candle tensors on `device`.
pub fn delta_to_tensors(
    tensors: &[DeltaTensor],
    device: &Device,
) -> Result<BTreeMap<String, Tensor>, CompressError> {
    tensors
        .iter()
        .map(|t| {
            let x = Tensor::from_slice(&t.values, t.shape.as_slice(), device)?;
            Ok((t.name.clone(), x))
        })
        .collect()
}
