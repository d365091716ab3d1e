//! Adversarial miners (the seeds' Attack Lab), so defenses can be tested and shown:
//! a miner started with `--attack MODE` trains honestly (or on flipped labels) and then
//! poisons its delta before compressing and submitting it.
//!
//! - `gaussian[:S]`: the honest delta plus Gaussian noise with a standard deviation of `S`
//!   times the delta's own RMS per tensor (default 5), from a seeded generator;
//! - `sign-flip`: the negated delta (pushes the model away from what training found);
//! - `label-flip`: trains on flipped targets ([`crate::train::TargetMode::Flipped`]), so the
//!   delta is a well-formed update that makes the model worse;
//! - `scale:K`: the delta multiplied by `K` (a boosted update);
//! - `alie[:Z]`: "A Little Is Enough" (Baruch, Baruch & Goldberg 2019): every value is
//!   `μ − Z·σ`, the coordinate-wise mean and standard deviation of the benign updates
//!   ([`alie_block`], [`alie_update`]); small enough per value to pass distance-based
//!   screens, consistent across values so it biases the aggregate. `Z` defaults to
//!   [`DEFAULT_ALIE_Z`]; [`alie_z`] is the paper's choice for `n` workers of which `f`
//!   attack. It needs the estimates: [`Attack::apply`] cannot build it from one delta (the
//!   `pol_quality` bench gives the round's honest updates, the omniscient worst case; a miner
//!   estimates them from several runs on [`sub_shards`] of its own data with
//!   [`alie_from_own_runs`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::compress::DeltaTensor;
use crate::rng::SplitMix64;

/// An attack mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Attack {
    /// Honest delta plus noise of `sigma` × its RMS.
    Gaussian {
        /// Noise standard deviation in units of the delta's RMS.
        sigma: f32,
    },
    /// Negated delta.
    SignFlip,
    /// Training on flipped labels.
    LabelFlip,
    /// Delta multiplied by `k`.
    Scale {
        /// The factor.
        k: f32,
    },
    /// "A little is enough": the benign mean minus `z` benign standard deviations, per value.
    Alie {
        /// Standard deviations subtracted.
        z: f32,
    },
}

/// The `z` of `alie` without an argument: about the paper's choice for 20–50 workers with a
/// quarter to 40% attacking (`alie_z(20, 6)` ≈ 0.67, `alie_z(50, 20)` ≈ 1.17).
pub const DEFAULT_ALIE_Z: f32 = 1.0;

impl FromStr for Attack {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let num = |v: &str, what: &str| -> Result<f32, String> {
            v.parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("attack {what}: {v:?} is not a number"))
        };
        match s.split_once(':') {
            None if s == "gaussian" => Ok(Attack::Gaussian { sigma: 5.0 }),
            None if s == "sign-flip" => Ok(Attack::SignFlip),
            None if s == "label-flip" => Ok(Attack::LabelFlip),
            None if s == "alie" => Ok(Attack::Alie { z: DEFAULT_ALIE_Z }),
            Some(("alie", v)) => Ok(Attack::Alie { z: num(v, "alie")? }),
            Some(("gaussian", v)) => Ok(Attack::Gaussian {
                sigma: num(v, "gaussian")?,
            }),
            Some(("scale", v)) => Ok(Attack::Scale {
                k: num(v, "scale")?,
            }),
            _ => Err(format!(
                "unknown attack {s:?}: use gaussian[:S], sign-flip, label-flip, scale:K or alie[:Z]"
            )),
        }
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::Gaussian { sigma } => write!(f, "gaussian:{sigma}"),
            Attack::SignFlip => write!(f, "sign-flip"),
            Attack::LabelFlip => write!(f, "label-flip"),
            Attack::Scale { k } => write!(f, "scale:{k}"),
            Attack::Alie { z } => write!(f, "alie:{z}"),
        }
    }
}

impl Attack {
    /// True when the attack changes how training runs (rather than the delta after it).
    pub fn flips_labels(&self) -> bool {
        matches!(self, Attack::LabelFlip)
    }

    /// True when the poisoned update is built from estimates of the benign updates
    /// ([`alie_block`]) rather than from the attacker's own delta.
    pub fn needs_estimates(&self) -> bool {
        matches!(self, Attack::Alie { .. })
    }

