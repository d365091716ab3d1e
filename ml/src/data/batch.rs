//! Token sequences and batches: each document is `BOS bytes EOS`, cut into windows of at
//! most `max_seq + 1` tokens (consecutive windows share one token, so every target is
//! predicted exactly once); a batch right-pads its windows with PAD and masks the padding.

use candle_core::{Device, Tensor};

use super::DataError;
use crate::model::tokenizer::{encode_document, PAD};
use crate::rng::SplitMix64;

/// One batch: `inputs[b, t]` predicts `targets[b, t]`; `mask[b, t]` is 1.0 on real targets
/// and 0.0 on padding.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Input ids `[batch, seq]`, u32.
    pub inputs: Tensor,
    /// Target ids `[batch, seq]`, u32 (the inputs shifted by one).
    pub targets: Tensor,
    /// `[batch, seq]`, f32.
    pub mask: Tensor,
    /// Real (unmasked) targets in the batch.
    pub tokens: usize,
}

/// The training windows of `texts` for a model with `max_seq` positions.
pub fn sequences(texts: &[String], max_seq: usize) -> Vec<Vec<u32>> {
    let step = max_seq.max(1);
    let mut out = Vec::new();
    for t in texts {
        let doc = encode_document(t);
        let mut start = 0;
        while start + 1 < doc.len() {
            let end = (start + step + 1).min(doc.len());
            out.push(doc[start..end].to_vec());
            start += step;
        }
    }
    out
}

/// Indices of `n` sequences grouped into batches of `batch_size` (the last may be short):
/// in order without a seed, shuffled (Fisher–Yates on SplitMix64) with one.
pub fn batch_order(n: usize, batch_size: usize, shuffle_seed: Option<u64>) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    if let Some(seed) = shuffle_seed {
        SplitMix64::for_label(seed, "shuffle").shuffle(&mut idx);
    }
    idx.chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// The batch of the sequences `seqs[i]` for `i` in `indices`.
pub fn make_batch(
    seqs: &[Vec<u32>],
    indices: &[usize],
    device: &Device,
) -> Result<Batch, DataError> {
    let chosen: Vec<&Vec<u32>> = indices.iter().filter_map(|&i| seqs.get(i)).collect();
    let t = chosen
        .iter()
        .map(|s| s.len().saturating_sub(1))
        .max()
        .unwrap_or(0)
        .max(1);
    let b = chosen.len();
    let (mut inputs, mut targets, mut mask) =
        (vec![PAD; b * t], vec![PAD; b * t], vec![0f32; b * t]);
    let mut tokens = 0;
    for (r, s) in chosen.iter().enumerate() {
        for (j, w) in s.windows(2).enumerate() {
            inputs[r * t + j] = w[0];
            targets[r * t + j] = w[1];
            mask[r * t + j] = 1.0;
            tokens += 1;
        }
    }
    Ok(Batch {
        inputs: Tensor::from_vec(inputs, (b, t), device)?,
        targets: Tensor::from_vec(targets, (b, t), device)?,
        mask: Tensor::from_vec(mask, (b, t), device)?,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tokenizer::{BOS, EOS};

    #[test]
    fn windows_cover_every_target_once() {
        let texts = vec!["abcdefghij".to_string(), "x".to_string()];
        let s = sequences(&texts, 4);
        // doc 1 has 12 tokens -> 11 targets; windows of 5 with overlap 1
        let targets: usize = s.iter().map(|w| w.len() - 1).sum();
        assert_eq!(targets, 11 + 2);
        assert_eq!(s[0], [BOS, 97, 98, 99, 100]);
        assert_eq!(s.last().unwrap(), &vec![BOS, 120, EOS]);
        assert!(s.iter().all(|w| w.len() <= 5));
    }

    #[test]
    fn batches_shift_pad_and_shuffle_deterministically() {
        let texts = vec!["ab".to_string(), "abcd".to_string()];
        let s = sequences(&texts, 8);
        let b = make_batch(&s, &[0, 1], &Device::Cpu).unwrap();
        assert_eq!(b.inputs.dims(), [2, 5]);
        let inp = b.inputs.to_vec2::<u32>().unwrap();
        let tgt = b.targets.to_vec2::<u32>().unwrap();
        assert_eq!(inp[0], [BOS, 97, 98, PAD, PAD]);
        assert_eq!(tgt[0], [97, 98, EOS, PAD, PAD]);
        assert_eq!(
            b.mask.to_vec2::<f32>().unwrap()[0],
            [1.0, 1.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(b.tokens, 3 + 5);
        let a = batch_order(100, 8, Some(5));
        assert_eq!(a, batch_order(100, 8, Some(5)));
        assert_ne!(a, batch_order(100, 8, Some(6)));
        assert_eq!(batch_order(5, 2, None), [vec![0, 1], vec![2, 3], vec![4]]);
        let mut all: Vec<usize> = a.concat();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }
}
