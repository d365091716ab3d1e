//! Executing transactions and blocks.
//!
//! A transaction runs in two steps over overlays of the block state:
//! 1. *ante*: chain id, nonce, fee pricing and payment; failure leaves no write and makes
//!    the transaction invalid for inclusion in a block;
//! 2. *messages*: all or nothing; failure drops their writes but the fee stays charged and
//!    the nonce stays advanced.

use blyan_proto::event::Event;
use blyan_proto::params::{FeeParams, TxParams};
use blyan_proto::{Address, ErrorCode, Msg, SignedTx, TxHash};

use crate::error::{InvariantError, TxError, TxResult};
use crate::fees::FeeCharge;
use crate::module::{BlockView, DynWrite, EndBlockContext};
use crate::modules::MODULES;
use crate::state::{Overlay, StateRead, StateWrite, WriteSet};

/// A decoded transaction whose signer has been recovered.
#[derive(Debug, Clone)]
pub struct VerifiedTx {
    /// The transaction.
    pub signed: SignedTx,
    /// The recovered signer.
    pub signer: Address,
    /// Length of its wire encoding.
    pub len: usize,
    /// SHA-256 of its wire encoding.
    pub hash: TxHash,
}

impl VerifiedTx {
    /// Decodes, runs the stateless checks and recovers the signer.
    pub fn from_bytes(bytes: &[u8], params: &TxParams) -> TxResult<Self> {
        let signed = crate::txcheck::decode_and_check(bytes, params)?;
        let signer = signed
            .recover_signer()
            .map_err(|e| TxError::new(ErrorCode::BadSignature, e.to_string()))?;
        Ok(VerifiedTx {
            signed,
            signer,
            len: bytes.len(),
            hash: TxHash::of(bytes),
        })
    }

    /// Decodes and checks, taking the signer from a trusted cache (a signature this node
    /// already recovered in CheckTx for the same transaction hash).
    pub fn from_bytes_with_signer(
        bytes: &[u8],
        params: &TxParams,
        signer: Address,
    ) -> TxResult<Self> {
        let signed = crate::txcheck::decode_and_check(bytes, params)?;
        Ok(VerifiedTx {
            signed,
            signer,
            len: bytes.len(),
            hash: TxHash::of(bytes),
        })
    }
}

/// What the block header says about the block being executed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockContext {
    /// Block height.
    pub height: u64,
    /// Header time, Unix milliseconds.
    pub time_unix_ms: i64,
    /// The proposer's operator account, if known.
    pub proposer: Option<Address>,
    /// Who signed the previous block: `(consensus address, signed)` per validator.
    pub last_commit: Vec<([u8; 20], bool)>,
    /// Evidence of misbehavior CometBFT delivers with the block.
    pub misbehavior: Vec<crate::staking::Misbehavior>,
}

/// What a message sees of its transaction and block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgContext<'a> {
    /// The recovered signer.
    pub signer: Address,
    /// The transaction's nonce.
    pub tx_nonce: u64,
    /// The chain id.
    pub chain_id: &'a str,
    /// Block height.
    pub height: u64,
    /// Header time, Unix milliseconds.
    pub time_unix_ms: i64,
}

/// The result of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutcome {
    /// 0 on success, else an [`ErrorCode`] number.
    pub code: u32,
    /// Readable log.
    pub log: String,
    /// The transaction's gas limit.
    pub gas_wanted: u64,
    /// Gas charged.
    pub gas_used: u64,
    /// Events in order.
    pub events: Vec<Event>,
    /// True when the transaction must not be in a block (failed before paying its fee).
    pub invalid: bool,
}

impl TxOutcome {
    fn rejected(err: TxError, gas_wanted: u64) -> Self {
        TxOutcome {
            code: err.code.as_u32(),
            log: err.log,
            gas_wanted,
            gas_used: 0,
            events: Vec::new(),
            invalid: true,
        }
    }
}

/// How strictly to treat a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// CheckTx: the signer must also cover the amounts it sends, and any message failure
    /// rejects the transaction.
    Check,
    /// Block execution: a message failure keeps the fee and nonce.
    Deliver,
}

/// Executes the transactions of one block over an overlay of the committed state.
pub struct BlockExecutor<S> {
    overlay: Overlay<S>,
    ctx: BlockContext,
    chain_id: String,
    fee_params: FeeParams,
    base_fee: u128,
    gas_used: u64,
    metered: bool,
    begin_events: Vec<Event>,
}

