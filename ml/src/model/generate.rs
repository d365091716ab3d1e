//! Text generation: greedy, temperature or nucleus (top-p) sampling with a seeded generator;
//! [`sample`] is the one sampler, shared with the gateway's token loop.

use candle_core::{DType, Tensor};

use super::tokenizer::{self, BOS, EOS, PAD};
use super::{Model, Result};
use crate::rng::SplitMix64;

/// How to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Most new tokens (bytes) to produce; generation also stops at EOS.
    pub max_tokens: usize,
    /// Softmax temperature; 0 (or less) picks the most likely byte every step.
    pub temperature: f64,
    /// Seed of the sampler.
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 64,
            temperature: 0.8,
            seed: 0,
        }
    }
}

/// The completion of `prompt`: its text and the generated ids. The context is BOS + the
/// prompt's bytes; at each step the model sees the last `max_seq` tokens (no KV cache: the
/// models are small and the context short, so the whole window is recomputed).
pub fn generate(model: &Model, prompt: &str, opts: &GenerateOptions) -> Result<(String, Vec<u32>)> {
    let mut ctx = vec![BOS];
    ctx.extend(tokenizer::encode(prompt));
    let mut rng = SplitMix64::for_label(opts.seed, "generate");
    let mut out = Vec::new();
    let max_seq = model.config().max_seq;
    for _ in 0..opts.max_tokens {
        let window = &ctx[ctx.len().saturating_sub(max_seq)..];
        let ids = Tensor::from_slice(window, (1, window.len()), model.device())?;
        let logits = model
            .forward(&ids)?
            .squeeze(0)?
            .get(window.len() - 1)?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?;
        let next = sample(&logits, opts.temperature, 1.0, &mut rng);
        if next == EOS {
            break;
        }
        ctx.push(next);
        out.push(next);
    }
    Ok((tokenizer::decode(&out), out))
}

/// Picks the next id (BOS and PAD never): argmax at `temperature <= 0`, else a draw from
/// `softmax(logits / temperature)` (f64) restricted to the smallest set of most likely ids
/// whose mass reaches `top_p` (ties ordered by id).
pub fn sample(logits: &[f32], temperature: f64, top_p: f64, rng: &mut SplitMix64) -> u32 {
    let allowed = |i: usize| i as u32 != BOS && i as u32 != PAD;
    if temperature <= 0.0 {
        let mut best = (0usize, f32::NEG_INFINITY);
        for (i, &l) in logits.iter().enumerate().filter(|(i, _)| allowed(*i)) {
            if l > best.1 {
                best = (i, l);
            }
        }
        return best.0 as u32;
    }
    let max = logits
        .iter()
        .enumerate()
        .filter(|(i, _)| allowed(*i))
        .map(|(_, &l)| f64::from(l))
        .fold(f64::NEG_INFINITY, f64::max);
    let mut probs: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .filter(|(i, _)| allowed(*i))
        .map(|(i, &l)| (i, ((f64::from(l) - max) / temperature).exp()))
        .collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    if top_p < 1.0 {
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut mass = 0.0;
        let mut keep = 0;
        for p in &probs {
            keep += 1;
            mass += p.1 / total;
            if mass >= top_p {
                break;
            }
        }
        probs.truncate(keep.max(1));
    }
    let total: f64 = probs.iter().map(|p| p.1).sum();
    let mut x = rng.unit_f64() * total;
    for &(i, w) in &probs {
        if x < w {
            return i as u32;
        }
        x -= w;
    }
    probs.last().map_or(0, |p| p.0 as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_max_and_sampling_is_seeded() {
        let mut l = vec![0f32; 259];
        l[65] = 5.0;
        l[BOS as usize] = 100.0;
        let mut r = SplitMix64::new(1);
        assert_eq!(sample(&l, 0.0, 1.0, &mut r), 65);
        let a: Vec<u32> = (0..20)
            .scan(SplitMix64::new(3), |r, _| Some(sample(&l, 1.0, 1.0, r)))
            .collect();
        let b: Vec<u32> = (0..20)
            .scan(SplitMix64::new(3), |r, _| Some(sample(&l, 1.0, 1.0, r)))
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|&i| i != BOS && i != PAD));
    }
}
