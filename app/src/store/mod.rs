//! The node's committed state: a Jellyfish Merkle Tree over sled.
//!
//! One sled tree holds everything under one-byte prefixes, so each version is written as a
//! single atomic batch:
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `n` | borsh(NodeKey) | borsh(Node): JMT nodes |
//! | `v` | key hash (32) ‖ version (u64 BE) | `0` deleted / `1` ‖ value: value history |
//! | `k` | state key | value: the latest state, for prefix iteration and fast reads |
//! | `s` | stale-since version (u64 BE) ‖ borsh(NodeKey) | empty: pruning index |
//! | `r` | version (u64 BE) | root hash |
//! | `mheight` | | last written version |
//! | `mbase` | | first version this store holds (absent: 0); a store restored from a state-sync snapshot at `H` starts at `H` |
//!
//! The app hash of height `h` is the JMT root at version `h`; genesis is version 0.
//!
//! Every `snapshot_interval` versions the writer thread also exports the state for state
//! sync ([`snapshot`]); a new node restores from such a snapshot instead of replaying from
//! genesis.
//!
//! Commit is pipelined: [`Store::commit`] hands the version to a writer thread and returns,
//! and readers see it in memory until sled has it ([`layers`]). Batches are atomic but not
//! fsynced each block (sled syncs in the background every 500 ms): a node killed before
//! that restarts at an older height, reports it in Info, and CometBFT's handshake replays
//! the missing blocks from its block store, the ABCI recovery path. [`Store::flush`] is an
//! explicit sync point.

mod jmt_reader;
mod layers;
mod proof;
pub mod snapshot;
mod views;

pub use proof::{verify_proof, StateProof, PROOF_OP_TYPE};
pub use snapshot::{
    ChunkOutcome, ExportReport, OfferOutcome, SnapshotConfig, SnapshotInfo, SnapshotMetadata,
    SNAPSHOT_FORMAT,
};
pub use views::{LatestView, VersionView};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use blyan_chain::state::WriteSet;
use jmt::storage::TreeUpdateBatch;
use jmt::{KeyHash, Sha256Jmt};

use jmt_reader::LayeredReader;
use layers::{Layer, Layers};

const P_NODE: u8 = b'n';
const P_VALUE: u8 = b'v';
const P_LATEST: u8 = b'k';
const P_STALE: u8 = b's';
const P_ROOT: u8 = b'r';
const META_HEIGHT: &[u8] = b"mheight";
const META_BASE: &[u8] = b"mbase";

/// Storage failures. The node halts on them: they are never caused by a transaction.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    /// The JMT failed (missing node, corrupt encoding).
    #[error("merkle tree error: {0}")]
    Tree(String),
    /// The requested version is older than the retained window.
    #[error("height {0} is no longer available (retained window is {1}..={2})")]
    Unavailable(u64, u64, u64),
    /// The requested version is not committed yet.
    #[error("height {0} is not committed yet (latest committed height is {1})")]
    NotYetCommitted(u64, u64),
}

/// Hashes a state key into the JMT key space.
pub fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<sha2::Sha256>(key)
}

fn prefixed(p: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(p);
    k.extend_from_slice(rest);
    k
}

fn borsh_bytes<T: borsh::BorshSerialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    borsh::to_vec(v).map_err(|e| StoreError::Tree(e.to_string()))
}

/// Halts the node on a storage failure: continuing could make this node compute a
/// different state from its peers.
fn halt(e: impl std::fmt::Display) -> ! {
    tracing::error!("storage failure, halting: {e}");
    eprintln!("blyand: storage failure, halting: {e}");
    std::process::exit(70)
}

/// The committed store. Cheap to clone (shares the database and the writer).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<sled::Db>,
    layers: Layers,
    writer: Mutex<SyncSender<Arc<Layer>>>,
    retain_blocks: u64,
    /// The first version this store holds (`mbase`).
    base: AtomicU64,
    snapshots: Option<SnapshotConfig>,
    /// The state-sync restore in progress, between OfferSnapshot and the last chunk.
    restore: Mutex<Option<snapshot::Restore>>,
}

