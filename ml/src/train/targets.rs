//! What the model is trained to predict: the true next tokens, or (the label-flipping
//! attack) a fixed permutation of them.

use serde::{Deserialize, Serialize};

/// Lowest printable ASCII byte (space).
pub const PRINTABLE_LO: u32 = 32;
/// Highest printable ASCII byte (`~`).
pub const PRINTABLE_HI: u32 = 126;

/// Which targets a training run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetMode {
    /// The real next token.
    #[default]
    Normal,
    /// The label-flipping attack: every target that is a printable ASCII byte
    /// (`32..=126`) is replaced by its mirror `(32 + 126) - t` (space ↔ `~`, `0` ↔ `n`,
    /// `a` ↔ `=`, …), an involution on that range; other targets (non-printable bytes,
    /// BOS, EOS, PAD) are left as they are. Inputs are never changed, so the attacker
    /// trains on real contexts towards wrong answers.
    Flipped,
}

impl TargetMode {
    /// The target the model is trained to predict in place of `t`.
    pub fn map(self, t: u32) -> u32 {
        match self {
            TargetMode::Normal => t,
            TargetMode::Flipped => flip(t),
        }
    }
}

/// The label-flipping involution (see [`TargetMode::Flipped`]).
pub fn flip(t: u32) -> u32 {
    if (PRINTABLE_LO..=PRINTABLE_HI).contains(&t) {
        PRINTABLE_LO + PRINTABLE_HI - t
    } else {
        t
    }
}
