//! Property tests: random transaction sequences keep the supply invariant, never let a
//! balance go below zero (every debit is checked), and failed transactions pay only fees.

mod common;

use blyan_chain::runtime::Mode;
use blyan_chain::state::apply_writes;
use blyan_chain::{bank, invariants, BlockExecutor, VerifiedTx};
use blyan_proto::params::TxParams;
use blyan_proto::BLY;
use common::*;
use proptest::prelude::*;

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Debug, Clone)]
struct Op {
    from: usize,
    to: usize,
    amount: u128,
    nonce_skew: i8,
    fee_cap_low: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..NAMES.len(),
        0..NAMES.len() + 1,
        prop_oneof![1u128..1_000, 1u128..2_000 * BLY, Just(u128::MAX)],
        prop_oneof![8 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)],
        prop::bool::weighted(0.05),
    )
        .prop_map(|(from, to, amount, nonce_skew, fee_cap_low)| Op {
            from,
            to,
            amount,
            nonce_skew,
            fee_cap_low,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_blocks_keep_supply_and_balances_consistent(
        blocks in prop::collection::vec(prop::collection::vec(op(), 0..12), 1..6)
    ) {
        let mut state = genesis(&NAMES[..3]);
        let mut nonces = [0u64; 4];
        for (h, ops) in blocks.iter().enumerate() {
            let mut ex = BlockExecutor::begin(&state, ctx(h as u64 + 1)).unwrap();
            for op in ops {
                let k = key(NAMES[op.from]);
                let to = if op.to == NAMES.len() { key("outsider").address() } else { key(NAMES[op.to]).address() };
                let nonce = nonces[op.from].saturating_add_signed(op.nonce_skew.into());
                let mut tx = send_tx(nonce, to, op.amount);
                if op.fee_cap_low { tx.fee.max_fee_per_gas = 1; tx.fee.max_priority_fee_per_gas = 0; }
                let bytes = tx.sign(&k).to_bytes();
                let vtx = VerifiedTx::from_bytes(&bytes, &TxParams::default());
                let before = bank::balance(ex.state(), &k.address()).unwrap();
                let out = ex.execute(vtx.as_ref().map_err(Clone::clone), Mode::Deliver);
                let after = bank::balance(ex.state(), &k.address()).unwrap();
                if out.invalid {
                    prop_assert_eq!(before, after);
                } else {
                    nonces[op.from] += 1;
                    prop_assert!(after <= before);
                    if out.code != 0 {
                        let fee: u128 = out.events.iter().filter_map(|e| match e {
                            blyan_proto::event::Event::Fees(blyan_proto::event::FeeEvent::FeePaid { burned, tip, .. }) => Some(burned + tip),
                            _ => None,
                        }).sum();
                        prop_assert_eq!(before - after, fee);
                    }
                }
            }
            let writes = ex.end().map_err(|e| TestCaseError::fail(e.to_string()))?.writes;
            apply_writes(&mut state, writes);
            invariants::check_full_supply(&state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
}
