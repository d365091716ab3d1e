//! Whether a submission points downhill on the validation set: the second test a
//! submission whose leave-one-out contribution is negative beyond its noise must fail
//! before it is reported as harmful (otherwise it is only excluded).
//!
//! Leave-one-out compares a submission with the others' aggregate: for a mean of `n`
//! updates, its contribution is to first order `∇L · (xᵢ − A₋ᵢ) / n`, whose sign is random
//! among honest miners that trained on different data (one whose shard is a little further
//! from the validation distribution measures slightly negative while still descending). An
//! attack (label flipping, a crafted ascent direction) measures negative because it points
//! uphill: `∇L · xᵢ > 0`. So a submission is charged only if it also fails this test: the
//! base plus its update at its share of the aggregate (`xᵢ / n`, a small step in the linear
//! regime, without the outer optimizer's momentum) does not lower the base's loss. One that
//! passes is excluded from the aggregate (it makes it worse) without a penalty.

use std::collections::BTreeMap;

use super::base::Base;
use super::judge::by_block;
use crate::defense::Update;

/// `u`'s deltas scaled by `1 / share` (each value `f64(v) / share` rounded once to f32).
pub fn at_share(u: &Update, share: usize) -> BTreeMap<String, Vec<crate::compress::DeltaTensor>> {
    let k = 1.0 / share.max(1) as f64;
    let mut d = by_block(u);
    for ts in d.values_mut() {
        for t in ts {
            for v in &mut t.values {
                *v = (f64::from(*v) * k) as f32;
            }
        }
    }
    d
}

/// Whether base + `u` at its share `1 / share` has a lower loss on `texts` than the base
/// (`base_loss`, measured once and cached by the caller). A delta that does not apply or
/// gives a non-finite loss does not point downhill.
pub fn points_downhill(
    base: &mut Base,
    u: &Update,
    share: usize,
    texts: &[String],
    base_loss: &mut Option<Option<u64>>,
) -> anyhow::Result<(bool, Option<u64>)> {
    let before = match *base_loss {
        Some(l) => l,
        None => {
            let l = base.loss_with(&BTreeMap::new(), texts)?;
            *base_loss = Some(l);
            l
        }
    };
    let Ok(blocks) = base.applied(&at_share(u, share)) else {
        return Ok((false, None));
    };
    let after = base.loss_with(&blocks, texts)?;
    Ok((
        matches!((before, after), (Some(b), Some(a)) if a < b),
        after,
    ))
}
