//! Committed versions not yet in the database, and the thread that writes them.
//!
//! Commit hands a version to the writer and returns; until the writer has applied its
//! batch, readers find the version's data here. A layer leaves the list only after its
//! batch is applied, so every read that looks at the layers first and the database second
//! sees each committed version in one or the other ([`Shared::view`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use blyan_chain::state::WriteSet;
use jmt::storage::{Node, NodeKey, TreeUpdateBatch};
use jmt::KeyHash;

use super::kv::{KvBackend, KvSnapshot, KvWrite};
use super::snapshot::Exporter;
use super::{
    borsh_bytes, halt, prefixed, StoreError, META_HEIGHT, P_LATEST, P_NODE, P_ROOT, P_STALE,
    P_VALUE, P_VSTALE,
};

/// The writer makes a batch durable (fsync) when the last durable one is this old and no
/// other version waits to be written...
const SYNC_EVERY: Duration = Duration::from_millis(500);
/// ... or, while versions keep waiting (the node is catching up or saturated), when it is
/// this old: a crash loses at most this much, which CometBFT replays.
const SYNC_AT_LEAST_EVERY: Duration = Duration::from_secs(2);

/// A JMT node key as stored (after the `n` prefix): the version big-endian, then the
/// borsh nibble path. Version first (borsh would write it little-endian) makes each block's
/// new nodes one run of keys at the end of the table instead of inserts all over it.
pub(super) fn node_key_bytes(node_key: &NodeKey) -> Result<Vec<u8>, StoreError> {
    let mut b = borsh_bytes(node_key)?;
    match b.get_mut(..8) {
        Some(version) => version.reverse(),
        None => return Err(StoreError::Tree("node key encodes short".into())),
    }
    Ok(b)
}

/// The database entry of a JMT node.
pub(super) fn node_entry(
    node_key: &NodeKey,
    node: &Node,
) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    Ok((
        prefixed(P_NODE, &node_key_bytes(node_key)?),
        borsh_bytes(node)?,
    ))
}

/// The database entry of a value in the history: `v` ‖ key hash ‖ version → `0` (deleted)
/// or `1` ‖ value.
pub(super) fn value_entry(version: u64, kh: &KeyHash, value: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let mut k = prefixed(P_VALUE, &kh.0);
    k.extend_from_slice(&version.to_be_bytes());
    let v = match value {
        None => vec![0u8],
        Some(v) => prefixed(1, v),
    };
    (k, v)
}

/// Appends a key hash written at some version to that version's pruning-index entry of
/// values (`w` ‖ version): the key hash, then `0` (written) or `1` (deleted).
fn push_written(list: &mut Vec<u8>, kh: &KeyHash, deleted: bool) {
    list.extend_from_slice(&kh.0);
    list.push(u8::from(deleted));
}

/// Appends a node key (as stored under `n`) to a pruning-index entry of nodes
/// (`s` ‖ stale-since version), preceded by its length.
fn push_stale(list: &mut Vec<u8>, node_key: &NodeKey) -> Result<(), StoreError> {
    let bytes = node_key_bytes(node_key)?;
    let len = u8::try_from(bytes.len())
        .map_err(|_| StoreError::Tree(format!("node key of {} bytes", bytes.len())))?;
    list.push(len);
    list.extend_from_slice(&bytes);
    Ok(())
}

/// One committed version held in memory until written.
pub(super) struct Layer {
    pub(super) version: u64,
    pub(super) root: [u8; 32],
    pub(super) writes: WriteSet,
    pub(super) batch: TreeUpdateBatch,
}

impl Layer {
    /// A JMT node created by this version.
    pub(super) fn node(&self, key: &NodeKey) -> Option<&Node> {
        self.batch.node_batch.get_node(key)
    }

    /// This version's value for a key hash: `Some(None)` when it deleted the key.
    pub(super) fn value(&self, kh: KeyHash) -> Option<Option<Vec<u8>>> {
        self.batch
            .node_batch
            .values()
            .get(&(self.version, kh))
            .cloned()
    }

    /// Appends the database writes that persist this version.
    fn append_writes(&self, out: &mut Vec<KvWrite>) -> Result<(), StoreError> {
        let nb = &self.batch.node_batch;
        out.reserve(nb.nodes().len() + nb.values().len() + self.writes.len() + 8);
        for (node_key, node) in nb.nodes() {
            let (k, v) = node_entry(node_key, node)?;
            out.push((k, Some(v)));
        }
        // The pruning indexes hold one entry per version (a list), not one per key: a
        // tenth of the inserts.
        let mut written: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for ((version, kh), value) in nb.values() {
            let (k, v) = value_entry(*version, kh, value.as_deref());
            out.push((k, Some(v)));
            push_written(written.entry(*version).or_default(), kh, value.is_none());
        }
        let mut stale: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for s in &self.batch.stale_node_index_batch {
            push_stale(stale.entry(s.stale_since_version).or_default(), &s.node_key)?;
        }
        for (p, lists) in [(P_VSTALE, written), (P_STALE, stale)] {
            for (version, list) in lists {
                out.push((prefixed(p, &version.to_be_bytes()), Some(list)));
            }
        }
        for (k, v) in &self.writes {
            out.push((prefixed(P_LATEST, k), v.clone()));
        }
        out.push((
            prefixed(P_ROOT, &self.version.to_be_bytes()),
            Some(self.root.to_vec()),
        ));
        out.push((
            META_HEIGHT.to_vec(),
            Some(self.version.to_be_bytes().to_vec()),
        ));
        Ok(())
    }
}

