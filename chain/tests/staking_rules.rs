//! Staking against an in-memory state: the validator lifecycle, bad input codes, downtime
//! and double-sign slashing, and rewards.

mod common;

use blyan_chain::staking::{self, Infraction, Misbehavior, BONDED_POOL, UNBONDING_POOL};
use blyan_chain::state::{apply_writes, Overlay};
use blyan_chain::{bank, invariants, BlockContext, BlockExecutor, MemState};
use blyan_proto::{Address, ErrorCode, StakingMsg, BLY};
use common::*;

const CONS0: [u8; 32] = [7u8; 32];

fn exec(s: &mut MemState, signer: &Address, msg: StakingMsg, height: u64) -> Result<(), ErrorCode> {
    let mut o = Overlay::new(&*s);
    match staking::execute(&mut o, signer, &msg, height) {
        Ok(_) => {
            let w = o.into_writes();
            apply_writes(s, w);
            Ok(())
        }
        Err(e) => Err(e.code),
    }
}

/// Runs one empty block with `ctx` extras; returns the validator updates.
fn block(s: &mut MemState, ctx: BlockContext) -> Vec<staking::ValidatorUpdate> {
    let ex = BlockExecutor::begin_block(&*s, ctx).unwrap();
    let end = ex.end().unwrap();
    apply_writes(s, end.writes);
    end.validator_updates
}

fn plain(height: u64) -> BlockContext {
    BlockContext {
        height,
        ..Default::default()
    }
}

fn v0() -> Address {
    proposer()
}

#[test]
fn genesis_bonds_the_validator_and_reports_its_power() {
    let s = genesis(&["alice"]);
    let v = staking::must_validator(&s, &v0()).unwrap();
    assert_eq!(v.tokens, 10 * BLY);
    assert_eq!(staking::active_set(&s).unwrap(), vec![(v0(), 10)]);
    assert_eq!(bank::balance(&s, &BONDED_POOL).unwrap(), 10 * BLY);
    assert_eq!(bank::balance(&s, &v0()).unwrap(), 0);
    invariants::check_full_staking(&s).unwrap();
}

#[test]
fn a_new_validator_joins_the_set_and_its_delegators_unbond_after_the_period() {
    let mut s = genesis(&["alice", "bob"]);
    let alice = key("alice").address();
    let bob = key("bob").address();
    let p = staking::params(&s).unwrap();
    exec(
        &mut s,
        &alice,
        StakingMsg::CreateValidator {
            consensus_key: [1u8; 32],
            moniker: "alice".into(),
            commission_bps: 1_000,
            self_stake: 20 * BLY,
        },
        1,
    )
    .unwrap();
    let updates = block(&mut s, plain(1));
    assert_eq!(
        updates,
        vec![staking::ValidatorUpdate {
            consensus_key: [1u8; 32],
            power: 20
        }]
    );
    exec(
        &mut s,
        &bob,
        StakingMsg::Delegate {
            validator: alice,
            amount: 30 * BLY,
        },
        2,
    )
    .unwrap();
    assert_eq!(block(&mut s, plain(2))[0].power, 50);
    // Rewards accrue to both delegators of alice's validator.
    for h in 3..10 {
        block(&mut s, plain(h));
    }
    let (bob_rewards, bob_comm) = staking::pending_rewards(&s, &bob, &alice).unwrap();
    let (alice_rewards, alice_comm) = staking::pending_rewards(&s, &alice, &alice).unwrap();
    assert!(bob_rewards > 0 && alice_rewards > 0 && alice_comm > 0);
    assert_eq!(bob_comm, 0);
    // bob holds 3/5 of the shares: his rewards are 1.5× alice's (up to rounding).
    assert!(
        bob_rewards.abs_diff(alice_rewards * 3 / 2) <= 2,
        "{bob_rewards} vs {alice_rewards}"
    );
    let before = bank::balance(&s, &bob).unwrap();
    exec(
        &mut s,
        &bob,
        StakingMsg::WithdrawRewards { validator: alice },
        10,
    )
    .unwrap();
    assert_eq!(bank::balance(&s, &bob).unwrap(), before + bob_rewards);
    // Undelegate: nothing comes back until the unbonding period has passed.
    exec(
        &mut s,
        &bob,
        StakingMsg::Undelegate {
            validator: alice,
            amount: 30 * BLY,
        },
        10,
    )
    .unwrap();
    let entries = staking::unbonding_of(&s, &bob).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].completion_height, 10 + p.unbonding_blocks);
    let bal = bank::balance(&s, &bob).unwrap();
    let done = 10 + p.unbonding_blocks;
    for h in 11..done {
        block(&mut s, plain(h));
        assert_eq!(bank::balance(&s, &bob).unwrap(), bal, "paid early at {h}");
    }
    block(&mut s, plain(done));
    assert_eq!(bank::balance(&s, &bob).unwrap(), bal + 30 * BLY);
    assert!(staking::unbonding_of(&s, &bob).unwrap().is_empty());
    invariants::check_full_staking(&s).unwrap();
    invariants::check_full_supply(&s).unwrap();
}

