//! `GenesisDoc` edits keep CometBFT's fields and produce a self-consistent document.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use blyan_proto::params::{FeeParams, TxParams};
use blyan_proto::{SecretKey, BLY};

use super::*;
use crate::app_state::GenesisAccount;

/// What `cometbft init` (v0.38.26) writes, trimmed of nothing.
const COMET_GENESIS: &str = r#"{
  "genesis_time": "2026-11-22T00:08:38.590443999Z",
  "chain_id": "test-chain-2mQH6V",
  "initial_height": "0",
  "consensus_params": {
    "block": { "max_bytes": "22020096", "max_gas": "-1" },
    "evidence": { "max_age_num_blocks": "100000", "max_age_duration": "172800000000000", "max_bytes": "1048576" },
    "validator": { "pub_key_types": ["ed25519"] },
    "version": { "app": "0" },
    "abci": { "vote_extensions_enable_height": "0" }
  },
  "validators": [
    {
      "address": "28D10B34DFC882562A8BB15D9A7C0113A7B30B5B",
      "pub_key": { "type": "tendermint/PubKeyEd25519", "value": "MGMhuyRT6HZDnwZMCJgkoT25Qa5PKXV0lNUK7CQlGU0=" },
      "power": "10",
      "name": ""
    }
  ],
  "app_hash": ""
}"#;

fn state() -> GenesisAppState {
    let v = |name: &str, key: &str| GenesisValidator {
        name: name.into(),
        operator: SecretKey::from_seed(name).address(),
        consensus_pub_key: key.into(),
        power: 10,
    };
    GenesisAppState {
        chain_id: "blyan-doc".into(),
        tx: TxParams::default(),
        fees: FeeParams::default(),
        accounts: vec![GenesisAccount {
            address: SecretKey::from_seed("a").address(),
            balance: BLY,
            label: None,
        }],
        emission_reserve: 0,
        validators: vec![
            v("node0", "MGMhuyRT6HZDnwZMCJgkoT25Qa5PKXV0lNUK7CQlGU0="),
            v("node1", &STANDARD.encode([9u8; 32])),
        ],
        pol: Default::default(),
        dag: Default::default(),
        inference: Default::default(),
        gov: Default::default(),
        staking: blyan_proto::params::StakingParams {
            power_reduction: 0,
            ..Default::default()
        },
        models: Vec::new(),
    }
}

fn edited() -> GenesisDoc {
    let s = state();
    let mut doc = GenesisDoc::parse(COMET_GENESIS).unwrap();
    doc.set_chain_id(&s.chain_id);
    doc.set_validators(&s.validators).unwrap();
    doc.set_app_state(&s).unwrap();
    doc.set_consensus_params().unwrap();
    doc
}

#[test]
fn validator_address_matches_cometbft() {
    let key = STANDARD
        .decode("MGMhuyRT6HZDnwZMCJgkoT25Qa5PKXV0lNUK7CQlGU0=")
        .unwrap();
    let key: [u8; 32] = key.try_into().unwrap();
    assert_eq!(
        validator_address(&key),
        "28D10B34DFC882562A8BB15D9A7C0113A7B30B5B"
    );
}

#[test]
fn edits_land_and_cometbft_fields_are_kept() {
    let doc = edited();
    let v = doc.as_value();
    assert_eq!(doc.chain_id(), Some("blyan-doc"));
    assert_eq!(v["genesis_time"], "2026-11-22T00:08:38.590443999Z");
    assert_eq!(v["consensus_params"]["evidence"]["max_bytes"], "1048576");
    assert_eq!(v["consensus_params"]["block"]["max_bytes"], "4194304");
    assert_eq!(v["consensus_params"]["block"]["max_gas"], "-1");
    let vals = v["validators"].as_array().unwrap();
    assert_eq!(vals.len(), 2);
    assert_eq!(
        vals[0]["address"],
        "28D10B34DFC882562A8BB15D9A7C0113A7B30B5B"
    );
    assert_eq!(vals[0]["pub_key"]["type"], ED25519_PUBKEY_TYPE);
    assert_eq!(vals[1]["power"], "10");
    assert_eq!(vals[1]["name"], "node1");
    assert_eq!(doc.check().unwrap(), state());
}

#[test]
fn written_text_parses_back_identically() {
    let doc = edited();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("genesis.json");
    doc.write(&path).unwrap();
    assert_eq!(GenesisDoc::read(&path).unwrap(), doc);
    assert!(doc.to_pretty_string().ends_with("}\n"));
}

#[test]
fn check_catches_inconsistencies() {
    let mut doc = edited();
    doc.set_chain_id("other");
    assert!(matches!(
        doc.check(),
        Err(DocError::Invalid(GenesisError::ChainIdMismatch { .. }))
    ));

    let mut doc = edited();
    doc.set_validators(&state().validators[..1]).unwrap();
    assert!(matches!(doc.check(), Err(DocError::ValidatorMismatch)));

    let mut doc = edited();
    let mut bad = state();
    bad.fees.block_gas_limit = 0;
    doc.set_app_state(&bad).unwrap();
    assert!(matches!(
        doc.check(),
        Err(DocError::Invalid(GenesisError::ZeroBlockGasLimit))
    ));

    let doc = GenesisDoc::parse(COMET_GENESIS).unwrap();
    assert!(matches!(doc.check(), Err(DocError::Shape(_))));
}

#[test]
fn malformed_documents_are_refused() {
    assert!(matches!(GenesisDoc::parse("[]"), Err(DocError::Shape(_))));
    assert!(matches!(GenesisDoc::parse("{"), Err(DocError::Json(_))));
    let mut doc = GenesisDoc::parse(r#"{"consensus_params": 3}"#).unwrap();
    assert!(matches!(
        doc.set_consensus_params(),
        Err(DocError::Shape(_))
    ));
    let mut doc = GenesisDoc::parse("{}").unwrap();
    doc.set_consensus_params().unwrap();
    assert_eq!(doc.as_value()["consensus_params"]["block"]["max_gas"], "-1");
    let mut v = state().validators;
    v[0].consensus_pub_key = "AAAA".into();
    assert!(matches!(
        doc.set_validators(&v),
        Err(DocError::Invalid(GenesisError::ConsensusKeyLength { .. }))
    ));
}
