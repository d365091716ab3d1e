//! The ABCI application driven in-process: proposals with invalid transactions, block
//! execution, determinism between two nodes, proofs, crash-safe Info.

mod common;

use blyan_app::store::verify_proof;
use blyan_chain::StateRead;
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, SecretKey, BLY};
use common::*;
use prost::bytes::Bytes;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{RequestInfo, RequestQuery};

fn bad_transactions() -> Vec<(ErrorCode, Bytes)> {
    let alice = dev(0);
    let bob = dev(1).address();
    let mut wrong_chain = transfer(&alice, 0, bob, 1);
    wrong_chain.chain_id = "other-chain".into();
    let mut bad_sig = transfer(&alice, 0, bob, 1).sign(&alice);
    bad_sig.sig[10] ^= 0xff;
    let mut eth_v = transfer(&alice, 0, bob, 1).sign(&alice);
    eth_v.sig[64] += 27;
    let mut low_cap = transfer(&alice, 0, bob, 1);
    low_cap.fee.max_fee_per_gas = 1;
    low_cap.fee.max_priority_fee_per_gas = 0;
    let mut oversized = transfer(&alice, 0, bob, 1);
    oversized.memo = "x".repeat(40_000);
    let poor = SecretKey::from_seed("nobody");
    vec![
        (
            ErrorCode::Malformed,
            Bytes::from_static(&[1, 0xff, 0xff, 0x00]),
        ),
        (
            ErrorCode::UnsupportedVersion,
            Bytes::from_static(b"garbage"),
        ),
        (
            ErrorCode::WrongChainId,
            wrong_chain.sign(&alice).to_bytes().into(),
        ),
        (ErrorCode::BadSignature, bad_sig.to_bytes().into()),
        (ErrorCode::NonCanonicalSignature, eth_v.to_bytes().into()),
        (ErrorCode::NonceGap, signed(&alice, 5, bob, 1)),
        (ErrorCode::InsufficientFunds, signed(&poor, 0, bob, 1)),
        (
            ErrorCode::FeeCapBelowBaseFee,
            low_cap.sign(&alice).to_bytes().into(),
        ),
        (ErrorCode::AmountOverflow, signed(&alice, 0, bob, u128::MAX)),
        (
            ErrorCode::TxTooLarge,
            oversized.sign(&alice).to_bytes().into(),
        ),
        (
            ErrorCode::ModuleAccountRecipient,
            signed(&alice, 0, blyan_chain::pol::BOND_POOL, 1),
        ),
    ]
}

/// The chain-halt attack of issue 11: one base unit sent to each module pool. CheckTx
/// refuses it, and a block that carries it anyway (a proposer skipping the checks)
/// executes, marks each with `ModuleAccountRecipient` and commits: the chain goes on.
#[test]
fn transfers_to_module_accounts_are_refused_and_never_halt_the_chain() {
    use blyan_chain::invariants::MODULE_ACCOUNTS;
    let app = app_with_genesis(2);
    let alice = dev(0);
    let attacks: Vec<Bytes> = MODULE_ACCOUNTS
        .iter()
        .enumerate()
        .map(|(i, pool)| signed(&alice, i as u64, *pool, 1))
        .collect();
    for tx in &attacks {
        assert_eq!(check(&app, tx), ErrorCode::ModuleAccountRecipient.as_u32());
    }
    assert!(!process_accepts(&app, 1, attacks.clone()));
    // block rewards move the staking reward pool every block; every other pool must not move
    let pools = |app: &blyan_app::node::BlyanApp| -> Vec<u128> {
        MODULE_ACCOUNTS
            .iter()
            .filter(|a| **a != blyan_chain::staking::REWARDS_POOL)
            .map(|a| blyan_chain::bank::balance(&app.store().latest(), a).unwrap())
            .collect()
    };
    let pools_before = pools(&app);
    let r = finalize_and_commit(&app, 1, attacks);
    for res in &r.tx_results {
        assert_eq!(res.code, ErrorCode::ModuleAccountRecipient.as_u32());
        assert!(res.log.contains("module account"), "{}", res.log);
    }
    assert_eq!(pools(&app), pools_before);
    let next = finalize_and_commit(&app, 2, vec![signed(&alice, 0, dev(1).address(), BLY)]);
    assert_eq!(next.tx_results[0].code, 0, "{}", next.tx_results[0].log);
}