#[test]
fn bad_staking_messages_get_their_own_codes() {
    let mut s = genesis(&["alice", "bob"]);
    let alice = key("alice").address();
    let bob = key("bob").address();
    let create = |key: [u8; 32], stake: u128, commission: u32| StakingMsg::CreateValidator {
        consensus_key: key,
        moniker: "x".into(),
        commission_bps: commission,
        self_stake: stake,
    };
    let before = s.clone();
    assert_eq!(
        exec(&mut s, &alice, create([1; 32], 1, 0), 1),
        Err(ErrorCode::StakeBelowMinimum)
    );
    assert_eq!(
        exec(&mut s, &alice, create(CONS0, 2 * BLY, 0), 1),
        Err(ErrorCode::DuplicateConsensusKey)
    );
    assert_eq!(
        exec(&mut s, &alice, create([1; 32], 2 * BLY, 10_001), 1),
        Err(ErrorCode::CommissionTooHigh)
    );
    assert_eq!(
        exec(&mut s, &v0(), create([2; 32], 2 * BLY, 0), 1),
        Err(ErrorCode::ValidatorExists)
    );
    assert_eq!(
        exec(
            &mut s,
            &alice,
            StakingMsg::Delegate {
                validator: bob,
                amount: BLY
            },
            1
        ),
        Err(ErrorCode::UnknownValidator)
    );
    assert_eq!(
        exec(
            &mut s,
            &alice,
            StakingMsg::Delegate {
                validator: v0(),
                amount: 0
            },
            1
        ),
        Err(ErrorCode::ZeroStake)
    );
    assert_eq!(
        exec(
            &mut s,
            &alice,
            StakingMsg::Undelegate {
                validator: v0(),
                amount: BLY
            },
            1
        ),
        Err(ErrorCode::NoDelegation)
    );
    assert_eq!(
        exec(&mut s, &v0(), StakingMsg::Unjail, 1),
        Err(ErrorCode::NotJailed)
    );
    assert_eq!(s, before, "nothing changed");
    exec(
        &mut s,
        &alice,
        StakingMsg::Delegate {
            validator: v0(),
            amount: BLY,
        },
        1,
    )
    .unwrap();
    assert_eq!(
        exec(
            &mut s,
            &alice,
            StakingMsg::Undelegate {
                validator: v0(),
                amount: 2 * BLY
            },
            1
        ),
        Err(ErrorCode::InsufficientDelegation)
    );
    assert_eq!(
        exec(
            &mut s,
            &alice,
            StakingMsg::Redelegate {
                from: v0(),
                to: v0(),
                amount: 1
            },
            1
        ),
        Err(ErrorCode::SelfRedelegation)
    );
}

