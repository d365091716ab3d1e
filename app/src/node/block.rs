//! FinalizeBlock and Commit.

use std::time::Instant;

use blyan_chain::runtime::Mode;
use blyan_chain::state::WriteSet;
use blyan_chain::{BlockContext, BlockExecutor, StateRead, TxError, TxOutcome, VerifiedTx};
use blyan_proto::event::Event;
use blyan_proto::params::TxParams;
use blyan_proto::{Address, TxHash};
use prost::bytes::Bytes;
use rayon::prelude::*;
use tendermint_proto::v0_38::abci::{
    ExecTxResult, RequestFinalizeBlock, ResponseCommit, ResponseFinalizeBlock,
};

use super::{events::to_abci, lock, BlyanApp, PendingBlock};
use crate::sigcache::SignerCache;

/// Decodes and verifies every transaction of a block, spread over all cores; signers
/// already recovered by this node's CheckTx come from the cache.
pub fn verify_all(
    signers: &SignerCache,
    txs: &[Bytes],
    params: &TxParams,
) -> Vec<Result<VerifiedTx, TxError>> {
    txs.par_iter()
        .map(|bytes| match signers.get(&TxHash::of(bytes)) {
            Some(signer) => VerifiedTx::from_bytes_with_signer(bytes, params, signer),
            None => VerifiedTx::from_bytes(bytes, params),
        })
        .collect()
}

/// The outcome of executing a block.
pub struct BlockResult {
    /// Per-transaction outcomes, in block order.
    pub outcomes: Vec<TxOutcome>,
    /// Begin- and end-block events.
    pub events: Vec<Event>,
    /// The block's writes.
    pub writes: WriteSet,
    /// Gas used.
    pub gas_used: u64,
    /// Voting-power changes for CometBFT.
    pub validator_updates: Vec<blyan_chain::staking::ValidatorUpdate>,
}

/// Executes a block over `base` with this binary's upgrade handlers. An error is a
/// broken invariant (or a due upgrade plan this binary cannot apply).
pub fn execute_block<S: StateRead>(
    base: S,
    ctx: BlockContext,
    txs: &[Result<VerifiedTx, TxError>],
) -> Result<BlockResult, String> {
    let mut ex = BlockExecutor::begin_block_upgrading(base, ctx, crate::upgrades::HANDLERS)
        .map_err(|e| e.log)?;
    let outcomes = txs
        .iter()
        .map(|t| ex.execute(t.as_ref().map_err(TxError::clone), Mode::Deliver))
        .collect();
    let gas_used = ex.gas_used();
    let end = ex.end().map_err(|e| e.to_string())?;
    Ok(BlockResult {
        outcomes,
        events: end.events,
        writes: end.writes,
        gas_used,
        validator_updates: end.validator_updates,
    })
}

/// Unix milliseconds of a protobuf timestamp.
pub(super) fn unix_ms(t: Option<&tendermint_proto::google::protobuf::Timestamp>) -> i64 {
    t.map(|t| {
        t.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(t.nanos / 1_000_000))
    })
    .unwrap_or(0)
}

