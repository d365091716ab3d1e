//! A proptest state machine drives random staking operations against a simple reference
//! model (liquid balances, bonded tokens per delegation, unbonding entries) and checks the
//! invariants after every step. Without slashes shares stay 1:1 with tokens, so the
//! model can track tokens directly; rewards are checked to only ever add. The model keeps
//! redelegation records too: stake redelegated into a validator cannot move on until its
//! record expires, and at most `max_unbonding_entries` records per (delegator,
//! destination) may be pending.

mod common;

use std::collections::BTreeMap;

use blyan_chain::staking::{self, BONDED_POOL, UNBONDING_POOL};
use blyan_chain::state::{apply_writes, Overlay};
use blyan_chain::{bank, invariants, BlockContext, BlockExecutor, MemState};
use blyan_proto::event::{Event, StakingEvent};
use blyan_proto::{Address, StakingMsg, BLY};
use common::*;
use proptest::prelude::*;

const DELEGATORS: [&str; 3] = ["d0", "d1", "d2"];

#[derive(Debug, Clone)]
enum Op {
    Delegate(usize, usize, u128),
    Undelegate(usize, usize, u128),
    Redelegate(usize, usize, usize, u128),
    Withdraw(usize, usize),
    Blocks(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let amt = prop_oneof![1u128..5 * BLY, Just(0u128), 100 * BLY..2_000 * BLY];
    let redelegated =
        prop_oneof![4 => 1u128..BLY / 2, 1 => Just(0u128), 1 => 100 * BLY..2_000 * BLY];
    prop_oneof![
        4 => (0..3usize, 0..2usize, amt.clone()).prop_map(|(d, v, a)| Op::Delegate(d, v, a)),
        3 => (0..3usize, 0..2usize, amt.clone()).prop_map(|(d, v, a)| Op::Undelegate(d, v, a)),
        // Mostly small moves between the two validators, so chains of redelegations
        // (refused while a record into the source is pending) come up often.
        4 => (0..3usize, 0..2usize, prop::bool::weighted(0.9), redelegated)
            .prop_map(|(d, f, flip, a)| Op::Redelegate(d, f, if flip { 1 - f } else { f }, a)),
        1 => (0..3usize, 0..2usize).prop_map(|(d, v)| Op::Withdraw(d, v)),
        2 => (1u64..8).prop_map(Op::Blocks),
    ]
}

#[derive(Default)]
struct Model {
    liquid: BTreeMap<Address, u128>,
    bonded: BTreeMap<(Address, Address), u128>,
    unbonding: Vec<(Address, u128, u64)>,
    /// Pending redelegation records: (delegator, destination, completion height).
    redelegations: Vec<(Address, Address, u64)>,
}

impl Model {
    fn may_redelegate(&self, d: &Address, from: &Address, to: &Address, max: u32) -> bool {
        let into = |v: &Address| {
            self.redelegations
                .iter()
                .filter(|(x, y, _)| x == d && y == v)
                .count()
        };
        into(from) == 0 && into(to) < max as usize
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_staking_matches_the_reference_model(ops in prop::collection::vec(op(), 1..40)) {
        let mut s = genesis(&DELEGATORS);
        // Second validator, operated by "v1".
        let v1 = key("v1").address();
        let mut short = staking::params(&s).unwrap();
        short.unbonding_blocks = 5;
        staking::set_params(&mut s, &short);
        let mut o = Overlay::new(&s);
        bank::transfer(&mut o, &key("d0").address(), &v1, 100 * BLY).unwrap();
        staking::create_validator(&mut o, &v1, &[3u8; 32], "v1", 0, 5 * BLY).unwrap();
        let w = o.into_writes();
        apply_writes(&mut s, w);
        let vals = [proposer(), v1];
        let dels: Vec<Address> = DELEGATORS.iter().map(|n| key(n).address()).collect();
        let mut model = Model::default();
        for d in &dels {
            model.liquid.insert(*d, bank::balance(&s, d).unwrap());
        }
        let unbonding_blocks = staking::params(&s).unwrap().unbonding_blocks;
        let max_entries = staking::params(&s).unwrap().max_unbonding_entries;
        let mut height = 1u64;
        for op in ops {
            let (signer, msg) = match op {
                Op::Delegate(d, v, a) => (dels[d], StakingMsg::Delegate { validator: vals[v], amount: a }),
                Op::Undelegate(d, v, a) => (dels[d], StakingMsg::Undelegate { validator: vals[v], amount: a }),
                Op::Redelegate(d, f, t, a) => (dels[d], StakingMsg::Redelegate { from: vals[f], to: vals[t], amount: a }),
                Op::Withdraw(d, v) => (dels[d], StakingMsg::WithdrawRewards { validator: vals[v] }),
                Op::Blocks(n) => {
                    for _ in 0..n {
                        let ex = BlockExecutor::begin_block(&s, BlockContext { height, ..Default::default() }).unwrap();
                        let end = ex.end().map_err(|e| TestCaseError::fail(e.to_string()))?;
                        apply_writes(&mut s, end.writes);
                        for (d, amount, done) in model.unbonding.iter_mut() {
                            if *done == height {
                                *model.liquid.get_mut(d).unwrap() += *amount;
                                *amount = 0;
                            }
                        }
                        model.redelegations.retain(|(_, _, done)| *done != height);
                        height += 1;
                    }
                    model.unbonding.retain(|(_, a, _)| *a > 0);
                    check(&s, &model, &dels, &vals)?;
                    continue;
                }
            };
            let mut o = Overlay::new(&s);
            let result = staking::execute(&mut o, &signer, &msg, height);
            let expected_ok = match &msg {
                StakingMsg::Delegate { validator, amount } => {
                    let _ = validator;
                    *amount > 0 && model.liquid[&signer] >= *amount
                }
                StakingMsg::Undelegate { validator, amount } => {
                    *amount > 0 && model.bonded.get(&(signer, *validator)).copied().unwrap_or(0) >= *amount
                }
                StakingMsg::Redelegate { from, to, amount } => {
                    from != to && *amount > 0 && model.bonded.get(&(signer, *from)).copied().unwrap_or(0) >= *amount
                        && model.may_redelegate(&signer, from, to, max_entries)
                }
                StakingMsg::WithdrawRewards { validator } => model.bonded.contains_key(&(signer, *validator))
                    || staking::delegation(&s, &signer, validator).unwrap().is_some(),
                _ => unreachable!(),
            };
            prop_assert_eq!(result.is_ok(), expected_ok, "{:?} -> {:?}", msg, result);
            if let Ok(events) = result {
                let w = o.into_writes();
                apply_writes(&mut s, w);
                match msg {
                    StakingMsg::Delegate { validator, amount } => {
                        *model.liquid.get_mut(&signer).unwrap() -= amount;
                        *model.bonded.entry((signer, validator)).or_default() += amount;
                    }
                    StakingMsg::Undelegate { validator, amount } => {
                        let b = model.bonded.get_mut(&(signer, validator)).unwrap();
                        *b -= amount;
                        if *b == 0 { model.bonded.remove(&(signer, validator)); }
                        model.unbonding.push((signer, amount, height + unbonding_blocks));
                    }
                    StakingMsg::Redelegate { from, to, amount } => {
                        let b = model.bonded.get_mut(&(signer, from)).unwrap();
                        *b -= amount;
                        if *b == 0 { model.bonded.remove(&(signer, from)); }
                        *model.bonded.entry((signer, to)).or_default() += amount;
                        model.redelegations.push((signer, to, height + unbonding_blocks));
                    }
                    StakingMsg::WithdrawRewards { .. } => {
                        for e in events {
                            if let Event::Staking(StakingEvent::WithdrawRewards { rewards, commission, .. }) = e {
                                *model.liquid.get_mut(&signer).unwrap() += rewards + commission;
                            }
                        }
                    }
                    _ => {}
                }
            }
            check(&s, &model, &dels, &vals)?;
        }
    }
}

fn check(s: &MemState, m: &Model, dels: &[Address], vals: &[Address]) -> Result<(), TestCaseError> {
    invariants::check_full_staking(s).map_err(|e| TestCaseError::fail(e.to_string()))?;
    invariants::check_full_supply(s).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for d in dels {
        prop_assert_eq!(bank::balance(s, d).unwrap(), m.liquid[d], "liquid {}", d);
        for v in vals {
            let val = staking::must_validator(s, v).unwrap();
            let held = staking::delegation(s, d, v)
                .unwrap()
                .map_or(0, |x| staking::tokens_for_shares(&val, x.shares));
            prop_assert_eq!(
                held,
                m.bonded.get(&(*d, *v)).copied().unwrap_or(0),
                "bonded {} -> {}",
                d,
                v
            );
        }
    }
    let unbonding: u128 = m.unbonding.iter().map(|(_, a, _)| a).sum();
    prop_assert_eq!(bank::balance(s, &UNBONDING_POOL).unwrap(), unbonding);
    let bonded: u128 = m.bonded.values().sum();
    let own: u128 = vals
        .iter()
        .map(|v| {
            let val = staking::must_validator(s, v).unwrap();
            staking::delegation(s, v, v)
                .unwrap()
                .map_or(0, |x| staking::tokens_for_shares(&val, x.shares))
        })
        .sum();
    prop_assert_eq!(bank::balance(s, &BONDED_POOL).unwrap(), bonded + own);
    prop_assert_eq!(
        staking::all_redelegations(s).unwrap().len(),
        m.redelegations.len()
    );
    Ok(())
}
