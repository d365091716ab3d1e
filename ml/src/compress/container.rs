//! The encoded container's tensor records: writing, bounds-checked parsing, and the exact
//! reconstruction shared by the encoder (for residuals) and the decoder.

use super::quant::{dequantize, row_layout};
use super::sparse::{get_indices, put_indices};
use super::{lowrank, CompressError};

pub(crate) const ENC_DENSE_F32: u8 = 0;
pub(crate) const ENC_DENSE_I8: u8 = 1;
pub(crate) const ENC_SPARSE: u8 = 2;
pub(crate) const ENC_LOWRANK: u8 = 3;
const KIND_F32: u8 = 0;
const KIND_I8: u8 = 1;
const KIND_I4: u8 = 2;

/// A stored float array: plain f32, or INT8 codes with one scale per group, or INT4 codes
/// (`-7..=7`, two per byte; low-rank factors only) with one scale per group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    F32(Vec<f32>),
    Int8 { scales: Vec<f32>, codes: Vec<i8> },
    Int4 { scales: Vec<f32>, codes: Vec<i8> },
}

/// Packs INT4 codes two per byte: code `2i` in the low nibble of byte `i`, code `2i + 1`
/// in the high nibble (4-bit two's complement); an odd count leaves the last high nibble 0.
pub(crate) fn pack4(codes: &[i8]) -> Vec<u8> {
    codes
        .chunks(2)
        .map(|c| {
            let lo = (c[0] as u8) & 0x0f;
            let hi = c.get(1).map_or(0, |&h| (h as u8) & 0x0f);
            lo | (hi << 4)
        })
        .collect()
}

fn nibble(b: u8) -> i8 {
    // Sign-extend the 4-bit two's complement value.
    ((b << 4) as i8) >> 4
}

impl Values {
    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::Int8 { codes, .. } | Values::Int4 { codes, .. } => codes.len(),
        }
    }
    fn put_kind(&self, out: &mut Vec<u8>) {
        out.push(match self {
            Values::F32(_) => KIND_F32,
            Values::Int8 { .. } => KIND_I8,
            Values::Int4 { .. } => KIND_I4,
        });
    }
    fn put_scales(&self, out: &mut Vec<u8>) {
        if let Values::Int8 { scales, .. } | Values::Int4 { scales, .. } = self {
            put_f32s(out, scales);
        }
    }
    fn put_data(&self, out: &mut Vec<u8>) {
        match self {
            Values::F32(v) => put_f32s(out, v),
            Values::Int8 { codes, .. } => out.extend(codes.iter().map(|&c| c as u8)),
            Values::Int4 { codes, .. } => out.extend(pack4(codes)),
        }
    }
}

/// Kept entries of a sparse tensor; INT8 values have one scale per row that has entries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sparse {
    pub indices: Vec<u64>,
    pub values: Values,
}

/// How one tensor is stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// Every value; INT8 per row.
    Dense(Values),
    /// Top-k entries.
    Sparse(Sparse),
    /// `U` (m×r, INT8 or INT4 per column) · `V` (r×n, INT8 or INT4 per row), plus an optional
    /// sparse residual.
    LowRank {
        r: usize,
        u: Values,
        v: Values,
        residual: Option<Sparse>,
    },
}

impl Body {
    /// The encoding byte.
    pub(super) fn code(&self) -> u8 {
        match self {
            Body::Dense(Values::F32(_)) => ENC_DENSE_F32,
            // The encoder never stores dense INT4.
            Body::Dense(Values::Int8 { .. } | Values::Int4 { .. }) => ENC_DENSE_I8,
            Body::Sparse(_) => ENC_SPARSE,
            Body::LowRank { .. } => ENC_LOWRANK,
        }
    }
}

