//! State-sync snapshots: taking them every `interval` versions, listing and serving their
//! chunks, and restoring an empty store from one.
//!
//! On disk, snapshot `H` is the directory `<dir>/<H>/` holding `manifest` (SCALE of
//! `(format, height, SnapshotMetadata)`) and `chunk-000000`, `chunk-000001`, ... (the
//! chunk bytes exactly as served). See [`format`] for what a chunk holds and how it is
//! checked.

mod export;
pub mod format;
mod restore;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use jmt::proof::SparseMerkleRangeProof;
use jmt::{KeyHash, Sha256Jmt};
use parity_scale_codec::DecodeAll;

pub use export::ExportReport;
pub use format::{SnapshotInfo, SnapshotMetadata, SNAPSHOT_FORMAT};

pub(crate) use export::{spawn_exporter, Exporter};
pub(crate) use restore::Restore;

use super::jmt_reader::LayeredReader;
use super::{key_hash, prefixed, Store, StoreError, META_BASE, META_HEIGHT, P_LATEST, P_ROOT};
use format::{chunk_hash, decode_chunk, snapshot_hash};

/// The manifest file of a snapshot directory.
const MANIFEST_FILE: &str = "manifest";

/// Where and how often snapshots are taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// The directory holding one subdirectory per snapshot.
    pub dir: PathBuf,
    /// Take a snapshot of every version that is a multiple of this; 0 takes none (the
    /// ones on disk are still served).
    pub interval: u64,
    /// How many of the newest snapshots to keep (at least 1).
    pub keep_recent: u32,
}

/// The answer to a snapshot offer (CometBFT's `ResponseOfferSnapshot.Result`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferOutcome {
    /// Restoring it: send the chunks.
    Accept,
    /// Restoring nothing at all (this store already has state): state sync must stop.
    Abort(String),
    /// Not this snapshot (its metadata is inconsistent or claims another app hash).
    Reject(String),
    /// Not this format.
    RejectFormat(String),
}

/// The answer to one chunk (CometBFT's `ResponseApplySnapshotChunk`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Applied; more chunks to come.
    Accepted,
    /// Applied the last chunk: the store now holds `height` with root `app_hash`.
    Restored {
        /// The restored version.
        height: u64,
        /// Its root, equal to the trusted app hash.
        app_hash: [u8; 32],
    },
    /// The chunk is not the one the metadata names (its sender is bad): discard it, fetch
    /// it again from another peer, and retry it. Nothing was applied.
    Refetch(String),
    /// The snapshot is bad (a chunk that matches its metadata does not decode or does not
    /// prove against the trusted app hash): the store was wiped; try another snapshot.
    Reject(String),
    /// Restore this snapshot again from its first chunk (chunks came out of order); the
    /// store was wiped.
    RetrySnapshot(String),
    /// Restoring cannot go on (no offer was accepted, or the database failed).
    Abort(String),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The complete snapshots in `dir`, newest first.
fn list_in(dir: &Path) -> Vec<SnapshotInfo> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<SnapshotInfo> = entries
        .flatten()
        .filter_map(|e| {
            let height: u64 = e.file_name().to_str()?.parse().ok()?;
            let bytes = std::fs::read(e.path().join(MANIFEST_FILE)).ok()?;
            let (format, h, metadata) =
                <(u32, u64, SnapshotMetadata)>::decode_all(&mut bytes.as_slice()).ok()?;
            (h == height).then_some(SnapshotInfo {
                height,
                format,
                metadata,
            })
        })
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.height));
    out
}

impl Store {
    /// The snapshots this node serves, newest first (none without a snapshot config).
    pub fn list_snapshots(&self) -> Vec<SnapshotInfo> {
        match &self.inner.snapshots {
            Some(cfg) => list_in(&cfg.dir),
            None => Vec::new(),
        }
    }

    /// Chunk `index` of snapshot `height`, if this node has it.
    pub fn load_snapshot_chunk(&self, height: u64, format: u32, index: u32) -> Option<Vec<u8>> {
        let cfg = self.inner.snapshots.as_ref()?;
        if format != SNAPSHOT_FORMAT {
            return None;
        }
        let path = export::snapshot_dir(&cfg.dir, height)
            .join(export::chunk_file(usize::try_from(index).ok()?));
        std::fs::read(path).ok()
    }

