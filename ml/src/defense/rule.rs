//! The aggregation rule: spec strings and the stable code for the chain parameter.

use std::fmt;
use std::str::FromStr;

use super::DefenseError;

/// How phase 2 combines the admitted updates, per block (see [`super::aggregate`]).
///
/// Spec strings ([`FromStr`]/[`Display`](fmt::Display), canonical form shown):
/// `fedavg`, `median`, `trimmed:<bps>`, `krum:<f>`, `multikrum:<f>:<m>`,
/// `cclip:<iters>:<tau_bps>`.
/// Chain code ([`code`](Self::code), [`args`](Self::args), [`from_code`](Self::from_code)):
/// 0 fedavg, 1 median, 2 trimmed (`a` = bps), 3 krum (`a` = f), 4 multikrum (`a` = f,
/// `b` = m), 5 cclip (`a` = iters, `b` = tau_bps); unused arguments are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AggregationRule {
    /// Mean weighted by each update's samples (the default).
    #[default]
    WeightedFedAvg,
    /// Coordinate-wise median (the mean of the two middle values for an even count).
    CoordinateMedian,
    /// Coordinate-wise mean after dropping the `⌊n · trim_bps / 10000⌋` lowest and as many
    /// highest values (at least one value is always kept).
    TrimmedMean {
        /// Share trimmed at each end, basis points (`0..5000`).
        trim_bps: u32,
    },
    /// The update with the lowest Krum score (assuming `f` Byzantine updates).
    Krum {
        /// Byzantine updates assumed.
        f: u32,
    },
    /// Samples-weighted mean of the `m` updates with the lowest Krum scores.
    MultiKrum {
        /// Byzantine updates assumed.
        f: u32,
        /// Updates kept (≥ 1).
        m: u32,
    },
    /// Centered clipping (Karimireddy, He & Jaggi 2021) from the coordinate-wise median:
    /// `iters` steps of `v ← v + Σ s_i · clip(x_i − v, τ) / Σ s_i`, with `τ` the share
    /// `tau_bps / 10000` of the median distance of the updates to the median (see
    /// [`super::aggregate`]).
    CenteredClip {
        /// Clipping iterations (`1..=MAX_CCLIP_ITERS`).
        iters: u32,
        /// Clipping radius in basis points of the median distance to the start
        /// (`1..=MAX_CCLIP_TAU_BPS`).
        tau_bps: u32,
    },
}

/// Most iterations of [`AggregationRule::CenteredClip`] (each costs a pass over all updates).
pub const MAX_CCLIP_ITERS: u32 = 100;
/// Largest clipping radius of [`AggregationRule::CenteredClip`], basis points of the median
/// distance (100×: beyond it the rule is the samples-weighted mean in practice).
pub const MAX_CCLIP_TAU_BPS: u32 = 1_000_000;

impl AggregationRule {
    /// The stable code of the rule's kind for the chain parameter.
    pub fn code(&self) -> u8 {
        match self {
            Self::WeightedFedAvg => 0,
            Self::CoordinateMedian => 1,
            Self::TrimmedMean { .. } => 2,
            Self::Krum { .. } => 3,
            Self::MultiKrum { .. } => 4,
            Self::CenteredClip { .. } => 5,
        }
    }

    /// The rule's two integer arguments for the chain parameter (0 where unused).
    pub fn args(&self) -> [u32; 2] {
        match *self {
            Self::WeightedFedAvg | Self::CoordinateMedian => [0, 0],
            Self::TrimmedMean { trim_bps } => [trim_bps, 0],
            Self::Krum { f } => [f, 0],
            Self::MultiKrum { f, m } => [f, m],
            Self::CenteredClip { iters, tau_bps } => [iters, tau_bps],
        }
    }

    /// The rule for a chain code and its arguments (unused arguments must be 0).
    pub fn from_code(code: u8, args: [u32; 2]) -> Result<Self, DefenseError> {
        let rule = match (code, args) {
            (0, [0, 0]) => Self::WeightedFedAvg,
            (1, [0, 0]) => Self::CoordinateMedian,
            (2, [trim_bps, 0]) => Self::TrimmedMean { trim_bps },
            (3, [f, 0]) => Self::Krum { f },
            (4, [f, m]) => Self::MultiKrum { f, m },
            (5, [iters, tau_bps]) => Self::CenteredClip { iters, tau_bps },
            _ => {
                return Err(DefenseError::Rule(format!(
                    "unknown code {code} with arguments {args:?}"
                )))
            }
        };
        rule.validate()?;
        Ok(rule)
    }

    /// Checks the arguments: `trim_bps < 5000`, `m ≥ 1`, cclip's `iters` in
    /// `1..=MAX_CCLIP_ITERS` and `tau_bps` in `1..=MAX_CCLIP_TAU_BPS`.
    pub fn validate(&self) -> Result<(), DefenseError> {
        match *self {
            Self::TrimmedMean { trim_bps } if trim_bps >= 5000 => Err(DefenseError::Rule(format!(
                "trimmed: {trim_bps} bps must be below 5000"
            ))),
            Self::MultiKrum { m: 0, .. } => {
                Err(DefenseError::Rule("multikrum: m must be at least 1".into()))
            }
            Self::CenteredClip { iters, tau_bps }
                if !(1..=MAX_CCLIP_ITERS).contains(&iters)
                    || !(1..=MAX_CCLIP_TAU_BPS).contains(&tau_bps) =>
            {
                Err(DefenseError::Rule(format!(
                    "cclip: iterations {iters} must be in 1..={MAX_CCLIP_ITERS} and tau                      {tau_bps} bps in 1..={MAX_CCLIP_TAU_BPS}"
                )))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for AggregationRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::WeightedFedAvg => write!(f, "fedavg"),
            Self::CoordinateMedian => write!(f, "median"),
            Self::TrimmedMean { trim_bps } => write!(f, "trimmed:{trim_bps}"),
            Self::Krum { f: byz } => write!(f, "krum:{byz}"),
            Self::MultiKrum { f: byz, m } => write!(f, "multikrum:{byz}:{m}"),
            Self::CenteredClip { iters, tau_bps } => write!(f, "cclip:{iters}:{tau_bps}"),
        }
    }
}

impl FromStr for AggregationRule {
    type Err = DefenseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            DefenseError::Rule(format!(
                "{s:?} (expected fedavg, median, trimmed:<bps>, krum:<f>, multikrum:<f>:<m> or \
                 cclip:<iters>:<tau_bps>)"
            ))
        };
        let num = |x: &str| -> Result<u32, DefenseError> {
            let canonical = x == "0" || !x.starts_with('0');
            if x.is_empty() || !canonical || !x.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            x.parse().map_err(|_| bad())
        };
        let parts: Vec<&str> = s.split(':').collect();
        let rule = match parts.as_slice() {
            ["fedavg"] => Self::WeightedFedAvg,
            ["median"] => Self::CoordinateMedian,
            ["trimmed", b] => Self::TrimmedMean { trim_bps: num(b)? },
            ["krum", f] => Self::Krum { f: num(f)? },
            ["multikrum", f, m] => Self::MultiKrum {
                f: num(f)?,
                m: num(m)?,
            },
            ["cclip", i, t] => Self::CenteredClip {
                iters: num(i)?,
                tau_bps: num(t)?,
            },
            _ => return Err(bad()),
        };
        rule.validate()?;
        Ok(rule)
    }
}