#[test]
fn check_tx_gives_each_bad_transaction_its_own_code() {
    let app = app_with_genesis(2);
    let before = app.store().latest().prefix_raw(b"");
    for (code, tx) in bad_transactions() {
        assert_eq!(check(&app, &tx), code.as_u32(), "{code:?}");
    }
    // A valid one still passes, then its replay is refused.
    let ok = signed(&dev(0), 0, dev(1).address(), BLY);
    assert_eq!(check(&app, &ok), 0);
    let replay = signed(&dev(0), 0, dev(1).address(), 2 * BLY);
    assert_eq!(check(&app, &replay), ErrorCode::NonceTooLow.as_u32());
    assert_eq!(
        app.store().latest().prefix_raw(b""),
        before,
        "CheckTx never writes state"
    );
}

#[test]
fn a_proposal_with_any_invalid_transaction_is_rejected_and_prepare_drops_them() {
    let app = app_with_genesis(2);
    let good = signed(&dev(0), 0, dev(1).address(), BLY);
    assert!(process_accepts(&app, 1, vec![good.clone()]));
    for (code, bad) in bad_transactions() {
        assert!(
            !process_accepts(&app, 1, vec![good.clone(), bad.clone()]),
            "proposal with {code:?} accepted"
        );
        let prepared = prepare(&app, 1, vec![bad, good.clone()]);
        assert_eq!(prepared, vec![good.clone()], "{code:?} not dropped");
    }
    // A replayed nonce inside one proposal.
    let dup = signed(&dev(0), 0, dev(1).address(), 2 * BLY);
    assert!(!process_accepts(&app, 1, vec![good.clone(), dup]));
    assert_eq!(
        app.store().last_version().unwrap(),
        Some(0),
        "nothing committed"
    );
}

#[test]
fn prepare_orders_by_tip_keeping_each_senders_nonces() {
    let app = app_with_genesis(3);
    let to = dev(2).address();
    let mut cheap = transfer(&dev(0), 0, to, 1);
    cheap.fee.max_priority_fee_per_gas = 1;
    let mut rich0 = transfer(&dev(1), 0, to, 1);
    rich0.fee.max_priority_fee_per_gas = 5_000;
    let mut rich1 = transfer(&dev(1), 1, to, 1);
    rich1.fee.max_priority_fee_per_gas = 1;
    let cheap: Bytes = cheap.sign(&dev(0)).to_bytes().into();
    let rich0: Bytes = rich0.sign(&dev(1)).to_bytes().into();
    let rich1: Bytes = rich1.sign(&dev(1)).to_bytes().into();
    let out = prepare(&app, 1, vec![rich1.clone(), cheap.clone(), rich0.clone()]);
    assert_eq!(out[0], rich0);
    assert_eq!(out.len(), 3);
    let pos = |t: &Bytes| out.iter().position(|x| x == t).unwrap();
    assert!(pos(&rich0) < pos(&rich1), "nonce order kept");
}

#[test]
fn two_nodes_fed_the_same_blocks_agree_on_every_app_hash() {
    let a = app_with_genesis(4);
    let b = app_with_genesis(4);
    let mut nonces = [0u64; 4];
    for h in 1..=5u64 {
        let txs: Vec<Bytes> = (0..40)
            .map(|i| {
                let s = i % 4;
                nonces[s] += 1;
                signed(
                    &dev(s),
                    nonces[s] - 1,
                    dev((s + 1) % 4).address(),
                    (i as u128 + 1) * BLY,
                )
            })
            .collect();
        // Node a saw the transactions in CheckTx (cached signers); node b did not.
        for t in &txs {
            check(&a, t);
        }
        let ra = finalize_and_commit(&a, h, txs.clone());
        let rb = finalize_and_commit(&b, h, txs);
        assert_eq!(ra.app_hash, rb.app_hash, "height {h}");
        assert!(ra.tx_results.iter().all(|r| r.code == 0));
        assert_eq!(ra.tx_results, rb.tx_results);
    }
    let info = a.info(RequestInfo::default());
    assert_eq!(info.last_block_height, 5);
    assert_eq!(
        info.last_block_app_hash,
        b.info(RequestInfo::default()).last_block_app_hash
    );
}

