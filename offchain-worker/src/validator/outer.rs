//! The outer optimizer of a round (DiLoCo): the round's aggregate `g` of one block is
//! applied to the block's weights `w` with SGD and Nesterov momentum, the momentum `m` being
//! the one recorded with the block's previous learned version (zeros when there is none):
//!
//! ```text
//! m' = μ·m + g
//! w' = w + η·(g + μ·m')
//! ```
//!
//! (PyTorch's `SGD(nesterov=True)` with the outer gradient `-g`.) Every value is computed in
//! f64 from the f32 inputs and rounded once to f32, in plain row-major loops over the
//! block's tensors in name order, and `w'` is `w + step` as one f32 addition (what
//! [`BlockWeights::apply`] does), so every honest validator and `pol replay` get the same
//! bits. The step covers every tensor of the block; a tensor the aggregate does not name
//! has `g = 0` (its momentum still decays and steps).

use blyan_proto::pol::OuterOptimizer;

use super::weights::{ApplyError, BlockWeights};
use crate::compress::DeltaTensor;

/// One block after an outer step.
#[derive(Debug, Clone, PartialEq)]
pub struct Stepped {
    /// The new weights `w'`.
    pub weights: BlockWeights,
    /// The new momentum `m'` (same tensors, shapes and tile size as the weights).
    pub momentum: BlockWeights,
}

/// A block's zero momentum: its tensors' names and shapes, all values 0.
pub fn zero_momentum(base: &BlockWeights) -> BlockWeights {
    let mut m = base.clone();
    for t in &mut m.tensors {
        t.values.iter_mut().for_each(|v| *v = 0.0);
    }
    m
}

/// Applies the outer step of `g` to `base` with `momentum` (`None`: zeros) and `o`.
/// Errors when `g` or `momentum` names a tensor the block does not have or has another
/// shape, or when a result is not finite.
pub fn step(
    base: &BlockWeights,
    momentum: Option<&BlockWeights>,
    g: &[DeltaTensor],
    o: OuterOptimizer,
) -> Result<Stepped, ApplyError> {
    let zero;
    let momentum = match momentum {
        Some(m) => m,
        None => {
            zero = zero_momentum(base);
            &zero
        }
    };
    check_fits(base, g, "aggregate")?;
    check_fits(base, &momentum.tensors, "momentum")?;
    let lr = f64::from(o.lr_bps) / 10_000.0;
    let mu = f64::from(o.momentum_bps) / 10_000.0;
    let mut new_m = base.clone();
    let mut steps = Vec::with_capacity(base.tensors.len());
    for t in &mut new_m.tensors {
        let gt = g.iter().find(|d| d.name == t.name);
        let mt = momentum.tensors.iter().find(|d| d.name == t.name);
        let mut step = Vec::with_capacity(t.values.len());
        for (i, m_out) in t.values.iter_mut().enumerate() {
            let gi = f64::from(gt.map_or(0.0, |d| d.values[i]));
            let mi = f64::from(mt.map_or(0.0, |d| d.values[i]));
            let m_new = (mu * mi + gi) as f32;
            *m_out = m_new;
            step.push((lr * (gi + mu * f64::from(m_new))) as f32);
        }
        if t.values.iter().any(|v| !v.is_finite()) {
            return Err(ApplyError::NonFinite(format!(
                "momentum of block {}, tensor {}",
                base.block, t.name
            )));
        }
        steps.push(DeltaTensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
            values: step,
        });
    }
    Ok(Stepped {
        weights: base.apply(&steps)?,
        momentum: new_m,
    })
}

