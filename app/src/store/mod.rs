//! The node's committed state: a Jellyfish Merkle Tree over sled.
//!
//! One sled tree holds everything under one-byte prefixes, so each commit is a single
//! atomic batch:
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `n` | borsh(NodeKey) | borsh(Node): JMT nodes |
//! | `v` | key hash (32) ‖ version (u64 BE) | `0` deleted / `1` ‖ value: value history |
//! | `k` | state key | value: the latest state, for prefix iteration and fast reads |
//! | `s` | stale-since version (u64 BE) ‖ borsh(NodeKey) | empty: pruning index |
//! | `r` | version (u64 BE) | root hash |
//! | `m` | name | metadata (last height, genesis flag) |
//!
//! The app hash of height `h` is the JMT root at version `h`. Genesis is version 0.

mod jmt_reader;
mod proof;

pub use proof::{verify_proof, StateProof, PROOF_OP_TYPE};

use std::sync::Arc;

use blyan_chain::state::WriteSet;
use blyan_chain::StateRead;
use jmt::storage::TreeUpdateBatch;
use jmt::{KeyHash, Sha256Jmt};

use jmt_reader::SledTreeReader;

const P_NODE: u8 = b'n';
const P_VALUE: u8 = b'v';
const P_LATEST: u8 = b'k';
const P_STALE: u8 = b's';
const P_ROOT: u8 = b'r';
const META_HEIGHT: &[u8] = b"mheight";

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

/// The committed store. Cheap to clone (shares the database).
#[derive(Clone)]
pub struct Store {
    db: Arc<sled::Db>,
    retain_blocks: u64,
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
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(1024 * 1024 * 1024)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Ok(Store {
            db: Arc::new(db),
            retain_blocks: retain_blocks.max(1),
        })
    }

    /// A store in a temporary directory (tests and benchmarks).
    pub fn temporary(retain_blocks: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Ok(Store {
            db: Arc::new(db),
            retain_blocks: retain_blocks.max(1),
        })
    }

    /// The last committed height, or `None` before genesis was committed.
    pub fn last_version(&self) -> Result<Option<u64>, StoreError> {
        Ok(self
            .db
            .get(META_HEIGHT)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    /// The root hash committed at `version`.
    pub fn root_at(&self, version: u64) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self
            .db
            .get(prefixed(P_ROOT, &version.to_be_bytes()))?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok()))
    }

    /// The lowest version still queryable.
    pub fn oldest_retained(&self, latest: u64) -> u64 {
        latest.saturating_sub(self.retain_blocks.saturating_sub(1))
    }

    /// A read view of the latest committed state.
    pub fn latest(&self) -> LatestView {
        LatestView {
            db: self.db.clone(),
        }
    }

    /// Computes the root of `writes` applied on top of the last committed version as
    /// `version`, without writing anything.
    pub fn prepare(&self, version: u64, writes: WriteSet) -> Result<PendingVersion, StoreError> {
        let reader = SledTreeReader { db: &self.db };
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

    /// Persists a prepared version atomically, then prunes tree nodes that fell out of the
    /// retained window.
    ///
    /// The batch is atomic (sled recovers to a prefix of applied batches after a crash)
    /// but not fsynced here: sled flushes in the background every 500 ms. A node killed
    /// before the flush restarts at an older height, reports it in Info, and CometBFT's
    /// handshake replays the missing blocks from its block store, the ABCI recovery
    /// path. Call [`Store::flush`] for an explicit sync point.
    pub fn commit(&self, pending: PendingVersion) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (node_key, node) in pending.batch.node_batch.nodes() {
            batch.insert(
                prefixed(P_NODE, &borsh_bytes(node_key)?),
                borsh_bytes(node)?,
            );
        }
        for ((version, kh), value) in pending.batch.node_batch.values() {
            let mut k = prefixed(P_VALUE, &kh.0);
            k.extend_from_slice(&version.to_be_bytes());
            let v = match value {
                None => vec![0u8],
                Some(v) => prefixed(1, v),
            };
            batch.insert(k, v);
        }
        for stale in &pending.batch.stale_node_index_batch {
            let mut k = prefixed(P_STALE, &stale.stale_since_version.to_be_bytes());
            k.extend_from_slice(&borsh_bytes(&stale.node_key)?);
            batch.insert(k, Vec::new());
        }
        for (k, v) in &pending.writes {
            match v {
                Some(v) => batch.insert(prefixed(P_LATEST, k), v.clone()),
                None => batch.remove(prefixed(P_LATEST, k)),
            }
        }
        batch.insert(
            prefixed(P_ROOT, &pending.version.to_be_bytes()),
            pending.root.to_vec(),
        );
        batch.insert(META_HEIGHT, pending.version.to_be_bytes().to_vec());
        self.db.apply_batch(batch)?;
        self.prune(pending.version)?;
        Ok(())
    }

    /// Forces everything committed so far to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Deletes nodes that became stale at or before the first version outside the window.
    fn prune(&self, latest: u64) -> Result<(), StoreError> {
        let oldest = self.oldest_retained(latest);
        if oldest == 0 {
            return Ok(());
        }
        let end = prefixed(P_STALE, &oldest.to_be_bytes());
        let mut batch = sled::Batch::default();
        for item in self.db.range(vec![P_STALE]..end) {
            let (k, _) = item?;
            if let Some(node_key) = k.get(9..) {
                batch.remove(prefixed(P_NODE, node_key));
            }
            batch.remove(k);
        }
        let stale_roots = self
            .db
            .range(vec![P_ROOT]..prefixed(P_ROOT, &oldest.to_be_bytes()));
        for item in stale_roots {
            batch.remove(item?.0);
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Reads `key` at `version` with a Merkle proof against that version's root.
    pub fn get_with_proof(
        &self,
        key: &[u8],
        version: u64,
    ) -> Result<(Option<Vec<u8>>, StateProof), StoreError> {
        self.check_retained(version)?;
        let reader = SledTreeReader { db: &self.db };
        let tree = Sha256Jmt::new(&reader);
        let (value, proof) = tree
            .get_with_proof(key_hash(key), version)
            .map_err(|e| StoreError::Tree(format!("{e:#}")))?;
        Ok((value, StateProof { proof }))
    }

    /// A read view of the state at `version` (point reads only).
    pub fn at_version(&self, version: u64) -> Result<VersionView, StoreError> {
        self.check_retained(version)?;
        Ok(VersionView {
            db: self.db.clone(),
            version,
        })
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

/// The latest committed state.
#[derive(Clone)]
pub struct LatestView {
    db: Arc<sled::Db>,
}

impl StateRead for LatestView {
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.db.get(prefixed(P_LATEST, key)) {
            Ok(v) => v.map(|v| v.to_vec()),
            Err(e) => halt(e),
        }
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.db
            .scan_prefix(prefixed(P_LATEST, prefix))
            .map(|item| match item {
                Ok((k, v)) => (k.get(1..).unwrap_or_default().to_vec(), v.to_vec()),
                Err(e) => halt(e),
            })
            .collect()
    }
}

/// The state at a past version, read through the JMT value history.
pub struct VersionView {
    db: Arc<sled::Db>,
    version: u64,
}

impl StateRead for VersionView {
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        let reader = SledTreeReader { db: &self.db };
        match jmt::storage::TreeReader::get_value_option(&reader, self.version, key_hash(key)) {
            Ok(v) => v,
            Err(e) => halt(e),
        }
    }

    /// Past versions serve point reads only (the JMT is keyed by hash); queries that
    /// scan a prefix are answered at the latest height.
    fn prefix_raw(&self, _prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        Vec::new()
    }
}
