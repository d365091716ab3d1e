//! Slashing accounting through the real path (signed transactions in blocks, evidence in
//! `BlockContext.misbehavior`): stake that left before the infraction height is not
//! slashed, stake that left after it is, redelegations cannot carry a double-signer's
//! stake out of reach, and emptied validators are pruned for good. Every block is
//! followed by the full staking and supply audits.

mod common;
mod staking_harness;

use blyan_chain::staking::{self, BONDED_POOL, UNBONDING_POOL};
use blyan_proto::{ErrorCode, StakingMsg, BLY};
use staking_harness::*;

#[test]
fn only_unbonding_entries_created_at_or_after_the_infraction_are_slashed() {
    let mut c = Chain::new(&["alice", "bob"]);
    c.txs(&[("alice", delegate(v0(), 100)), ("bob", delegate(v0(), 100))]); // h1
    c.txs(&[("alice", undelegate(v0(), 50))]); // h2: before the infraction
    c.txs(&[("bob", undelegate(v0(), 20))]); // h3: at the infraction height
    c.txs(&[("bob", undelegate(v0(), 30))]); // h4: after it
    assert_eq!(c.tokens(&v0()), 110 * BLY);
    let b = c.double_sign(CONS0, 3); // h5
    assert_eq!(b.slashed(), 16 * BLY, "11 bonded + 2 + 3 unbonding");
    assert_eq!(c.tokens(&v0()), 99 * BLY);
    assert_eq!(c.pool(&BONDED_POOL), 99 * BLY);
    assert_eq!(c.bonded("alice", &v0()), 45 * BLY);
    assert_eq!(c.bonded("bob", &v0()), 45 * BLY);
    assert_eq!(
        c.entries("alice"),
        vec![(v0(), 50 * BLY, 2)],
        "left before: untouched"
    );
    assert_eq!(
        c.entries("bob"),
        vec![(v0(), 18 * BLY, 3), (v0(), 27 * BLY, 4)],
        "left at or after the infraction: 10% burned"
    );
    assert_eq!(c.pool(&UNBONDING_POOL), 95 * BLY);
    // Each entry pays exactly its amount at its completion height.
    for (who, done, paid) in [("alice", 2, 50), ("bob", 3, 18), ("bob", 4, 27)] {
        c.empty_until(done + UNBONDING - 1);
        let before = c.balance(who);
        c.empty_until(done + UNBONDING);
        assert_eq!(
            c.balance(who),
            before + paid * BLY,
            "{who} at {}",
            done + UNBONDING
        );
    }
    assert_eq!(c.pool(&UNBONDING_POOL), 0);
}

#[test]
fn redelegating_away_after_the_infraction_is_slashed_at_the_destination() {
    let mut c = Chain::new(&["alice", "dave", "carol"]);
    let v1 = addr("carol");
    c.txs(&[
        ("carol", create(CONS_CAROL, 20)),
        ("alice", delegate(v0(), 100)),
        ("dave", delegate(v0(), 100)),
    ]); // h1
    c.txs(&[("dave", redelegate(v0(), v1, 100))]); // h2: before the infraction
    c.empty_until(3);
    c.txs(&[("alice", redelegate(v0(), v1, 100))]); // h4: escape attempt
    assert_eq!(c.tokens(&v0()), 10 * BLY);
    assert_eq!(c.tokens(&v1), 220 * BLY);
    let b = c.double_sign(CONS0, 3); // h5
    assert_eq!(b.slashed(), 11 * BLY, "1 at v0, 10 of alice's stake at v1");
    assert_eq!(c.tokens(&v0()), 9 * BLY);
    assert_eq!(
        c.bonded("alice", &v1),
        90 * BLY,
        "slashed at the destination"
    );
    assert_eq!(c.bonded("dave", &v1), 100 * BLY, "moved before: untouched");
    assert_eq!(c.bonded("carol", &v1), 20 * BLY, "v1's own stake untouched");
    assert_eq!(c.tokens(&v1), 210 * BLY);
    assert_eq!(c.pool(&BONDED_POOL), 219 * BLY);
    assert!(!staking::must_validator(&c.s, &v1).unwrap().jailed);
}

