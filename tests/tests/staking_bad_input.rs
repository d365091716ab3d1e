//! Bad staking input on a one-validator net: each mistake gets its own code, in CheckTx
//! (nothing changes at all) or in the committed result (only the fee and the nonce).

use blyan_proto::params::StakingParams;
use blyan_proto::query::QueryPath;
use blyan_proto::query::ValidatorInfo;
use blyan_proto::{Address, ErrorCode, SecretKey, StakingMsg, BLY};
use blyan_tests::staking::{
    comet_validators, delegations, pool, staking_tx, validator, validators, CometValidator,
};
use blyan_tests::txs::{
    attr, attr_u128, balance, nonce, tx_code, tx_height, FeeTerms, DEFAULT_TIP,
};
use blyan_tests::{Localnet, LocalnetOptions, TxFactory};

/// Everything a rejected staking message must leave alone, read at one height (point
/// reads only: prefix-scanning queries are not answered at past heights).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    accounts: Vec<(Address, u128, u64)>,
    bonded: u128,
    unbonding: u128,
    /// The validators, commission zeroed (rewards add to it every block).
    validators: Vec<ValidatorInfo>,
    comet: Vec<CometValidator>,
}

fn snapshot(net: &Localnet, accounts: &[Address], operators: &[Address], h: u64) -> Snapshot {
    let rpc = net.rpc(0);
    let p = pool(rpc, h);
    Snapshot {
        accounts: accounts
            .iter()
            .map(|a| (*a, balance(rpc, *a, h).unwrap(), nonce(rpc, *a, h).unwrap()))
            .collect(),
        bonded: p.bonded,
        unbonding: p.unbonding,
        validators: operators
            .iter()
            .map(|op| {
                let mut v = validator(rpc, *op, h);
                v.commission_accrued = 0;
                v
            })
            .collect(),
        // The set CometBFT uses for block h + 2: the one the state at h decided.
        comet: {
            net.wait_height(0, h + 1);
            comet_validators(rpc, Some(h + 2)).expect("/validators")
        },
    }
}

/// A consensus key nobody uses (any 32 bytes; these validators never sign).
fn fresh_consensus_key(seed: u8) -> [u8; 32] {
    let mut k = [0x5Au8; 32];
    k[0] = seed;
    k
}

