//! Module accounts cannot be credited by users (issue 11, item 1).
//!
//! The attack: a `bank.send` of one base unit to a module pool (`module/pol_bonds____`,
//! `module/inf_channels_`, `module/bonded_pool__`, …) used to pass CheckTx and block
//! execution and then break that pool's exact-equality invariant at the end of the block,
//! halting every node on every replay. These tests send such transactions through the
//! mempool check and through block execution (including a proposer that skips the
//! stateless checks) and show each is refused with `ModuleAccountRecipient` (103), the
//! signer loses only the fee, and every block ends with its invariants intact.

mod common;

use blyan_chain::invariants::{self, MODULE_ACCOUNTS};
use blyan_chain::runtime::Mode;
use blyan_chain::state::apply_writes;
use blyan_chain::{bank, BlockExecutor, MemState, VerifiedTx};
use blyan_proto::event::{Event, FeeEvent};
use blyan_proto::params::TxParams;
use blyan_proto::{Address, ErrorCode, Msg, SecretKey, StakingMsg, TxHash, BLY};
use common::*;
use proptest::prelude::*;

const USERS: [&str; 3] = ["a", "b", "c"];

/// A verified transaction built without the stateless checks, as a faulty or malicious
/// proposer could put it in a block: only execution stands between it and the state.
fn unchecked(tx: blyan_proto::Tx, key: &SecretKey) -> VerifiedTx {
    let signed = tx.sign(key);
    let bytes = signed.to_bytes();
    VerifiedTx {
        signer: key.address(),
        len: bytes.len(),
        hash: TxHash::of(&bytes),
        signed,
    }
}

fn fee_of(events: &[Event]) -> u128 {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Fees(FeeEvent::FeePaid { burned, tip, .. }) => Some(burned + tip),
            _ => None,
        })
        .sum()
}

fn module_balances(state: &MemState) -> Vec<u128> {
    MODULE_ACCOUNTS
        .iter()
        .map(|a| bank::balance(state, a).unwrap())
        .collect()
}

#[test]
fn check_tx_refuses_a_transfer_to_every_module_account() {
    let state = genesis(&USERS);
    let alice = key("a");
    for (i, pool) in MODULE_ACCOUNTS.iter().enumerate() {
        let bytes = send_tx(i as u64, *pool, 1).sign(&alice).to_bytes();
        let err = VerifiedTx::from_bytes(&bytes, &TxParams::default()).unwrap_err();
        assert_eq!(err.code, ErrorCode::ModuleAccountRecipient, "{pool}");
        assert!(err.log.contains("module account"), "{}", err.log);
        // the mempool's check state refuses it too, and writes nothing
        let mut check = BlockExecutor::begin_unmetered(&state, ctx(1)).unwrap();
        let out = check.execute(Err(err), Mode::Check);
        assert!(out.invalid);
        assert_eq!(out.code, ErrorCode::ModuleAccountRecipient.as_u32());
    }
}

#[test]
fn a_block_carrying_transfers_to_module_accounts_ends_and_keeps_every_pool() {
    let mut state = genesis(&USERS);
    let alice = key("a");
    let pools_before = module_balances(&state);
    let before = bank::balance(&state, &alice.address()).unwrap();
    // `begin` skips the begin-block hooks, whose block rewards would move the reward pool
    let mut ex = BlockExecutor::begin(&state, ctx(1)).unwrap();
    let mut fees = 0u128;
    for (i, pool) in MODULE_ACCOUNTS.iter().enumerate() {
        let vtx = unchecked(send_tx(i as u64, *pool, 1), &alice);
        let out = ex.execute(Ok(&vtx), Mode::Deliver);
        assert_eq!(out.code, ErrorCode::ModuleAccountRecipient.as_u32());
        assert!(!out.invalid, "a failed message still pays its fee");
        fees += fee_of(&out.events);
    }
    let end = ex.end().expect("the block ends: no invariant is broken");
    apply_writes(&mut state, end.writes);
    assert_eq!(module_balances(&state)[..], pools_before[..]);
    assert_eq!(
        bank::balance(&state, &alice.address()).unwrap(),
        before - fees
    );
    invariants::check_full_supply(&state).unwrap();
    invariants::check_full_staking(&state).unwrap();
    // the next block runs as usual
    let out = run_block(
        &mut state,
        2,
        &[verify(
            send_tx(MODULE_ACCOUNTS.len() as u64, key("b").address(), 5),
            &alice,
        )],
    );
    assert_eq!(out[0].code, 0, "{}", out[0].log);
}

