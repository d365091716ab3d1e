//! `consensus`: which operator account stands behind a CometBFT consensus address, so
//! fees can pay the block proposer. Filled from genesis validators; the staking module
//! will own this mapping when it lands.

use blyan_proto::Address;

use crate::error::TxResult;
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// State keys owned by `consensus`.
pub mod state_key {
    /// Prefix of `consensus address → operator` entries.
    pub const OPERATOR_PREFIX: &[u8] = b"consensus/operator/";
    /// Height and header time of the last executed block.
    pub const LAST_BLOCK: &[u8] = b"consensus/last_block";

    /// The key for a 20-byte consensus address.
    pub fn operator(cons_addr: &[u8]) -> Vec<u8> {
        crate::state::key(OPERATOR_PREFIX, cons_addr)
    }
}

/// Records that `cons_addr` (first 20 bytes of sha256 of the ed25519 key) is operated by
/// `operator`.
pub(crate) fn set_operator<S: StateWrite + ?Sized>(
    state: &mut S,
    cons_addr: &[u8],
    operator: &Address,
) {
    state.put_scale(state_key::operator(cons_addr), operator);
}

/// The operator behind a consensus address, if known.
pub fn operator_of<S: StateRead + ?Sized>(
    state: &S,
    cons_addr: &[u8],
) -> TxResult<Option<Address>> {
    state.get_scale(&state_key::operator(cons_addr))
}

/// Records the height and header time of the block being executed. Written every block,
/// so every height has its own state version.
pub(crate) fn set_last_block<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &crate::runtime::BlockContext,
) {
    state.put_scale(
        state_key::LAST_BLOCK.to_vec(),
        &(ctx.height, ctx.time_unix_ms),
    );
}

/// Height and header time (Unix ms) of the last executed block, if any.
pub fn last_block<S: StateRead + ?Sized>(state: &S) -> TxResult<Option<(u64, i64)>> {
    state.get_scale(state_key::LAST_BLOCK)
}

/// The `consensus` module: records each block's height and time first thing at its end.
#[derive(Debug, Clone, Copy, Default)]
pub struct Consensus;

impl crate::module::Module for Consensus {
    fn name(&self) -> &'static str {
        "consensus"
    }

    fn end_block(
        &self,
        state: &mut dyn StateWrite,
        ctx: &crate::module::EndBlockContext<'_>,
    ) -> TxResult<Vec<blyan_proto::event::Event>> {
        set_last_block(state, ctx.block);
        Ok(Vec::new())
    }
}
