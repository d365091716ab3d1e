//! A tiny seeded pseudo-random generator (SplitMix64) used wherever the worker needs
//! reproducible randomness: weight init, the synthetic corpus, shuffles and sampling.
//!
//! It is written out here rather than taken from `rand` so that the byte stream for a seed
//! can never change under a dependency upgrade: a seed names the same model and the same
//! corpus on every machine and every version.

use sha3::{Digest, Sha3_256};

/// SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush, trivially portable.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for one named stream derived from `seed`: the first 8 bytes of
    /// `sha3-256(seed_le || label)`, so streams for different labels are independent and do
    /// not depend on the order in which they are drawn.
    pub fn for_label(seed: u64, label: &str) -> Self {
        let mut h = Sha3_256::new();
        h.update(seed.to_le_bytes());
        h.update(label.as_bytes());
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        Self::new(u64::from_le_bytes(b))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`; returns 0 for `n == 0`), by rejection so that
    /// there is no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// A uniform `usize` in `0..n`.
    pub fn index(&mut self, n: usize) -> usize {
        // usize fits in u64 on every supported target, and the result is < n.
        self.below(n as u64) as usize
    }

    /// A uniform f32 in `[0, 1)` with 24 random bits (exact, no rounding differences
    /// between machines).
    pub fn unit_f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32) * (1.0 / 16_777_216.0)
    }

    /// A uniform f64 in `[0, 1)` with 53 random bits.
    pub fn unit_f64(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_labels_differ() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(SplitMix64::new(7), |r, _: u64| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(SplitMix64::new(7), |r, _: u64| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        let mut x = SplitMix64::for_label(1, "a");
        let mut y = SplitMix64::for_label(1, "b");
        assert_ne!(x.next_u64(), y.next_u64());
    }

    #[test]
    fn ranges_hold() {
        let mut r = SplitMix64::new(3);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            let u = r.unit_f32();
            assert!((0.0..1.0).contains(&u));
        }
        let mut v: Vec<u32> = (0..50).collect();
        r.shuffle(&mut v);
        let mut s = v.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }
}
