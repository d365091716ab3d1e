//! Begin- plus end-block cost of staking with 100 validators as the number of
//! delegations grows: rewards use a per-validator accumulator, so the figure must stay
//! flat. Each block carries a last-commit signature from every validator (liveness
//! tracking) and pays block rewards.
//!
//! Run: `cargo bench -p blyan-chain --bench end_block`.

// A benchmark measures wall time around the state machine; the state machine itself never
// reads the clock (chain/clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use blyan_chain::genesis::{init_chain, ChainGenesis, GenesisValidatorSpec};
use blyan_chain::state::{apply_writes, Overlay};
use blyan_chain::{staking, BlockContext, BlockExecutor, MemState};
use blyan_proto::params::{FeeParams, StakingParams, TxParams};
use blyan_proto::{Address, SecretKey, StakingMsg, BLY};

const VALIDATORS: usize = 100;
const BLOCKS: u64 = 200;

fn operator(i: usize) -> Address {
    SecretKey::from_seed(&format!("bench/op/{i}")).address()
}

fn cons_key(i: usize) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    k
}

fn state_with(delegations: usize) -> MemState {
    let delegators: Vec<Address> = (0..delegations.max(1))
        .map(|i| {
            let mut a = [0u8; 20];
            a[..8].copy_from_slice(&(i as u64).to_be_bytes());
            a[19] = 0xde;
            Address(a)
        })
        .collect();
    let mut accounts: Vec<(Address, u128)> = (0..VALIDATORS)
        .map(|i| (operator(i), 1_000 * BLY))
        .collect();
    accounts.extend(delegators.iter().map(|d| (*d, 10 * BLY)));
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
            inference_params: Default::default(),
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

fn main() {
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
