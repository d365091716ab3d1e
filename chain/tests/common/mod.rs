//! Shared helpers for runtime tests.
#![allow(dead_code)]

pub(crate) mod pol;

use blyan_chain::genesis::{init_chain, ChainGenesis, GenesisValidatorSpec};
use blyan_chain::runtime::Mode;
use blyan_chain::state::apply_writes;
use blyan_chain::{BlockContext, BlockExecutor, MemState, TxOutcome, VerifiedTx};
use blyan_proto::params::{FeeParams, StakingParams, TxParams};
use blyan_proto::{Address, BankMsg, Fee, Msg, SecretKey, Tx, BLY};

pub(crate) const CHAIN: &str = "blyan-unit";

pub(crate) fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(name)
}

pub(crate) fn proposer() -> Address {
    key("proposer").address()
}

/// A state with `funded` accounts holding 1,000 BLY each.
pub(crate) fn genesis(funded: &[&str]) -> MemState {
    let mut s = MemState::new();
    init_chain(
        &mut s,
        &ChainGenesis {
            chain_id: CHAIN.into(),
            tx_params: TxParams::default(),
            fee_params: FeeParams::default(),
            accounts: funded
                .iter()
                .map(|n| (key(n).address(), 1_000 * BLY))
                .chain([(proposer(), 10 * BLY)])
                .collect(),
            emission_reserve: 400_000_000 * BLY,
            staking_params: StakingParams::default(),
            pol_params: Default::default(),
            dag_params: Default::default(),
            inference_params: Default::default(),
            gov_params: Default::default(),
            models: Vec::new(),
            validators: vec![GenesisValidatorSpec {
                operator: proposer(),
                consensus_key: [7u8; 32],
                moniker: "v0".into(),
                power: 10,
            }],
        },
    )
    .unwrap();
    s
}

pub(crate) fn send_tx(nonce: u64, to: Address, amount: u128) -> Tx {
    Tx {
        chain_id: CHAIN.into(),
        nonce,
        fee: Fee {
            gas_limit: 100_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1_000,
        },
        msgs: vec![Msg::Bank(BankMsg::Send { to, amount })],
        memo: String::new(),
    }
}

pub(crate) fn verify(tx: Tx, key: &SecretKey) -> VerifiedTx {
    let bytes = tx.sign(key).to_bytes();
    VerifiedTx::from_bytes(&bytes, &TxParams::default()).unwrap()
}

pub(crate) fn ctx(height: u64) -> BlockContext {
    BlockContext {
        height,
        proposer: Some(proposer()),
        ..Default::default()
    }
}

/// Runs one block of already-verified transactions and commits it into `state`.
pub(crate) fn run_block(state: &mut MemState, height: u64, txs: &[VerifiedTx]) -> Vec<TxOutcome> {
    run_block_events(state, height, txs).0
}

/// Like [`run_block`], also returning the begin- and end-block events.
pub(crate) fn run_block_events(
    state: &mut MemState,
    height: u64,
    txs: &[VerifiedTx],
) -> (Vec<TxOutcome>, Vec<blyan_proto::event::Event>) {
    let mut ex = BlockExecutor::begin(&*state, ctx(height)).unwrap();
    let outcomes = txs
        .iter()
        .map(|t| ex.execute(Ok(t), Mode::Deliver))
        .collect();
    let end = ex.end().unwrap();
    apply_writes(state, end.writes);
    (outcomes, end.events)
}
