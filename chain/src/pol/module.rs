//! `pol` as a [`Module`]: its parameters at genesis, the round deadlines at the end of
//! every block, its messages, queries and the bond-pool invariant.

use blyan_proto::event::Event;
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, Msg};

use crate::error::{TxError, TxResult};
use crate::genesis::ChainGenesis;
use crate::module::{BlockView, EndBlockContext, Module};
use crate::query::Answer;
use crate::runtime::MsgContext;
use crate::state::{StateRead, StateWrite};

/// The `pol` module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pol;

impl Module for Pol {
    fn name(&self) -> &'static str {
        "pol"
    }

    fn init_chain(&self, state: &mut dyn StateWrite, g: &ChainGenesis) -> TxResult<()> {
        g.pol_params
            .validate()
            .map_err(|e| TxError::new(ErrorCode::CorruptState, e))?;
        super::set_params(state, &g.pol_params);
        Ok(())
    }

    fn end_block(
        &self,
        state: &mut dyn StateWrite,
        ctx: &EndBlockContext<'_>,
    ) -> TxResult<Vec<Event>> {
        super::end_block(state, ctx.block.height)
    }

    fn execute(
        &self,
        state: &mut dyn StateWrite,
        ctx: &MsgContext<'_>,
        msg: &Msg,
    ) -> Option<TxResult<Vec<Event>>> {
        match msg {
            Msg::Pol(m) => Some(super::execute(state, ctx, m)),
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
        crate::invariants::check_pol_bonds(block.after)
    }
}
