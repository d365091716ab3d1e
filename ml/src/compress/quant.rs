//! Stage 3: symmetric INT8 quantisation with one f32 scale per group (a tensor's output row,
//! or a low-rank factor's rank component), and its 4-bit variant for low-rank factors
//! (`int4f`).
//!
//! For a group with largest magnitude `a`: `scale = a / QMAX` (0 when `a == 0`), and every
//! value `x` becomes `q = clamp(round_ties_even(x / scale), -QMAX, QMAX)` (round to nearest,
//! ties to even); decoding is `q as f32 * scale`. The maximum error per value is
//! `scale / 2`. `QMAX` is 127 for INT8 (`-128` is never produced and is rejected by the
//! decoder) and 7 for INT4 (`-8` likewise).

/// Largest |q| of INT8 codes.
pub const QMAX: f32 = 127.0;
/// Largest |q| of INT4 codes.
pub const QMAX4: f32 = 7.0;

/// The scale of a group.
pub fn scale_of(values: impl Iterator<Item = f32>) -> f32 {
    scale_of_q(values, QMAX)
}

/// The scale of a group for codes in `-qmax..=qmax`.
pub fn scale_of_q(values: impl Iterator<Item = f32>, qmax: f32) -> f32 {
    let a = values.fold(0f32, |m, x| m.max(x.abs()));
    a / qmax
}

/// Quantises one value with `scale`.
pub fn quantize(x: f32, scale: f32) -> i8 {
    quantize_q(x, scale, QMAX)
}

/// Quantises one value with `scale` to a code in `-qmax..=qmax`.
pub fn quantize_q(x: f32, scale: f32, qmax: f32) -> i8 {
    if scale == 0.0 {
        return 0;
    }
    // In range by construction of the scale; the clamp guards rounding at the edge.
    (x / scale).round_ties_even().clamp(-qmax, qmax) as i8
}

/// Decodes one value.
pub fn dequantize(q: i8, scale: f32) -> f32 {
    f32::from(q) * scale
}

/// Quantises `values` as `rows` consecutive rows of equal length (`values.len()` is a
/// multiple of `rows`); returns the per-row scales and the codes.
pub fn quantize_rows(values: &[f32], rows: usize) -> (Vec<f32>, Vec<i8>) {
    quantize_rows_q(values, rows, QMAX)
}

/// [`quantize_rows`] with codes in `-qmax..=qmax`.
pub fn quantize_rows_q(values: &[f32], rows: usize, qmax: f32) -> (Vec<f32>, Vec<i8>) {
    let row_len = values.len().checked_div(rows).unwrap_or(0);
    let mut scales = Vec::with_capacity(rows);
    let mut codes = Vec::with_capacity(values.len());
    for r in 0..rows {
        let row = &values[r * row_len..(r + 1) * row_len];
        let s = scale_of_q(row.iter().copied(), qmax);
        scales.push(s);
        codes.extend(row.iter().map(|&x| quantize_q(x, s, qmax)));
    }
    (scales, codes)
}

/// Quantises the columns of a row-major `rows × cols` matrix: one scale per column.
pub fn quantize_cols(values: &[f32], rows: usize, cols: usize) -> (Vec<f32>, Vec<i8>) {
    quantize_cols_q(values, rows, cols, QMAX)
}

/// [`quantize_cols`] with codes in `-qmax..=qmax`.
pub fn quantize_cols_q(values: &[f32], rows: usize, cols: usize, qmax: f32) -> (Vec<f32>, Vec<i8>) {
    let mut scales = vec![0f32; cols];
    for i in 0..rows {
        for (j, s) in scales.iter_mut().enumerate() {
            *s = s.max(values[i * cols + j].abs());
        }
    }
    for s in scales.iter_mut() {
        *s /= qmax;
    }
    let mut codes = Vec::with_capacity(values.len());
    for i in 0..rows {
        for (j, &s) in scales.iter().enumerate() {
            codes.push(quantize_q(values[i * cols + j], s, qmax));
        }
    }
    (scales, codes)
}

/// Row (output channel) layout of a tensor of `shape` for per-row scales: dimension 0 for
/// rank ≥ 2 (the rest flattened), one row for rank 0 and 1. Returns `(rows, row_len)`.
pub fn row_layout(shape: &[usize], numel: usize) -> (usize, usize) {
    if shape.len() >= 2 {
        let rows = shape[0];
        (rows, numel.checked_div(rows).unwrap_or(0))
    } else {
        (1, numel)
    }
}
