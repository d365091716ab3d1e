//! Taking snapshots: the writer thread collects the state of a snapshot version (the only
//! moment the database's flat state is exactly that version) and an exporter thread encodes,
//! compresses, hashes and writes the chunks, so block processing only waits for the
//! collection.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jmt::{KeyHash, Sha256Jmt};
use parity_scale_codec::Encode;

use super::format::{chunk_hash, encode_chunk, SnapshotInfo, SnapshotMetadata, CHUNK_TARGET_BYTES};
use super::{list_in, SnapshotConfig, MANIFEST_FILE, SNAPSHOT_FORMAT};
use crate::store::jmt_reader::LayeredReader;
use crate::store::kv::scan_prefix;
use crate::store::{key_hash, KvBackend, KvSnapshot, StoreError, P_LATEST};

/// The state of one version, sorted by key hash and cut into chunks, with each chunk's
/// range proof: everything needed to write the snapshot without touching the database.
pub(crate) struct ExportJob {
    pub(crate) height: u64,
    pub(crate) app_hash: [u8; 32],
    pub(crate) pairs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Exclusive end index of each chunk in `pairs`.
    pub(crate) ends: Vec<usize>,
    /// Borsh range proof of each chunk's last key.
    pub(crate) proofs: Vec<Vec<u8>>,
    /// How long the collection took (the writer thread's pause).
    pub(crate) collected_in: Duration,
}

/// What taking one snapshot cost and produced.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// The snapshot.
    pub info: SnapshotInfo,
    /// Reading the state, sorting it and proving the chunk edges (in a node: the writer
    /// thread's pause, during which commits may queue up to two versions).
    pub collect: Duration,
    /// Encoding, compressing, hashing and writing the chunks (in a node: a background
    /// thread).
    pub write: Duration,
    /// Total bytes of the chunk files.
    pub bytes: u64,
}

/// Reads the flat state, which the caller guarantees is exactly `height` (whose root is
/// `app_hash`), sorts it by key hash, cuts it into chunks and proves each chunk's right
/// edge against the tree at `height`.
pub(crate) fn collect(
    db: &dyn KvBackend,
    height: u64,
    app_hash: [u8; 32],
) -> Result<ExportJob, StoreError> {
    let started = Instant::now();
    let mut hashed: Vec<(KeyHash, Vec<u8>, Vec<u8>)> = Vec::new();
    let view: Arc<dyn KvSnapshot> = Arc::from(db.read()?);
    scan_prefix(&*view, &[P_LATEST], &mut |k, v| {
        let key = k.get(1..).unwrap_or_default().to_vec();
        hashed.push((key_hash(&key), key, v.to_vec()));
    })?;
    hashed.sort_unstable_by_key(|(kh, _, _)| *kh);
    let mut ends = Vec::new();
    let mut size = 0usize;
    for (i, (_, k, v)) in hashed.iter().enumerate() {
        let len = k.len() + v.len() + 8;
        if size > 0 && size + len > CHUNK_TARGET_BYTES {
            ends.push(i);
            size = 0;
        }
        size += len;
    }
    if !hashed.is_empty() {
        ends.push(hashed.len());
    }
    // The database holds every node of `height` (nothing newer is written yet, and pruning only
    // removes nodes that went stale before the retained window).
    let reader = LayeredReader::new(view, Vec::new());
    let tree = Sha256Jmt::new(&reader);
    let mut proofs = Vec::with_capacity(ends.len());
    for &end in &ends {
        let last = end
            .checked_sub(1)
            .and_then(|i| hashed.get(i))
            .map(|(kh, _, _)| *kh)
            .ok_or_else(|| StoreError::Tree("empty snapshot chunk".into()))?;
        let proof = tree
            .get_range_proof(last, height)
            .map_err(|e| StoreError::Tree(format!("range proof at {height}: {e:#}")))?;
        proofs.push(crate::store::borsh_bytes(&proof)?);
    }
    let pairs = hashed.into_iter().map(|(_, k, v)| (k, v)).collect();
    Ok(ExportJob {
        height,
        app_hash,
        pairs,
        ends,
        proofs,
        collected_in: started.elapsed(),
    })
}

