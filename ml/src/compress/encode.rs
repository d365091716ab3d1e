//! The encoder: stage selection per tensor, residuals, the container bytes and the stats.

use super::container::{put_body, reconstruct, Body, Sparse, Values};
use super::lowrank::{factorize, max_rank};
use super::quant::{
    quantize, quantize_cols_q, quantize_rows, quantize_rows_q, row_layout, scale_of, QMAX, QMAX4,
};
use super::sparse::{k_of, top_k};
use super::{
    put_str, sha3, CompressError, DeltaTensor, Encoded, ErrorFeedback, Pipeline, Stats,
    LOWRANK_MIN_DIM, MAGIC, MAX_DIMS, MAX_NAME_LEN, VERSION,
};

/// Keeps the top-k of `x` (INT8 per row with entries, when `int8`).
fn sparsify(x: &[f32], k: usize, row_len: usize, int8: bool) -> Sparse {
    let indices = top_k(x, k);
    let kept: Vec<f32> = indices.iter().map(|&i| x[i as usize]).collect();
    if !int8 {
        return Sparse {
            indices,
            values: Values::F32(kept),
        };
    }
    let row_len = row_len.max(1) as u64;
    let (mut scales, mut codes) = (Vec::new(), Vec::with_capacity(kept.len()));
    let mut start = 0;
    while start < indices.len() {
        let row = indices[start] / row_len;
        let mut end = start;
        while end < indices.len() && indices[end] / row_len == row {
            end += 1;
        }
        let s = scale_of(kept[start..end].iter().copied());
        scales.push(s);
        codes.extend(kept[start..end].iter().map(|&v| quantize(v, s)));
        start = end;
    }
    Sparse {
        indices,
        values: Values::Int8 { scales, codes },
    }
}

/// Chooses and builds the body of one tensor under `p`.
fn encode_tensor(x: &[f32], shape: &[usize], p: &Pipeline) -> Body {
    let numel = x.len();
    let (rows, row_len) = row_layout(shape, numel);
    if let (Some(lr), [m, n]) = (p.low_rank, shape) {
        let (m, n) = (*m, *n);
        let r_max = max_rank(&lr, m, n);
        if m > LOWRANK_MIN_DIM && n > LOWRANK_MIN_DIM && r_max * (m + n) < m * n {
            let f = factorize(x, m, n, &lr);
            let (u, v) = if p.int8 {
                let qmax = if p.int4_factors { QMAX4 } else { QMAX };
                let (us, uc) = quantize_cols_q(&f.u, m, f.r, qmax);
                let (vs, vc) = quantize_rows_q(&f.v, f.r, qmax);
                if p.int4_factors {
                    let u = Values::Int4 {
                        scales: us,
                        codes: uc,
                    };
                    let v = Values::Int4 {
                        scales: vs,
                        codes: vc,
                    };
                    (u, v)
                } else {
                    let u = Values::Int8 {
                        scales: us,
                        codes: uc,
                    };
                    let v = Values::Int8 {
                        scales: vs,
                        codes: vc,
                    };
                    (u, v)
                }
            } else {
                (Values::F32(f.u), Values::F32(f.v))
            };
            let mut body = Body::LowRank {
                r: f.r,
                u,
                v,
                residual: None,
            };
            if let Some(t) = p.top_k {
                let approx = reconstruct(&body, shape, numel);
                let rest: Vec<f32> = x.iter().zip(&approx).map(|(a, b)| a - b).collect();
                let s = sparsify(&rest, k_of(numel, t.fraction), row_len, p.int8);
                if let Body::LowRank { residual, .. } = &mut body {
                    *residual = Some(s);
                }
            }
            return body;
        }
    }
    if let (Some(t), true) = (p.top_k, shape.len() >= 2) {
        return Body::Sparse(sparsify(x, k_of(numel, t.fraction), row_len, p.int8));
    }
    if p.int8 {
        let (scales, codes) = quantize_rows(x, rows);
        return Body::Dense(Values::Int8 { scales, codes });
    }
    Body::Dense(Values::F32(x.to_vec()))
}