/// The unwritten layers and a database view taken after them.
pub(super) type View = (Vec<Arc<Layer>>, Arc<dyn KvSnapshot>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The database and the unwritten layers, shared by the store, its views and the writer.
pub(super) struct Shared {
    pub(super) db: Arc<dyn KvBackend>,
    /// Committed layers, oldest first.
    layers: RwLock<VecDeque<Arc<Layer>>>,
    /// Counts batches applied (and wipes), so a cached read view is known to be current.
    written: AtomicU64,
    /// A read view of the database, shared by reads until the next batch lands (opening a
    /// read transaction per point read would cost more than the read).
    cache: Mutex<Option<(u64, Arc<dyn KvSnapshot>)>>,
}

impl Shared {
    pub(super) fn new(db: Arc<dyn KvBackend>) -> Self {
        Shared {
            db,
            layers: RwLock::new(VecDeque::new()),
            written: AtomicU64::new(0),
            cache: Mutex::new(None),
        }
    }

    /// A snapshot of the layers for one read. Take it before [`Self::db_view`].
    pub(super) fn layers(&self) -> Vec<Arc<Layer>> {
        match self.layers.read() {
            Ok(l) => l.iter().cloned().collect(),
            Err(p) => p.into_inner().iter().cloned().collect(),
        }
    }

    /// A read view of the database holding at least every version that had left the
    /// layers when the caller took its snapshot of them.
    pub(super) fn db_view(&self) -> Result<Arc<dyn KvSnapshot>, StoreError> {
        let generation = self.written.load(Ordering::Acquire);
        let mut cache = lock(&self.cache);
        if let Some((g, view)) = cache.as_ref() {
            if *g == generation {
                return Ok(view.clone());
            }
        }
        let view: Arc<dyn KvSnapshot> = Arc::from(self.db.read()?);
        *cache = Some((generation, view.clone()));
        Ok(view)
    }

    /// The layers, then the database: a consistent view of everything committed.
    pub(super) fn view(&self) -> Result<View, StoreError> {
        let layers = self.layers();
        Ok((layers, self.db_view()?))
    }

    /// Whether a version other than the one being written waits for the writer.
    fn backlog(&self) -> bool {
        match self.layers.read() {
            Ok(l) => l.len() > 1,
            Err(p) => p.into_inner().len() > 1,
        }
    }

    /// Adds a committed layer.
    pub(super) fn push(&self, layer: Arc<Layer>) {
        match self.layers.write() {
            Ok(mut l) => l.push_back(layer),
            Err(p) => p.into_inner().push_back(layer),
        }
    }

    /// Records that the database changed: cached views are stale (and are dropped, so an
    /// idle node pins no old pages).
    pub(super) fn changed(&self) {
        self.written.fetch_add(1, Ordering::Release);
        *lock(&self.cache) = None;
    }

    /// Removes the oldest layer once it is written.
    fn written(&self, version: u64) {
        let mut l = match self.layers.write() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        if l.front().map(|f| f.version) == Some(version) {
            l.pop_front();
        }
    }
}

/// Starts the writer thread; it stops when every sender is dropped. With an `exporter`,
/// the thread also hands every snapshot version's state to it, right after writing that
/// version (the one moment the database's flat state is exactly that version).
pub(super) fn spawn_writer(
    shared: Arc<Shared>,
    retain_blocks: u64,
    exporter: Option<Exporter>,
) -> Result<SyncSender<Arc<Layer>>, StoreError> {
    // Two versions in flight at most: Commit waits rather than letting memory grow.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<Layer>>(2);
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || write_loop(&shared, retain_blocks, exporter.as_ref(), &rx))
        .map_err(|e| StoreError::Tree(format!("cannot start the store writer: {e}")))?;
    Ok(tx)
}

fn write_loop(
    shared: &Shared,
    retain_blocks: u64,
    exporter: Option<&Exporter>,
    rx: &Receiver<Arc<Layer>>,
) {
    let mut last_durable = Instant::now();
    while let Ok(layer) = rx.recv() {
        let since = last_durable.elapsed();
        let durable = since >= SYNC_AT_LEAST_EVERY || (since >= SYNC_EVERY && !shared.backlog());
        let result = shared
            .db
            .read()
            .and_then(|snap| super::prune::deletes(&*snap, retain_blocks, layer.version))
            .and_then(|mut writes| {
                layer.append_writes(&mut writes)?;
                shared.db.apply(writes, durable)
            });
        if let Err(e) = result {
            halt(format!("writing version {}: {e}", layer.version));
        }
        if durable {
            last_durable = Instant::now();
        }
        shared.changed();
        if let Some(exporter) = exporter {
            // Nothing else writes the database, and the next version waits in the channel:
            // its flat state is exactly this version now.
            exporter.after_write(&*shared.db, layer.version, layer.root);
        }
        shared.written(layer.version);
    }
}