/// How to open a [`Store`].
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// How many recent versions stay queryable (and provable); at least 1.
    pub retain_blocks: u64,
    /// Where and how often to export state-sync snapshots; `None` takes none (and serves
    /// none).
    pub snapshots: Option<SnapshotConfig>,
}

/// A block executed but not yet committed.
pub struct PendingVersion {
    /// Its version (= height).
    pub version: u64,
    /// Its root (= app hash).
    pub root: [u8; 32],
    writes: WriteSet,
    batch: TreeUpdateBatch,
}

impl Store {
    /// Opens (or creates) the store at `path`, keeping `retain_blocks` versions of the
    /// tree for historical queries and proofs.
    pub fn open(path: &std::path::Path, retain_blocks: u64) -> Result<Self, StoreError> {
        Self::open_with(
            path,
            StoreOptions {
                retain_blocks,
                snapshots: None,
            },
        )
    }

    /// Opens (or creates) the store at `path` with `options`.
    pub fn open_with(path: &std::path::Path, options: StoreOptions) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(1024 * 1024 * 1024)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Self::with_db(db, options)
    }

    /// A store in a temporary directory (tests and benchmarks).
    pub fn temporary(retain_blocks: u64) -> Result<Self, StoreError> {
        Self::temporary_with(StoreOptions {
            retain_blocks,
            snapshots: None,
        })
    }

    /// A store in a temporary directory with `options` (tests and benchmarks).
    pub fn temporary_with(options: StoreOptions) -> Result<Self, StoreError> {
        Self::with_db(sled::Config::new().temporary(true).open()?, options)
    }

    fn with_db(db: sled::Db, options: StoreOptions) -> Result<Self, StoreError> {
        let db = Arc::new(db);
        let retain_blocks = options.retain_blocks.max(1);
        let layers = Layers::default();
        let exporter = match &options.snapshots {
            Some(cfg) if cfg.interval > 0 => Some(snapshot::spawn_exporter(cfg.clone())?),
            _ => None,
        };
        let writer = layers::spawn_writer(db.clone(), layers.clone(), retain_blocks, exporter)?;
        let base = db
            .get(META_BASE)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                layers,
                writer: Mutex::new(writer),
                retain_blocks,
                base: AtomicU64::new(base),
                snapshots: options.snapshots,
                restore: Mutex::new(None),
            }),
        })
    }

    /// The first version this store holds: 0, or the height of the snapshot it was
    /// restored from. Versions below it were never here.
    pub fn first_version(&self) -> u64 {
        self.inner.base.load(Ordering::Acquire)
    }

    fn reader(&self) -> LayeredReader {
        LayeredReader::new(self.inner.db.clone(), layers::snapshot(&self.inner.layers))
    }

    /// The last committed height, or `None` before genesis was committed.
    pub fn last_version(&self) -> Result<Option<u64>, StoreError> {
        if let Some(l) = layers::snapshot(&self.inner.layers).last() {
            return Ok(Some(l.version));
        }
        Ok(self
            .inner
            .db
            .get(META_HEIGHT)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    /// The root hash committed at `version`.
    pub fn root_at(&self, version: u64) -> Result<Option<[u8; 32]>, StoreError> {
        if let Some(l) = layers::snapshot(&self.inner.layers)
            .iter()
            .find(|l| l.version == version)
        {
            return Ok(Some(l.root));
        }
        Ok(self
            .inner
            .db
            .get(prefixed(P_ROOT, &version.to_be_bytes()))?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok()))
    }

    /// The lowest version still queryable.
    pub fn oldest_retained(&self, latest: u64) -> u64 {
        oldest_retained(self.inner.retain_blocks, latest).max(self.first_version())
    }

    /// A read view of the latest committed state.
    pub fn latest(&self) -> LatestView {
        LatestView::new(self.inner.db.clone(), self.inner.layers.clone())
    }

    /// Computes the root of `writes` applied on top of the last committed version as
    /// `version`, without writing anything.
    pub fn prepare(&self, version: u64, writes: WriteSet) -> Result<PendingVersion, StoreError> {
        let reader = self.reader();
        let tree = Sha256Jmt::new(&reader);
        let value_set: Vec<(KeyHash, Option<Vec<u8>>)> = writes
            .iter()
            .map(|(k, v)| (key_hash(k), v.clone()))
            .collect();
        let (root, batch) = tree
            .put_value_set(value_set, version)
            .map_err(|e| StoreError::Tree(format!("{e:#}")))?;
        Ok(PendingVersion {
            version,
            root: root.0,
            writes,
            batch,
        })
    }

    /// Commits a prepared version: visible to readers at once, written to sled by the
    /// writer thread as one atomic batch (waits if two versions are already in flight).
    pub fn commit(&self, pending: PendingVersion) -> Result<(), StoreError> {
        let layer = Arc::new(Layer {
            version: pending.version,
            root: pending.root,
            writes: pending.writes,
            batch: pending.batch,
        });
        match self.inner.layers.write() {
            Ok(mut l) => l.push_back(layer.clone()),
            Err(p) => p.into_inner().push_back(layer.clone()),
        }
        let writer = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer
            .send(layer)
            .map_err(|_| StoreError::Tree("the store writer has stopped".into()))
    }

    /// Waits until the writer thread has applied every committed version to sled.
    pub fn wait_written(&self) {
        while !layers::snapshot(&self.inner.layers).is_empty() {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// Waits until every committed version is in sled, then syncs sled to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.wait_written();
        self.inner.db.flush()?;
        Ok(())
    }

    /// Reads `key` at `version` with a Merkle proof against that version's root.
    pub fn get_with_proof(
        &self,
        key: &[u8],
        version: u64,
    ) -> Result<(Option<Vec<u8>>, StateProof), StoreError> {
        self.check_retained(version)?;
        let reader = self.reader();
        let tree = Sha256Jmt::new(&reader);
        let (value, proof) = tree
            .get_with_proof(key_hash(key), version)
            .map_err(|e| StoreError::Tree(format!("{e:#}")))?;
        Ok((value, StateProof { proof }))
    }

    /// A read view of the state at `version` (point reads only).
    pub fn at_version(&self, version: u64) -> Result<VersionView, StoreError> {
        self.check_retained(version)?;
        Ok(VersionView::new(self.reader(), version))
    }

    fn check_retained(&self, version: u64) -> Result<(), StoreError> {
        let latest = self.last_version()?.unwrap_or(0);
        let oldest = self.oldest_retained(latest);
        if version > latest {
            return Err(StoreError::NotYetCommitted(version, latest));
        }
        if version < oldest {
            return Err(StoreError::Unavailable(version, oldest, latest));
        }
        Ok(())
    }
}

fn oldest_retained(retain_blocks: u64, latest: u64) -> u64 {
    latest.saturating_sub(retain_blocks.saturating_sub(1))
}

/// Deletes nodes that became stale before the first retained version, and old roots.
fn prune(db: &sled::Db, retain_blocks: u64, latest: u64) -> Result<(), StoreError> {
    let oldest = oldest_retained(retain_blocks, latest);
    if oldest == 0 {
        return Ok(());
    }
    let end = prefixed(P_STALE, &oldest.to_be_bytes());
    let mut batch = sled::Batch::default();
    for item in db.range(vec![P_STALE]..end) {
        let (k, _) = item?;
        if let Some(node_key) = k.get(9..) {
            batch.remove(prefixed(P_NODE, node_key));
        }
        batch.remove(k);
    }
    for item in db.range(vec![P_ROOT]..prefixed(P_ROOT, &oldest.to_be_bytes())) {
        batch.remove(item?.0);
    }
    db.apply_batch(batch)?;
    Ok(())
}
