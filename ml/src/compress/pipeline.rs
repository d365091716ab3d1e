//! Which stages a miner applies: [`Pipeline`] and its textual form
//! (`"lowrank:8,topk:0.02,int8"`, `"int8"`, `"topk:0.05"`, `"none"`).

use std::fmt;
use std::str::FromStr;

use super::CompressError;

/// Largest rank a pipeline may ask for (and a container may carry).
pub const MAX_RANK: usize = 4096;

/// Longest pipeline spec a container may record.
pub const MAX_SPEC_LEN: usize = 256;

/// Default cap on the rank chosen by an energy threshold.
pub const DEFAULT_ENERGY_MAX_RANK: usize = 64;

/// Stage 1: low-rank factorisation of matrix deltas (`delta ≈ U·V`, `U` m×r, `V` r×n).
///
/// Applies to 2-D tensors whose dimensions both exceed [`super::LOWRANK_MIN_DIM`] and for
/// which the factors are smaller than the matrix (`r·(m+n) < m·n`); other tensors skip it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowRank {
    /// The rank (fixed when `energy` is `None`, otherwise the largest rank allowed).
    pub rank: usize,
    /// Keep the smallest rank whose singular values hold this fraction (in `(0, 1]`) of the
    /// matrix's squared Frobenius norm, up to `rank`.
    pub energy: Option<f32>,
}

impl LowRank {
    /// A fixed rank.
    pub fn fixed(rank: usize) -> Self {
        Self { rank, energy: None }
    }
}

/// Stage 2: top-k sparsification: keep the `fraction` of largest-|x| entries of each tensor
/// of rank ≥ 2 (ties broken by lower index first); the rest is dropped (and carried to the
/// next round by an [`super::ErrorFeedback`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopK {
    /// Fraction of entries kept, in `(0, 1]`; a tensor of `n` entries keeps `ceil(f·n)`.
    pub fraction: f32,
}

/// The stages a delta goes through, always in the order low-rank → top-k → int8.
///
/// With both low-rank and top-k, a factorised matrix additionally carries the top-k of its
/// residual `delta − U·V` (low-rank plus a sparse correction); other tensors of rank ≥ 2 are
/// sparsified directly. 1-D tensors (norm gains) always stay dense. `int8` quantises every
/// stored float array: dense values and sparse values per row, factors per rank component.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pipeline {
    /// Stage 1, if used.
    pub low_rank: Option<LowRank>,
    /// Stage 2, if used.
    pub top_k: Option<TopK>,
    /// Stage 3: INT8 with per-row f32 scales.
    pub int8: bool,
    /// With `int8` and `low_rank`: the low-rank factors get 4-bit codes (`-7..=7`, one f32
    /// scale per rank component) instead of INT8; everything else stays INT8 (`int4f`).
    pub int4_factors: bool,
}

impl Default for Pipeline {
    /// `lowrank:16,int8,int4f`: rank-16 factors of every matrix (both dimensions above
    /// [`super::LOWRANK_MIN_DIM`]) with 4-bit codes, everything else dense INT8. Same size as
    /// `lowrank:8,int8` (the truncation error dwarfs the 4-bit quantisation error, so the
    /// bits buy more rank instead). On a `small` expert's fine-tuning delta (`compress`
    /// bench, pretrained scenario) about 83× at a 0.3 % loss penalty (`lowrank:8,int8`:
    /// 84× at 2.2 %); on `tiny` (64×128 matrices) only about 19×.
    fn default() -> Self {
        Self {
            low_rank: Some(LowRank::fixed(16)),
            top_k: None,
            int8: true,
            int4_factors: true,
        }
    }
}

impl Pipeline {
    /// The identity pipeline (`"none"`): dense f32, lossless.
    pub fn none() -> Self {
        Self {
            low_rank: None,
            top_k: None,
            int8: false,
            int4_factors: false,
        }
    }

    /// True when decoding gives back exactly what was encoded.
    pub fn is_lossless(&self) -> bool {
        self.low_rank.is_none() && self.top_k.is_none() && !self.int8
    }

