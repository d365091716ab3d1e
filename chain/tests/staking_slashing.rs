//! Slashing accounting through the real path (signed transactions in blocks, evidence in
//! `BlockContext.misbehavior`): stake that left before the infraction height is not
//! slashed, stake that left after it is, redelegations cannot carry a double-signer's
//! stake out of reach, and emptied validators are pruned for good. Every block is
//! followed by the full staking and supply audits.

mod common;

use blyan_chain::runtime::Mode;
use blyan_chain::staking::{self, Infraction, Misbehavior, BONDED_POOL, UNBONDING_POOL};
use blyan_chain::state::apply_writes;
use blyan_chain::{bank, invariants, BlockContext, BlockExecutor, MemState, TxOutcome};
use blyan_proto::event::Event;
use blyan_proto::{Address, ErrorCode, Fee, Msg, StakingMsg, Tx, BLY};
use common::*;

/// Blocks an undelegation waits in these tests.
const UNBONDING: u64 = 20;

struct Chain {
    s: MemState,
    height: u64,
}

/// What a block did.
struct Block {
    outcomes: Vec<TxOutcome>,
    events: Vec<Event>,
}

impl Block {
    fn code(&self, i: usize) -> u32 {
        self.outcomes[i].code
    }

    fn slashed(&self) -> u128 {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Slash { burned, .. } => Some(*burned),
                _ => None,
            })
            .sum()
    }

    fn minted(&self) -> u128 {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::BlockRewards { minted } => Some(*minted),
                _ => None,
            })
            .sum()
    }
}

fn addr(name: &str) -> Address {
    key(name).address()
}

fn v0() -> Address {
    proposer()
}

impl Chain {
    fn new(funded: &[&str]) -> Self {
        let mut s = genesis(funded);
        let mut p = staking::params(&s).unwrap();
        p.unbonding_blocks = UNBONDING;
        staking::set_params(&mut s, &p);
        Chain { s, height: 1 }
    }

    /// Runs one block with `txs` (signer name, message) and `evidence`, then audits.
    fn block(&mut self, txs: &[(&str, StakingMsg)], evidence: Vec<Misbehavior>) -> Block {
        let mut nonces = std::collections::BTreeMap::<&str, u64>::new();
        let verified: Vec<_> = txs
            .iter()
            .map(|(who, msg)| {
                let n = nonces
                    .entry(who)
                    .or_insert_with(|| blyan_chain::auth::nonce(&self.s, &addr(who)).unwrap());
                let tx = Tx {
                    chain_id: CHAIN.into(),
                    nonce: *n,
                    fee: Fee {
                        gas_limit: 100_000,
                        max_fee_per_gas: 10_000_000_000,
                        max_priority_fee_per_gas: 1_000,
                    },
                    msgs: vec![Msg::Staking(msg.clone())],
                    memo: String::new(),
                };
                *n += 1;
                verify(tx, &key(who))
            })
            .collect();
        let ctx = BlockContext {
            height: self.height,
            proposer: Some(proposer()),
            misbehavior: evidence,
            ..Default::default()
        };
        let mut ex = BlockExecutor::begin_block(&self.s, ctx).unwrap();
        let outcomes: Vec<TxOutcome> = verified
            .iter()
            .map(|t| ex.execute(Ok(t), Mode::Deliver))
            .collect();
        let end = ex.end().unwrap();
        apply_writes(&mut self.s, end.writes);
        invariants::check_full_staking(&self.s).unwrap();
        invariants::check_full_supply(&self.s).unwrap();
        self.height += 1;
        Block {
            outcomes,
            events: end.events,
        }
    }

    fn txs(&mut self, txs: &[(&str, StakingMsg)]) -> Block {
        let b = self.block(txs, Vec::new());
        for (i, o) in b.outcomes.iter().enumerate() {
            assert_eq!(o.code, 0, "{:?}: {}", txs[i].1, o.log);
        }
        b
    }

    fn empty_until(&mut self, height: u64) {
        while self.height <= height {
            self.block(&[], Vec::new());
        }
    }

    /// A block carrying double-sign evidence against `cons_key` for `infraction_height`.
    fn double_sign(&mut self, cons_key: [u8; 32], infraction_height: u64) -> Block {
        let supply = bank::supply(&self.s).unwrap();
        let b = self.block(
            &[],
            vec![Misbehavior {
                kind: Infraction::DuplicateVote,
                consensus_address: staking::consensus_address(&cons_key),
                height: infraction_height,
            }],
        );
        assert_eq!(
            bank::supply(&self.s).unwrap(),
            supply + b.minted() - b.slashed(),
            "the slash is burned"
        );
        b
    }

    fn tokens(&self, v: &Address) -> u128 {
        staking::must_validator(&self.s, v).unwrap().tokens
    }

    fn bonded(&self, who: &str, v: &Address) -> u128 {
        let val = staking::must_validator(&self.s, v).unwrap();
        staking::delegation(&self.s, &addr(who), v)
            .unwrap()
            .map_or(0, |d| staking::tokens_for_shares(&val, d.shares))
    }

    fn entries(&self, who: &str) -> Vec<(Address, u128, u64)> {
        staking::unbonding_of(&self.s, &addr(who))
            .unwrap()
            .into_iter()
            .map(|e| (e.validator, e.amount, e.creation_height))
            .collect()
    }

    fn balance(&self, who: &str) -> u128 {
        bank::balance(&self.s, &addr(who)).unwrap()
    }

    fn pool(&self, a: &Address) -> u128 {
        bank::balance(&self.s, a).unwrap()
    }
}

const CONS0: [u8; 32] = [7u8; 32];
const CONS_CAROL: [u8; 32] = [2u8; 32];

fn delegate(v: Address, bly: u128) -> StakingMsg {
    StakingMsg::Delegate {
        validator: v,
        amount: bly * BLY,
    }
}

fn undelegate(v: Address, bly: u128) -> StakingMsg {
    StakingMsg::Undelegate {
        validator: v,
        amount: bly * BLY,
    }
}

fn redelegate(from: Address, to: Address, bly: u128) -> StakingMsg {
    StakingMsg::Redelegate {
        from,
        to,
        amount: bly * BLY,
    }
}

fn create(cons: [u8; 32], bly: u128) -> StakingMsg {
    StakingMsg::CreateValidator {
        consensus_key: cons,
        moniker: "v".into(),
        commission_bps: 1_000,
        self_stake: bly * BLY,
    }
}

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