pub(crate) fn put_f32s(out: &mut Vec<u8>, v: &[f32]) {
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn put_sparse(out: &mut Vec<u8>, s: &Sparse) {
    out.extend_from_slice(&(s.indices.len() as u64).to_le_bytes());
    s.values.put_kind(out);
    put_indices(out, &s.indices);
    s.values.put_scales(out);
    s.values.put_data(out);
}

/// Appends the encoding byte and body.
pub(crate) fn put_body(out: &mut Vec<u8>, body: &Body) {
    out.push(body.code());
    match body {
        Body::Dense(v) => {
            v.put_scales(out);
            v.put_data(out);
        }
        Body::Sparse(s) => put_sparse(out, s),
        Body::LowRank { r, u, v, residual } => {
            out.extend_from_slice(&(*r as u32).to_le_bytes());
            u.put_kind(out);
            u.put_scales(out);
            v.put_scales(out);
            u.put_data(out);
            v.put_data(out);
            match residual {
                None => out.push(0),
                Some(s) => {
                    out.push(1);
                    put_sparse(out, s);
                }
            }
        }
    }
}

/// A bounds-checked reader over the container bytes.
pub(crate) struct Cursor<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

fn malformed(m: impl Into<String>) -> CompressError {
    CompressError::Malformed(m.into())
}

impl<'a> Cursor<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], CompressError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                malformed(format!(
                    "truncated: {n} bytes wanted at offset {}",
                    self.pos
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(super) fn u8(&mut self) -> Result<u8, CompressError> {
        Ok(self.take(1)?[0])
    }
    pub(super) fn u16(&mut self) -> Result<u16, CompressError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub(super) fn u32(&mut self) -> Result<u32, CompressError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    pub(super) fn u64(&mut self) -> Result<u64, CompressError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    /// `n` finite f32s (non-negative ones when `scales`).
    fn f32s(&mut self, n: usize, scales: bool) -> Result<Vec<f32>, CompressError> {
        let bytes = self.take(
            n.checked_mul(4)
                .ok_or_else(|| malformed("length overflow"))?,
        )?;
        let mut out = Vec::with_capacity(n);
        for c in bytes.chunks_exact(4) {
            let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if !x.is_finite() || (scales && x < 0.0) {
                return Err(CompressError::NonFinite);
            }
            out.push(x);
        }
        Ok(out)
    }
    fn i8s(&mut self, n: usize) -> Result<Vec<i8>, CompressError> {
        let bytes = self.take(n)?;
        if bytes.contains(&0x80) {
            return Err(malformed("int8 code -128 is not produced by the encoder"));
        }
        Ok(bytes.iter().map(|&b| b as i8).collect())
    }
    /// `n` INT4 codes packed two per byte (see [`pack4`]); `-8` and a non-zero padding
    /// nibble are errors.
    pub(crate) fn i4s(&mut self, n: usize) -> Result<Vec<i8>, CompressError> {
        let bytes = self.take(n.div_ceil(2))?;
        let mut out = Vec::with_capacity(n);
        for &b in bytes {
            for q in [nibble(b & 0x0f), nibble(b >> 4)] {
                if q == -8 {
                    return Err(malformed("int4 code -8 is not produced by the encoder"));
                }
                out.push(q);
            }
        }
        if out.len() > n && out.pop() != Some(0) {
            return Err(malformed("non-zero int4 padding"));
        }
        Ok(out)
    }
    fn kind(&mut self) -> Result<bool, CompressError> {
        match self.u8()? {
            KIND_F32 => Ok(false),
            KIND_I8 => Ok(true),
            k => Err(malformed(format!("unknown value kind {k}"))),
        }
    }
    /// Scales (if INT8, `groups` of them) then `n` values.
    fn values(&mut self, int8: bool, groups: usize, n: usize) -> Result<Values, CompressError> {
        if int8 {
            let scales = self.f32s(groups, true)?;
            Ok(Values::Int8 {
                scales,
                codes: self.i8s(n)?,
            })
        } else {
            Ok(Values::F32(self.f32s(n, false)?))
        }
    }
}

/// Number of distinct rows among ascending `indices` (rows of `row_len` entries).
fn distinct_rows(indices: &[u64], row_len: usize) -> usize {
    let row_len = row_len.max(1) as u64;
    let mut count = 0;
    let mut last = None;
    for &i in indices {
        let r = i / row_len;
        if last != Some(r) {
            count += 1;
            last = Some(r);
        }
    }
    count
}

fn read_sparse(c: &mut Cursor<'_>, numel: usize, row_len: usize) -> Result<Sparse, CompressError> {
    let nnz = usize::try_from(c.u64()?).map_err(|_| malformed("nnz overflow"))?;
    if nnz > numel {
        return Err(malformed(format!("{nnz} entries kept of {numel}")));
    }
    let int8 = c.kind()?;
    let indices = get_indices(c.buf, &mut c.pos, nnz, numel)?;
    let groups = distinct_rows(&indices, row_len);
    let values = c.values(int8, groups, nnz)?;
    Ok(Sparse { indices, values })
}

