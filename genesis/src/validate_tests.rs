//! Each rejected `app_state` yields its own error variant.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use blyan_proto::params::{FeeParams, TxParams};
use blyan_proto::{SecretKey, BLY, SUPPLY_CAP};

use super::*;
use crate::app_state::GenesisAccount;

fn addr(seed: &str) -> Address {
    SecretKey::from_seed(seed).address()
}

fn key(byte: u8) -> String {
    STANDARD.encode([byte; 32])
}

fn validator(name: &str, key_byte: u8) -> GenesisValidator {
    GenesisValidator {
        name: name.to_string(),
        operator: addr(name),
        consensus_pub_key: key(key_byte),
        power: 10,
    }
}

fn sample() -> GenesisAppState {
    GenesisAppState {
        chain_id: "blyan-test".to_string(),
        tx: TxParams::default(),
        fees: FeeParams::default(),
        accounts: vec![
            GenesisAccount {
                address: addr("a"),
                balance: 100 * BLY,
                label: Some("a".to_string()),
            },
            GenesisAccount {
                address: addr("b"),
                balance: 1,
                label: None,
            },
        ],
        emission_reserve: 400_000_000 * BLY,
        validators: vec![validator("v0", 1), validator("v1", 2)],
        // One base unit per unit of power, so the sample's operators need hold nothing.
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

fn err_of(edit: impl FnOnce(&mut GenesisAppState)) -> GenesisError {
    let mut s = sample();
    edit(&mut s);
    s.validate().unwrap_err()
}

#[test]
fn the_sample_is_valid_and_round_trips_through_json() {
    let s = sample();
    s.validate().unwrap();
    assert_eq!(s.total_minted().unwrap(), 100 * BLY + 1);
    let json = serde_json::to_string(&s).unwrap();
    assert!(
        json.contains(r#""balance":"100000000000000000000""#),
        "{json}"
    );
    assert_eq!(GenesisAppState::from_json(json.as_bytes()).unwrap(), s);
}

#[test]
fn unknown_fields_are_rejected() {
    let mut v = sample().to_json_value().unwrap();
    v["surprise"] = serde_json::json!(1);
    assert!(serde_json::from_value::<GenesisAppState>(v).is_err());
    let mut v = sample().to_json_value().unwrap();
    v["accounts"][0]["extra"] = serde_json::json!(true);
    assert!(serde_json::from_value::<GenesisAppState>(v).is_err());
}

#[test]
fn bad_chain_ids_are_rejected() {
    assert_eq!(err_of(|s| s.chain_id.clear()), GenesisError::EmptyChainId);
    assert!(matches!(
        err_of(|s| s.chain_id = "has space".into()),
        GenesisError::ChainIdNotPrintable(_)
    ));
    assert!(matches!(
        err_of(|s| s.chain_id = "tab\there".into()),
        GenesisError::ChainIdNotPrintable(_)
    ));
    assert_eq!(
        err_of(|s| s.chain_id = "x".repeat(51)),
        GenesisError::ChainIdTooLong { len: 51, max: 50 }
    );
}

#[test]
fn zero_tx_limits_are_rejected() {
    assert_eq!(
        err_of(|s| s.tx.max_tx_bytes = 0),
        GenesisError::ZeroTxParam("max_tx_bytes")
    );
    assert_eq!(
        err_of(|s| s.tx.max_msgs_per_tx = 0),
        GenesisError::ZeroTxParam("max_msgs_per_tx")
    );
}

#[test]
fn duplicate_and_empty_accounts_are_rejected() {
    assert_eq!(
        err_of(|s| s.accounts[1].address = s.accounts[0].address),
        GenesisError::DuplicateAccount(addr("a"))
    );
    assert_eq!(
        err_of(|s| s.accounts[1].balance = 0),
        GenesisError::ZeroBalance(addr("b"))
    );
}

#[test]
fn supply_above_the_cap_or_overflowing_is_rejected() {
    assert_eq!(
        err_of(|s| s.emission_reserve = SUPPLY_CAP - 100 * BLY),
        GenesisError::SupplyCapExceeded {
            total: SUPPLY_CAP + 1,
            cap: SUPPLY_CAP
        }
    );
    assert_eq!(
        err_of(|s| s.accounts[0].balance = u128::MAX),
        GenesisError::BalanceOverflow
    );
    assert_eq!(
        err_of(|s| s.emission_reserve = u128::MAX),
        GenesisError::BalanceOverflow
    );
    let mut exact = sample();
    exact.emission_reserve = SUPPLY_CAP - exact.total_minted().unwrap();
    exact.validate().unwrap();
}

#[test]
fn insane_fee_params_are_rejected() {
    assert_eq!(
        err_of(|s| s.fees.block_gas_limit = 0),
        GenesisError::ZeroBlockGasLimit
    );
    assert_eq!(
        err_of(|s| s.fees.target_gas_bps = 0),
        GenesisError::TargetGasBpsOutOfRange(0)
    );
    assert_eq!(
        err_of(|s| s.fees.target_gas_bps = 10_001),
        GenesisError::TargetGasBpsOutOfRange(10_001)
    );
    assert_eq!(
        err_of(|s| s.fees.base_fee_change_denominator = 0),
        GenesisError::ZeroBaseFeeChangeDenominator
    );
    assert_eq!(
        err_of(|s| {
            s.fees.min_base_fee = 10;
            s.fees.initial_base_fee = 9;
        }),
        GenesisError::InitialBaseFeeBelowMin {
            initial: 9,
            min: 10
        }
    );
}

#[test]
fn bad_validator_sets_are_rejected() {
    assert_eq!(err_of(|s| s.validators.clear()), GenesisError::NoValidators);
    assert_eq!(
        err_of(|s| s.validators[1].operator = s.validators[0].operator),
        GenesisError::DuplicateOperator(addr("v0"))
    );
    assert_eq!(
        err_of(|s| s.validators[1].consensus_pub_key = key(1)),
        GenesisError::DuplicateConsensusKey(key(1))
    );
    assert!(matches!(
        err_of(|s| s.validators[0].consensus_pub_key = "not base64!".into()),
        GenesisError::ConsensusKeyNotBase64 { name, .. } if name == "v0"
    ));
    assert_eq!(
        err_of(|s| s.validators[0].consensus_pub_key = STANDARD.encode([7u8; 33])),
        GenesisError::ConsensusKeyLength {
            name: "v0".into(),
            len: 33
        }
    );
    assert_eq!(
        err_of(|s| s.validators[1].power = 0),
        GenesisError::ZeroPower("v1".into())
    );
    assert_eq!(
        err_of(|s| s.validators[1].power = MAX_TOTAL_VOTING_POWER),
        GenesisError::TotalPowerTooLarge
    );
}

#[test]
fn error_messages_name_the_problem() {
    let msg = err_of(|s| s.fees.target_gas_bps = 0).to_string();
    assert!(msg.contains("target_gas_bps"), "{msg}");
    let msg = err_of(|s| s.accounts[1].balance = 0).to_string();
    assert!(msg.contains(&addr("b").to_string()), "{msg}");
}

#[test]
fn a_validator_whose_operator_cannot_bond_its_power_is_rejected() {
    let err = err_of(|s| s.staking.power_reduction = BLY);
    assert!(
        matches!(err, GenesisError::OperatorCannotBond { .. }),
        "{err:?}"
    );
}

#[test]
fn pol_params_without_a_samples_cap_are_rejected_and_the_fee_is_kept_in_json() {
    let e = err_of(|s| s.pol.max_samples_per_submission = 0);
    assert!(
        matches!(&e, GenesisError::PolParams(m) if m.contains("max_samples_per_submission")),
        "{e:?}"
    );
    let mut s = sample();
    s.pol.submission_fee = 5 * BLY;
    let json = serde_json::to_string(&s).unwrap();
    assert!(
        json.contains(r#""submission_fee":"5000000000000000000""#),
        "{json}"
    );
    assert_eq!(GenesisAppState::from_json(json.as_bytes()).unwrap(), s);
}
