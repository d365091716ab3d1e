//! `dag` as a [`Module`]: genesis models, `MsgPublishModel` and the DAG queries.

use blyan_proto::dag::{DagMsg, PublishModel};
use blyan_proto::event::Event;
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, Msg};

use super::publish::{publish_model, PublishOptions};
use super::state::{must_model, set_model, set_params};
use crate::error::{TxError, TxResult};
use crate::genesis::ChainGenesis;
use crate::module::Module;
use crate::query::Answer;
use crate::runtime::MsgContext;
use crate::state::{StateRead, StateWrite};

/// The `dag` module.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dag;

/// Executes a `dag` message.
pub fn execute<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    msg: &DagMsg,
) -> TxResult<Vec<Event>> {
    match msg {
        DagMsg::PublishModel(m) => publish_model(
            state,
            &ctx.signer,
            m,
            ctx.height,
            PublishOptions {
                charge_deposit: true,
            },
        ),
    }
}

impl Module for Dag {
    fn name(&self) -> &'static str {
        "dag"
    }

    /// Publishes the genesis models (same checks as `MsgPublishModel`, no deposit) and
    /// records their validation sets and baseline losses.
    fn init_chain(&self, state: &mut dyn StateWrite, g: &ChainGenesis) -> TxResult<()> {
        g.dag_params
            .validate()
            .map_err(|e| TxError::new(ErrorCode::CorruptState, e))?;
        set_params(state, &g.dag_params);
        for m in &g.models {
            let msg = PublishModel {
                model_id: m.id.clone(),
                arch: m.arch.clone(),
                meta_json: m.meta_json.clone(),
                blocks: m.blocks.clone(),
                deposit: 0,
            };
            let opts = PublishOptions {
                charge_deposit: false,
            };
            publish_model(state, &m.owner, &msg, 0, opts).map_err(|e| {
                TxError::new(e.code, format!("genesis model {:?}: {}", m.id, e.log))
            })?;
            let mut rec = must_model(state, &m.id)?;
            rec.loss_micro = m.validation.as_ref().map(|v| v.baseline_loss_micro);
            rec.validation = m.validation.clone();
            set_model(state, &m.id, &rec);
        }
        Ok(())
    }

    fn execute(
        &self,
        state: &mut dyn StateWrite,
        ctx: &MsgContext<'_>,
        msg: &Msg,
    ) -> Option<TxResult<Vec<Event>>> {
        match msg {
            Msg::Dag(m) => Some(execute(state, ctx, m)),
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
}