/// Parses one body for a tensor of `shape` with `numel` values.
pub(crate) fn read_body(
    c: &mut Cursor<'_>,
    shape: &[usize],
    numel: usize,
) -> Result<Body, CompressError> {
    let (rows, row_len) = row_layout(shape, numel);
    match c.u8()? {
        ENC_DENSE_F32 => Ok(Body::Dense(c.values(false, 0, numel)?)),
        ENC_DENSE_I8 => Ok(Body::Dense(c.values(true, rows, numel)?)),
        ENC_SPARSE => Ok(Body::Sparse(read_sparse(c, numel, row_len)?)),
        ENC_LOWRANK => {
            let [m, n] = shape else {
                return Err(malformed("low-rank encoding of a tensor that is not 2-D"));
            };
            let (m, n) = (*m, *n);
            let r = c.u32()? as usize;
            if r == 0 || r > m.min(n) || r > super::pipeline::MAX_RANK {
                return Err(malformed(format!("rank {r} invalid for {m}x{n}")));
            }
            // What the encoder writes (see the module docs): factors smaller than the matrix,
            // which bounds the reconstruction at m·n·r < m·n·min(m, n) multiply-adds.
            let factor_values = (r as u128).saturating_mul(m as u128 + n as u128);
            if m <= super::LOWRANK_MIN_DIM
                || n <= super::LOWRANK_MIN_DIM
                || factor_values >= (m as u128).saturating_mul(n as u128)
            {
                return Err(malformed(format!(
                    "rank {r} factors of {m}x{n} are not smaller than the matrix"
                )));
            }
            let kind = c.u8()?;
            let (u, v) = if kind == KIND_I4 {
                let (us, vs) = (c.f32s(r, true)?, c.f32s(r, true)?);
                let u = Values::Int4 {
                    scales: us,
                    codes: c.i4s(m * r)?,
                };
                let v = Values::Int4 {
                    scales: vs,
                    codes: c.i4s(r * n)?,
                };
                (u, v)
            } else if kind == KIND_I8 {
                let (us, vs) = (c.f32s(r, true)?, c.f32s(r, true)?);
                let u = Values::Int8 {
                    scales: us,
                    codes: c.i8s(m * r)?,
                };
                let v = Values::Int8 {
                    scales: vs,
                    codes: c.i8s(r * n)?,
                };
                (u, v)
            } else if kind == KIND_F32 {
                let u = Values::F32(c.f32s(m * r, false)?);
                (u, Values::F32(c.f32s(r * n, false)?))
            } else {
                return Err(malformed(format!("unknown value kind {kind}")));
            };
            let residual = match c.u8()? {
                0 => None,
                1 => Some(read_sparse(c, numel, row_len)?),
                f => return Err(malformed(format!("bad residual flag {f}"))),
            };
            Ok(Body::LowRank { r, u, v, residual })
        }
        e => Err(malformed(format!("unknown encoding {e}"))),
    }
}

/// Dequantises `values` where entry `i` belongs to group `group(i)`.
fn dequant(values: &Values, group: impl Fn(usize) -> usize) -> Vec<f32> {
    match values {
        Values::F32(v) => v.clone(),
        Values::Int8 { scales, codes } | Values::Int4 { scales, codes } => codes
            .iter()
            .enumerate()
            .map(|(i, &q)| dequantize(q, scales.get(group(i)).copied().unwrap_or(0.0)))
            .collect(),
    }
}

/// Adds the sparse entries into `out` (`out[i] += value`, in index order).
fn add_sparse(s: &Sparse, row_len: usize, out: &mut [f32]) {
    let row_len = row_len.max(1) as u64;
    let mut slot = 0usize;
    let mut last_row = None;
    let rows_of: Vec<usize> = s
        .indices
        .iter()
        .map(|&i| {
            let r = i / row_len;
            if last_row.is_some_and(|l| l != r) {
                slot += 1;
            }
            last_row = Some(r);
            slot
        })
        .collect();
    let vals = dequant(&s.values, |k| rows_of[k]);
    for (&i, x) in s.indices.iter().zip(vals) {
        if let Some(o) = out.get_mut(i as usize) {
            *o += x;
        }
    }
}

/// The f32 values a body stands for, with plain ordered loops.
pub(crate) fn reconstruct(body: &Body, shape: &[usize], numel: usize) -> Vec<f32> {
    let (_, row_len) = row_layout(shape, numel);
    match body {
        Body::Dense(v) => dequant(v, |i| i.checked_div(row_len).unwrap_or(0)),
        Body::Sparse(s) => {
            let mut out = vec![0f32; numel];
            add_sparse(s, row_len, &mut out);
            out
        }
        Body::LowRank { r, u, v, residual } => {
            let (m, n, r) = (shape[0], shape[1], *r);
            let u = dequant(u, |i| i % r);
            let v = dequant(v, |i| i / n.max(1));
            let mut out = vec![0f32; numel];
            lowrank::reconstruct(&u, &v, m, n, r, &mut out);
            if let Some(s) = residual {
                add_sparse(s, row_len, &mut out);
            }
            out
        }
    }
}

/// Value count of a body (for checks in tests).
#[cfg(test)]
pub(crate) fn stored_values(body: &Body) -> usize {
    match body {
        Body::Dense(v) => v.len(),
        Body::Sparse(s) => s.values.len(),
        Body::LowRank { u, v, residual, .. } => {
            u.len() + v.len() + residual.as_ref().map_or(0, |s| s.values.len())
        }
    }
}

/// Reads a u16-length-prefixed UTF-8 string of 1..=`max` bytes.
pub(crate) fn read_str(
    c: &mut Cursor<'_>,
    what: &str,
    max: usize,
) -> Result<String, CompressError> {
    let len = c.u16()? as usize;
    if len == 0 || len > max {
        return Err(malformed(format!("{what} length {len} not in 1..={max}")));
    }
    let b = c.take(len)?;
    String::from_utf8(b.to_vec()).map_err(|_| malformed(format!("{what} is not UTF-8")))
}
