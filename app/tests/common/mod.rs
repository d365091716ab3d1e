//! In-process ABCI driving: a BlyanApp over a temporary store, fed requests directly.
#![allow(dead_code)]

use base64::Engine as _;
use blyan_app::metrics::Metrics;
use blyan_app::node::BlyanApp;
use blyan_app::store::Store;
use blyan_genesis::localnet::localnet_app_state;
use blyan_genesis::GenesisValidator;
use blyan_proto::{Address, BankMsg, Fee, Msg, SecretKey, Tx};
use prost::bytes::Bytes;
use tendermint_abci::Application;
use tendermint_proto::google::protobuf::Timestamp;
use tendermint_proto::v0_38::abci::{
    RequestCheckTx, RequestFinalizeBlock, RequestInitChain, RequestPrepareProposal,
    RequestProcessProposal, ResponseFinalizeBlock,
};

pub(crate) const CHAIN: &str = "blyan-inproc";
pub(crate) const CONS_KEY: [u8; 32] = [9u8; 32];

pub(crate) fn dev(i: usize) -> SecretKey {
    SecretKey::from_seed(&format!("inproc/dev/{i}"))
}

pub(crate) fn operator() -> SecretKey {
    SecretKey::from_seed("inproc/operator")
}

pub(crate) fn proposer_address() -> Vec<u8> {
    blyan_app::genesis_bridge::consensus_address(&CONS_KEY).to_vec()
}

/// A fresh app with genesis applied; `devs` funded accounts.
pub(crate) fn app_with_genesis(devs: usize) -> BlyanApp {
    app_with_genesis_in(Store::temporary(100).unwrap(), devs)
}

/// A fresh app over `store` with genesis applied; `devs` funded accounts.
pub(crate) fn app_with_genesis_in(store: Store, devs: usize) -> BlyanApp {
    let app = BlyanApp::new(store, Metrics::new(), 100_000);
    let validator = GenesisValidator {
        name: "v0".into(),
        operator: operator().address(),
        consensus_pub_key: base64::engine::general_purpose::STANDARD.encode(CONS_KEY),
        power: 10,
    };
    let addrs: Vec<Address> = (0..devs).map(|i| dev(i).address()).collect();
    let state = localnet_app_state(CHAIN, vec![validator], &addrs).unwrap();
    let resp = app.init_chain(RequestInitChain {
        chain_id: CHAIN.into(),
        app_state_bytes: serde_json::to_vec(&state.to_json_value().unwrap())
            .unwrap()
            .into(),
        initial_height: 1,
        ..Default::default()
    });
    assert_eq!(resp.app_hash.len(), 32);
    app
}

pub(crate) fn transfer(_signer: &SecretKey, nonce: u64, to: Address, amount: u128) -> Tx {
    Tx {
        chain_id: CHAIN.into(),
        nonce,
        fee: Fee {
            gas_limit: 30_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1_000,
        },
        msgs: vec![Msg::Bank(BankMsg::Send { to, amount })],
        memo: String::new(),
    }
}

pub(crate) fn signed(from: &SecretKey, nonce: u64, to: Address, amount: u128) -> Bytes {
    transfer(from, nonce, to, amount)
        .sign(from)
        .to_bytes()
        .into()
}

fn time(height: u64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: 1_700_000_000 + height as i64,
        nanos: 0,
    })
}

pub(crate) fn check(app: &BlyanApp, tx: &Bytes) -> u32 {
    app.check_tx(RequestCheckTx {
        tx: tx.clone(),
        r#type: 0,
    })
    .code
}

pub(crate) fn prepare(app: &BlyanApp, height: u64, txs: Vec<Bytes>) -> Vec<Bytes> {
    app.prepare_proposal(RequestPrepareProposal {
        max_tx_bytes: 4 * 1024 * 1024,
        txs,
        height: height as i64,
        time: time(height),
        proposer_address: proposer_address().into(),
        ..Default::default()
    })
    .txs
}

pub(crate) fn process_accepts(app: &BlyanApp, height: u64, txs: Vec<Bytes>) -> bool {
    app.process_proposal(RequestProcessProposal {
        txs,
        height: height as i64,
        time: time(height),
        proposer_address: proposer_address().into(),
        ..Default::default()
    })
    .status
        == 1
}

pub(crate) fn finalize_and_commit(
    app: &BlyanApp,
    height: u64,
    txs: Vec<Bytes>,
) -> ResponseFinalizeBlock {
    let r = app.finalize_block(RequestFinalizeBlock {
        txs,
        height: height as i64,
        time: time(height),
        proposer_address: proposer_address().into(),
        ..Default::default()
    });
    app.commit();
    r
}