#[test]
fn every_bad_staking_message_gets_its_own_code_and_changes_only_fee_and_nonce() {
    let opts = LocalnetOptions {
        dev_accounts: 6,
        ..LocalnetOptions::new(1)
    };
    let net = Localnet::start_with(opts);
    let rpc = net.rpc(0);
    let f = TxFactory::from_node(rpc).expect("chain id and fee params");
    let params: StakingParams = rpc.query(&QueryPath::StakingParams).unwrap();
    assert_eq!(params.min_self_stake, BLY);
    let v0 = net.operator(0);
    let dev = net.import_dev_key(0);
    let op0 = net.import_operator_key(0);
    let dev_addr = net.dev_accounts()[0].address;

    // A delegation to undelegate from.
    let d = net.cli_tx_ok(&[
        "tx",
        "staking",
        "delegate",
        &v0.to_string(),
        "5bly",
        "--from",
        &dev,
    ]);
    assert_eq!(attr_u128(&d, "delegate", "amount"), 5 * BLY);

    let h0 = net.app_height(0);
    let watched = [dev_addr, v0];
    assert_eq!(validators(rpc).len(), 1);
    let before = snapshot(&net, &watched, &[v0], h0);
    assert_eq!(before.validators[0].tokens, 15 * BLY);
    assert_eq!(before.bonded, 15 * BLY);

    let fresh = hex::encode(fresh_consensus_key(1));
    let taken = net.node(0).consensus_pub_key.clone();
    let unknown = SecretKey::from_seed("e2e/staking/nobody")
        .address()
        .to_string();
    let v0s = v0.to_string();
    let create = |key: &str, commission: &str, stake: &str, from: &str| -> Vec<String> {
        [
            "tx",
            "staking",
            "create-validator",
            "--consensus-key",
            key,
            "--moniker",
            "bad",
            "--commission-bps",
            commission,
            "--self-stake",
            stake,
            "--from",
            from,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let s = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    let cases: Vec<(&str, Vec<String>, ErrorCode)> = vec![
        (
            "self-stake below the minimum",
            create(&fresh, "500", "0.5bly", &dev),
            ErrorCode::StakeBelowMinimum,
        ),
        (
            "delegation to an unknown validator",
            s(&[
                "tx", "staking", "delegate", &unknown, "1bly", "--from", &dev,
            ]),
            ErrorCode::UnknownValidator,
        ),
        (
            "undelegating more than delegated",
            s(&["tx", "staking", "undelegate", &v0s, "6bly", "--from", &dev]),
            ErrorCode::InsufficientDelegation,
        ),
        (
            "unjail while not jailed",
            s(&["tx", "staking", "unjail", "--from", &op0]),
            ErrorCode::NotJailed,
        ),
        (
            "another validator's consensus key",
            create(&taken, "500", "2bly", &dev),
            ErrorCode::DuplicateConsensusKey,
        ),
        (
            "commission above 10000 bps",
            create(&fresh, "10001", "2bly", &dev),
            ErrorCode::CommissionTooHigh,
        ),
        (
            "a zero delegation",
            s(&["tx", "staking", "delegate", &v0s, "0", "--from", &dev]),
            ErrorCode::ZeroStake,
        ),
        (
            "a zero undelegation",
            s(&["tx", "staking", "undelegate", &v0s, "0", "--from", &dev]),
            ErrorCode::ZeroStake,
        ),
        (
            "a second validator of the genesis operator",
            create(&fresh, "500", "2bly", &op0),
            ErrorCode::ValidatorExists,
        ),
    ];
    for (what, args, code) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, ok) = net.cli_tx(&args);
        assert!(!ok, "{what}: the CLI reported success: {out}");
        assert_eq!(out["code"], code.as_u32(), "{what}: {out}");
        assert_eq!(out["error"], code.name(), "{what}: {out}");
        eprintln!("{what}: CheckTx code {} ({})", code.as_u32(), code.name());
    }
    // CheckTx rejected every one of them: not even a fee was paid.
    let h1 = net.wait_app_height(0, net.app_height(0) + 1);
    assert_eq!(
        snapshot(&net, &watched, &[v0], h1),
        before,
        "a rejected message changed state"
    );

    // A creation and a second creation by the same new operator: the first commits, the
    // second is refused.
    let creator = net.import_dev_key(1);
    let creator_addr = net.dev_accounts()[1].address;
    let c = net.cli_tx_ok(
        &create(
            &hex::encode(fresh_consensus_key(2)),
            "700",
            "2bly",
            &creator,
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert_eq!(attr_u128(&c, "create_validator", "self_stake"), 2 * BLY);
    let (out, ok) = net.cli_tx(
        &create(
            &hex::encode(fresh_consensus_key(3)),
            "700",
            "2bly",
            &creator,
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert!(
        !ok && out["code"] == ErrorCode::ValidatorExists.as_u32(),
        "{out}"
    );
    assert_eq!(validator(rpc, creator_addr, 0).tokens, 2 * BLY);

    // A failure inside a block: CheckTx of a delegation to a validator whose creation is
    // still in the mempool passes (the check state holds the creation), but the delegation
    // pays a higher tip, so the proposer puts it first and it fails with UnknownValidator.
    // It still pays its fee and uses its nonce, and changes nothing else.
    let mut committed_failure = None;
    for (attempt, (c_j, d_j)) in [(2usize, 3usize), (4, 5)].into_iter().enumerate() {
        let creator = net.dev_key(c_j);
        let delegator = net.dev_key(d_j);
        let d_addr = delegator.address();
        let new_op = creator.address();
        let create_tx = staking_tx(
            &f,
            &creator,
            0,
            vec![StakingMsg::CreateValidator {
                consensus_key: fresh_consensus_key(10 + c_j as u8),
                moniker: format!("late-{c_j}"),
                commission_bps: 100,
                self_stake: 3 * BLY,
            }],
        );
        let high_tip = FeeTerms {
            tip: DEFAULT_TIP * 10,
            ..FeeTerms::default()
        };
        let del_msgs = vec![blyan_proto::Msg::Staking(StakingMsg::Delegate {
            validator: new_op,
            amount: 4 * BLY,
        })];
        let mut del_tx = f.unsigned(0, del_msgs, "", high_tip);
        let len = del_tx.clone().sign(&delegator).to_bytes().len();
        del_tx.fee.gas_limit = f.params.tx_gas(&del_tx, len);
        let del_tx = del_tx.sign(&delegator);
        let create_hash = net.submit(0, &create_tx);
        let del_hash = net.submit(0, &del_tx);
        let created = net.wait_committed(0, &create_hash);
        let delegated = net
            .rpc(0)
            .wait_tx(&del_hash, blyan_tests::DEFAULT_TIMEOUT)
            .unwrap()
            .raw;
        let h = tx_height(&delegated);
        if tx_height(&created) != h {
            eprintln!("attempt {attempt}: the two transactions landed in different blocks");
            assert_eq!(tx_code(&delegated), 0, "{delegated}");
            continue;
        }
        assert_eq!(
            tx_code(&delegated),
            u64::from(ErrorCode::UnknownValidator.as_u32()),
            "{delegated}"
        );
        assert!(
            delegated["index"].as_u64().unwrap_or(0) < created["index"].as_u64().unwrap_or(0),
            "the higher tip went first"
        );
        committed_failure = Some((d_addr, new_op, delegated, h));
        break;
    }
    let (d_addr, new_op, delegated, h) =
        committed_failure.expect("a creation and a delegation never shared a block");
    let burned = attr_u128(&delegated, "fee", "burned");
    let tip = attr_u128(&delegated, "fee", "tip");
    assert!(burned > 0 && tip > 0);
    assert_eq!(attr(&delegated, "fee", "proposer"), Some(v0.to_string()));
    assert!(blyan_tests::txs::events(&delegated, "delegate").is_empty());
    assert_eq!(
        balance(rpc, d_addr, h).unwrap(),
        balance(rpc, d_addr, h - 1).unwrap() - burned - tip,
        "the failed delegation cost exactly its fee"
    );
    assert_eq!(
        nonce(rpc, d_addr, h).unwrap(),
        nonce(rpc, d_addr, h - 1).unwrap() + 1
    );
    assert!(delegations(rpc, d_addr).is_empty());
    assert_eq!(
        validator(rpc, new_op, h).tokens,
        3 * BLY,
        "only the self-stake"
    );
    assert_eq!(
        pool(rpc, h).bonded,
        pool(rpc, h - 1).bonded + 3 * BLY,
        "the bonded pool grew by the creation only"
    );
}
