//! Committed versions not yet written to sled, and the thread that writes them.
//!
//! Commit hands a version to the writer and returns; until the writer has applied its
//! batch, readers find the version's data here. A layer leaves the list only after its
//! batch is applied, so every read sees each committed version either here or in sled.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, RwLock};

use blyan_chain::state::WriteSet;
use jmt::storage::{Node, NodeKey, TreeUpdateBatch};
use jmt::KeyHash;

use super::snapshot::Exporter;
use super::{
    borsh_bytes, halt, prefixed, StoreError, META_HEIGHT, P_LATEST, P_NODE, P_ROOT, P_STALE,
    P_VALUE,
};

/// The sled entry of a JMT node.
pub(super) fn node_entry(
    node_key: &NodeKey,
    node: &Node,
) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    Ok((
        prefixed(P_NODE, &borsh_bytes(node_key)?),
        borsh_bytes(node)?,
    ))
}

/// The sled entry of a value in the history: `v` ‖ key hash ‖ version → `0` (deleted) or
/// `1` ‖ value.
pub(super) fn value_entry(version: u64, kh: &KeyHash, value: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let mut k = prefixed(P_VALUE, &kh.0);
    k.extend_from_slice(&version.to_be_bytes());
    let v = match value {
        None => vec![0u8],
        Some(v) => prefixed(1, v),
    };
    (k, v)
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

    /// The sled batch that persists this version.
    fn sled_batch(&self) -> Result<sled::Batch, StoreError> {
        let mut batch = sled::Batch::default();
        for (node_key, node) in self.batch.node_batch.nodes() {
            let (k, v) = node_entry(node_key, node)?;
            batch.insert(k, v);
        }
        for ((version, kh), value) in self.batch.node_batch.values() {
            let (k, v) = value_entry(*version, kh, value.as_deref());
            batch.insert(k, v);
        }
        for stale in &self.batch.stale_node_index_batch {
            let mut k = prefixed(P_STALE, &stale.stale_since_version.to_be_bytes());
            k.extend_from_slice(&borsh_bytes(&stale.node_key)?);
            batch.insert(k, Vec::new());
        }
        for (k, v) in &self.writes {
            match v {
                Some(v) => batch.insert(prefixed(P_LATEST, k), v.clone()),
                None => batch.remove(prefixed(P_LATEST, k)),
            }
        }
        batch.insert(
            prefixed(P_ROOT, &self.version.to_be_bytes()),
            self.root.to_vec(),
        );
        batch.insert(META_HEIGHT, self.version.to_be_bytes().to_vec());
        Ok(batch)
    }
}

/// Committed layers, oldest first.
pub(super) type Layers = Arc<RwLock<VecDeque<Arc<Layer>>>>;

/// A snapshot of the layers for one read.
pub(super) fn snapshot(layers: &Layers) -> Vec<Arc<Layer>> {
    match layers.read() {
        Ok(l) => l.iter().cloned().collect(),
        Err(p) => p.into_inner().iter().cloned().collect(),
    }
}

/// Starts the writer thread; it stops when every sender is dropped. With an `exporter`,
/// the thread also hands every snapshot version's state to it, right after writing that
/// version (the one moment sled's flat state is exactly that version).
pub(super) fn spawn_writer(
    db: Arc<sled::Db>,
    layers: Layers,
    retain_blocks: u64,
    exporter: Option<Exporter>,
) -> Result<SyncSender<Arc<Layer>>, StoreError> {
    // Two versions in flight at most: Commit waits rather than letting memory grow.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<Layer>>(2);
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || write_loop(&db, &layers, retain_blocks, exporter.as_ref(), &rx))
        .map_err(|e| StoreError::Tree(format!("cannot start the store writer: {e}")))?;
    Ok(tx)
}

fn write_loop(
    db: &Arc<sled::Db>,
    layers: &Layers,
    retain_blocks: u64,
    exporter: Option<&Exporter>,
    rx: &Receiver<Arc<Layer>>,
) {
    while let Ok(layer) = rx.recv() {
        let result = layer
            .sled_batch()
            .and_then(|b| db.apply_batch(b).map_err(StoreError::from))
            .and_then(|()| super::prune(db, retain_blocks, layer.version));
        if let Err(e) = result {
            halt(format!("writing version {}: {e}", layer.version));
        }
        if let Some(exporter) = exporter {
            // Nothing else writes sled, and the next version waits in the channel: sled's
            // flat state is exactly this version now.
            exporter.after_write(db, layer.version, layer.root);
        }
        let mut l = match layers.write() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        if l.front().map(|f| f.version) == Some(layer.version) {
            l.pop_front();
        }
    }
}