#[test]
fn undelegating_from_the_destination_does_not_escape_the_slash() {
    let mut c = Chain::new(&["alice", "carol"]);
    let v1 = addr("carol");
    c.txs(&[
        ("carol", create(CONS_CAROL, 20)),
        ("alice", delegate(v0(), 100)),
    ]); // h1
    c.empty_until(3);
    c.txs(&[("alice", redelegate(v0(), v1, 100))]); // h4
    c.txs(&[("alice", undelegate(v1, 95))]); // h5
    assert_eq!(c.pool(&UNBONDING_POOL), 95 * BLY);
    let b = c.double_sign(CONS0, 3); // h6
                                     // 10 due at v1: the 5 still bonded there, then 5 from the unbonding entry.
    assert_eq!(b.slashed(), 11 * BLY);
    assert_eq!(c.bonded("alice", &v1), 0);
    assert!(staking::delegation(&c.s, &addr("alice"), &v1)
        .unwrap()
        .is_none_or(|d| d.shares == 0));
    assert_eq!(c.entries("alice"), vec![(v1, 90 * BLY, 5)]);
    assert_eq!(c.pool(&UNBONDING_POOL), 90 * BLY);
    assert_eq!(c.tokens(&v1), 20 * BLY);
    c.empty_until(5 + UNBONDING - 1);
    let before = c.balance("alice");
    c.empty_until(5 + UNBONDING);
    assert_eq!(c.balance("alice"), before + 90 * BLY);
}

#[test]
fn a_redelegation_is_answerable_only_until_its_record_expires() {
    let mut c = Chain::new(&["alice", "carol"]);
    let v1 = addr("carol");
    c.txs(&[
        ("carol", create(CONS_CAROL, 20)),
        ("alice", delegate(v0(), 100)),
    ]); // h1
    c.txs(&[("alice", redelegate(v0(), v1, 100))]); // h2
    assert_eq!(staking::all_redelegations(&c.s).unwrap().len(), 1);
    c.empty_until(2 + UNBONDING - 1);
    assert_eq!(staking::all_redelegations(&c.s).unwrap().len(), 1);
    c.empty_until(2 + UNBONDING);
    assert!(
        staking::all_redelegations(&c.s).unwrap().is_empty(),
        "expired"
    );
    // Evidence for an infraction before the redelegation, arriving after it expired,
    // takes nothing from the destination.
    let b = c.double_sign(CONS0, 2);
    assert_eq!(b.slashed(), BLY, "10% of v0's own 10");
    assert_eq!(c.bonded("alice", &v1), 100 * BLY);
}

#[test]
fn transitive_and_excess_redelegations_are_refused_with_nothing_lost() {
    let mut c = Chain::new(&["alice", "carol"]);
    let v1 = addr("carol");
    c.txs(&[
        ("carol", create(CONS_CAROL, 20)),
        ("alice", delegate(v0(), 100)),
    ]); // h1
    c.txs(&[("alice", redelegate(v0(), v1, 10))]); // h2
    let before = (c.bonded("alice", &v0()), c.bonded("alice", &v1));
    let balance = c.balance("alice");
    let b = c.block(&[("alice", redelegate(v1, v0(), 5))], Vec::new()); // h3
    assert_eq!(
        b.code(0),
        ErrorCode::TransitiveRedelegation.as_u32(),
        "{}",
        b.outcomes[0].log
    );
    assert_eq!((c.bonded("alice", &v0()), c.bonded("alice", &v1)), before);
    assert_eq!(
        c.balance("alice"),
        balance - common::pol::fee_paid(&b.outcomes[0]),
        "only the fee"
    );
    assert_eq!(
        staking::all_redelegations(&c.s).unwrap().len(),
        1,
        "no record written"
    );
    // Six more into v1 reach max_unbonding_entries (7); the eighth is refused.
    let six: Vec<_> = (0..6).map(|_| ("alice", redelegate(v0(), v1, 1))).collect();
    c.txs(&six); // h4
    let balance = c.balance("alice");
    let b = c.block(&[("alice", redelegate(v0(), v1, 1))], Vec::new()); // h5
    assert_eq!(
        b.code(0),
        ErrorCode::TooManyRedelegations.as_u32(),
        "{}",
        b.outcomes[0].log
    );
    assert_eq!(
        c.balance("alice"),
        balance - common::pol::fee_paid(&b.outcomes[0]),
        "only the fee"
    );
    assert_eq!(c.bonded("alice", &v0()), 84 * BLY);
    assert_eq!(c.bonded("alice", &v1), 16 * BLY);
    // Once the first record expires, the stake may move on.
    c.empty_until(2 + UNBONDING);
    let b = c.block(&[("alice", redelegate(v1, v0(), 5))], Vec::new());
    assert_eq!(
        b.code(0),
        ErrorCode::TransitiveRedelegation.as_u32(),
        "six still pending"
    );
    c.empty_until(4 + UNBONDING);
    c.txs(&[("alice", redelegate(v1, v0(), 5))]);
    assert_eq!(c.bonded("alice", &v1), 11 * BLY);
}

