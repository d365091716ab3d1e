//! The module contract: what every chain module implements, and the views of state and
//! block its hooks receive.
//!
//! In the spirit of Penumbra's `Component`: a module writes its genesis state
//! ([`Module::init_chain`]), runs hooks at the start and end of every block
//! ([`Module::begin_block`], [`Module::end_block`]), executes its own messages
//! ([`Module::execute`]), answers its own query paths ([`Module::query`]) and checks its
//! own invariants after every block ([`Module::check_invariants`]). Every hook has a
//! default that does nothing, so a module implements only what it owns.
//!
//! The runtime, the query router, genesis and the invariant checks walk one ordered list,
//! [`crate::modules::MODULES`]; adding a module is a folder, one line in that list and
//! its proto types.

use blyan_proto::event::Event;
use blyan_proto::query::QueryPath;
use blyan_proto::Msg;

use crate::error::{InvariantError, QueryError, TxResult};
use crate::genesis::ChainGenesis;
use crate::query::Answer;
use crate::runtime::{BlockContext, MsgContext};
use crate::staking::ValidatorUpdate;
use crate::state::{StateRead, StateWrite, WriteSet};

/// A chain module. Hooks take state as trait objects so one list can hold every module.
pub trait Module: Sync {
    /// The module's name: its key prefix and the first segment of its query paths.
    fn name(&self) -> &'static str;

    /// Writes the module's genesis state (after every module before it in the list).
    fn init_chain(&self, _state: &mut dyn StateWrite, _genesis: &ChainGenesis) -> TxResult<()> {
        Ok(())
    }

    /// Runs at the start of an executed block, before its transactions.
    fn begin_block(
        &self,
        _state: &mut dyn StateWrite,
        _ctx: &BlockContext,
    ) -> TxResult<Vec<Event>> {
        Ok(Vec::new())
    }

    /// Runs at the end of a block, after its transactions.
    fn end_block(
        &self,
        _state: &mut dyn StateWrite,
        _ctx: &EndBlockContext<'_>,
    ) -> TxResult<Vec<Event>> {
        Ok(Vec::new())
    }

    /// Voting-power changes for CometBFT, computed after every module's end-block hook
    /// (and at the end of genesis).
    fn validator_updates(&self, _state: &mut dyn StateWrite) -> TxResult<Vec<ValidatorUpdate>> {
        Ok(Vec::new())
    }

    /// Executes `msg` if it belongs to this module; `None` means it does not.
    fn execute(
        &self,
        _state: &mut dyn StateWrite,
        _ctx: &MsgContext<'_>,
        _msg: &Msg,
    ) -> Option<TxResult<Vec<Event>>> {
        None
    }

    /// Answers `path` if this module owns it; `Ok(None)` means it does not.
    fn query(
        &self,
        _state: &dyn StateRead,
        _path: &QueryPath,
    ) -> Result<Option<Answer>, QueryError> {
        Ok(None)
    }

    /// Checks the module's invariants over a block's writes. An error is a bug: the node
    /// must halt rather than commit.
    fn check_invariants(&self, _block: &BlockView<'_>) -> Result<(), InvariantError> {
        Ok(())
    }
}

/// What the end-block hooks see of the block.
#[derive(Debug, Clone, Copy)]
pub struct EndBlockContext<'a> {
    /// The block header's context.
    pub block: &'a BlockContext,
    /// Gas the block's transactions used.
    pub gas_used: u64,
}

/// A block's state as the invariant checks see it: the committed state before the block,
/// the block's writes, and the state after them.
#[derive(Clone, Copy)]
pub struct BlockView<'a> {
    /// The state before the block.
    pub base: &'a dyn StateRead,
    /// What the block wrote.
    pub writes: &'a WriteSet,
    /// The state after the block (`base` overlaid with `writes`).
    pub after: &'a dyn StateRead,
}

impl std::fmt::Debug for BlockView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockView")
            .field("writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}

/// Lends any writable state, sized or not, as a `&mut dyn StateWrite`.
pub(crate) struct DynWrite<'a, S: ?Sized>(pub(crate) &'a mut S);

impl<S: StateWrite + ?Sized> StateRead for DynWrite<'_, S> {
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get_raw(key)
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.0.prefix_raw(prefix)
    }
}

impl<S: StateWrite + ?Sized> StateWrite for DynWrite<'_, S> {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.0.put_raw(key, value);
    }

    fn delete_raw(&mut self, key: &[u8]) {
        self.0.delete_raw(key);
    }
}
