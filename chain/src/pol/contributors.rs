//! Who earns the contributors' share of inference payments for a block version a round
//! created: the admitted miners whose submission touched that block, weighted by their own
//! measured improvement (base loss − the validators' median phase-1 loss, micro-nats: its
//! marginal improvement of the round's aggregate). Self-declared `samples` play no part.
//! When no touching miner improved, each of them gets weight 1.

use blyan_proto::pol::{NewBlockVersion, RoundInfo, SubmissionInfo, SubmissionStatus};
use blyan_proto::Address;

use super::state::set_contributors;
use crate::state::StateWrite;

/// Records the contributors of each block version an accepted round created
/// (`r.new_blocks[i]` is the new version of `blocks[i]`), read by inference redemptions.
pub(super) fn record_round_contributors<S: StateWrite + ?Sized>(
    state: &mut S,
    r: &RoundInfo,
    blocks: &[NewBlockVersion],
    subs: &[SubmissionInfo],
    base_loss: u64,
) {
    for (b, id) in blocks.iter().zip(r.new_blocks.iter()) {
        let touching: Vec<&SubmissionInfo> = subs
            .iter()
            .filter(|s| s.status == SubmissionStatus::Admitted)
            .filter(|s| s.deltas.iter().any(|d| d.block == b.block))
            .collect();
        let gain =
            |s: &SubmissionInfo| base_loss.saturating_sub(s.median_loss_micro.unwrap_or(base_loss));
        let any_gain = touching.iter().any(|s| gain(s) > 0);
        // one entry per miner (a BTreeMap: fixed order), weights summed
        let mut weights: std::collections::BTreeMap<Address, u128> = Default::default();
        for s in touching {
            let w = if any_gain { u128::from(gain(s)) } else { 1 };
            if w > 0 {
                let e = weights.entry(s.miner).or_insert(0);
                *e = e.saturating_add(w);
            }
        }
        if !weights.is_empty() {
            let list: Vec<(Address, u128)> = weights.into_iter().collect();
            set_contributors(state, id, &list);
        }
    }
}