    /// Checks the parameters' ranges.
    pub fn validate(&self) -> Result<(), CompressError> {
        let bad = |m: String| Err(CompressError::Pipeline(m));
        if let Some(lr) = self.low_rank {
            if lr.rank == 0 || lr.rank > MAX_RANK {
                return bad(format!("rank {} not in 1..={MAX_RANK}", lr.rank));
            }
            if let Some(e) = lr.energy {
                if !(e > 0.0 && e <= 1.0) {
                    return bad(format!("energy {e} not in (0, 1]"));
                }
            }
        }
        if let Some(t) = self.top_k {
            if !(t.fraction > 0.0 && t.fraction <= 1.0) {
                return bad(format!("top-k fraction {} not in (0, 1]", t.fraction));
            }
        }
        if self.int4_factors && (!self.int8 || self.low_rank.is_none()) {
            return bad("int4f (4-bit low-rank factors) needs lowrank and int8".into());
        }
        Ok(())
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(lr) = self.low_rank {
            parts.push(match lr.energy {
                None => format!("lowrank:{}", lr.rank),
                Some(e) => format!("lowrank:e{e}/{}", lr.rank),
            });
        }
        if let Some(t) = self.top_k {
            parts.push(format!("topk:{}", t.fraction));
        }
        if self.int8 {
            parts.push("int8".into());
        }
        if self.int4_factors {
            parts.push("int4f".into());
        }
        if parts.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&parts.join(","))
    }
}

fn parse_low_rank(arg: &str) -> Result<LowRank, String> {
    let num = |s: &str| s.parse::<usize>().map_err(|e| format!("rank {s:?}: {e}"));
    match arg.strip_prefix('e') {
        None => Ok(LowRank::fixed(num(arg)?)),
        Some(rest) => {
            let (e, r) = match rest.split_once('/') {
                Some((e, r)) => (e, num(r)?),
                None => (rest, DEFAULT_ENERGY_MAX_RANK),
            };
            let e = e.parse::<f32>().map_err(|x| format!("energy {e:?}: {x}"))?;
            Ok(LowRank {
                rank: r,
                energy: Some(e),
            })
        }
    }
}

impl FromStr for Pipeline {
    type Err = CompressError;

    /// Comma-separated stages in any order, each at most once: `lowrank:R` (fixed rank),
    /// `lowrank:eE` or `lowrank:eE/R` (energy threshold E, rank at most R, default 64),
    /// `topk:F` (fraction), `int8`, `int4f` (with `lowrank` and `int8`: 4-bit factors); or
    /// `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |m: String| CompressError::Pipeline(format!("{s:?}: {m}"));
        let mut p = Pipeline::none();
        let s_trim = s.trim();
        if s_trim == "none" {
            return Ok(p);
        }
        if s_trim.is_empty() {
            return Err(bad("empty pipeline (use \"none\")".into()));
        }
        let mut int8_seen = false;
        let mut int4f_seen = false;
        for part in s_trim.split(',') {
            let part = part.trim();
            let (name, arg) = match part.split_once(':') {
                Some((n, a)) => (n, Some(a)),
                None => (part, None),
            };
            match (name, arg) {
                ("lowrank", Some(a)) if p.low_rank.is_none() => {
                    p.low_rank = Some(parse_low_rank(a).map_err(bad)?);
                }
                ("topk", Some(a)) if p.top_k.is_none() => {
                    let fraction = a
                        .parse::<f32>()
                        .map_err(|e| bad(format!("fraction {a:?}: {e}")))?;
                    p.top_k = Some(TopK { fraction });
                }
                ("int8", None) if !int8_seen => {
                    int8_seen = true;
                    p.int8 = true;
                }
                ("int4f", None) if !int4f_seen => {
                    int4f_seen = true;
                    p.int4_factors = true;
                }
                _ => {
                    return Err(bad(format!(
                        "bad or repeated stage {part:?} (stages: lowrank:R, lowrank:eE[/R], \
                         topk:F, int8, int4f, or none)"
                    )))
                }
            }
        }
        p.validate().map_err(|e| bad(e.to_string()))?;
        Ok(p)
    }
}