impl<S: StateRead> BlockExecutor<S> {
    /// Starts a mempool check state: like a block, but without the block gas limit, since
    /// a mempool may hold more than one block's worth of transactions.
    pub fn begin_unmetered(base: S, ctx: BlockContext) -> TxResult<Self> {
        let mut ex = Self::begin(base, ctx)?;
        ex.metered = false;
        Ok(ex)
    }

    /// Starts a block (runs the begin-block hooks: none yet).
    pub fn begin(base: S, ctx: BlockContext) -> TxResult<Self> {
        let chain_id = crate::auth::chain_id(&base)?;
        let fee_params = crate::fees::params(&base)?;
        let base_fee = crate::fees::base_fee(&base)?;
        Ok(BlockExecutor {
            overlay: Overlay::new(base),
            ctx,
            chain_id,
            fee_params,
            base_fee,
            gas_used: 0,
            metered: true,
            begin_events: Vec::new(),
        })
    }

    /// Starts a block for execution: runs the begin-block hooks (evidence, liveness,
    /// rewards). Proposal checks and the mempool use [`Self::begin`], which skips them
    /// (they move only module accounts, never what a transaction's validity depends on).
    /// A binary without upgrade handlers: at the height of a pending upgrade plan this
    /// fails with [`ErrorCode::UpgradeNeeded`].
    pub fn begin_block(base: S, ctx: BlockContext) -> TxResult<Self> {
        Self::begin_block_upgrading(base, ctx, &[])
    }

    /// [`Self::begin_block`] for a binary carrying `handlers`: first applies the upgrade
    /// plan due at this height, if any (see [`crate::upgrade`]), so the migration runs
    /// before every other hook and transaction of the block; the block's fee parameters
    /// and base fee are read after it.
    pub fn begin_block_upgrading(
        base: S,
        ctx: BlockContext,
        handlers: &[crate::upgrade::UpgradeHandler],
    ) -> TxResult<Self> {
        let mut ex = Self::begin(base, ctx)?;
        let mut events = crate::upgrade::begin_block(&mut ex.overlay, ex.ctx.height, handlers)?;
        if !events.is_empty() {
            ex.chain_id = crate::auth::chain_id(&ex.overlay)?;
            ex.fee_params = crate::fees::params(&ex.overlay)?;
            ex.base_fee = crate::fees::base_fee(&ex.overlay)?;
        }
        for m in MODULES {
            events.extend(m.begin_block(&mut ex.overlay, &ex.ctx)?);
        }
        ex.begin_events = events;
        Ok(ex)
    }

    /// Events of the begin-block hooks.
    pub fn begin_events(&self) -> &[Event] {
        &self.begin_events
    }

    /// Gas used so far in the block.
    pub fn gas_used(&self) -> u64 {
        self.gas_used
    }

    /// The base fee in force for this block.
    pub fn base_fee(&self) -> u128 {
        self.base_fee
    }

    /// The block state so far (read-only).
    pub fn state(&self) -> &Overlay<S> {
        &self.overlay
    }

    /// Executes one transaction (or records why it could not be decoded or verified).
    pub fn execute(&mut self, tx: Result<&VerifiedTx, TxError>, mode: Mode) -> TxOutcome {
        let vtx = match tx {
            Ok(v) => v,
            Err(e) => return TxOutcome::rejected(e, 0),
        };
        let gas_wanted = vtx.signed.tx.fee.gas_limit;
        let (ante_writes, charge, mut events) = match self.ante(vtx, mode) {
            Ok(x) => x,
            Err(e) => return TxOutcome::rejected(e, gas_wanted),
        };
        let msg_result = {
            let mut state = Overlay::new(&self.overlay);
            state.absorb(ante_writes.clone());
            let ctx = MsgContext {
                signer: vtx.signer,
                tx_nonce: vtx.signed.tx.nonce,
                chain_id: &self.chain_id,
                height: self.ctx.height,
                time_unix_ms: self.ctx.time_unix_ms,
            };
            run_msgs(&mut state, &ctx, &vtx.signed.tx.msgs).map(|ev| (state.into_writes(), ev))
        };
        match (msg_result, mode) {
            (Ok((writes, ev)), _) => {
                self.overlay.absorb(writes);
                self.gas_used = self.gas_used.saturating_add(charge.gas_used);
                events.extend(ev);
                TxOutcome {
                    code: 0,
                    log: String::new(),
                    gas_wanted,
                    gas_used: charge.gas_used,
                    events,
                    invalid: false,
                }
            }
            (Err(e), Mode::Check) => TxOutcome::rejected(e, gas_wanted),
            (Err(e), Mode::Deliver) => {
                self.overlay.absorb(ante_writes);
                self.gas_used = self.gas_used.saturating_add(charge.gas_used);
                TxOutcome {
                    code: e.code.as_u32(),
                    log: e.log,
                    gas_wanted,
                    gas_used: charge.gas_used,
                    events,
                    invalid: false,
                }
            }
        }
    }

