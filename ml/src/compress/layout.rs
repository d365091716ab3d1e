//! [`BlockLayout`]: the tensors (names and shapes) of a block, what a delta for it may carry.

use super::{Decoded, DeltaTensor};

/// A block's tensors, sorted by name, with their shapes: the structure a delta for the
/// block must fit. A validator takes it from the base block (the chain's current head), never
/// from what miners submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLayout {
    /// Block name.
    pub block: String,
    /// `(tensor name, shape)`, sorted by name, names unique.
    pub tensors: Vec<(String, Vec<usize>)>,
}

impl BlockLayout {
    /// The layout of `tensors` (any order) of `block`.
    pub fn of(block: &str, tensors: &[DeltaTensor]) -> Self {
        let mut tensors: Vec<(String, Vec<usize>)> = tensors
            .iter()
            .map(|t| (t.name.clone(), t.shape.clone()))
            .collect();
        tensors.sort();
        tensors.dedup_by(|a, b| a.0 == b.0);
        Self {
            block: block.to_string(),
            tensors,
        }
    }

    /// The shape of tensor `name`, if the block has it.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .and_then(|i| self.tensors.get(i))
            .map(|(_, s)| s.as_slice())
    }

    /// Values in the whole block (saturating).
    pub fn numel(&self) -> u64 {
        self.tensors.iter().fold(0u64, |acc, (_, s)| {
            let n = s
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
                .unwrap_or(u64::MAX);
            acc.saturating_add(n)
        })
    }

    /// The largest container any delta of this block can be: the costliest encoding of
    /// every value (a sparse f32 body keeping all of them: a 1-byte index and 4 bytes per
    /// value, 4 more per value for low-rank factors with such a residual) plus generous
    /// headers. A validator reads no more than this whatever size a submission declares.
    pub fn max_container_bytes(&self) -> u64 {
        let headers = 1024 + 1024 * self.tensors.len() as u64;
        self.numel().saturating_mul(9).saturating_add(headers)
    }

    /// Whether `d` is for this block and carries exactly its tensors with their shapes.
    pub fn matches(&self, d: &Decoded) -> bool {
        d.block == self.block
            && d.tensors.len() == self.tensors.len()
            && d.tensors
                .iter()
                .zip(&self.tensors)
                .all(|(t, (name, shape))| t.name == *name && t.shape == *shape)
    }
}
