//! The workload shared by the app benchmarks: a chain whose genesis funds `SENDERS`
//! accounts, and blocks of `BLOCK_TXS` signed transfers to fresh recipients.
#![allow(unreachable_pub)]

use base64::Engine as _;
use blyan_app::node::BlyanApp;
use blyan_genesis::localnet::localnet_app_state;
use blyan_genesis::GenesisValidator;
use blyan_proto::{Address, BankMsg, Fee, Msg, SecretKey, Tx};
use prost::bytes::Bytes;
use rayon::prelude::*;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::RequestInitChain;

/// Chain id of the benchmark chain.
pub const CHAIN: &str = "blyan-bench";
/// Funded senders.
pub const SENDERS: usize = 200;
/// Transfers per block.
pub const BLOCK_TXS: usize = 5_000;

/// The funded sender keys.
pub fn senders() -> Vec<SecretKey> {
    (0..SENDERS)
        .map(|i| SecretKey::from_seed(&format!("bench/{i}")))
        .collect()
}

/// Runs InitChain: one validator, every sender funded.
pub fn init_genesis(app: &BlyanApp) {
    let validator = GenesisValidator {
        name: "v0".into(),
        operator: SecretKey::from_seed("bench/operator").address(),
        consensus_pub_key: base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
        power: 10,
    };
    let addrs: Vec<Address> = senders().iter().map(SecretKey::address).collect();
    let state = localnet_app_state(CHAIN, vec![validator], &addrs).expect("genesis");
    app.init_chain(RequestInitChain {
        chain_id: CHAIN.into(),
        app_state_bytes: serde_json::to_vec(&state.to_json_value().expect("json"))
            .expect("json")
            .into(),
        initial_height: 1,
        ..Default::default()
    });
}

/// `n` blocks; each sender sends `BLOCK_TXS / SENDERS` per block to fresh recipients (so
/// the state grows like a real chain's), signed over all cores.
pub fn make_blocks(n: usize) -> Vec<Vec<Bytes>> {
    let keys = senders();
    let per_sender = BLOCK_TXS / SENDERS;
    (0..n)
        .map(|b| {
            keys.par_iter()
                .enumerate()
                .flat_map_iter(|(s, k)| {
                    (0..per_sender).map(move |j| {
                        let nonce = (b * per_sender + j) as u64;
                        let to = SecretKey::from_seed(&format!("bench/rcpt/{b}/{s}/{j}")).address();
                        let tx = Tx {
                            chain_id: CHAIN.into(),
                            nonce,
                            fee: Fee {
                                gas_limit: 30_000,
                                max_fee_per_gas: 100_000_000_000,
                                max_priority_fee_per_gas: 1_000,
                            },
                            msgs: vec![Msg::Bank(BankMsg::Send {
                                to,
                                amount: 1 + j as u128,
                            })],
                            memo: String::new(),
                        };
                        Bytes::from(tx.sign(k).to_bytes())
                    })
                })
                .collect()
        })
        .collect()
}