/// Who signed the previous block (absent votes count as missed; nil votes as signed,
/// since the validator was online).
fn last_commit(info: Option<&tendermint_proto::v0_38::abci::CommitInfo>) -> Vec<([u8; 20], bool)> {
    use tendermint_proto::v0_38::types::BlockIdFlag;
    info.map(|c| {
        c.votes
            .iter()
            .filter_map(|v| {
                let addr: [u8; 20] = v.validator.as_ref()?.address.as_ref().try_into().ok()?;
                Some((addr, v.block_id_flag != BlockIdFlag::Absent as i32))
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Evidence CometBFT delivers with the block.
fn misbehavior(
    list: &[tendermint_proto::v0_38::abci::Misbehavior],
) -> Vec<blyan_chain::staking::Misbehavior> {
    use blyan_chain::staking::{Infraction, Misbehavior};
    use tendermint_proto::v0_38::abci::MisbehaviorType;
    list.iter()
        .filter_map(|m| {
            let kind = match MisbehaviorType::try_from(m.r#type).ok()? {
                MisbehaviorType::DuplicateVote => Infraction::DuplicateVote,
                MisbehaviorType::LightClientAttack => Infraction::LightClientAttack,
                MisbehaviorType::Unknown => return None,
            };
            let addr: [u8; 20] = m.validator.as_ref()?.address.as_ref().try_into().ok()?;
            Some(Misbehavior {
                kind,
                consensus_address: addr,
                height: u64::try_from(m.height).unwrap_or(0),
            })
        })
        .collect()
}

/// The operator account behind a proposer's consensus address.
pub(super) fn proposer_operator(app: &BlyanApp, cons_addr: &[u8]) -> Option<Address> {
    blyan_chain::consensus::operator_of(&app.store().latest(), cons_addr)
        .ok()
        .flatten()
}

pub(super) fn finalize(app: &BlyanApp, req: RequestFinalizeBlock) -> ResponseFinalizeBlock {
    let started = Instant::now();
    let height = u64::try_from(req.height).unwrap_or(0);
    match super::upgrade::refusal(app, height) {
        Ok(None) => {}
        Ok(Some(r)) => super::upgrade::stop(app, &r),
        Err(e) => halt(format!(
            "block {height}: reading the upgrade plan failed: {e}"
        )),
    }
    let params = app.tx_params();
    let verified = verify_all(&app.inner.signers, &req.txs, &params);
    let ctx = BlockContext {
        height,
        time_unix_ms: unix_ms(req.time.as_ref()),
        proposer: proposer_operator(app, &req.proposer_address),
        last_commit: last_commit(req.decided_last_commit.as_ref()),
        misbehavior: misbehavior(&req.misbehavior),
    };
    let result = match execute_block(app.store().latest(), ctx, &verified) {
        Ok(r) => r,
        Err(e) => halt(format!(
            "block {height}: invariant broken, refusing to commit: {e}"
        )),
    };
    let pending = match app.store().prepare(height, result.writes) {
        Ok(p) => p,
        Err(e) => halt(format!(
            "block {height}: computing the state root failed: {e}"
        )),
    };
    let app_hash = pending.root;
    let consensus_param_updates = super::upgrade::consensus_update(&result.events);
    let base_fee = blyan_chain::fees::base_fee(&app.store().latest()).unwrap_or(0);
    let m = app.metrics();
    let tx_results = result
        .outcomes
        .into_iter()
        .map(|o| {
            m.block_txs.with_label_values(&[&o.code.to_string()]).inc();
            ExecTxResult {
                code: o.code,
                log: o.log,
                gas_wanted: i64::try_from(o.gas_wanted).unwrap_or(i64::MAX),
                gas_used: i64::try_from(o.gas_used).unwrap_or(i64::MAX),
                events: to_abci(&o.events),
                codespace: if o.code == 0 {
                    String::new()
                } else {
                    "blyan".into()
                },
                ..Default::default()
            }
        })
        .collect();
    *lock(&app.inner.pending) = Some(PendingBlock {
        version: pending,
        base_fee,
        gas_used: result.gas_used,
    });
    m.finalize_seconds.observe(started.elapsed().as_secs_f64());
    ResponseFinalizeBlock {
        events: to_abci(&result.events),
        tx_results,
        validator_updates: result
            .validator_updates
            .iter()
            .map(crate::genesis_bridge::to_abci_update)
            .collect(),
        consensus_param_updates,
        app_hash: app_hash.to_vec().into(),
    }
}

pub(super) fn commit(app: &BlyanApp) -> ResponseCommit {
    let started = Instant::now();
    let Some(pending) = lock(&app.inner.pending).take() else {
        tracing::warn!("Commit without a finalized block");
        return ResponseCommit::default();
    };
    let height = pending.version.version;
    if let Err(e) = app.store().commit(pending.version) {
        halt(format!("block {height}: commit failed: {e}"));
    }
    *lock(&app.inner.check) = app.new_check_state();
    let m = app.metrics();
    m.height.set(i64::try_from(height).unwrap_or(i64::MAX));
    m.block_gas
        .set(i64::try_from(pending.gas_used).unwrap_or(i64::MAX));
    let next_fee = blyan_chain::fees::base_fee(&app.store().latest()).unwrap_or(pending.base_fee);
    m.base_fee.set(i64::try_from(next_fee).unwrap_or(i64::MAX));
    m.commit_seconds.observe(started.elapsed().as_secs_f64());
    ResponseCommit { retain_height: 0 }
}

/// Stops the node: continuing would risk committing a state the network disagrees with.
fn halt(msg: String) -> ! {
    tracing::error!("{msg}");
    eprintln!("blyand: {msg}");
    std::process::exit(70)
}