/// Checks every tensor of `ts` is one of `base`'s, with its shape.
fn check_fits(base: &BlockWeights, ts: &[DeltaTensor], what: &str) -> Result<(), ApplyError> {
    for d in ts {
        let Some(t) = base.tensors.iter().find(|t| t.name == d.name) else {
            return Err(ApplyError::Shape(format!(
                "{what}: block {} has no tensor {:?}",
                base.block, d.name
            )));
        };
        if d.shape != t.shape || d.values.len() != t.values.len() {
            return Err(ApplyError::Shape(format!(
                "{what}: block {}, tensor {}: shape {:?} is not {:?}",
                base.block, d.name, d.shape, t.shape
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(vals: &[f32]) -> BlockWeights {
        BlockWeights {
            block: "layer0.expert0".into(),
            tensors: vec![
                DeltaTensor {
                    name: "a".into(),
                    shape: vec![vals.len()],
                    values: vals.to_vec(),
                },
                DeltaTensor {
                    name: "b".into(),
                    shape: vec![1],
                    values: vec![1.0],
                },
            ],
            tile_size: 4096,
        }
    }

    fn g(vals: &[f32]) -> Vec<DeltaTensor> {
        vec![DeltaTensor {
            name: "a".into(),
            shape: vec![vals.len()],
            values: vals.to_vec(),
        }]
    }

    const PLAIN: OuterOptimizer = OuterOptimizer {
        lr_bps: 10_000,
        momentum_bps: 0,
    };

    #[test]
    fn lr_one_without_momentum_applies_the_plain_aggregate() {
        let base = block(&[1.0, 2.0]);
        let s = step(&base, None, &g(&[0.5, -0.25]), PLAIN).unwrap();
        assert_eq!(s.weights, base.apply(&g(&[0.5, -0.25])).unwrap());
        assert_eq!(s.momentum.tensors[0].values, vec![0.5, -0.25]);
        assert_eq!(s.momentum.tensors[1].values, vec![0.0], "b had no gradient");
    }

    #[test]
    fn nesterov_steps_match_the_formula_over_two_rounds() {
        let o = OuterOptimizer::DILOCO; // η 0.7, μ 0.9
        let base = block(&[0.0]);
        let s1 = step(&base, None, &g(&[1.0]), o).unwrap();
        // m1 = 1, step = 0.7·(1 + 0.9·1) = 1.33
        assert_eq!(s1.momentum.tensors[0].values, vec![1.0]);
        assert_eq!(s1.weights.tensors[0].values, vec![(0.7f64 * 1.9) as f32]);
        let s2 = step(&s1.weights, Some(&s1.momentum), &g(&[1.0]), o).unwrap();
        // m2 = 0.9 + 1 = 1.9, step = 0.7·(1 + 0.9·1.9) = 1.897
        let m2 = (0.9f64 * 1.0 + 1.0) as f32;
        assert_eq!(s2.momentum.tensors[0].values, vec![m2]);
        let step2 = (0.7 * (1.0 + 0.9 * f64::from(m2))) as f32;
        assert_eq!(
            s2.weights.tensors[0].values,
            vec![s1.weights.tensors[0].values[0] + step2]
        );
        // a tensor without gradient moves with its decaying momentum
        let m = block(&[0.0]);
        let mut m = zero_momentum(&m);
        m.tensors[1].values = vec![1.0];
        let s = step(&base, Some(&m), &g(&[0.0]), o).unwrap();
        assert_eq!(s.momentum.tensors[1].values, vec![0.9]);
        let want = 1.0 + (0.7 * 0.9 * f64::from(0.9f32)) as f32;
        assert_eq!(s.weights.tensors[1].values, vec![want]);
    }

    #[test]
    fn misfitting_or_non_finite_inputs_are_errors() {
        let base = block(&[0.0, 0.0]);
        let o = OuterOptimizer::DILOCO;
        assert!(matches!(
            step(&base, None, &g(&[1.0]), o),
            Err(ApplyError::Shape(_))
        ));
        let mut other = g(&[1.0, 1.0]);
        other[0].name = "zz".into();
        assert!(matches!(
            step(&base, None, &other, o),
            Err(ApplyError::Shape(_))
        ));
        assert!(matches!(
            step(&base, Some(&block(&[0.0])), &g(&[1.0, 1.0]), o),
            Err(ApplyError::Shape(_))
        ));
        assert!(matches!(
            step(&base, None, &g(&[f32::MAX, 0.0]), o),
            Err(ApplyError::NonFinite(_))
        ));
    }
}
