//! Transfers, EIP-1559 fees and failure codes against an in-memory state.

mod common;

use blyan_chain::runtime::Mode;
use blyan_chain::state::apply_writes;
use blyan_chain::{bank, fees, invariants, BlockExecutor, MemState, StateRead, TxOutcome};
use blyan_proto::params::{FeeParams, TxParams};
use blyan_proto::{ErrorCode, BLY};
use common::*;

#[test]
fn a_transfer_moves_funds_burns_the_base_fee_and_tips_the_proposer() {
    let mut s = genesis(&["alice"]);
    let alice = key("alice");
    let bob = key("bob").address();
    let supply0 = bank::supply(&s).unwrap();
    let base_fee = fees::base_fee(&s).unwrap();
    let vtx = verify(send_tx(0, bob, 5 * BLY), &alice);
    let gas = fees::tx_gas(&FeeParams::default(), &vtx.signed.tx, vtx.len);
    let out = run_block(&mut s, 1, &[vtx]);
    assert_eq!(out[0].code, 0, "{}", out[0].log);
    assert_eq!(out[0].gas_used, gas);
    let burned = u128::from(gas) * base_fee;
    let tip = u128::from(gas) * 1_000;
    assert_eq!(bank::balance(&s, &bob).unwrap(), 5 * BLY);
    assert_eq!(
        bank::balance(&s, &alice.address()).unwrap(),
        1_000 * BLY - 5 * BLY - burned - tip
    );
    assert_eq!(bank::balance(&s, &proposer()).unwrap(), tip);
    assert_eq!(bank::supply(&s).unwrap(), supply0 - burned);
    assert_eq!(fees::burned(&s).unwrap(), burned);
    assert_eq!(blyan_chain::auth::nonce(&s, &alice.address()).unwrap(), 1);
    invariants::check_full_supply(&s).unwrap();
}

#[test]
fn a_failed_message_keeps_only_the_fee_and_the_nonce() {
    let mut s = genesis(&["alice"]);
    let alice = key("alice");
    let bob = key("bob").address();
    let vtx = verify(send_tx(0, bob, 5_000 * BLY), &alice);
    let out = run_block(&mut s, 1, &[vtx]);
    assert_eq!(out[0].code, ErrorCode::InsufficientBalance.as_u32());
    assert!(!out[0].invalid);
    assert_eq!(bank::balance(&s, &bob).unwrap(), 0);
    assert!(bank::balance(&s, &alice.address()).unwrap() < 1_000 * BLY);
    assert_eq!(blyan_chain::auth::nonce(&s, &alice.address()).unwrap(), 1);
    invariants::check_full_supply(&s).unwrap();
}

fn check_code(state: &blyan_chain::MemState, tx: blyan_chain::VerifiedTx) -> u32 {
    let mut ex = BlockExecutor::begin(state, ctx(1)).unwrap();
    let out = ex.execute(Ok(&tx), Mode::Check);
    assert!(out.invalid || out.code == 0);
    let writes = ex.end().unwrap().writes;
    if out.code != 0 {
        // Only the end-block bookkeeping of an empty block is written.
        assert!(
            writes
                .keys()
                .all(|k| k.starts_with(b"fees/base_fee") || k.starts_with(b"consensus/last_block")),
            "{writes:?}"
        );
    }
    out.code
}