#[test]
fn an_emptied_validator_is_pruned_and_its_key_never_returns() {
    let mut c = Chain::new(&["bob", "carol"]);
    let v1 = addr("carol");
    c.txs(&[("carol", create(CONS_CAROL, 20)), ("bob", delegate(v1, 5))]); // h1
    c.txs(&[("carol", undelegate(v1, 20)), ("bob", undelegate(v1, 5))]); // h2
    let v = staking::must_validator(&c.s, &v1).unwrap();
    assert!(v.jailed && v.tokens == 0 && v.shares == 0);
    assert!(!staking::active_set(&c.s)
        .unwrap()
        .iter()
        .any(|(o, _)| *o == v1));
    // Rewards earned in block 2 keep the delegation records until withdrawn.
    c.txs(&[
        ("carol", StakingMsg::WithdrawRewards { validator: v1 }),
        ("bob", StakingMsg::WithdrawRewards { validator: v1 }),
    ]); // h3
    assert!(
        staking::validator(&c.s, &v1).unwrap().is_some(),
        "entries pending"
    );
    c.empty_until(2 + UNBONDING - 1);
    assert!(staking::validator(&c.s, &v1).unwrap().is_some());
    c.empty_until(2 + UNBONDING);
    assert!(staking::validator(&c.s, &v1).unwrap().is_none(), "pruned");
    assert_eq!(staking::index::refs(&c.s, &v1).unwrap(), Default::default());
    let b = c.block(&[("bob", delegate(v1, 1))], Vec::new());
    assert_eq!(b.code(0), ErrorCode::UnknownValidator.as_u32());
    let b = c.block(&[("carol", create(CONS_CAROL, 20))], Vec::new());
    assert_eq!(
        b.code(0),
        ErrorCode::DuplicateConsensusKey.as_u32(),
        "key never reused"
    );
    c.txs(&[("carol", create([4u8; 32], 20))]);
    assert_eq!(c.tokens(&v1), 20 * BLY, "back under a new key");
    // Evidence against the old key does not reach the validator under the new one.
    let b = c.double_sign(CONS_CAROL, 2);
    assert_eq!(b.slashed(), 0);
    let v = staking::must_validator(&c.s, &v1).unwrap();
    assert!(!v.tombstoned && v.tokens == 20 * BLY);
}

#[test]
fn a_pruned_double_signer_can_never_return() {
    let mut c = Chain::new(&["bob", "carol"]);
    let v1 = addr("carol");
    c.txs(&[("carol", create(CONS_CAROL, 20))]); // h1
    let b = c.double_sign(CONS_CAROL, 1); // h2
    assert_eq!(b.slashed(), 2 * BLY);
    c.txs(&[
        ("carol", undelegate(v1, 18)),
        ("carol", StakingMsg::WithdrawRewards { validator: v1 }),
    ]); // h3
    c.empty_until(3 + UNBONDING);
    assert!(staking::validator(&c.s, &v1).unwrap().is_none(), "pruned");
    // Evidence for the old key again finds nothing to slash and changes nothing.
    let bonded = c.pool(&BONDED_POOL);
    let b = c.double_sign(CONS_CAROL, 1);
    assert_eq!(b.slashed(), 0);
    assert_eq!(c.pool(&BONDED_POOL), bonded);
    let b = c.block(
        &[("carol", create([5u8; 32], 20)), ("bob", delegate(v1, 1))],
        Vec::new(),
    );
    assert_eq!(
        b.code(0),
        ErrorCode::Tombstoned.as_u32(),
        "{}",
        b.outcomes[0].log
    );
    assert_eq!(
        b.code(1),
        ErrorCode::Tombstoned.as_u32(),
        "{}",
        b.outcomes[1].log
    );
}