    /// Stateful checks and the fee payment, as a write set not yet applied.
    fn ante(&self, vtx: &VerifiedTx, mode: Mode) -> TxResult<(WriteSet, FeeCharge, Vec<Event>)> {
        let tx = &vtx.signed.tx;
        if tx.chain_id != self.chain_id {
            return Err(TxError::new(
                ErrorCode::WrongChainId,
                format!(
                    "signed for chain {:?}, this is {:?}",
                    tx.chain_id, self.chain_id
                ),
            ));
        }
        let charge = crate::fees::price(&self.fee_params, self.base_fee, tx, vtx.len)?;
        let room = self
            .fee_params
            .block_gas_limit
            .saturating_sub(self.gas_used);
        if self.metered && charge.gas_used > room {
            return Err(TxError::new(
                ErrorCode::BlockGasExceeded,
                format!(
                    "block has {room} gas left, transaction needs {}",
                    charge.gas_used
                ),
            ));
        }
        let mut state = Overlay::new(&self.overlay);
        crate::auth::check_nonce(&state, &vtx.signer, tx.nonce)?;
        let balance = crate::bank::balance(&state, &vtx.signer)?;
        let fee = charge.total();
        let needed = match mode {
            Mode::Check => fee
                .checked_add(crate::txcheck::total_outflow(tx)?)
                .ok_or_else(|| {
                    TxError::new(
                        ErrorCode::AmountOverflow,
                        "fee plus amounts overflow 128 bits",
                    )
                })?,
            Mode::Deliver => fee,
        };
        if balance < needed {
            return Err(TxError::new(
                ErrorCode::InsufficientFunds,
                format!(
                    "{} has {balance}, needs {needed} (fee {fee} at base fee {})",
                    vtx.signer, self.base_fee
                ),
            ));
        }
        let fee_event = crate::fees::charge(
            &mut state,
            &vtx.signer,
            tx.nonce,
            &charge,
            self.ctx.proposer.as_ref(),
        )?;
        crate::auth::bump_nonce(&mut state, &vtx.signer)?;
        let events = vec![fee_event];
        Ok((state.into_writes(), charge, events))
    }

    /// Runs the end-block hooks and the invariants; returns the block's writes, its
    /// begin- and end-block events and the validator-set changes for CometBFT. An error
    /// means a broken invariant: the node must halt.
    pub fn end(mut self) -> Result<BlockEnd, InvariantError> {
        let mut events = std::mem::take(&mut self.begin_events);
        let end_ctx = EndBlockContext {
            block: &self.ctx,
            gas_used: self.gas_used,
        };
        for m in MODULES {
            events.extend(m.end_block(&mut self.overlay, &end_ctx)?);
        }
        let mut validator_updates = Vec::new();
        for m in MODULES {
            validator_updates.extend(m.validator_updates(&mut self.overlay)?);
        }
        let view = BlockView {
            base: self.overlay.base(),
            writes: self.overlay.writes(),
            after: &self.overlay,
        };
        for m in MODULES {
            m.check_invariants(&view)?;
        }
        let (_, writes) = self.overlay.into_parts();
        Ok(BlockEnd {
            writes,
            events,
            validator_updates,
        })
    }
}

/// What a block leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEnd {
    /// The block's writes.
    pub writes: WriteSet,
    /// Begin- and end-block events, in order.
    pub events: Vec<Event>,
    /// Voting-power changes for CometBFT.
    pub validator_updates: Vec<crate::staking::ValidatorUpdate>,
}

/// Executes messages in order, all or nothing (the caller drops the overlay on error).
fn run_msgs<W: StateWrite + ?Sized>(
    state: &mut W,
    ctx: &MsgContext<'_>,
    msgs: &[Msg],
) -> TxResult<Vec<Event>> {
    let mut state = DynWrite(state);
    let mut events = Vec::new();
    for (i, msg) in msgs.iter().enumerate() {
        let ev = MODULES
            .iter()
            .find_map(|m| m.execute(&mut state, ctx, msg))
            .unwrap_or_else(|| {
                Err(TxError::new(
                    ErrorCode::Malformed,
                    "no module handles this message",
                ))
            })
            .map_err(|e| {
                TxError::new(e.code, format!("message {i} ({}): {}", msg.kind(), e.log))
            })?;
        events.extend(ev);
    }
    Ok(events)
}
