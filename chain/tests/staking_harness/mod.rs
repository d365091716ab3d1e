//! A small chain for staking tests: signed transactions and evidence run through
//! `BlockExecutor` block by block, each block followed by the full staking and supply
//! audits.
#![allow(dead_code)]

use crate::common::*;
use blyan_chain::runtime::Mode;
use blyan_chain::staking::{self, Infraction, Misbehavior};
use blyan_chain::state::apply_writes;
use blyan_chain::{bank, invariants, BlockContext, BlockExecutor, MemState, TxOutcome};
use blyan_proto::event::{Event, StakingEvent};
use blyan_proto::{Address, Fee, Msg, StakingMsg, Tx, BLY};

/// Blocks an undelegation waits in these tests.
pub(crate) const UNBONDING: u64 = 20;

/// A test chain: its state and the height of the next block.
pub(crate) struct Chain {
    pub s: MemState,
    pub height: u64,
}

/// What a block did.
pub(crate) struct Block {
    pub outcomes: Vec<TxOutcome>,
    pub events: Vec<Event>,
}

impl Block {
    pub(crate) fn code(&self, i: usize) -> u32 {
        self.outcomes[i].code
    }

    pub(crate) fn slashed(&self) -> u128 {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Staking(StakingEvent::Slash { burned, .. }) => Some(*burned),
                _ => None,
            })
            .sum()
    }

    pub(crate) fn minted(&self) -> u128 {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Staking(StakingEvent::BlockRewards { minted }) => Some(*minted),
                _ => None,
            })
            .sum()
    }
}

pub(crate) fn addr(name: &str) -> Address {
    key(name).address()
}

pub(crate) fn v0() -> Address {
    proposer()
}

impl Chain {
    pub(crate) fn new(funded: &[&str]) -> Self {
        let mut s = genesis(funded);
        let mut p = staking::params(&s).unwrap();
        p.unbonding_blocks = UNBONDING;
        staking::set_params(&mut s, &p);
        Chain { s, height: 1 }
    }

    /// Runs one block with `txs` (signer name, message) and `evidence`, then audits.
    pub(crate) fn block(
        &mut self,
        txs: &[(&str, StakingMsg)],
        evidence: Vec<Misbehavior>,
    ) -> Block {
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

    pub(crate) fn txs(&mut self, txs: &[(&str, StakingMsg)]) -> Block {
        let b = self.block(txs, Vec::new());
        for (i, o) in b.outcomes.iter().enumerate() {
            assert_eq!(o.code, 0, "{:?}: {}", txs[i].1, o.log);
        }
        b
    }

    pub(crate) fn empty_until(&mut self, height: u64) {
        while self.height <= height {
            self.block(&[], Vec::new());
        }
    }

    /// A block carrying double-sign evidence against `cons_key` for `infraction_height`.
    pub(crate) fn double_sign(&mut self, cons_key: [u8; 32], infraction_height: u64) -> Block {
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

    pub(crate) fn tokens(&self, v: &Address) -> u128 {
        staking::must_validator(&self.s, v).unwrap().tokens
    }

    pub(crate) fn bonded(&self, who: &str, v: &Address) -> u128 {
        let val = staking::must_validator(&self.s, v).unwrap();
        staking::delegation(&self.s, &addr(who), v)
            .unwrap()
            .map_or(0, |d| staking::tokens_for_shares(&val, d.shares))
    }

    pub(crate) fn entries(&self, who: &str) -> Vec<(Address, u128, u64)> {
        staking::unbonding_of(&self.s, &addr(who))
            .unwrap()
            .into_iter()
            .map(|e| (e.validator, e.amount, e.creation_height))
            .collect()
    }

    pub(crate) fn balance(&self, who: &str) -> u128 {
        bank::balance(&self.s, &addr(who)).unwrap()
    }

    pub(crate) fn pool(&self, a: &Address) -> u128 {
        bank::balance(&self.s, a).unwrap()
    }
}

pub(crate) const CONS0: [u8; 32] = [7u8; 32];
pub(crate) const CONS_CAROL: [u8; 32] = [2u8; 32];

pub(crate) fn delegate(v: Address, bly: u128) -> StakingMsg {
    StakingMsg::Delegate {
        validator: v,
        amount: bly * BLY,
    }
}

pub(crate) fn undelegate(v: Address, bly: u128) -> StakingMsg {
    StakingMsg::Undelegate {
        validator: v,
        amount: bly * BLY,
    }
}

pub(crate) fn redelegate(from: Address, to: Address, bly: u128) -> StakingMsg {
    StakingMsg::Redelegate {
        from,
        to,
        amount: bly * BLY,
    }
}

pub(crate) fn create(cons: [u8; 32], bly: u128) -> StakingMsg {
    StakingMsg::CreateValidator {
        consensus_key: cons,
        moniker: "v".into(),
        commission_bps: 1_000,
        self_stake: bly * BLY,
    }
}