    /// Takes a snapshot of the latest version now, in the calling thread, into the
    /// configured directory. Only for callers that commit nothing meanwhile (tests,
    /// benchmarks, tools); a running node takes its snapshots in the writer thread.
    pub fn take_snapshot(&self) -> Result<ExportReport, StoreError> {
        let cfg = self
            .inner
            .snapshots
            .as_ref()
            .ok_or_else(|| StoreError::Tree("no snapshot directory configured".into()))?;
        self.wait_written();
        let height = self
            .last_version()?
            .ok_or_else(|| StoreError::Tree("nothing committed to snapshot".into()))?;
        let root = self
            .root_at(height)?
            .ok_or_else(|| StoreError::Tree(format!("no root at {height}")))?;
        let job = export::collect(&*self.inner.shared.db, height, root)?;
        export::write(cfg, &job)
    }

    /// Considers restoring the snapshot CometBFT offers; `trusted_app_hash` is the app hash
    /// of its height according to the light client. Accepting wipes whatever a previous,
    /// unfinished restore left in the database.
    pub fn offer_snapshot(
        &self,
        height: u64,
        format: u32,
        chunks: u32,
        hash: &[u8],
        metadata: &[u8],
        trusted_app_hash: &[u8],
    ) -> OfferOutcome {
        if format != SNAPSHOT_FORMAT {
            return OfferOutcome::RejectFormat(format!(
                "snapshot format {format} is not {SNAPSHOT_FORMAT}"
            ));
        }
        match self.last_version() {
            Ok(None) => {}
            Ok(Some(v)) => {
                return OfferOutcome::Abort(format!(
                "this node already has state (height {v}); remove its data directory to state-sync"
            ))
            }
            Err(e) => return OfferOutcome::Abort(e.to_string()),
        }
        let Ok(meta) = SnapshotMetadata::decode_all(&mut &metadata[..]) else {
            return OfferOutcome::Reject("snapshot metadata does not decode".into());
        };
        let Ok(trusted) = <[u8; 32]>::try_from(trusted_app_hash) else {
            return OfferOutcome::Reject(format!(
                "trusted app hash has {} bytes, not 32",
                trusted_app_hash.len()
            ));
        };
        if height == 0 {
            return OfferOutcome::Reject("snapshot of height 0".into());
        }
        if meta.chunk_hashes.is_empty() || meta.chunk_hashes.len() != chunks as usize {
            return OfferOutcome::Reject(format!(
                "snapshot says {chunks} chunks, its metadata lists {}",
                meta.chunk_hashes.len()
            ));
        }
        if hash != snapshot_hash(&meta.chunk_hashes) {
            return OfferOutcome::Reject("snapshot hash does not match its chunk hashes".into());
        }
        if meta.app_hash != trusted {
            return OfferOutcome::Reject(format!(
                "snapshot {height} claims app hash {}, the light client trusts {}",
                hex::encode_upper(meta.app_hash),
                hex::encode_upper(trusted)
            ));
        }
        let mut session = lock(&self.inner.restore);
        *session = None;
        if let Err(e) = self.wipe() {
            return OfferOutcome::Abort(e.to_string());
        }
        match Restore::start(self.inner.shared.db.clone(), height, trusted, meta) {
            Ok(r) => {
                tracing::info!(height, chunks, app_hash = %hex::encode_upper(trusted), "restoring snapshot");
                *session = Some(r);
                OfferOutcome::Accept
            }
            Err(e) => OfferOutcome::Abort(e.to_string()),
        }
    }

    /// Applies chunk `index` of the snapshot being restored.
    pub fn apply_snapshot_chunk(&self, index: u32, chunk: &[u8]) -> ChunkOutcome {
        let mut session = lock(&self.inner.restore);
        let Some(r) = session.as_mut() else {
            return ChunkOutcome::Abort("no snapshot is being restored".into());
        };
        let height = r.height;
        let Some(expected) = r.metadata.chunk_hashes.get(index as usize).copied() else {
            return ChunkOutcome::Refetch(format!("chunk {index} is out of range"));
        };
        if chunk_hash(chunk) != expected {
            return ChunkOutcome::Refetch(format!(
                "chunk {index} of snapshot {height} does not match its hash"
            ));
        }
        if index != r.next {
            let msg = format!("chunk {index} came while chunk {} was expected", r.next);
            *session = None;
            return match self.wipe() {
                Ok(()) => ChunkOutcome::RetrySnapshot(msg),
                Err(e) => ChunkOutcome::Abort(format!("{msg}; wiping failed: {e}")),
            };
        }
        match self.apply_chunk(r, chunk) {
            Ok(None) => ChunkOutcome::Accepted,
            Ok(Some(app_hash)) => {
                tracing::info!(
                    height,
                    pairs = r.pairs,
                    chunks = r.next,
                    ms = r.started.elapsed().as_millis() as u64,
                    app_hash = %hex::encode_upper(app_hash),
                    "restored state from snapshot; first height of this store is {height}"
                );
                *session = None;
                ChunkOutcome::Restored { height, app_hash }
            }
            Err(ApplyError::BadSnapshot(msg)) => {
                *session = None;
                match self.wipe() {
                    Ok(()) => ChunkOutcome::Reject(msg),
                    Err(e) => ChunkOutcome::Abort(format!("{msg}; wiping failed: {e}")),
                }
            }
            Err(ApplyError::Store(e)) => {
                *session = None;
                let _ = self.wipe();
                ChunkOutcome::Abort(e.to_string())
            }
        }
    }

