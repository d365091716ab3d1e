//! The ABCI 2.0 application.
//!
//! CometBFT opens four connections (consensus, mempool, query, snapshot); each is served
//! on its own thread with a clone of [`BlyanApp`]. Shared state:
//! - the committed [`Store`];
//! - the *pending* block between FinalizeBlock and Commit;
//! - the *check state*: a block executor over the committed state that CheckTx applies
//!   mempool transactions to, rebuilt after every commit (CometBFT then re-checks what
//!   remains in its mempool);
//! - the signer cache filled by CheckTx and read by FinalizeBlock.

mod block;
mod check;
mod events;
mod info;
mod proposal;
mod query;
mod snapshot;
mod upgrade;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use blyan_chain::{BlockContext, BlockExecutor};
use blyan_proto::params::TxParams;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{
    RequestCheckTx, RequestFinalizeBlock, RequestInfo, RequestInitChain, RequestPrepareProposal,
    RequestProcessProposal, RequestQuery, ResponseCheckTx, ResponseCommit, ResponseFinalizeBlock,
    ResponseInfo, ResponseInitChain, ResponsePrepareProposal, ResponseProcessProposal,
    ResponseQuery,
};

use crate::metrics::Metrics;
use crate::sigcache::SignerCache;
use crate::store::{LatestView, PendingVersion, Store};

pub use block::{execute_block, verify_all, BlockResult};
pub use upgrade::{startup_refusal, UPGRADE_INFO_FILE};

/// The application shared by CometBFT's connections.
#[derive(Clone)]
pub struct BlyanApp {
    inner: Arc<Shared>,
}

struct Shared {
    store: Store,
    pending: Mutex<Option<PendingBlock>>,
    check: Mutex<Option<BlockExecutor<LatestView>>>,
    signers: SignerCache,
    metrics: Metrics,
    /// Where to write the upgrade-info file when stopping for an upgrade.
    data_dir: Option<PathBuf>,
    /// Whether this process checked the applied upgrades against its handlers.
    applied_checked: AtomicBool,
}

/// A finalized block waiting for Commit.
struct PendingBlock {
    version: PendingVersion,
    base_fee: u128,
    gas_used: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means another connection's thread panicked; the data is still the
    // last consistent value we wrote, so keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BlyanApp {
    /// An application over `store`.
    pub fn new(store: Store, metrics: Metrics, sig_cache_size: usize) -> Self {
        BlyanApp {
            inner: Arc::new(Shared {
                store,
                pending: Mutex::new(None),
                check: Mutex::new(None),
                signers: SignerCache::new(sig_cache_size),
                metrics,
                data_dir: None,
                applied_checked: AtomicBool::new(false),
            }),
        }
    }

    /// Sets the directory of the upgrade-info file written when the node stops for an
    /// upgrade (call before the application is cloned for the connections).
    pub fn with_data_dir(mut self, dir: PathBuf) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.inner) {
            shared.data_dir = Some(dir);
        }
        self
    }

    /// The committed store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The transaction envelope parameters in force (defaults before genesis).
    fn tx_params(&self) -> TxParams {
        blyan_chain::auth::tx_params(&self.inner.store.latest()).unwrap_or_default()
    }

    /// A fresh check state over the committed state.
    fn new_check_state(&self) -> Option<BlockExecutor<LatestView>> {
        let latest = self.inner.store.last_version().ok().flatten()?;
        let view = self.inner.store.latest();
        // The next block's time is unknown; the last block's is the best deterministic guess
        // (it decides day-based quotas the same way the block will, except across midnight).
        let time_unix_ms = blyan_chain::consensus::last_block(&view)
            .ok()
            .flatten()
            .map_or(0, |(_, t)| t);
        let ctx = BlockContext {
            height: latest.saturating_add(1),
            time_unix_ms,
            ..Default::default()
        };
        BlockExecutor::begin_unmetered(view, ctx).ok()
    }
}

impl Application for BlyanApp {
    fn info(&self, request: RequestInfo) -> ResponseInfo {
        info::info(self, request)
    }

    fn init_chain(&self, request: RequestInitChain) -> ResponseInitChain {
        info::init_chain(self, request)
    }

    fn query(&self, request: RequestQuery) -> ResponseQuery {
        query::query(self, request)
    }

    fn check_tx(&self, request: RequestCheckTx) -> ResponseCheckTx {
        check::check_tx(self, request)
    }

    fn commit(&self) -> ResponseCommit {
        block::commit(self)
    }

    fn prepare_proposal(&self, request: RequestPrepareProposal) -> ResponsePrepareProposal {
        proposal::prepare(self, request)
    }

    fn process_proposal(&self, request: RequestProcessProposal) -> ResponseProcessProposal {
        proposal::process(self, request)
    }

    fn finalize_block(&self, request: RequestFinalizeBlock) -> ResponseFinalizeBlock {
        block::finalize(self, request)
    }

    fn list_snapshots(&self) -> tendermint_proto::v0_38::abci::ResponseListSnapshots {
        snapshot::list_snapshots(self)
    }

    fn offer_snapshot(
        &self,
        request: tendermint_proto::v0_38::abci::RequestOfferSnapshot,
    ) -> tendermint_proto::v0_38::abci::ResponseOfferSnapshot {
        snapshot::offer_snapshot(self, request)
    }

    fn load_snapshot_chunk(
        &self,
        request: tendermint_proto::v0_38::abci::RequestLoadSnapshotChunk,
    ) -> tendermint_proto::v0_38::abci::ResponseLoadSnapshotChunk {
        snapshot::load_snapshot_chunk(self, request)
    }

    fn apply_snapshot_chunk(
        &self,
        request: tendermint_proto::v0_38::abci::RequestApplySnapshotChunk,
    ) -> tendermint_proto::v0_38::abci::ResponseApplySnapshotChunk {
        snapshot::apply_snapshot_chunk(self, request)
    }
}
