//! The node's committed state: a Jellyfish Merkle Tree over redb.
//!
//! One ordered keyspace (one redb table, [`RedbBackend`]) holds everything under one-byte
//! prefixes, so each version is written as a single atomic batch:
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `n` | version (u64 BE) ‖ borsh(NibblePath) | borsh(Node): JMT nodes |
//! | `v` | key hash (32) ‖ version (u64 BE) | `0` deleted / `1` ‖ value: value history |
//! | `k` | state key | value: the latest state, for prefix iteration and fast reads |
//! | `s` | stale-since version (u64 BE) | the node keys (as under `n`) that went stale then, each preceded by its length (u8): pruning index of nodes |
//! | `w` | version (u64 BE) | the key hashes (32) written then, each followed by `0` written / `1` deleted: pruning index of the value history (older entries of those keys are superseded since this version) |
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
//! and readers see it in memory until the database has it ([`layers`]). Batches are atomic
//! but not fsynced each block (the writer makes one durable every 500 ms, or every 2 s while
//! versions queue up): a node
//! killed before that restarts at an older height, reports it in Info, and CometBFT's
//! handshake replays the missing blocks from its block store, the ABCI recovery path.
//! [`Store::flush`] is an explicit sync point.
//!
//! History is pruned as the writer goes ([`prune`]): nodes that went stale, value-history
//! entries that were superseded and roots, all before the retained window of
//! `retain_blocks` versions, are deleted in the batch of the version that moves the window.

mod jmt_reader;
mod kv;
mod layers;
mod proof;
mod prune;
mod redb_backend;
pub mod snapshot;
#[cfg(test)]
mod tests;
mod views;

pub use kv::{KvBackend, KvEntry, KvSnapshot, KvWrite};
pub use redb_backend::{RedbBackend, DB_FILE};

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
use layers::{Layer, Shared};

const P_NODE: u8 = b'n';
const P_VALUE: u8 = b'v';
const P_LATEST: u8 = b'k';
const P_STALE: u8 = b's';
const P_ROOT: u8 = b'r';
const P_VSTALE: u8 = b'w';
const META_HEIGHT: &[u8] = b"mheight";
const META_BASE: &[u8] = b"mbase";

/// Storage failures. The node halts on them: they are never caused by a transaction.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The data directory holds the sled database of an older blyand.
    #[error(
        "{0} holds a sled database from an older blyand; move it away and restart \
         (CometBFT replays the blocks) or state-sync a fresh node"
    )]
    OldFormat(std::path::PathBuf),
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

/// The page cache of a node's database.
const CACHE_BYTES: usize = 1024 * 1024 * 1024;

/// The committed store. Cheap to clone (shares the database and the writer).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
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
    /// How many recent versions stay queryable (and provable); at least 1. Older history
    /// (stale tree nodes, superseded values, roots) is pruned as blocks commit.
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

fn read_u64(snap: &dyn KvSnapshot, key: &[u8]) -> Result<Option<u64>, StoreError> {
    Ok(snap
        .get(key)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(u64::from_be_bytes))
}

impl Store {
    /// Opens (or creates) the store in directory `path`, keeping `retain_blocks` versions
    /// of the tree for historical queries and proofs.
    pub fn open(path: &std::path::Path, retain_blocks: u64) -> Result<Self, StoreError> {
        Self::open_with(
            path,
            StoreOptions {
                retain_blocks,
                snapshots: None,
            },
        )
    }

    /// Opens (or creates) the store in directory `path` with `options`.
    pub fn open_with(path: &std::path::Path, options: StoreOptions) -> Result<Self, StoreError> {
        Self::with_backend(Arc::new(RedbBackend::open(path, CACHE_BYTES)?), options)
    }

    /// A store in memory (tests and benchmarks).
    pub fn temporary(retain_blocks: u64) -> Result<Self, StoreError> {
        Self::temporary_with(StoreOptions {
            retain_blocks,
            snapshots: None,
        })
    }

