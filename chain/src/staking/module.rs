//! `staking` as a [`Module`]: genesis validators, the begin-block evidence, liveness and
//! reward hooks, matured unbondings at the end of a block, the validator-set update, its
//! messages, queries and invariants.

use blyan_proto::event::Event;
use blyan_proto::query::QueryPath;
use blyan_proto::Msg;

use crate::error::TxResult;
use crate::genesis::ChainGenesis;
use crate::module::{BlockView, EndBlockContext, Module};
use crate::query::Answer;
use crate::runtime::{BlockContext, MsgContext};
use crate::state::{StateRead, StateWrite};

/// The `staking` module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Staking;

impl Module for Staking {
    fn name(&self) -> &'static str {
        "staking"
    }

    fn init_chain(&self, state: &mut dyn StateWrite, g: &ChainGenesis) -> TxResult<()> {
        super::set_params(state, &g.staking_params);
        for v in &g.validators {
            super::init_genesis_validator(
                state,
                &v.operator,
                &v.consensus_key,
                &v.moniker,
                v.power,
            )?;
        }
        Ok(())
    }

    fn begin_block(&self, state: &mut dyn StateWrite, ctx: &BlockContext) -> TxResult<Vec<Event>> {
        let mut events = super::handle_misbehavior(state, &ctx.misbehavior)?;
        events.extend(super::handle_downtime(state, &ctx.last_commit, ctx.height)?);
        events.extend(super::distribute_block_rewards(state)?);
        Ok(events)
    }

    fn end_block(
        &self,
        state: &mut dyn StateWrite,
        ctx: &EndBlockContext<'_>,
    ) -> TxResult<Vec<Event>> {
        super::complete_unbonding(state, ctx.block.height)
    }

    fn validator_updates(
        &self,
        state: &mut dyn StateWrite,
    ) -> TxResult<Vec<super::ValidatorUpdate>> {
        super::update_validator_set(state)
    }

    fn execute(
        &self,
        state: &mut dyn StateWrite,
        ctx: &MsgContext<'_>,
        msg: &Msg,
    ) -> Option<TxResult<Vec<Event>>> {
        match msg {
            Msg::Staking(m) => Some(super::execute(state, &ctx.signer, m, ctx.height)),
            _ => None,
        }
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &QueryPath,
    ) -> Result<Option<Answer>, crate::error::QueryError> {
        super::answer_query(state, path)
    }

    fn check_invariants(&self, block: &BlockView<'_>) -> Result<(), crate::error::InvariantError> {
        crate::invariants::check_staking(block.after)?;
        crate::invariants::check_block_delegations(block.base, block.writes)
    }
}