fn check_input(block: &str, tensors: &[DeltaTensor]) -> Result<(), CompressError> {
    let bad = |m: String| Err(CompressError::Input(m));
    if block.is_empty() || block.len() > MAX_NAME_LEN {
        return bad(format!(
            "block name {block:?} must be 1..={MAX_NAME_LEN} bytes"
        ));
    }
    for t in tensors {
        if t.name.is_empty() || t.name.len() > MAX_NAME_LEN {
            return bad(format!(
                "tensor name {:?} must be 1..={MAX_NAME_LEN} bytes",
                t.name
            ));
        }
        if t.shape.len() > MAX_DIMS {
            return bad(format!("{}: rank {} > {MAX_DIMS}", t.name, t.shape.len()));
        }
        let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if numel != Some(t.values.len()) {
            return bad(format!(
                "{}: shape {:?} does not hold {} values",
                t.name,
                t.shape,
                t.values.len()
            ));
        }
        if t.values.iter().any(|x| !x.is_finite()) {
            return bad(format!("{}: NaN or infinite value", t.name));
        }
    }
    Ok(())
}

/// Compresses one block's delta with `pipeline`.
///
/// Tensors are stored sorted by name (duplicates are an error). With `feedback`, each
/// tensor's stored residual (when its shape matches) is added first and the new residual
/// `corrected − decoded` is stored after a successful encoding; without it, what the
/// pipeline drops is lost.
pub fn encode(
    block: &str,
    tensors: &[DeltaTensor],
    pipeline: &Pipeline,
    feedback: Option<&mut ErrorFeedback>,
) -> Result<Encoded, CompressError> {
    pipeline.validate()?;
    check_input(block, tensors)?;
    let mut sorted: Vec<&DeltaTensor> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = sorted.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(CompressError::Input(format!(
            "duplicate tensor {:?}",
            w[0].name
        )));
    }
    let total: u64 = sorted.iter().map(|t| t.values.len() as u64).sum();
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    put_str(&mut out, &pipeline.to_string());
    put_str(&mut out, block);
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    let (mut err2, mut norm2) = (0f64, 0f64);
    let mut new_residuals = Vec::new();
    for t in sorted {
        let mut x = t.values.clone();
        if let Some(r) = feedback
            .as_deref()
            .and_then(|f| f.residual_for(block, &t.name, &t.shape))
        {
            for (a, b) in x.iter_mut().zip(r) {
                *a += b;
            }
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(CompressError::Input(format!(
                "{}: delta plus carried residual is not finite",
                t.name
            )));
        }
        let body = encode_tensor(&x, &t.shape, pipeline);
        let dec = reconstruct(&body, &t.shape, x.len());
        let mut residual = Vec::with_capacity(x.len());
        for (a, d) in x.iter().zip(&dec) {
            let e = a - d;
            err2 += f64::from(e) * f64::from(e);
            norm2 += f64::from(*a) * f64::from(*a);
            residual.push(e);
        }
        new_residuals.push((t.name.clone(), t.shape.clone(), residual));
        put_str(&mut out, &t.name);
        out.push(t.shape.len() as u8);
        for &d in &t.shape {
            out.extend_from_slice(&(d as u64).to_le_bytes());
        }
        put_body(&mut out, &body);
    }
    let h = sha3(&out);
    out.extend_from_slice(&h);
    if let Some(f) = feedback {
        for (name, shape, r) in new_residuals {
            f.set(block, &name, shape, r);
        }
    }
    let raw = total * 4;
    let stats = Stats {
        values: total,
        raw_bytes: raw,
        encoded_bytes: out.len() as u64,
        ratio: raw as f64 / out.len() as f64,
        l2_error_rel: if norm2 > 0.0 {
            (err2 / norm2).sqrt()
        } else {
            0.0
        },
    };
    Ok(Encoded {
        hash: sha3(&out),
        bytes: out,
        stats,
    })
}

#[cfg(test)]
pub(crate) fn encode_tensor_for_test(x: &[f32], shape: &[usize], p: &Pipeline) -> Body {
    encode_tensor(x, shape, p)
}