    /// A store in memory with `options` (tests and benchmarks).
    pub fn temporary_with(options: StoreOptions) -> Result<Self, StoreError> {
        Self::with_backend(Arc::new(RedbBackend::in_memory()?), options)
    }

    /// A store over any database (benchmarks compare engines with this).
    pub fn with_backend(db: Arc<dyn KvBackend>, options: StoreOptions) -> Result<Self, StoreError> {
        let retain_blocks = options.retain_blocks.max(1);
        let base = read_u64(&*db.read()?, META_BASE)?.unwrap_or(0);
        let shared = Arc::new(Shared::new(db));
        let exporter = match &options.snapshots {
            Some(cfg) if cfg.interval > 0 => Some(snapshot::spawn_exporter(cfg.clone())?),
            _ => None,
        };
        let writer = layers::spawn_writer(shared.clone(), retain_blocks, exporter)?;
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
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

    fn reader(&self) -> Result<LayeredReader, StoreError> {
        let (layers, db) = self.inner.shared.view()?;
        Ok(LayeredReader::new(db, layers))
    }

    /// The last committed height, or `None` before genesis was committed.
    pub fn last_version(&self) -> Result<Option<u64>, StoreError> {
        let layers = self.inner.shared.layers();
        if let Some(l) = layers.last() {
            return Ok(Some(l.version));
        }
        read_u64(&*self.inner.shared.db_view()?, META_HEIGHT)
    }

    /// The root hash committed at `version`.
    pub fn root_at(&self, version: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let (layers, db) = self.inner.shared.view()?;
        if let Some(l) = layers.iter().find(|l| l.version == version) {
            return Ok(Some(l.root));
        }
        Ok(db
            .get(&prefixed(P_ROOT, &version.to_be_bytes()))?
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok()))
    }

    /// The lowest version still queryable.
    pub fn oldest_retained(&self, latest: u64) -> u64 {
        oldest_retained(self.inner.retain_blocks, latest).max(self.first_version())
    }

    /// A read view of the latest committed state.
    pub fn latest(&self) -> LatestView {
        LatestView::new(self.inner.shared.clone())
    }

    /// Computes the root of `writes` applied on top of the last committed version as
    /// `version`, without writing anything.
    pub fn prepare(&self, version: u64, writes: WriteSet) -> Result<PendingVersion, StoreError> {
        let reader = self.reader()?;
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

    /// Commits a prepared version: visible to readers at once, written to the database by
    /// the writer thread as one atomic batch (waits if two versions are already in flight).
    pub fn commit(&self, pending: PendingVersion) -> Result<(), StoreError> {
        let layer = Arc::new(Layer {
            version: pending.version,
            root: pending.root,
            writes: pending.writes,
            batch: pending.batch,
        });
        self.inner.shared.push(layer.clone());
        let writer = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer
            .send(layer)
            .map_err(|_| StoreError::Tree("the store writer has stopped".into()))
    }

    /// Waits until the writer thread has applied every committed version to the database.
    pub fn wait_written(&self) {
        while !self.inner.shared.layers().is_empty() {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// Waits until every committed version is in the database, then makes it durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.wait_written();
        self.inner.shared.db.flush()
    }

    /// Reads `key` at `version` with a Merkle proof against that version's root.
    pub fn get_with_proof(
        &self,
        key: &[u8],
        version: u64,
    ) -> Result<(Option<Vec<u8>>, StateProof), StoreError> {
        self.check_retained(version)?;
        let reader = self.reader()?;
        let tree = Sha256Jmt::new(&reader);
        let (value, proof) = tree
            .get_with_proof(key_hash(key), version)
            .map_err(|e| StoreError::Tree(format!("{e:#}")))?;
        Ok((value, StateProof { proof }))
    }

    /// A read view of the state at `version` (point reads only).
    pub fn at_version(&self, version: u64) -> Result<VersionView, StoreError> {
        self.check_retained(version)?;
        Ok(VersionView::new(self.reader()?, version))
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
