//! Adversarial miners (the seeds' Attack Lab), so defenses can be tested and shown:
//! a miner started with `--attack MODE` trains honestly (or on flipped labels) and then
//! poisons its delta before compressing and submitting it.
//!
//! - `gaussian[:S]`: the honest delta plus Gaussian noise with a standard deviation of `S`
//!   times the delta's own RMS per tensor (default 5), from a seeded generator;
//! - `sign-flip`: the negated delta (pushes the model away from what training found);
//! - `label-flip`: trains on flipped targets ([`crate::train::TargetMode::Flipped`]), so the
//!   delta is a well-formed update that makes the model worse;
//! - `scale:K`: the delta multiplied by `K` (a boosted update).

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
}

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
            Some(("gaussian", v)) => Ok(Attack::Gaussian {
                sigma: num(v, "gaussian")?,
            }),
            Some(("scale", v)) => Ok(Attack::Scale {
                k: num(v, "scale")?,
            }),
            _ => Err(format!(
                "unknown attack {s:?}: use gaussian[:S], sign-flip, label-flip or scale:K"
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
        }
    }
}

impl Attack {
    /// True when the attack changes how training runs (rather than the delta after it).
    pub fn flips_labels(&self) -> bool {
        matches!(self, Attack::LabelFlip)
    }

    /// Poisons one block's delta in place; `seed` makes the noise reproducible.
    pub fn apply(&self, block: &str, tensors: &mut [DeltaTensor], seed: u64) {
        match *self {
            Attack::LabelFlip => {}
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
        for s in ["gaussian:5", "sign-flip", "label-flip", "scale:10"] {
            assert_eq!(s.parse::<Attack>().unwrap().to_string(), s);
        }
        assert_eq!(
            "gaussian".parse::<Attack>().unwrap(),
            Attack::Gaussian { sigma: 5.0 }
        );
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
}
