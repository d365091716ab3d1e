//! Restoring a snapshot into an empty store, chunk by chunk.
//!
//! Chunks arrive in order. Each one is checked against the chunk hash in the offered
//! metadata (a mismatch means the peer that sent it is bad: refetch it elsewhere), then
//! its pairs are fed, in key-hash order, to the JMT's `JellyfishMerkleRestore`, which
//! builds the tree of version `H` from left to right and checks, with the chunk's range
//! proof, that everything so far hashes to the trusted app hash (a failure means the
//! snapshot itself is bad: reject it). Frozen tree nodes and value-history entries go to
//! the database as the restore produces them, the flat state (`k`) chunk by chunk; `mheight` is
//! written last, so a store is either fully restored or holds no version at all.
//!
//! `JellyfishMerkleRestore` is not `Send`, so it lives on a thread of its own for the
//! duration of the restore, fed through a channel.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use jmt::proof::SparseMerkleRangeProof;
use jmt::restore::{JellyfishMerkleRestore, StateSnapshotReceiver};
use jmt::storage::{NodeBatch, TreeWriter};
use jmt::{KeyHash, OwnedValue, RootHash};

use super::format::SnapshotMetadata;
use crate::store::layers::{node_entry, value_entry};
use crate::store::{KvBackend, StoreError};

type Reply = SyncSender<Result<(), String>>;

enum Job {
    Chunk(
        Vec<(KeyHash, OwnedValue)>,
        SparseMerkleRangeProof<sha2::Sha256>,
        Reply,
    ),
    Finish(Reply),
}

/// A restore in progress.
pub(crate) struct Restore {
    pub(crate) height: u64,
    pub(crate) app_hash: [u8; 32],
    pub(crate) metadata: SnapshotMetadata,
    /// The next chunk expected.
    pub(crate) next: u32,
    /// The last key hash restored (chunks must continue after it).
    pub(crate) last: Option<KeyHash>,
    pub(crate) pairs: u64,
    pub(crate) started: Instant,
    tx: SyncSender<Job>,
}

/// Writes the restore's frozen nodes and values straight to the database (not durably:
/// the restore's last batch is).
struct DbWriter {
    db: Arc<dyn KvBackend>,
}

impl TreeWriter for DbWriter {
    fn write_node_batch(&self, node_batch: &NodeBatch) -> anyhow::Result<()> {
        let mut batch = Vec::with_capacity(node_batch.nodes().len() + node_batch.values().len());
        for (node_key, node) in node_batch.nodes() {
            let (k, v) = node_entry(node_key, node)?;
            batch.push((k, Some(v)));
        }
        for ((version, kh), value) in node_batch.values() {
            let (k, v) = value_entry(*version, kh, value.as_deref());
            batch.push((k, Some(v)));
        }
        self.db.apply(batch, false)?;
        Ok(())
    }
}

impl Restore {
    /// Starts restoring version `height`, whose root must come out as `app_hash`.
    pub(crate) fn start(
        db: Arc<dyn KvBackend>,
        height: u64,
        app_hash: [u8; 32],
        metadata: SnapshotMetadata,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(1);
        std::thread::Builder::new()
            .name("snapshot-restore".into())
            .spawn(move || restore_loop(db, height, app_hash, &rx))
            .map_err(|e| StoreError::Tree(format!("cannot start the restore thread: {e}")))?;
        Ok(Restore {
            height,
            app_hash,
            metadata,
            next: 0,
            last: None,
            pairs: 0,
            started: Instant::now(),
            tx,
        })
    }

    /// Starts adding one chunk's pairs (in strictly increasing key-hash order), checked
    /// with `proof` against the app hash, on the restore thread; the caller may write
    /// meanwhile and then [`Pending::wait`]s for the verdict.
    pub(crate) fn add(
        &self,
        pairs: Vec<(KeyHash, OwnedValue)>,
        proof: SparseMerkleRangeProof<sha2::Sha256>,
    ) -> Pending {
        self.send(|reply| Job::Chunk(pairs, proof, reply))
    }

    /// Writes the rightmost nodes and the root.
    pub(crate) fn finish(&self) -> Result<(), String> {
        self.send(Job::Finish).wait()
    }

    fn send(&self, job: impl FnOnce(Reply) -> Job) -> Pending {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        match self.tx.send(job(reply)) {
            Ok(()) => Pending(Some(answer)),
            Err(_) => Pending(None),
        }
    }
}

/// The verdict of a job on the restore thread, to be waited for.
pub(crate) struct Pending(Option<Receiver<Result<(), String>>>);

impl Pending {
    /// Waits for the restore thread's answer.
    pub(crate) fn wait(self) -> Result<(), String> {
        self.0
            .and_then(|rx| rx.recv().ok())
            .unwrap_or_else(|| Err("the restore thread has stopped".to_string()))
    }
}

fn restore_loop(db: Arc<dyn KvBackend>, height: u64, app_hash: [u8; 32], rx: &Receiver<Job>) {
    let writer = Arc::new(DbWriter { db });
    let mut restore = match JellyfishMerkleRestore::<sha2::Sha256>::new_overwrite(
        writer,
        height,
        RootHash(app_hash),
    ) {
        Ok(r) => r,
        Err(e) => {
            // Answer the first request with the error; the session is then dropped.
            if let Ok(Job::Chunk(_, _, reply) | Job::Finish(reply)) = rx.recv() {
                let _ = reply.send(Err(format!("{e:#}")));
            }
            return;
        }
    };
    while let Ok(job) = rx.recv() {
        match job {
            Job::Chunk(pairs, proof, reply) => {
                let r = restore
                    .add_chunk(pairs, proof)
                    .map_err(|e| format!("{e:#}"));
                let failed = r.is_err();
                let _ = reply.send(r);
                if failed {
                    // The restore's partial tree is now unusable.
                    return;
                }
            }
            Job::Finish(reply) => {
                let _ = reply.send(restore.finish().map_err(|e| format!("{e:#}")));
                return;
            }
        }
    }
}
