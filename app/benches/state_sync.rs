//! State sync against replay, in-process, on a state of about 100,000 accounts.
//!
//! 1. Replay: genesis with 200 funded senders, then 20 blocks of 5,000 signed transfers to
//!    fresh recipients through FinalizeBlock + Commit (signatures recovered in the block,
//!    as for a node that block-syncs from genesis), until the store's writer has written
//!    everything. Signing is done beforehand and not counted.
//! 2. Snapshot of the last height: size (bytes, chunks, pairs), the collection (in a node:
//!    the writer thread's pause) and the write (in a node: a background thread).
//! 3. Restore into a fresh node through OfferSnapshot + ApplySnapshotChunk: decoding,
//!    hash checks, JMT rebuild with a range proof per chunk, root check, database writes and
//!    the final flush; then one more block on both nodes must give the same app hash.
//!
//! Run: `cargo bench -p blyan-app --bench state_sync`.

mod common;

use std::time::{Duration, Instant};

use blyan_app::metrics::Metrics;
use blyan_app::node::BlyanApp;
use blyan_app::store::{SnapshotConfig, Store, StoreOptions};
use common::{init_genesis, make_blocks, BLOCK_TXS, SENDERS};
use prost::bytes::Bytes;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{
    response_apply_snapshot_chunk, response_offer_snapshot, RequestApplySnapshotChunk,
    RequestFinalizeBlock, RequestInfo, RequestLoadSnapshotChunk, RequestOfferSnapshot,
};

const BLOCKS: usize = 20;

fn finalize_commit(app: &BlyanApp, height: u64, txs: &[Bytes]) -> Vec<u8> {
    let r = app.finalize_block(RequestFinalizeBlock {
        txs: txs.to_vec(),
        height: height as i64,
        ..Default::default()
    });
    app.commit();
    let failed = r.tx_results.iter().filter(|x| x.code != 0).count();
    assert_eq!(failed, 0, "block {height}: {failed} transfers failed");
    r.app_hash.to_vec()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() {
    let threads = rayon::current_num_threads();
    let accounts = BLOCKS * BLOCK_TXS + SENDERS;
    println!(
        "State sync vs replay: {accounts} accounts ({BLOCKS} blocks of {BLOCK_TXS} transfers to fresh accounts), {threads} threads"
    );
    let t = Instant::now();
    let blocks = make_blocks(BLOCKS + 1);
    println!(
        "  signed {} transactions in {:.2?} (not counted)",
        blocks.len() * BLOCK_TXS,
        t.elapsed()
    );

    // 1. Replay from genesis.
    let src_dir = tempfile::tempdir().expect("tempdir");
    let snap_dir = src_dir.path().join("snapshots");
    let src_store = Store::open_with(
        &src_dir.path().join("data"),
        StoreOptions {
            retain_blocks: 100,
            snapshots: Some(SnapshotConfig {
                dir: snap_dir,
                interval: 0,
                keep_recent: 2,
            }),
        },
    )
    .expect("store");
    let src = BlyanApp::new(src_store, Metrics::new(), 100_000);
    let t = Instant::now();
    init_genesis(&src);
    for (i, b) in blocks.iter().take(BLOCKS).enumerate() {
        finalize_commit(&src, i as u64 + 1, b);
    }
    src.store().flush().expect("flush");
    let replay = t.elapsed();
    let height = BLOCKS as u64;
    println!(
        "  replay from genesis (FinalizeBlock + Commit + database write + flush): {:>8.2} s  ({:.0} transfers/s)",
        secs(replay),
        (BLOCKS * BLOCK_TXS) as f64 / secs(replay)
    );

    // 2. Snapshot.
    let report = src.store().take_snapshot().expect("snapshot");
    let info = &report.info;
    assert_eq!(info.height, height);
    println!(
        "  snapshot of height {height}: {} pairs, {:.2} MiB raw -> {:.2} MiB in {} chunks ({:.0}% of raw, largest chunk {:.2} MiB)",
        info.metadata.pairs,
        mib(info.metadata.raw_bytes),
        mib(report.bytes),
        info.chunks(),
        100.0 * report.bytes as f64 / info.metadata.raw_bytes as f64,
        mib(
            (0..info.chunks())
                .filter_map(|i| src.store().load_snapshot_chunk(height, info.format, i))
                .map(|c| c.len() as u64)
                .max()
                .unwrap_or(0)
        ),
    );
    println!(
        "    export: collect {:>8.2} ms  [writer-thread pause: read flat state, sort by key hash, range proofs]",
        report.collect.as_secs_f64() * 1e3
    );
    println!(
        "            write   {:>8.2} ms  [background thread: encode, deflate, sha256, files]",
        report.write.as_secs_f64() * 1e3
    );

    // 3. Restore into a fresh node through the ABCI calls.
    let list = src.list_snapshots().snapshots;
    let snapshot = list.first().expect("listed").clone();
    let chunks: Vec<Bytes> = (0..snapshot.chunks)
        .map(|i| {
            src.load_snapshot_chunk(RequestLoadSnapshotChunk {
                height: snapshot.height,
                format: snapshot.format,
                chunk: i,
            })
            .chunk
        })
        .collect();
    let app_hash = src.info(RequestInfo::default()).last_block_app_hash;
    let dst_dir = tempfile::tempdir().expect("tempdir");
    let dst = BlyanApp::new(
        Store::open(dst_dir.path(), 100).expect("store"),
        Metrics::new(),
        100_000,
    );
    let t = Instant::now();
    let offered = dst.offer_snapshot(RequestOfferSnapshot {
        snapshot: Some(snapshot.clone()),
        app_hash: app_hash.clone(),
    });
    assert_eq!(
        offered.result,
        response_offer_snapshot::Result::Accept as i32
    );
    for (i, c) in chunks.iter().enumerate() {
        let r = dst.apply_snapshot_chunk(RequestApplySnapshotChunk {
            index: i as u32,
            chunk: c.clone(),
            sender: String::new(),
        });
        assert_eq!(
            r.result,
            response_apply_snapshot_chunk::Result::Accept as i32,
            "chunk {i}"
        );
    }
    let restore = t.elapsed();
    let info_after = dst.info(RequestInfo::default());
    assert_eq!(info_after.last_block_height, height as i64);
    assert_eq!(info_after.last_block_app_hash, app_hash);
    println!(
        "  restore (offer + {} chunks: inflate, sha256, JMT rebuild with per-chunk proofs, root check, database writes, flush): {:>8.2} s  ({:.0} pairs/s)",
        chunks.len(),
        secs(restore),
        info.metadata.pairs as f64 / secs(restore)
    );
    println!(
        "  replay / restore: {:.1}x  (state sync also fetches {:.2} MiB over p2p, not counted here)",
        secs(replay) / secs(restore),
        mib(report.bytes)
    );

    // Both nodes go on identically.
    let next = height + 1;
    let a = finalize_commit(&src, next, &blocks[BLOCKS]);
    let b = finalize_commit(&dst, next, &blocks[BLOCKS]);
    assert_eq!(a, b, "block {next} after the restore");
    println!("  block {next} on the restored node: same app hash as on the replayed node");
}
