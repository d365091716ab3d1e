//! Unit tests of `gov` against an in-memory state: two validators (60 and 40 BLY bonded)
//! and two delegators (20 BLY to each), so the bonded stake is 140 BLY.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(clippy::arithmetic_side_effects)]

mod lifecycle;
mod params;
mod tallies;
mod upgrade;

use blyan_proto::event::Event;
use blyan_proto::gov::{GovMsg, GovParams, ProposalContent, ProposalId, VoteOption};
use blyan_proto::{Address, ErrorCode, SecretKey, BLY};

use crate::genesis::{init_chain, ChainGenesis, GenesisValidatorSpec};
use crate::module::{BlockView, Module};
use crate::runtime::MsgContext;
use crate::state::{MemState, WriteSet};

pub(super) fn addr(name: &str) -> Address {
    SecretKey::from_seed(name).address()
}

pub(super) fn op1() -> Address {
    addr("op1")
}
pub(super) fn op2() -> Address {
    addr("op2")
}
pub(super) fn d1() -> Address {
    addr("d1")
}
pub(super) fn d2() -> Address {
    addr("d2")
}
pub(super) fn proposer() -> Address {
    addr("proposer")
}

/// Short periods: deposits for 10 blocks, votes for 10 blocks, a 10 BLY deposit.
pub(super) fn test_params() -> GovParams {
    GovParams {
        min_deposit: 10 * BLY,
        min_initial_deposit_bps: 2_500,
        max_deposit_period_blocks: 10,
        voting_period_blocks: 10,
        quorum_bps: 3_340,
        threshold_bps: 5_000,
        veto_bps: 3_340,
        max_active_proposals: 3,
    }
}

pub(super) fn genesis() -> MemState {
    let mut s = MemState::new();
    let names = ["op1", "op2", "d1", "d2", "proposer", "nobody"];
    init_chain(
        &mut s,
        &ChainGenesis {
            chain_id: "gov-unit".into(),
            tx_params: Default::default(),
            fee_params: Default::default(),
            accounts: names.iter().map(|n| (addr(n), 1_000 * BLY)).collect(),
            emission_reserve: 0,
            staking_params: Default::default(),
            dag_params: Default::default(),
            pol_params: Default::default(),
            inference_params: Default::default(),
            gov_params: test_params(),
            validators: vec![
                GenesisValidatorSpec {
                    operator: op1(),
                    consensus_key: [1; 32],
                    moniker: "v1".into(),
                    power: 60,
                },
                GenesisValidatorSpec {
                    operator: op2(),
                    consensus_key: [2; 32],
                    moniker: "v2".into(),
                    power: 40,
                },
            ],
            models: Vec::new(),
        },
    )
    .unwrap();
    crate::staking::delegate(&mut s, &d1(), &op1(), 20 * BLY).unwrap();
    crate::staking::delegate(&mut s, &d2(), &op2(), 20 * BLY).unwrap();
    s
}

pub(super) fn ctx(signer: Address, height: u64) -> MsgContext<'static> {
    MsgContext {
        signer,
        tx_nonce: 0,
        chain_id: "gov-unit",
        height,
        time_unix_ms: 0,
    }
}

/// Runs a message the way the runtime does: on a copy, kept only on success.
pub(super) fn run(
    s: &mut MemState,
    signer: Address,
    height: u64,
    msg: GovMsg,
) -> Result<Vec<Event>, ErrorCode> {
    let mut copy = s.clone();
    match super::execute(&mut copy, &ctx(signer, height), &msg) {
        Ok(events) => {
            *s = copy;
            check(s);
            Ok(events)
        }
        Err(e) => {
            assert!(!e.log.is_empty());
            Err(e.code)
        }
    }
}

pub(super) fn submit(
    s: &mut MemState,
    height: u64,
    content: ProposalContent,
    deposit: u128,
) -> Result<ProposalId, ErrorCode> {
    let msg = GovMsg::SubmitProposal {
        title: "t".into(),
        description: "d".into(),
        content,
        initial_deposit: deposit,
    };
    run(s, proposer(), height, msg)?;
    Ok(super::proposals(s).unwrap().last().unwrap().id)
}

pub(super) fn vote(s: &mut MemState, who: Address, id: ProposalId, height: u64, o: VoteOption) {
    let msg = GovMsg::Vote {
        proposal_id: id,
        option: o,
    };
    run(s, who, height, msg).unwrap();
}

/// Runs the end-block hook of every height in `from..=to`; returns the events.
pub(super) fn blocks(s: &mut MemState, from: u64, to: u64) -> Vec<Event> {
    let mut out = Vec::new();
    for h in from..=to {
        out.extend(super::end_block(s, h).unwrap());
        check(s);
    }
    out
}

/// The module invariant (escrow = running total = active deposits) holds.
pub(super) fn check(s: &MemState) {
    let view = BlockView {
        base: s,
        writes: &WriteSet::new(),
        after: s,
    };
    super::Gov.check_invariants(&view).unwrap();
}

pub(super) fn balance(s: &MemState, a: &Address) -> u128 {
    crate::bank::balance(s, a).unwrap()
}

pub(super) fn supply(s: &MemState) -> u128 {
    crate::bank::supply(s).unwrap()
}
