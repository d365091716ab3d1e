//! Begin- plus end-block cost of staking with 100 validators.
//!
//! 1. As the number of delegations grows: rewards use a per-validator accumulator, so the
//!    figure must stay flat. Each block carries a last-commit signature from every
//!    validator (liveness tracking) and pays block rewards.
//! 2. As the number of pending unbonding entries grows (1k, 10k, 100k) together with dead
//!    validators (one for every ten entries: created, then emptied and jailed by their
//!    operator): an empty block, a block after a power change (the active set is
//!    recomputed), and a block carrying double-sign evidence against a validator with a
//!    fixed 100 unbonding entries of its own. A slash reads only the offender's entries and
//!    the set comes from a power index, so all three must stay flat.
//!
//! Run: `cargo bench -p blyan-chain --bench end_block`.

// A benchmark measures wall time around the state machine; the state machine itself never
// reads the clock (chain/clippy.toml).
#![allow(clippy::disallowed_methods)]
// It prints ratios as floats; the state machine never uses them.
#![allow(clippy::disallowed_types)]

use std::time::{Duration, Instant};

use blyan_chain::genesis::{init_chain, ChainGenesis, GenesisValidatorSpec};
use blyan_chain::staking::{Infraction, Misbehavior};
use blyan_chain::state::{apply_writes, Overlay, StateRead};
use blyan_chain::{staking, BlockContext, BlockExecutor, MemState};
use blyan_proto::params::{FeeParams, StakingParams, TxParams};
use blyan_proto::{Address, SecretKey, StakingMsg, BLY};

const VALIDATORS: usize = 100;
const BLOCKS: u64 = 200;

/// Validator `i`'s operator (derived once: deriving a key is far slower than a block).
fn operator(i: usize) -> Address {
    static OPERATORS: std::sync::OnceLock<Vec<Address>> = std::sync::OnceLock::new();
    OPERATORS.get_or_init(|| {
        (0..VALIDATORS)
            .map(|i| SecretKey::from_seed(&format!("bench/op/{i}")).address())
            .collect()
    })[i]
}

fn cons_key(i: usize) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    k
}

fn numbered(i: usize, tag: u8) -> Address {
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&(i as u64).to_be_bytes());
    a[19] = tag;
    Address(a)
}

/// Genesis with the 100 validators, `extra` funded accounts besides their operators.
fn genesis(extra: &[Address]) -> MemState {
    let mut accounts: Vec<(Address, u128)> = (0..VALIDATORS)
        .map(|i| (operator(i), 1_000 * BLY))
        .collect();
    accounts.extend(extra.iter().map(|d| (*d, 10 * BLY)));
    let mut s = MemState::new();
    init_chain(
        &mut s,
        &ChainGenesis {
            chain_id: "bench".into(),
            tx_params: TxParams::default(),
            fee_params: FeeParams::default(),
            accounts,
            emission_reserve: 400_000_000 * BLY,
            staking_params: StakingParams::default(),
            pol_params: Default::default(),
            dag_params: Default::default(),
            inference_params: Default::default(),
            gov_params: Default::default(),
            models: Vec::new(),
            validators: (0..VALIDATORS)
                .map(|i| GenesisValidatorSpec {
                    operator: operator(i),
                    consensus_key: cons_key(i),
                    moniker: format!("v{i}"),
                    power: 10 + i as u64,
                })
                .collect(),
        },
    )
    .expect("genesis");
    s
}

fn state_with(delegations: usize) -> MemState {
    let delegators: Vec<Address> = (0..delegations.max(1)).map(|i| numbered(i, 0xde)).collect();
    let mut s = genesis(&delegators);
    let mut o = Overlay::new(&s);
    for (i, d) in delegators.iter().take(delegations).enumerate() {
        let msg = StakingMsg::Delegate {
            validator: operator(i % VALIDATORS),
            amount: BLY,
        };
        staking::execute(&mut o, d, &msg, 1).expect("delegate");
    }
    let w = o.into_writes();
    apply_writes(&mut s, w);
    s
}

