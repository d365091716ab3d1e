//! Synthetic rounds for tests and benchmarks: honest updates as a shared direction (what the
//! round's data teaches) plus per-miner noise (each miner's own data and seed) at a per-miner
//! scale (how long it trained), and the seeds' attacks (§4.4: gaussian noise, sign flipping;
//! plus scaled updates and NaN/Inf). Seeded with [`SplitMix64`]; arithmetic only (no
//! transcendental functions), so a seed gives the same values everywhere.

use std::collections::BTreeMap;

use super::{BaseBlock, Update};
use crate::compress::{BlockLayout, Decoded, DeltaTensor};
use crate::model::{tensor_shapes, BlockName, MetaConfig};
use crate::rng::SplitMix64;

/// Blocks and their tensors' names and shapes, in name order.
pub type Layout = Vec<(String, Vec<(String, Vec<usize>)>)>;

/// The layout of `blocks` of a model with `cfg` (blocks sorted by name).
pub fn layout(cfg: &MetaConfig, blocks: &[BlockName]) -> Layout {
    let mut out: Layout = blocks
        .iter()
        .map(|b| {
            let tensors = tensor_shapes(cfg, b)
                .into_iter()
                .map(|(n, s)| (n.to_string(), s))
                .collect();
            (b.to_string(), tensors)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The screening reference of `layout`'s blocks, with block `b`'s weight norm
/// `norm(values in b)`.
pub fn base_blocks(layout: &Layout, norm: impl Fn(usize) -> f64) -> BTreeMap<String, BaseBlock> {
    layout
        .iter()
        .map(|(b, tensors)| {
            let numel = tensors
                .iter()
                .map(|(_, s)| s.iter().product::<usize>())
                .sum();
            let r = BaseBlock {
                layout: BlockLayout {
                    block: b.clone(),
                    tensors: tensors.clone(),
                },
                norm: norm(numel),
            };
            (b.clone(), r)
        })
        .collect()
}

/// An approximately standard normal value: the Irwin–Hall sum of four uniforms, centred and
/// scaled to unit variance.
pub fn normal(rng: &mut SplitMix64) -> f64 {
    let s: f64 = (0..4).map(|_| rng.unit_f64()).sum();
    (s - 2.0) * 3f64.sqrt()
}

/// Blocks of `layout` with i.i.d. `N(0, std²)` values.
pub fn gaussian(layout: &Layout, std: f64, seed: u64) -> Vec<Decoded> {
    let mut rng = SplitMix64::for_label(seed, "defense-gaussian");
    map_layout(layout, |_| (std * normal(&mut rng)) as f32)
}

/// `‖blocks‖₂` over all values.
pub fn norm(blocks: &[Decoded]) -> f64 {
    let mut acc = 0.0f64;
    for b in blocks {
        for t in &b.tensors {
            for &x in &t.values {
                acc += f64::from(x) * f64::from(x);
            }
        }
    }
    acc.sqrt()
}

/// Number of values.
pub fn numel(blocks: &[Decoded]) -> usize {
    blocks
        .iter()
        .flat_map(|b| &b.tensors)
        .map(|t| t.values.len())
        .sum()
}

/// An honest miner's update: `scale · (direction + noise)` where the noise is i.i.d.
/// gaussian with `‖noise‖ ≈ noise_rel · ‖direction‖` (so two honest updates have cosine
/// `≈ 1 / (1 + noise_rel²)`).
pub fn honest(direction: &[Decoded], noise_rel: f64, scale: f64, seed: u64) -> Vec<Decoded> {
    let mut rng = SplitMix64::for_label(seed, "defense-honest");
    let per_value = noise_rel * norm(direction) / (numel(direction).max(1) as f64).sqrt();
    map_values(direction, |x| {
        (scale * (f64::from(x) + per_value * normal(&mut rng))) as f32
    })
}

/// The attacks a synthetic round can carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Attack {
    /// A random gaussian vector with norm `norm_rel ×` the honest update's.
    Noise {
        /// Norm relative to the honest update it replaces.
        norm_rel: f64,
    },
    /// The honest update plus gaussian noise of `sigma ×` its RMS per value (the `gaussian:S`
    /// mode of [`crate::attack`]: norm `≈ √(1 + sigma²) ×` the honest one).
    AddNoise {
        /// Noise standard deviation in units of the update's RMS.
        sigma: f64,
    },
    /// `−k ×` the honest update.
    SignFlip {
        /// Factor.
        k: f64,
    },
    /// `k ×` the honest update.
    Scaled {
        /// Factor.
        k: f64,
    },
    /// The honest update with a NaN and an infinity at seeded positions.
    NonFinite,
}

/// The update an attacker submits in place of `honest`.
pub fn attack(a: Attack, honest: &[Decoded], seed: u64) -> Vec<Decoded> {
    let mut rng = SplitMix64::for_label(seed, "defense-attack");
    match a {
        Attack::Noise { norm_rel } => {
            let per_value = norm_rel * norm(honest) / (numel(honest).max(1) as f64).sqrt();
            map_values(honest, |_| (per_value * normal(&mut rng)) as f32)
        }
        Attack::AddNoise { sigma } => {
            let per_value = sigma * norm(honest) / (numel(honest).max(1) as f64).sqrt();
            map_values(honest, |x| {
                (f64::from(x) + per_value * normal(&mut rng)) as f32
            })
        }
        Attack::SignFlip { k } => map_values(honest, |x| (-k * f64::from(x)) as f32),
        Attack::Scaled { k } => map_values(honest, |x| (k * f64::from(x)) as f32),
        Attack::NonFinite => {
            let mut out = honest.to_vec();
            let total = numel(honest);
            let (p, q) = (rng.index(total), rng.index(total));
            let mut seen = 0usize;
            for t in out.iter_mut().flat_map(|b| b.tensors.iter_mut()) {
                let len = t.values.len();
                if (seen..seen + len).contains(&p) {
                    t.values[p - seen] = f32::NAN;
                }
                if (seen..seen + len).contains(&q) {
                    t.values[q - seen] = f32::INFINITY;
                }
                seen += len;
            }
            out
        }
    }
}

/// A round of `n_honest` honest updates around a shared `N(0, 10⁻⁶)` direction (scales in
/// [0.6, 1.8], samples in 100..300) and one attacker per entry of
/// `attacks` (each on top of its own honest update of scale 1), in a seeded shuffled order with
/// submission ids `1000 + k` (attackers after the honest ones in id order).
pub fn round(
    layout: &Layout,
    n_honest: usize,
    attacks: &[Attack],
    noise_rel: f64,
    seed: u64,
) -> (Vec<Update>, Vec<Option<Attack>>) {
    let dir = gaussian(layout, 1e-3, seed);
    let mut rng = SplitMix64::for_label(seed, "round");
    let mut out = Vec::new();
    for k in 0..n_honest + attacks.len() {
        let a = attacks.get(k.wrapping_sub(n_honest)).copied();
        let scale = 0.6 + 1.2 * rng.unit_f64();
        let scale = if a.is_some() { 1.0 } else { scale };
        let h = honest(
            &dir,
            noise_rel,
            scale,
            seed.wrapping_mul(1000).wrapping_add(k as u64),
        );
        let blocks = match a {
            Some(a) => attack(a, &h, seed.wrapping_mul(1000).wrapping_add(k as u64)),
            None => h,
        };
        let u = Update {
            submission: 1000 + k as u64,
            samples: 100 + rng.below(200),
            blocks,
        };
        out.push((u, a));
    }
    rng.shuffle(&mut out);
    out.into_iter().unzip()
}

fn map_layout(layout: &Layout, mut f: impl FnMut(usize) -> f32) -> Vec<Decoded> {
    layout
        .iter()
        .map(|(block, tensors)| Decoded {
            block: block.clone(),
            tensors: tensors
                .iter()
                .map(|(name, shape)| {
                    let n: usize = shape.iter().product();
                    DeltaTensor {
                        name: name.clone(),
                        shape: shape.clone(),
                        values: (0..n).map(&mut f).collect(),
                    }
                })
                .collect(),
        })
        .collect()
}

fn map_values(blocks: &[Decoded], mut f: impl FnMut(f32) -> f32) -> Vec<Decoded> {
    blocks
        .iter()
        .map(|b| Decoded {
            block: b.block.clone(),
            tensors: b
                .tensors
                .iter()
                .map(|t| DeltaTensor {
                    name: t.name.clone(),
                    shape: t.shape.clone(),
                    values: t.values.iter().map(|&x| f(x)).collect(),
                })
                .collect(),
        })
        .collect()
}