    /// Poisons one block's delta in place; `seed` makes the noise reproducible. Leaves the
    /// delta unchanged for `label-flip` (the poison is in training) and for `alie` (see
    /// [`Attack::needs_estimates`]: the caller replaces the delta with [`alie_block`]).
    pub fn apply(&self, block: &str, tensors: &mut [DeltaTensor], seed: u64) {
        match *self {
            Attack::LabelFlip | Attack::Alie { .. } => {}
            Attack::SignFlip => tensors
                .iter_mut()
                .flat_map(|t| t.values.iter_mut())
                .for_each(|v| *v = -*v),
            Attack::Scale { k } => tensors
                .iter_mut()
                .flat_map(|t| t.values.iter_mut())
                .for_each(|v| *v *= k),
            Attack::Gaussian { sigma } => {
                for t in tensors.iter_mut() {
                    let n = t.values.len().max(1) as f64;
                    let rms =
                        (t.values.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / n).sqrt();
                    let std = f64::from(sigma) * rms;
                    let mut rng =
                        SplitMix64::for_label(seed, &format!("attack/gaussian/{block}/{}", t.name));
                    for v in t.values.iter_mut() {
                        *v += (std * normal(&mut rng)) as f32;
                    }
                }
            }
        }
    }
}

/// The paper's `z` for `n` workers of which `f` attack (Baruch et al. 2019, §3): with
/// `s = ⌊n/2 + 1⌋ − f` benign workers the attackers need on their side, `z = Φ⁻¹((n − s) / n)`
/// (`s` clamped to `1..=n − 1`); e.g. `alie_z(6, 2)` ≈ 0.43.
pub fn alie_z(n: usize, f: usize) -> f64 {
    let n = n.max(2);
    let s = (n / 2 + 1).saturating_sub(f).clamp(1, n - 1);
    inverse_normal_cdf((n - s) as f64 / n as f64)
}

/// One block of the ALIE update: per value, `μ − z·σ` over the benign deltas `benign` (all
/// with the same tensor names and shapes, in the same order), `μ` and the population `σ` in
/// `f64` over `benign` in order, rounded once to `f32`. An error when `benign` is empty or
/// the deltas differ in structure.
pub fn alie_block(z: f32, benign: &[&[DeltaTensor]]) -> Result<Vec<DeltaTensor>, String> {
    let (first, rest) = benign
        .split_first()
        .ok_or("alie: no benign updates to estimate from")?;
    for other in rest {
        let same = other.len() == first.len()
            && other.iter().zip(first.iter()).all(|(a, b)| {
                a.name == b.name && a.shape == b.shape && a.values.len() == b.values.len()
            });
        if !same {
            return Err("alie: benign updates differ in tensors or shapes".into());
        }
    }
    let k = benign.len() as f64;
    let z = f64::from(z);
    Ok(first
        .iter()
        .enumerate()
        .map(|(t, tt)| {
            let values = (0..tt.values.len())
                .map(|i| {
                    let mean = benign
                        .iter()
                        .fold(0.0f64, |acc, b| acc + f64::from(b[t].values[i]))
                        / k;
                    let var = benign.iter().fold(0.0f64, |acc, b| {
                        let d = f64::from(b[t].values[i]) - mean;
                        acc + d * d
                    }) / k;
                    (mean - z * var.sqrt()) as f32
                })
                .collect();
            DeltaTensor {
                name: tt.name.clone(),
                shape: tt.shape.clone(),
                values,
            }
        })
        .collect())
}

/// The ALIE update over whole updates (block name → tensors): [`alie_block`] for every block
/// that at least one of `benign` touches, over those that touch it.
pub fn alie_update(
    z: f32,
    benign: &[&BTreeMap<String, Vec<DeltaTensor>>],
) -> Result<BTreeMap<String, Vec<DeltaTensor>>, String> {
    let mut blocks: BTreeMap<&str, Vec<&[DeltaTensor]>> = BTreeMap::new();
    for u in benign {
        for (b, ts) in u.iter() {
            blocks.entry(b.as_str()).or_default().push(ts.as_slice());
        }
    }
    blocks
        .into_iter()
        .map(|(b, members)| Ok((b.to_string(), alie_block(z, &members)?)))
        .collect()
}