fn delegation_scaling() {
    println!(
        "staking begin+end block, {VALIDATORS} validators all signing, mean of {BLOCKS} blocks"
    );
    let votes: Vec<([u8; 20], bool)> = (0..VALIDATORS)
        .map(|i| (staking::consensus_address(&cons_key(i)), true))
        .collect();
    let mut baseline = None;
    for delegations in [0usize, 1_000, 10_000, 50_000] {
        let mut s = state_with(delegations);
        let t = Instant::now();
        for h in 2..2 + BLOCKS {
            let ex = BlockExecutor::begin_block(
                &s,
                BlockContext {
                    height: h,
                    last_commit: votes.clone(),
                    ..Default::default()
                },
            )
            .expect("begin");
            let end = ex.end().expect("end");
            apply_writes(&mut s, end.writes);
        }
        let per_block = t.elapsed() / BLOCKS as u32;
        let base = *baseline.get_or_insert(per_block);
        println!(
            "  {delegations:>6} delegations: {per_block:>10.2?} per block  ({:.2}x the 0-delegation figure)",
            per_block.as_secs_f64() / base.as_secs_f64()
        );
    }
}

/// Entries of each validator that double-signs in the slash figure.
const OFFENDER_ENTRIES: usize = 100;
/// Validators 0-4 double-sign, one per block.
const SLASHES: usize = 5;

/// Staking state with `entries` pending unbonding entries: one from each of
/// `entries / 10` dead validators (created with the minimum self-stake, then emptied by
/// their operator, so jailed with no tokens), 100 from delegators of each of validators
/// 0-4 (the offenders), the rest from delegators of validators 5-99.
fn state_with_entries(entries: usize) -> MemState {
    let dead = entries / 10;
    let delegators = entries - dead;
    let accounts: Vec<Address> = (0..dead)
        .map(|i| numbered(i, 0xdd))
        .chain((0..delegators).map(|i| numbered(i, 0xde)))
        .collect();
    let mut s = genesis(&accounts);
    let mut o = Overlay::new(&s);
    for (i, op) in accounts.iter().take(dead).enumerate() {
        let create = StakingMsg::CreateValidator {
            consensus_key: cons_key(VALIDATORS + i),
            moniker: format!("dead{i}"),
            commission_bps: 0,
            self_stake: BLY,
        };
        staking::execute(&mut o, op, &create, 1).expect("create");
        let leave = StakingMsg::Undelegate {
            validator: *op,
            amount: BLY,
        };
        staking::execute(&mut o, op, &leave, 1).expect("empty");
    }
    for (i, d) in accounts.iter().skip(dead).enumerate() {
        let v = if i < OFFENDER_ENTRIES * SLASHES {
            operator(i / OFFENDER_ENTRIES)
        } else {
            operator(SLASHES + i % (VALIDATORS - SLASHES))
        };
        let msg = StakingMsg::Delegate {
            validator: v,
            amount: 2 * BLY,
        };
        staking::execute(&mut o, d, &msg, 1).expect("delegate");
        let msg = StakingMsg::Undelegate {
            validator: v,
            amount: BLY,
        };
        staking::execute(&mut o, d, &msg, 1).expect("undelegate");
    }
    let w = o.into_writes();
    apply_writes(&mut s, w);
    let first = BlockExecutor::begin_block(
        &s,
        BlockContext {
            height: 1,
            ..Default::default()
        },
    )
    .expect("begin");
    let end = first.end().expect("end");
    apply_writes(&mut s, end.writes);
    s
}

/// A read-only view that counts what a block reads: keys looked up plus rows returned by
/// prefix scans. Unlike time, the count does not depend on the machine or its load.
struct Counting<'a> {
    state: &'a MemState,
    reads: std::cell::Cell<usize>,
}

impl StateRead for Counting<'_> {
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.reads.set(self.reads.get() + 1);
        self.state.get_raw(key)
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let rows = self.state.prefix_raw(prefix);
        self.reads.set(self.reads.get() + 1 + rows.len());
        rows
    }
}

/// What one block cost.
#[derive(Clone, Copy)]
struct Cost {
    time: Duration,
    reads: usize,
}