/// One random message from a user, aimed at a module account or an ordinary one.
#[derive(Debug, Clone)]
struct Op {
    from: usize,
    kind: u8,
    target: usize,
    amount: u128,
    skip_stateless_checks: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..USERS.len(),
        0u8..4,
        0..MODULE_ACCOUNTS.len() + USERS.len() + 1,
        prop_oneof![1u128..1_000, 1u128..20 * BLY, Just(u128::MAX)],
        prop::bool::weighted(0.3),
    )
        .prop_map(|(from, kind, target, amount, skip)| Op {
            from,
            kind,
            target,
            amount,
            skip_stateless_checks: skip,
        })
}

fn target(i: usize) -> Address {
    match MODULE_ACCOUNTS.get(i) {
        Some(a) => *a,
        None => match USERS.get(i - MODULE_ACCOUNTS.len()) {
            Some(n) => key(n).address(),
            None => proposer(), // the genesis validator's operator
        },
    }
}

fn msg(op: &Op) -> Msg {
    let to = target(op.target);
    match op.kind {
        0 => Msg::Bank(blyan_proto::BankMsg::Send {
            to,
            amount: op.amount,
        }),
        1 => Msg::Staking(StakingMsg::Delegate {
            validator: to,
            amount: op.amount,
        }),
        2 => Msg::Staking(StakingMsg::Redelegate {
            from: proposer(),
            to,
            amount: op.amount,
        }),
        _ => Msg::Inference(blyan_proto::inference::InferenceMsg::OpenChannel {
            provider: to,
            deposit: op.amount,
            duration_blocks: 100,
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random transactions whose recipients are drawn from the module accounts never make
    /// a block fail, never credit a pool outside its module's own logic, and never break
    /// an invariant; a send to a module account is refused with its code and costs at
    /// most the fee.
    #[test]
    fn random_transactions_at_module_accounts_never_break_a_block(
        blocks in prop::collection::vec(prop::collection::vec(op(), 1..10), 1..5)
    ) {
        let mut state = genesis(&USERS);
        let mut nonces = [0u64; USERS.len()];
        for (h, ops) in blocks.iter().enumerate() {
            let height = h as u64 + 1;
            let mut ex = BlockExecutor::begin_block(&state, ctx(height)).unwrap();
            for op in ops {
                let k = key(USERS[op.from]);
                let mut tx = send_tx(nonces[op.from], Address::default(), 1);
                tx.msgs = vec![msg(op)];
                tx.fee.gas_limit = 1_000_000;
                let to_module = target(op.target).is_module();
                let vtx = if op.skip_stateless_checks {
                    Ok(unchecked(tx, &k))
                } else {
                    VerifiedTx::from_bytes(&tx.sign(&k).to_bytes(), &TxParams::default())
                };
                let pools = MODULE_ACCOUNTS.map(|a| bank::balance(ex.state(), &a).unwrap());
                let before = bank::balance(ex.state(), &k.address()).unwrap();
                let out = ex.execute(vtx.as_ref().map_err(Clone::clone), Mode::Deliver);
                let after = bank::balance(ex.state(), &k.address()).unwrap();
                if !out.invalid {
                    nonces[op.from] += 1;
                }
                if op.kind == 0 && to_module {
                    prop_assert_eq!(out.code, ErrorCode::ModuleAccountRecipient.as_u32());
                    prop_assert_eq!(before - after, fee_of(&out.events));
                    let now = MODULE_ACCOUNTS.map(|a| bank::balance(ex.state(), &a).unwrap());
                    // the fee's tip and burn touch no pool; nothing else moved
                    prop_assert_eq!(now, pools);
                }
            }
            let end = ex.end().map_err(|e| TestCaseError::fail(e.to_string()))?;
            apply_writes(&mut state, end.writes);
            invariants::check_full_supply(&state).map_err(|e| TestCaseError::fail(e.to_string()))?;
            invariants::check_full_staking(&state).map_err(|e| TestCaseError::fail(e.to_string()))?;
            invariants::check_pol_bonds(&state).map_err(|e| TestCaseError::fail(e.to_string()))?;
            invariants::check_channels(&state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
}