#[test]
fn each_bad_transaction_gets_its_own_code_and_changes_nothing() {
    let s = genesis(&["alice"]);
    let alice = key("alice");
    let bob = key("bob").address();
    let p = TxParams::default();
    let code = |tx| check_code(&s, tx);

    let mut wrong_chain = send_tx(0, bob, 1);
    wrong_chain.chain_id = "other".into();
    assert_eq!(
        code(verify(wrong_chain, &alice)),
        ErrorCode::WrongChainId.as_u32()
    );

    assert_eq!(
        code(verify(send_tx(1, bob, 1), &alice)),
        ErrorCode::NonceGap.as_u32()
    );

    let poor = key("poor");
    assert_eq!(
        code(verify(send_tx(0, bob, 1), &poor)),
        ErrorCode::InsufficientFunds.as_u32()
    );
    assert_eq!(
        code(verify(send_tx(0, bob, 2_000 * BLY), &alice)),
        ErrorCode::InsufficientFunds.as_u32()
    );

    let mut low_cap = send_tx(0, bob, 1);
    low_cap.fee.max_fee_per_gas = 1;
    low_cap.fee.max_priority_fee_per_gas = 0;
    assert_eq!(
        code(verify(low_cap, &alice)),
        ErrorCode::FeeCapBelowBaseFee.as_u32()
    );

    let mut low_gas = send_tx(0, bob, 1);
    low_gas.fee.gas_limit = 100;
    assert_eq!(
        code(verify(low_gas, &alice)),
        ErrorCode::GasLimitTooLow.as_u32()
    );

    let mut huge_gas = send_tx(0, bob, 1);
    huge_gas.fee.gas_limit = u64::MAX;
    assert_eq!(
        code(verify(huge_gas, &alice)),
        ErrorCode::GasLimitAboveBlockLimit.as_u32()
    );

    let mut overflow = send_tx(0, bob, u128::MAX);
    overflow.msgs.push(overflow.msgs[0].clone());
    let bytes = overflow.sign(&alice).to_bytes();
    let err = blyan_chain::VerifiedTx::from_bytes(&bytes, &p).unwrap_err();
    assert_eq!(err.code, ErrorCode::AmountOverflow);
    assert_eq!(
        code(verify(send_tx(0, bob, u128::MAX), &alice)),
        ErrorCode::AmountOverflow.as_u32()
    );

    let mut big = send_tx(0, bob, 1);
    big.memo = "x".repeat(200);
    big.msgs = vec![big.msgs[0].clone(); 64];
    let mut huge = big.clone();
    huge.memo = "x".repeat(40_000);
    let err = blyan_chain::VerifiedTx::from_bytes(&huge.sign(&alice).to_bytes(), &p).unwrap_err();
    assert_eq!(err.code, ErrorCode::TxTooLarge);

    let mut bad_sig = send_tx(0, bob, 1).sign(&alice);
    bad_sig.sig[..32].fill(0);
    let err = blyan_chain::VerifiedTx::from_bytes(&bad_sig.to_bytes(), &p).unwrap_err();
    assert_eq!(err.code, ErrorCode::BadSignature);

    // A recovery id other than 0/1 (it was BadSignature before v = 27/28 were refused too).
    let mut bad_v = send_tx(0, bob, 1).sign(&alice);
    bad_v.sig[64] = 9;
    let err = blyan_chain::VerifiedTx::from_bytes(&bad_v.to_bytes(), &p).unwrap_err();
    assert_eq!(err.code, ErrorCode::NonCanonicalSignature);

    let err = blyan_chain::VerifiedTx::from_bytes(&[1, 2, 3], &p).unwrap_err();
    assert_eq!(err.code, ErrorCode::Malformed);
}

#[test]
fn a_replayed_nonce_is_rejected_after_the_block_that_used_it() {
    let mut s = genesis(&["alice"]);
    let alice = key("alice");
    let tx = verify(send_tx(0, key("bob").address(), 1), &alice);
    assert_eq!(run_block(&mut s, 1, std::slice::from_ref(&tx))[0].code, 0);
    let before = s.clone();
    let out = run_block(&mut s, 2, &[tx]);
    assert_eq!(out[0].code, ErrorCode::NonceTooLow.as_u32());
    assert!(out[0].invalid);
    assert_eq!(
        bank::balance(&s, &alice.address()).unwrap(),
        bank::balance(&before, &alice.address()).unwrap()
    );
}