/// `seqs` dealt round-robin into `k` sub-shards (sequence `i` to sub-shard `i mod k`): what a
/// miner trains `k` runs on to estimate the benign mean and spread for [`alie_update`]
/// itself. Sub-shards that would be empty are left out.
pub fn sub_shards(seqs: &[Vec<u32>], k: usize) -> Vec<Vec<Vec<u32>>> {
    let k = k.max(1);
    let mut out: Vec<Vec<Vec<u32>>> = vec![Vec::new(); k];
    for (i, s) in seqs.iter().enumerate() {
        out[i % k].push(s.clone());
    }
    out.retain(|s| !s.is_empty());
    out
}

/// A miner's own ALIE update: trains `runs` times (`train_on(sub_shard, k)`, the `k`-th of
/// [`sub_shards`]`(seqs, runs)`, returning the run's raw delta per block), estimates the
/// benign mean and spread from those runs and returns [`alie_update`]. Training stays with
/// the caller (the miner's own training call and configuration, e.g. a seed per `k`). An
/// error when fewer than 2 sub-shards can be formed (no spread to estimate) or a run fails.
pub fn alie_from_own_runs<E>(
    z: f32,
    seqs: &[Vec<u32>],
    runs: usize,
    mut train_on: impl FnMut(&[Vec<u32>], usize) -> Result<BTreeMap<String, Vec<DeltaTensor>>, E>,
) -> Result<BTreeMap<String, Vec<DeltaTensor>>, String>
where
    E: fmt::Display,
{
    let shards = sub_shards(seqs, runs);
    if shards.len() < 2 {
        return Err(format!(
            "alie: {} sequences make {} sub-shards; at least 2 are needed",
            seqs.len(),
            shards.len()
        ));
    }
    let deltas = shards
        .iter()
        .enumerate()
        .map(|(k, sh)| train_on(sh, k).map_err(|e| format!("alie: run {k}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&BTreeMap<String, Vec<DeltaTensor>>> = deltas.iter().collect();
    alie_update(z, &refs)
}

/// `Φ⁻¹(p)` for `p` in `(0, 1)` (Acklam's rational approximation, relative error < 1.2e-9);
/// ±∞ at 0 and 1.
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A standard normal sample (Box–Muller).
fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.unit_f64().max(f64::MIN_POSITIVE);
    let u2 = rng.unit_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta() -> Vec<DeltaTensor> {
        vec![DeltaTensor {
            name: "w1".into(),
            shape: vec![2, 3],
            values: vec![0.1, -0.2, 0.3, 0.0, 0.5, -0.1],
        }]
    }

    fn norm(t: &[DeltaTensor]) -> f64 {
        t.iter()
            .flat_map(|t| &t.values)
            .map(|v| f64::from(*v).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn modes_parse_print_and_poison() {
        for s in [
            "gaussian:5",
            "sign-flip",
            "label-flip",
            "scale:10",
            "alie:1.5",
        ] {
            assert_eq!(s.parse::<Attack>().unwrap().to_string(), s);
        }
        assert_eq!(
            "gaussian".parse::<Attack>().unwrap(),
            Attack::Gaussian { sigma: 5.0 }
        );
        assert_eq!(
            "alie".parse::<Attack>().unwrap(),
            Attack::Alie { z: DEFAULT_ALIE_Z }
        );
        assert!("alie:x".parse::<Attack>().is_err());
        assert!("scale:x".parse::<Attack>().is_err());
        assert!("nope".parse::<Attack>().is_err());

        let mut d = delta();
        Attack::SignFlip.apply("b", &mut d, 1);
        assert_eq!(d[0].values[1], 0.2);
        let mut d = delta();
        Attack::Scale { k: 10.0 }.apply("b", &mut d, 1);
        assert!((norm(&d) - 10.0 * norm(&delta())).abs() < 1e-5);
        let mut a = delta();
        let mut b = delta();
        Attack::Gaussian { sigma: 5.0 }.apply("b", &mut a, 7);
        Attack::Gaussian { sigma: 5.0 }.apply("b", &mut b, 7);
        assert_eq!(a, b, "seeded noise is reproducible");
        assert!(norm(&a) > 2.0 * norm(&delta()));
        let mut c = delta();
        Attack::LabelFlip.apply("b", &mut c, 7);
        assert_eq!(c, delta());
        assert!(Attack::LabelFlip.flips_labels());
    }

    fn one(values: &[f32]) -> Vec<DeltaTensor> {
        vec![DeltaTensor {
            name: "w".into(),
            shape: vec![values.len()],
            values: values.to_vec(),
        }]
    }

    #[test]
    fn alie_is_mean_minus_z_std() {
        let benign = [one(&[1.0, 0.0]), one(&[3.0, 0.0]), one(&[5.0, 0.0])];
        let refs: Vec<&[DeltaTensor]> = benign.iter().map(Vec::as_slice).collect();
        // μ = 3, σ = √(8/3); identical values: σ = 0, the mean itself
        let out = alie_block(1.5, &refs).unwrap();
        let want = (3.0 - 1.5 * (8.0f64 / 3.0).sqrt()) as f32;
        assert_eq!(out[0].values, [want, 0.0]);
        assert_eq!(
            (out[0].name.as_str(), out[0].shape.as_slice()),
            ("w", &[2][..])
        );
        assert_eq!(alie_block(0.0, &refs).unwrap()[0].values, [3.0, 0.0]);
        assert!(alie_block(1.0, &[]).is_err());
        let odd = one(&[1.0]);
        assert!(alie_block(1.0, &[&benign[0], &odd]).is_err());
        assert!(Attack::Alie { z: 1.0 }.needs_estimates());
        let mut d = delta();
        Attack::Alie { z: 1.0 }.apply("b", &mut d, 1);
        assert_eq!(d, delta(), "apply leaves ALIE to alie_block");
    }

    #[test]
    fn alie_update_covers_every_block_touched() {
        let a: BTreeMap<String, Vec<DeltaTensor>> = [
            ("x".to_string(), one(&[2.0])),
            ("y".to_string(), one(&[7.0])),
        ]
        .into();
        let b: BTreeMap<String, Vec<DeltaTensor>> = [("x".to_string(), one(&[4.0]))].into();
        let out = alie_update(2.0, &[&a, &b]).unwrap();
        // x: μ 3, σ 1 → 1; y: only a → 7
        assert_eq!(out["x"][0].values, [1.0]);
        assert_eq!(out["y"][0].values, [7.0]);
    }

    #[test]
    fn paper_z_and_sub_shards() {
        // n = 6, f = 2: s = 2, Φ⁻¹(4/6) ≈ 0.4307; n = 50, f = 24: s = 2, Φ⁻¹(0.96) ≈ 1.7507
        assert!((alie_z(6, 2) - 0.430_727).abs() < 1e-5, "{}", alie_z(6, 2));
        assert!((alie_z(50, 24) - 1.750_686).abs() < 1e-5);
        assert!((inverse_normal_cdf(0.5)).abs() < 1e-12);
        assert!((inverse_normal_cdf(0.01) + 2.326_348).abs() < 1e-5);
        assert!(alie_z(6, 9).is_finite(), "s is clamped");
        let seqs: Vec<Vec<u32>> = (0..5).map(|i| vec![i]).collect();
        let sh = sub_shards(&seqs, 2);
        assert_eq!(
            sh,
            vec![vec![vec![0], vec![2], vec![4]], vec![vec![1], vec![3]]]
        );
        assert_eq!(sub_shards(&seqs[..1], 3).len(), 1);
    }

    #[test]
    fn own_runs_estimate_from_sub_shards() {
        let seqs: Vec<Vec<u32>> = (0..4).map(|i| vec![i]).collect();
        // each run's delta is the sum of its sub-shard's tokens: runs on [0, 2] and [1, 3]
        // give 2 and 4, so μ 3, σ 1
        let run =
            |sh: &[Vec<u32>], _k: usize| -> Result<BTreeMap<String, Vec<DeltaTensor>>, String> {
                let v: u32 = sh.iter().flatten().sum();
                Ok([("b".to_string(), one(&[v as f32]))].into())
            };
        let out = alie_from_own_runs(1.0, &seqs, 2, run).unwrap();
        assert_eq!(out["b"][0].values, [2.0]);
        assert!(alie_from_own_runs(1.0, &seqs[..1], 3, run).is_err());
        let fail =
            |_: &[Vec<u32>], _: usize| -> Result<BTreeMap<String, Vec<DeltaTensor>>, String> {
                Err("boom".into())
            };
        assert!(alie_from_own_runs(1.0, &seqs, 2, fail)
            .unwrap_err()
            .contains("boom"));
    }
}
