//! `inference` as a [`Module`]: its parameters at genesis, its messages, queries and the
//! channel-pool invariant.

use blyan_proto::event::Event;
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, Msg};

use crate::error::{TxError, TxResult};
use crate::genesis::ChainGenesis;
use crate::module::{BlockView, Module};
use crate::query::Answer;
use crate::runtime::MsgContext;
use crate::state::{StateRead, StateWrite};

/// The `inference` module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inference;

impl Module for Inference {
    fn name(&self) -> &'static str {
        "inference"
    }

    fn init_chain(&self, state: &mut dyn StateWrite, g: &ChainGenesis) -> TxResult<()> {
        g.inference_params
            .validate()
            .map_err(|e| TxError::new(ErrorCode::CorruptState, e))?;
        super::set_params(state, &g.inference_params);
        Ok(())
    }

    fn execute(
        &self,
        state: &mut dyn StateWrite,
        ctx: &MsgContext<'_>,
        msg: &Msg,
    ) -> Option<TxResult<Vec<Event>>> {
        match msg {
            Msg::Inference(m) => Some(super::execute(state, ctx, m)),
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
        crate::invariants::check_channels(block.after)
    }
}