    /// Decodes, checks and writes one chunk whose hash matched; on the last one, finishes
    /// the tree and commits the version. Returns the root once restored.
    fn apply_chunk(&self, r: &mut Restore, chunk: &[u8]) -> Result<Option<[u8; 32]>, ApplyError> {
        let bad = ApplyError::BadSnapshot;
        let (pairs, proof) = decode_chunk(chunk).map_err(bad)?;
        if pairs.is_empty() {
            return Err(bad(format!("chunk {} is empty", r.next)));
        }
        let proof: SparseMerkleRangeProof<sha2::Sha256> = borsh::from_slice(&proof)
            .map_err(|e| bad(format!("chunk {} proof does not decode: {e}", r.next)))?;
        let mut hashed: Vec<(KeyHash, Vec<u8>)> = Vec::with_capacity(pairs.len());
        let mut flat = Vec::with_capacity(pairs.len());
        let mut last = r.last;
        for (k, v) in pairs {
            let kh = key_hash(&k);
            if last.is_some_and(|l| kh <= l) {
                return Err(bad(format!(
                    "chunk {} is not in increasing key-hash order",
                    r.next
                )));
            }
            last = Some(kh);
            flat.push((prefixed(P_LATEST, &k), Some(v.clone())));
            hashed.push((kh, v));
        }
        let n = hashed.len() as u64;
        // The tree is rebuilt and checked on the restore thread while this one writes the
        // flat state (wiped again if the chunk turns out bad).
        let verdict = r.add(hashed, proof);
        let written = self.inner.shared.db.apply(flat, false);
        verdict.wait().map_err(|e| {
            bad(format!(
                "chunk {} does not prove against the trusted app hash: {e}",
                r.next
            ))
        })?;
        written?;
        r.last = last;
        r.pairs += n;
        r.next += 1;
        if r.next as usize != r.metadata.chunk_hashes.len() {
            return Ok(None);
        }
        r.finish()
            .map_err(|e| bad(format!("finishing the tree: {e}")))?;
        let reader = LayeredReader::new(Arc::from(self.inner.shared.db.read()?), Vec::new());
        let root = Sha256Jmt::new(&reader)
            .get_root_hash(r.height)
            .map_err(|e| bad(format!("no root after restoring: {e:#}")))?;
        if root.0 != r.app_hash {
            return Err(bad(format!(
                "restored root {} is not the trusted app hash {}",
                hex::encode_upper(root.0),
                hex::encode_upper(r.app_hash)
            )));
        }
        let height = Some(r.height.to_be_bytes().to_vec());
        let meta = vec![
            (
                prefixed(P_ROOT, &r.height.to_be_bytes()),
                Some(root.0.to_vec()),
            ),
            (META_BASE.to_vec(), height.clone()),
            (META_HEIGHT.to_vec(), height),
        ];
        // Durable, and with it every batch of the restore.
        self.inner.shared.db.apply(meta, true)?;
        self.inner.shared.changed();
        self.inner.base.store(r.height, Ordering::Release);
        Ok(Some(root.0))
    }

    /// Removes everything from the database (only while nothing is committed).
    fn wipe(&self) -> Result<(), StoreError> {
        self.inner.shared.db.clear()?;
        self.inner.shared.changed();
        self.inner.base.store(0, Ordering::Release);
        Ok(())
    }
}

enum ApplyError {
    BadSnapshot(String),
    Store(StoreError),
}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        ApplyError::Store(e)
    }
}

#[cfg(test)]
mod tests;