/// Writes a collected snapshot into `<dir>/<height>/` (through a temporary directory
/// renamed at the end, so a listed snapshot is always complete), then prunes all but the
/// `keep_recent` newest.
pub(crate) fn write(cfg: &SnapshotConfig, job: &ExportJob) -> Result<ExportReport, StoreError> {
    let started = Instant::now();
    let final_dir = cfg.dir.join(job.height.to_string());
    let tmp = cfg.dir.join(format!(".{}.tmp", job.height));
    let io = |what: &str, path: &Path, e: std::io::Error| {
        StoreError::Tree(format!(
            "snapshot {}: {what} {}: {e}",
            job.height,
            path.display()
        ))
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io("removing", &tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io("creating", &tmp, e))?;
    let mut chunk_hashes = Vec::with_capacity(job.ends.len());
    let mut bytes = 0u64;
    let mut start = 0usize;
    for (i, (&end, proof)) in job.ends.iter().zip(&job.proofs).enumerate() {
        let pairs = job.pairs.get(start..end).unwrap_or_default();
        let chunk = encode_chunk(pairs, proof).map_err(|e| io("compressing", &tmp, e))?;
        chunk_hashes.push(chunk_hash(&chunk));
        bytes += chunk.len() as u64;
        let path = tmp.join(chunk_file(i));
        std::fs::write(&path, &chunk).map_err(|e| io("writing", &path, e))?;
        start = end;
    }
    let info = SnapshotInfo {
        height: job.height,
        format: SNAPSHOT_FORMAT,
        metadata: SnapshotMetadata {
            app_hash: job.app_hash,
            chunk_hashes,
            pairs: job.pairs.len() as u64,
            raw_bytes: job
                .pairs
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum(),
        },
    };
    let manifest = tmp.join(MANIFEST_FILE);
    std::fs::write(
        &manifest,
        (info.format, info.height, &info.metadata).encode(),
    )
    .map_err(|e| io("writing", &manifest, e))?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| io("replacing", &final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| io("renaming", &tmp, e))?;
    prune(cfg);
    Ok(ExportReport {
        info,
        collect: job.collected_in,
        write: started.elapsed(),
        bytes,
    })
}

/// The file name of chunk `i`.
pub(crate) fn chunk_file(i: usize) -> String {
    format!("chunk-{i:06}")
}

/// Removes all but the `keep_recent` newest complete snapshots.
fn prune(cfg: &SnapshotConfig) {
    let keep = usize::try_from(cfg.keep_recent.max(1)).unwrap_or(usize::MAX);
    for old in list_in(&cfg.dir).into_iter().skip(keep) {
        let path = cfg.dir.join(old.height.to_string());
        if let Err(e) = std::fs::remove_dir_all(&path) {
            tracing::warn!("removing old snapshot {}: {e}", path.display());
        }
    }
}

/// Removes temporary directories an interrupted export left behind.
fn remove_partial(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The writer thread's handle on the exporter thread.
pub(crate) struct Exporter {
    interval: u64,
    tx: SyncSender<ExportJob>,
}

impl Exporter {
    /// Called by the writer thread right after it wrote `version`: on a snapshot height,
    /// collects the state and hands it to the exporter thread. Failures are logged, never
    /// fatal: a missed snapshot costs nothing but a later one.
    pub(crate) fn after_write(&self, db: &dyn KvBackend, version: u64, root: [u8; 32]) {
        if version == 0 || self.interval == 0 || !version.is_multiple_of(self.interval) {
            return;
        }
        match collect(db, version, root) {
            Ok(job) => match self.tx.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(job)) => tracing::warn!(
                    height = job.height,
                    "the previous snapshot is still being written; skipping this one"
                ),
                Err(TrySendError::Disconnected(_)) => {
                    tracing::warn!("the snapshot exporter has stopped")
                }
            },
            Err(e) => tracing::warn!(height = version, "cannot collect snapshot: {e}"),
        }
    }
}

/// Starts the exporter thread (it stops when the writer thread does).
pub(crate) fn spawn_exporter(cfg: SnapshotConfig) -> Result<Exporter, StoreError> {
    std::fs::create_dir_all(&cfg.dir).map_err(|e| {
        StoreError::Tree(format!(
            "creating snapshot directory {}: {e}",
            cfg.dir.display()
        ))
    })?;
    remove_partial(&cfg.dir);
    let (tx, rx) = std::sync::mpsc::sync_channel::<ExportJob>(1);
    let interval = cfg.interval;
    std::thread::Builder::new()
        .name("snapshot-exporter".into())
        .spawn(move || export_loop(&cfg, &rx))
        .map_err(|e| StoreError::Tree(format!("cannot start the snapshot exporter: {e}")))?;
    Ok(Exporter { interval, tx })
}

fn export_loop(cfg: &SnapshotConfig, rx: &Receiver<ExportJob>) {
    while let Ok(job) = rx.recv() {
        match write(cfg, &job) {
            Ok(r) => tracing::info!(
                height = r.info.height,
                chunks = r.info.chunks(),
                pairs = r.info.metadata.pairs,
                bytes = r.bytes,
                collect_ms = r.collect.as_millis() as u64,
                write_ms = r.write.as_millis() as u64,
                hash = %hex::encode_upper(r.info.hash()),
                "snapshot taken"
            ),
            Err(e) => tracing::warn!(height = job.height, "writing snapshot failed: {e}"),
        }
    }
}

/// The directory of snapshot `height`.
pub(crate) fn snapshot_dir(dir: &Path, height: u64) -> PathBuf {
    dir.join(height.to_string())
}
