//! `gov` as a [`Module`]: its parameters at genesis, its messages, the end-block queue,
//! queries and the escrow invariant.

use blyan_proto::event::Event;
use blyan_proto::gov::GovMsg;
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, Msg};

use super::msgs::{deposit, fund_community_pool, submit_proposal, vote, Submission};
use crate::error::{InvariantError, QueryError, TxError, TxResult};
use crate::genesis::ChainGenesis;
use crate::module::{BlockView, EndBlockContext, Module};
use crate::query::Answer;
use crate::runtime::MsgContext;
use crate::state::{StateRead, StateWrite};

/// The `gov` module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gov;

/// Executes a `gov` message.
pub fn execute<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    msg: &GovMsg,
) -> TxResult<Vec<Event>> {
    match msg {
        GovMsg::SubmitProposal {
            title,
            description,
            content,
            initial_deposit,
        } => submit_proposal(
            state,
            ctx,
            Submission {
                title,
                description,
                content,
                initial_deposit: *initial_deposit,
            },
        ),
        GovMsg::Deposit {
            proposal_id,
            amount,
        } => deposit(state, ctx, *proposal_id, *amount),
        GovMsg::Vote {
            proposal_id,
            option,
        } => vote(state, ctx, *proposal_id, *option),
        GovMsg::FundCommunityPool { amount } => fund_community_pool(state, ctx, *amount),
    }
}

impl Module for Gov {
    fn name(&self) -> &'static str {
        "gov"
    }

    fn init_chain(&self, state: &mut dyn StateWrite, g: &ChainGenesis) -> TxResult<()> {
        g.gov_params
            .validate()
            .map_err(|e| TxError::new(ErrorCode::CorruptState, e))?;
        super::state::set_params(state, &g.gov_params);
        Ok(())
    }

    fn end_block(
        &self,
        state: &mut dyn StateWrite,
        ctx: &EndBlockContext<'_>,
    ) -> TxResult<Vec<Event>> {
        super::lifecycle::end_block(state, ctx.block.height)
    }

    fn execute(
        &self,
        state: &mut dyn StateWrite,
        ctx: &MsgContext<'_>,
        msg: &Msg,
    ) -> Option<TxResult<Vec<Event>>> {
        match msg {
            Msg::Gov(m) => Some(execute(state, ctx, m)),
            _ => None,
        }
    }

    fn query(&self, state: &dyn StateRead, path: &QueryPath) -> Result<Option<Answer>, QueryError> {
        super::query::answer(state, path)
    }

    /// Escrow holds exactly the running total of deposits, which is the sum of the
    /// deposits of the active proposals (at most `max_active_proposals` records read).
    fn check_invariants(&self, block: &BlockView<'_>) -> Result<(), InvariantError> {
        let s = block.after;
        let held = super::held(s)?;
        let escrow = crate::bank::balance(s, &super::GOV_ESCROW)?;
        let mut owed = 0u128;
        for id in super::active_ids(s)? {
            owed = owed
                .checked_add(super::proposal(s, id)?.total_deposit)
                .ok_or(InvariantError::Overflow("gov deposits overflow"))?;
        }
        if escrow != held || held != owed {
            return Err(InvariantError::GovEscrow { escrow, held, owed });
        }
        Ok(())
    }
}