#[test]
fn missing_blocks_jails_and_slashes_then_unjail_after_the_jail_time() {
    let mut s = genesis(&["alice"]);
    let p = staking::params(&s).unwrap();
    let cons = staking::consensus_address(&CONS0);
    let window = p.signed_blocks_window;
    let tokens = staking::must_validator(&s, &v0()).unwrap().tokens;
    let mut h = 1;
    // Miss every block until jailed (more than half the window).
    let jailed_at = loop {
        let updates = block(
            &mut s,
            BlockContext {
                height: h,
                last_commit: vec![(cons, false)],
                ..Default::default()
            },
        );
        if staking::must_validator(&s, &v0()).unwrap().jailed {
            assert_eq!(
                updates,
                vec![staking::ValidatorUpdate {
                    consensus_key: CONS0,
                    power: 0
                }]
            );
            break h;
        }
        h += 1;
        assert!(h <= window + 1, "never jailed");
    };
    assert_eq!(
        jailed_at, window,
        "jailed once the window is full of misses"
    );
    let v = staking::must_validator(&s, &v0()).unwrap();
    assert_eq!(
        v.tokens,
        tokens - tokens * u128::from(p.downtime_slash_bps) / 10_000
    );
    assert_eq!(v.jailed_until, jailed_at + p.downtime_jail_blocks);
    assert_eq!(
        exec(&mut s, &v0(), StakingMsg::Unjail, jailed_at + 1),
        Err(ErrorCode::StillJailed)
    );
    exec(&mut s, &v0(), StakingMsg::Unjail, v.jailed_until).unwrap();
    let updates = block(&mut s, plain(v.jailed_until));
    assert_eq!(
        updates[0].power, 9,
        "back with its slashed power (9.99 BLY)"
    );
    invariants::check_full_staking(&s).unwrap();
    invariants::check_full_supply(&s).unwrap();
}

#[test]
fn double_signing_slashes_bonded_and_unbonding_stake_and_tombstones() {
    let mut s = genesis(&["alice"]);
    let alice = key("alice").address();
    exec(
        &mut s,
        &alice,
        StakingMsg::Delegate {
            validator: v0(),
            amount: 100 * BLY,
        },
        1,
    )
    .unwrap();
    exec(
        &mut s,
        &alice,
        StakingMsg::Undelegate {
            validator: v0(),
            amount: 50 * BLY,
        },
        1,
    )
    .unwrap();
    block(&mut s, plain(1));
    let bonded = staking::must_validator(&s, &v0()).unwrap().tokens;
    assert_eq!(bonded, 60 * BLY);
    let supply = bank::supply(&s).unwrap();
    let evidence = Misbehavior {
        kind: Infraction::DuplicateVote,
        consensus_address: staking::consensus_address(&CONS0),
        height: 1,
    };
    let ex = BlockExecutor::begin_block(
        &s,
        BlockContext {
            height: 2,
            misbehavior: vec![evidence.clone()],
            ..Default::default()
        },
    )
    .unwrap();
    let minted = ex
        .begin_events()
        .iter()
        .find_map(|e| match e {
            blyan_proto::event::Event::Staking(
                blyan_proto::event::StakingEvent::BlockRewards { minted },
            ) => Some(*minted),
            _ => None,
        })
        .unwrap_or_default();
    let end = ex.end().unwrap();
    apply_writes(&mut s, end.writes);
    assert_eq!(end.validator_updates[0].power, 0, "removed from the set");
    let v = staking::must_validator(&s, &v0()).unwrap();
    assert!(v.tombstoned && v.jailed);
    assert_eq!(v.tokens, 54 * BLY, "10% of 60 burned");
    assert_eq!(
        staking::unbonding_of(&s, &alice).unwrap()[0].amount,
        45 * BLY,
        "10% of 50 burned"
    );
    assert_eq!(bank::balance(&s, &UNBONDING_POOL).unwrap(), 45 * BLY);
    assert_eq!(bank::supply(&s).unwrap(), supply + minted - 11 * BLY);
    assert_eq!(
        exec(&mut s, &v0(), StakingMsg::Unjail, 1_000_000),
        Err(ErrorCode::Tombstoned)
    );
    assert_eq!(
        exec(
            &mut s,
            &alice,
            StakingMsg::Delegate {
                validator: v0(),
                amount: BLY
            },
            3
        ),
        Err(ErrorCode::Tombstoned)
    );
    // The same evidence again changes nothing.
    let before = staking::must_validator(&s, &v0()).unwrap();
    block(
        &mut s,
        BlockContext {
            height: 3,
            misbehavior: vec![evidence],
            ..Default::default()
        },
    );
    assert_eq!(
        staking::must_validator(&s, &v0()).unwrap().tokens,
        before.tokens
    );
    invariants::check_full_staking(&s).unwrap();
    invariants::check_full_supply(&s).unwrap();
}
