//! Random delegations, undelegations, redelegations, withdrawals and double-sign
//! evidence for past heights: after every block the full staking audit (pools, running
//! total, counters, indexes) and the supply audit hold, every slash is burned, and a
//! refused transaction moves nothing but its fee.

mod common;
mod staking_harness;

use blyan_chain::staking;
use blyan_proto::{StakingMsg, BLY};
use proptest::prelude::*;
use staking_harness::*;

/// Delegators; the operators of v1 and v2 among them, so validators get emptied and
/// pruned too.
const NAMES: [&str; 4] = ["carol", "erin", "d0", "d1"];
const KEYS: [[u8; 32]; 3] = [CONS0, CONS_CAROL, [9u8; 32]];

#[derive(Debug, Clone)]
enum Op {
    Delegate(usize, usize, u128),
    Undelegate(usize, usize, u128),
    Redelegate(usize, usize, usize, u128),
    Withdraw(usize, usize),
    Blocks(u64),
    DoubleSign(usize, u64),
    /// Undelegates everything held with a validator and withdraws its rewards.
    Leave(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let amt = prop_oneof![4 => 1u128..20 * BLY, 1 => Just(0u128), 1 => 500 * BLY..2_000 * BLY];
    prop_oneof![
        4 => (0..4usize, 0..3usize, amt.clone()).prop_map(|(d, v, a)| Op::Delegate(d, v, a)),
        3 => (0..4usize, 0..3usize, amt.clone()).prop_map(|(d, v, a)| Op::Undelegate(d, v, a)),
        3 => (0..4usize, 0..3usize, 0..3usize, amt).prop_map(|(d, f, t, a)| Op::Redelegate(d, f, t, a)),
        2 => (0..4usize, 0..3usize).prop_map(|(d, v)| Op::Withdraw(d, v)),
        2 => (1u64..25).prop_map(Op::Blocks),
        1 => (0..3usize, 0u64..10).prop_map(|(v, back)| Op::DoubleSign(v, back)),
        2 => (0..4usize, 0..3usize).prop_map(|(d, v)| Op::Leave(d, v)),
    ]
}

/// What a failed transaction in block `height` must leave alone: the signer's
/// delegations and its unbonding entries other than those that block pays out; and
/// what that block pays out to it.
type Stake = (
    Vec<Option<staking::Delegation>>,
    Vec<staking::UnbondingEntry>,
);

fn stake_of(c: &Chain, who: &str, height: u64) -> (Stake, u128) {
    let vals = [v0(), addr("carol"), addr("erin")];
    let dels = vals
        .iter()
        .map(|v| staking::delegation(&c.s, &addr(who), v).unwrap())
        .collect();
    let (paid, kept): (Vec<_>, Vec<_>) = staking::unbonding_of(&c.s, &addr(who))
        .unwrap()
        .into_iter()
        .partition(|e| e.completion_height == height);
    ((dels, kept), paid.iter().map(|e| e.amount).sum())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_staking_with_slashes_keeps_every_audit(ops in prop::collection::vec(op(), 1..30)) {
        let mut c = Chain::new(&["d0", "d1", "carol", "erin"]);
        c.txs(&[("carol", create(CONS_CAROL, 20)), ("erin", create(KEYS[2], 20))]);
        let vals = [v0(), addr("carol"), addr("erin")];
        for op in ops {
            let tx = match op {
                Op::Delegate(d, v, a) => (d, StakingMsg::Delegate { validator: vals[v], amount: a }),
                Op::Undelegate(d, v, a) => (d, StakingMsg::Undelegate { validator: vals[v], amount: a }),
                Op::Redelegate(d, f, t, a) => (d, StakingMsg::Redelegate { from: vals[f], to: vals[t], amount: a }),
                Op::Withdraw(d, v) => (d, StakingMsg::WithdrawRewards { validator: vals[v] }),
                Op::Blocks(n) => {
                    for _ in 0..n {
                        c.block(&[], Vec::new());
                    }
                    continue;
                }
                Op::Leave(d, v) => {
                    let held = staking::validator(&c.s, &vals[v]).unwrap().map_or(0, |_| c.bonded(NAMES[d], &vals[v]));
                    let mut txs = Vec::new();
                    if held > 0 {
                        txs.push((NAMES[d], StakingMsg::Undelegate { validator: vals[v], amount: held }));
                    }
                    txs.push((NAMES[d], StakingMsg::WithdrawRewards { validator: vals[v] }));
                    c.block(&txs, Vec::new());
                    continue;
                }
                Op::DoubleSign(v, back) => {
                    let h = c.height.saturating_sub(back).max(1);
                    c.double_sign(KEYS[v], h);
                    continue;
                }
            };
            let who = NAMES[tx.0];
            let height = c.height;
            let ((stake, paid), balance) = (stake_of(&c, who, height), c.balance(who));
            let b = c.block(&[(who, tx.1.clone())], Vec::new());
            if b.code(0) != 0 {
                let log = &b.outcomes[0].log;
                prop_assert_eq!(stake_of(&c, who, height).0, stake, "{:?}: {}", tx.1, log);
                let fee = common::pol::fee_paid(&b.outcomes[0]);
                prop_assert_eq!(c.balance(who), balance - fee + paid, "{:?}: {}", tx.1, log);
            }
        }
    }
}
