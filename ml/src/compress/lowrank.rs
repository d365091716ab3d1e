//! Stage 1: low-rank factorisation `A ≈ U·V` of an m×n matrix delta.
//!
//! Deterministic randomized subspace iteration (Halko, Martinsson & Tropp 2011, algorithm
//! 4.4) in f64 with plain loops: a fixed-seed [`SplitMix64`] test matrix Ω (n×l, `l = r + 8`
//! capped at `min(m, n)`), `Q = orth(A·Ω)`, then [`POWER_ITERS`] rounds of
//! `Q = orth(A·orth(Aᵀ·Q))` (modified Gram–Schmidt, applied twice), `B = Qᵀ·A` (l×n), and a
//! one-sided Jacobi SVD of `Bᵀ` (Hestenes): rotations make its columns orthogonal, giving
//! `B = J·Σ·Wᵀ`. Components are sorted by singular value (descending, ties by index) and
//! each is split evenly: `U[:, c] = Q·J[:, c]·√σ_c`, `V[c, :] = √σ_c·W[:, c]ᵀ`, so the two
//! factors have comparable magnitudes (good for INT8).
//!
//! Same input, same machine → same bits (no threads, no BLAS, fixed operation order).

use super::LowRank;
use crate::rng::SplitMix64;

/// Extra columns of the random test matrix beyond the rank.
pub const OVERSAMPLE: usize = 8;
/// Power iterations (each sharpens the captured subspace towards the top singular vectors).
pub const POWER_ITERS: usize = 3;
/// Seed of the test matrix.
pub const SEED: u64 = 0x426c_7961_6e4c_5231; // "BlyanLR1"
const MAX_SWEEPS: usize = 40;

/// The factors of an m×n matrix: `u` is m×r and `v` is r×n, both row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    /// Rows of the matrix.
    pub m: usize,
    /// Columns of the matrix.
    pub n: usize,
    /// Rank.
    pub r: usize,
    /// m×r, row-major.
    pub u: Vec<f32>,
    /// r×n, row-major.
    pub v: Vec<f32>,
}

/// The rank a [`LowRank`] stage would use at most for an m×n matrix.
pub fn max_rank(spec: &LowRank, m: usize, n: usize) -> usize {
    spec.rank.min(m).min(n)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0f64;
    for (x, y) in a.iter().zip(b) {
        s += x * y;
    }
    s
}