/// Runs one block and commits it; returns its begin+end cost.
fn timed_block(s: &mut MemState, ctx: BlockContext) -> Cost {
    let view = Counting {
        state: s,
        reads: std::cell::Cell::new(0),
    };
    let t = Instant::now();
    let ex = BlockExecutor::begin_block(&view, ctx).expect("begin");
    let end = ex.end().expect("end");
    let time = t.elapsed();
    let reads = view.reads.get();
    apply_writes(s, end.writes);
    Cost { time, reads }
}

/// Mean time and reads of `costs`.
fn mean(costs: &[Cost]) -> Cost {
    let n = costs.len().max(1);
    Cost {
        time: costs.iter().map(|c| c.time).sum::<Duration>() / n as u32,
        reads: costs.iter().map(|c| c.reads).sum::<usize>() / n,
    }
}

fn unbonding_scaling() {
    const BLOCKS: u64 = 50;
    println!(
        "staking begin+end block with pending unbonding entries and dead validators \
         (one per ten entries), {VALIDATORS} active validators all signing; \
         reads = keys looked up + rows scanned"
    );
    let votes: Vec<([u8; 20], bool)> = (0..VALIDATORS)
        .map(|i| (staking::consensus_address(&cons_key(i)), true))
        .collect();
    let ctx = |height: u64, misbehavior: Vec<Misbehavior>| BlockContext {
        height,
        last_commit: votes.clone(),
        misbehavior,
        ..Default::default()
    };
    let mut baseline: Option<[Cost; 3]> = None;
    for entries in [1_000usize, 10_000, 100_000] {
        let built = Instant::now();
        let mut s = state_with_entries(entries);
        let built = built.elapsed();
        let mut empty = Vec::new();
        let mut changed = Vec::new();
        for h in 2..2 + BLOCKS {
            empty.push(timed_block(&mut s, ctx(h, Vec::new())));
        }
        let mut h = 2 + BLOCKS;
        for i in 0..BLOCKS {
            // A delegation between blocks changes one power: the next end-block
            // recomputes the active set.
            let mut o = Overlay::new(&s);
            let msg = StakingMsg::Delegate {
                validator: operator(1 + i as usize % (VALIDATORS - 1)),
                amount: BLY,
            };
            staking::execute(&mut o, &operator(0), &msg, h).expect("delegate");
            let w = o.into_writes();
            apply_writes(&mut s, w);
            changed.push(timed_block(&mut s, ctx(h, Vec::new())));
            h += 1;
        }
        let mut slashes = Vec::new();
        for k in 0..SLASHES {
            let evidence = vec![Misbehavior {
                kind: Infraction::DuplicateVote,
                consensus_address: staking::consensus_address(&cons_key(k)),
                height: 1,
            }];
            slashes.push(timed_block(&mut s, ctx(h, evidence)));
            h += 1;
            let offender = staking::must_validator(&s, &operator(k)).expect("offender");
            assert!(offender.tombstoned, "the evidence was applied");
        }
        let figures = [mean(&empty), mean(&changed), mean(&slashes)];
        let base = *baseline.get_or_insert(figures);
        println!(
            "  {entries:>7} entries, {:>6} dead validators (built in {built:.1?}):",
            entries / 10
        );
        let names = [
            "empty block       ",
            "after power change",
            "double-sign slash ",
        ];
        for (i, name) in names.iter().enumerate() {
            let (f, b) = (figures[i], base[i]);
            println!(
                "      {name} {:>10.2?} ({:.2}x the 1k figure)  {:>6} reads ({:.2}x)",
                f.time,
                f.time.as_secs_f64() / b.time.as_secs_f64(),
                f.reads,
                f.reads as f64 / b.reads as f64
            );
        }
    }
    println!(
        "  (each slash hits a validator with {OFFENDER_ENTRIES} unbonding entries of its own; \
         means of {BLOCKS} blocks and of {SLASHES} slashes, one per block)"
    );
}

fn main() {
    delegation_scaling();
    unbonding_scaling();
}