#[test]
fn a_failed_transfer_in_a_block_pays_its_fee_and_nothing_else() {
    let app = app_with_genesis(2);
    let too_much = signed(&dev(0), 0, dev(1).address(), 10_000_000 * BLY);
    let r = finalize_and_commit(&app, 1, vec![too_much]);
    assert_eq!(
        r.tx_results[0].code,
        ErrorCode::InsufficientBalance.as_u32()
    );
    let st = app.store().latest();
    assert_eq!(blyan_chain::auth::nonce(&st, &dev(0).address()).unwrap(), 1);
    assert!(blyan_chain::bank::balance(&st, &dev(0).address()).unwrap() < 1_000_000 * BLY);
    assert_eq!(
        blyan_chain::bank::balance(&st, &dev(1).address()).unwrap(),
        1_000_000 * BLY
    );
    blyan_chain::invariants::check_full_supply(&st).unwrap();
}

#[test]
fn proved_queries_verify_against_the_committed_root_at_that_height() {
    let app = app_with_genesis(2);
    let bob = dev(1).address();
    let r1 = finalize_and_commit(&app, 1, vec![signed(&dev(0), 0, bob, 7)]);
    finalize_and_commit(&app, 2, vec![signed(&dev(0), 1, bob, 5)]);
    let root1: [u8; 32] = r1.app_hash.to_vec().try_into().unwrap();
    let q = app.query(RequestQuery {
        path: QueryPath::Balance(bob).to_string(),
        height: 1,
        prove: true,
        ..Default::default()
    });
    assert_eq!(q.code, 0, "{}", q.log);
    let proof = &q.proof_ops.as_ref().unwrap().ops[0];
    verify_proof(&root1, &q.key, Some(&q.value), &proof.data).unwrap();
    let v: u128 = parity_scale_codec::Decode::decode(&mut &q.value[..]).unwrap();
    assert_eq!(v, 1_000_000 * BLY + 7, "value as of height 1");
    assert!(
        verify_proof(&root1, &q.key, Some(&[0u8; 16][..]), &proof.data).is_err(),
        "a wrong value fails"
    );
    // An absent key is proved absent.
    let nobody = SecretKey::from_seed("nobody").address();
    let q = app.query(RequestQuery {
        path: QueryPath::Balance(nobody).to_string(),
        height: 2,
        prove: true,
        ..Default::default()
    });
    assert_eq!(q.info, "absent");
    let root2 = app.store().root_at(2).unwrap().unwrap();
    verify_proof(&root2, &q.key, None, &q.proof_ops.unwrap().ops[0].data).unwrap();
    // Unknown paths and heights outside the window get their codes.
    let bad = app.query(RequestQuery {
        path: "/nope".into(),
        ..Default::default()
    });
    assert_eq!(bad.code, blyan_proto::query::QUERY_UNKNOWN_PATH);
    let future = app.query(RequestQuery {
        path: QueryPath::Supply.to_string(),
        height: 99,
        ..Default::default()
    });
    assert_eq!(future.code, blyan_proto::query::QUERY_HEIGHT_UNAVAILABLE);
}

#[test]
fn an_uncommitted_block_is_not_reported_by_info() {
    let app = app_with_genesis(2);
    finalize_and_commit(&app, 1, vec![]);
    let _ = app.finalize_block(tendermint_proto::v0_38::abci::RequestFinalizeBlock {
        height: 2,
        ..Default::default()
    });
    // Crash before Commit: Info still says 1, so CometBFT replays block 2.
    assert_eq!(app.info(RequestInfo::default()).last_block_height, 1);
}