#[test]
fn full_blocks_raise_the_base_fee_by_one_eighth() {
    let mut s = genesis(&["alice"]);
    let b0 = fees::base_fee(&s).unwrap();
    run_block(&mut s, 1, &[]);
    assert_eq!(fees::base_fee(&s).unwrap(), b0 - b0 / 8);
    assert!(s.get_raw(b"fees/params").is_some());
}

/// Runs one block of raw transaction bytes the way FinalizeBlock does (decode, check and
/// recover each, then execute) and commits it into `state`.
fn run_raw_block(state: &mut MemState, height: u64, txs: &[Vec<u8>]) -> Vec<TxOutcome> {
    let p = TxParams::default();
    let mut ex = BlockExecutor::begin(&*state, ctx(height)).unwrap();
    let outcomes = txs
        .iter()
        .map(|b| {
            let v = blyan_chain::VerifiedTx::from_bytes(b, &p);
            ex.execute(v.as_ref().map_err(Clone::clone), Mode::Deliver)
        })
        .collect();
    apply_writes(state, ex.end().unwrap().writes);
    outcomes
}

/// Issue 11 item 12: the same signed transfer re-encoded with `v = 27/28` was a second valid
/// transaction with its own hash; a client waiting on one hash never saw it committed.
#[test]
fn an_ethereum_style_v_is_refused_before_and_after_the_canonical_copy() {
    let mut s = genesis(&["alice"]);
    let alice = key("alice");
    let bob = key("bob").address();
    let signed = send_tx(0, bob, 5 * BLY).sign(&alice);
    let canonical = signed.to_bytes();
    let mut eth = signed.clone();
    eth.sig[64] += 27;
    let eth = eth.to_bytes();
    assert_ne!(
        blyan_proto::TxHash::of(&canonical),
        blyan_proto::TxHash::of(&eth),
        "two encodings, two hashes"
    );

    // CheckTx refuses the v = 27 copy with its own code and writes nothing.
    let check = |s: &MemState, bytes: &[u8]| {
        let v = blyan_chain::VerifiedTx::from_bytes(bytes, &TxParams::default());
        match v {
            Ok(v) => check_code(s, v),
            Err(e) => {
                assert!(e.log.contains("v = 0 or 1"), "{}", e.log);
                e.code.as_u32()
            }
        }
    };
    assert_eq!(check(&s, &eth), ErrorCode::NonCanonicalSignature.as_u32());
    assert_eq!(check(&s, &canonical), 0);

    // A block carrying the v = 27 copy first, then the canonical one: only the canonical
    // one runs.
    let supply0 = bank::supply(&s).unwrap();
    let out = run_raw_block(&mut s, 1, &[eth.clone(), canonical.clone()]);
    assert_eq!(out[0].code, ErrorCode::NonCanonicalSignature.as_u32());
    assert!(out[0].invalid);
    assert_eq!(out[1].code, 0, "{}", out[1].log);
    assert_eq!(bank::balance(&s, &bob).unwrap(), 5 * BLY);
    assert_eq!(blyan_chain::auth::nonce(&s, &alice.address()).unwrap(), 1);

    // After the canonical copy is committed, the v = 27 copy is refused again (by its
    // signature, before the nonce): nothing moves, no fee, no nonce.
    let alice_before = bank::balance(&s, &alice.address()).unwrap();
    let supply1 = bank::supply(&s).unwrap();
    assert!(
        supply1 < supply0,
        "the canonical transfer burned its base fee"
    );
    assert_eq!(check(&s, &eth), ErrorCode::NonCanonicalSignature.as_u32());
    let out = run_raw_block(&mut s, 2, &[eth]);
    assert_eq!(out[0].code, ErrorCode::NonCanonicalSignature.as_u32());
    assert!(out[0].invalid);
    assert_eq!(bank::balance(&s, &bob).unwrap(), 5 * BLY);
    assert_eq!(bank::balance(&s, &alice.address()).unwrap(), alice_before);
    assert_eq!(blyan_chain::auth::nonce(&s, &alice.address()).unwrap(), 1);
    invariants::check_full_supply(&s).unwrap();
}
