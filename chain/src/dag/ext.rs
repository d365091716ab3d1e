//! What other modules may read of the DAG and the named changes they may make to it.
//!
//! Reads come as an extension trait on any state ([`DagRead`]); writes from outside `dag`
//! are verbs ([`DagWrite::record_loss`]), never the record setters, which stay private to
//! the crate.

use blyan_proto::dag::{BlockId, DagParams, ParamBlock};

use super::state::{self, ModelRecord};
use crate::error::TxResult;
use crate::state::{StateRead, StateWrite};

/// Read access to DAG state.
pub trait DagRead: StateRead {
    /// The DAG parameters.
    fn dag_params(&self) -> TxResult<DagParams> {
        state::params(self)
    }

    /// A model, if it exists.
    fn dag_model(&self, id: &str) -> TxResult<Option<ModelRecord>> {
        state::model(self, id)
    }

    /// A model that must exist (`UnknownModel` otherwise).
    fn dag_must_model(&self, id: &str) -> TxResult<ModelRecord> {
        state::must_model(self, id)
    }

    /// A block, if it exists.
    fn dag_block(&self, id: &BlockId) -> TxResult<Option<ParamBlock>> {
        state::block(self, id)
    }

    /// The head of `name` in `model`, if any.
    fn dag_head(&self, model: &str, name: &str) -> TxResult<Option<ParamBlock>> {
        state::head(self, model, name)
    }
}

impl<T: StateRead + ?Sized> DagRead for T {}

/// The changes other modules make to the DAG.
pub trait DagWrite: StateWrite {
    /// Records the validation loss of `model`'s current heads (micro-nats), as an
    /// accepted Proof-of-Learning round measured it.
    fn record_loss(&mut self, model: &str, loss_micro: u64) -> TxResult<()> {
        let mut rec = state::must_model(self, model)?;
        rec.loss_micro = Some(loss_micro);
        state::set_model(self, model, &rec);
        Ok(())
    }
}

impl<T: StateWrite + ?Sized> DagWrite for T {}