/// Orthonormalises `cols` in place (modified Gram–Schmidt, twice); a column that is (nearly)
/// in the span of the previous ones becomes zero.
fn orthonormalize(cols: &mut [Vec<f64>]) {
    for c in 0..cols.len() {
        let norm0 = dot(&cols[c], &cols[c]).sqrt();
        for _pass in 0..2 {
            for p in 0..c {
                let (done, rest) = cols.split_at_mut(c);
                let proj = dot(&done[p], &rest[0]);
                for (x, q) in rest[0].iter_mut().zip(&done[p]) {
                    *x -= proj * q;
                }
            }
        }
        let norm = dot(&cols[c], &cols[c]).sqrt();
        if norm > 1e-10 * norm0 && norm > 0.0 {
            for x in cols[c].iter_mut() {
                *x /= norm;
            }
        } else {
            cols[c].iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

/// `A·x` for each column x (length n) → columns of length m.
fn mul_a(a: &[f64], m: usize, n: usize, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    xs.iter()
        .map(|x| (0..m).map(|i| dot(&a[i * n..(i + 1) * n], x)).collect())
        .collect()
}

/// `Aᵀ·y` for each column y (length m) → columns of length n.
fn mul_at(a: &[f64], m: usize, n: usize, ys: &[Vec<f64>]) -> Vec<Vec<f64>> {
    ys.iter()
        .map(|y| {
            let mut out = vec![0f64; n];
            for i in 0..m {
                let yi = y[i];
                for (o, aij) in out.iter_mut().zip(&a[i * n..(i + 1) * n]) {
                    *o += yi * aij;
                }
            }
            out
        })
        .collect()
}

/// One-sided Jacobi on the columns `w` (each length n): rotates pairs until orthogonal and
/// accumulates the rotations in `j` (l columns of length l, starting from the identity).
fn jacobi(w: &mut [Vec<f64>], j: &mut [Vec<f64>]) {
    let l = w.len();
    for _sweep in 0..MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..l {
            for q in p + 1..l {
                let alpha = dot(&w[p], &w[p]);
                let beta = dot(&w[q], &w[q]);
                let gamma = dot(&w[p], &w[q]);
                if gamma == 0.0 || gamma.abs() <= 1e-15 * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for cols in [&mut *w, &mut *j] {
                    let (lo, hi) = cols.split_at_mut(q);
                    for (x, y) in lo[p].iter_mut().zip(hi[0].iter_mut()) {
                        let (xp, yq) = (*x, *y);
                        *x = c * xp - s * yq;
                        *y = s * xp + c * yq;
                    }
                }
            }
        }
        if !rotated {
            break;
        }
    }
}

/// Factorises the row-major m×n matrix `a` (`a.len() == m·n`, `m, n ≥ 1`).
pub fn factorize(a: &[f32], m: usize, n: usize, spec: &LowRank) -> Factors {
    let r_max = max_rank(spec, m, n).max(1);
    let l = (r_max + OVERSAMPLE).min(m).min(n);
    let a64: Vec<f64> = a.iter().map(|&x| f64::from(x)).collect();
    let mut rng = SplitMix64::new(SEED);
    let omega: Vec<Vec<f64>> = (0..l)
        .map(|_| {
            (0..n)
                .map(|_| (rng.next_u64() >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0)
                .collect()
        })
        .collect();
    let mut q = mul_a(&a64, m, n, &omega);
    orthonormalize(&mut q);
    for _ in 0..POWER_ITERS {
        let mut z = mul_at(&a64, m, n, &q);
        orthonormalize(&mut z);
        q = mul_a(&a64, m, n, &z);
        orthonormalize(&mut q);
    }
    // Rows of B = Qᵀ·A are the columns of Bᵀ.
    let mut w = mul_at(&a64, m, n, &q);
    let mut jm: Vec<Vec<f64>> = (0..l)
        .map(|c| (0..l).map(|k| if k == c { 1.0 } else { 0.0 }).collect())
        .collect();
    jacobi(&mut w, &mut jm);
    let sigma: Vec<f64> = w.iter().map(|c| dot(c, c).sqrt()).collect();
    let mut order: Vec<usize> = (0..l).collect();
    order.sort_by(|&x, &y| sigma[y].total_cmp(&sigma[x]).then(x.cmp(&y)));
    let r = match spec.energy {
        None => r_max.min(l),
        Some(e) => {
            let total = dot(&a64, &a64);
            let mut acc = 0f64;
            let mut r = r_max.min(l);
            for (i, &c) in order.iter().take(r_max.min(l)).enumerate() {
                acc += sigma[c] * sigma[c];
                if acc >= f64::from(e) * total {
                    r = i + 1;
                    break;
                }
            }
            r
        }
    };
    let mut u = vec![0f32; m * r];
    let mut v = vec![0f32; r * n];
    for (k, &c) in order.iter().take(r).enumerate() {
        if sigma[c] == 0.0 {
            continue;
        }
        let root = sigma[c].sqrt();
        // J column c is the coefficient vector of U's column in the basis Q.
        for i in 0..m {
            let mut acc = 0f64;
            for (qc, jc) in q.iter().zip(&jm[c]) {
                acc += qc[i] * jc;
            }
            u[i * r + k] = (acc * root) as f32;
        }
        for (j, x) in w[c].iter().enumerate() {
            v[k * n + j] = (x / root) as f32;
        }
    }
    Factors { m, n, r, u, v }
}

/// `U·V` with the decoder's fixed loop order: for each i, j: `acc = 0f32`, then
/// `acc += u[i·r + k] · v[k·n + j]` for k in order.
pub fn reconstruct(u: &[f32], v: &[f32], m: usize, n: usize, r: usize, out: &mut [f32]) {
    for i in 0..m {
        let ui = &u[i * r..(i + 1) * r];
        for j in 0..n {
            let mut acc = 0f32;
            for (k, uk) in ui.iter().enumerate() {
                acc += uk * v[k * n + j];
            }
            out[i * n + j] = acc;
        }
    }
}
