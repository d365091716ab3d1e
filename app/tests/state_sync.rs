//! State sync driven in-process through the ABCI calls: a node takes snapshots every few
//! blocks and serves them; a fresh node restores one (checked against the app hash),
//! reports it in Info, refuses older heights, and executes the next blocks to the same
//! app hashes as the node it came from.

mod common;

use std::time::{Duration, Instant};

use blyan_app::metrics::Metrics;
use blyan_app::node::BlyanApp;
use blyan_app::store::{SnapshotConfig, Store, StoreOptions};
use blyan_proto::query::{QueryPath, QUERY_HEIGHT_UNAVAILABLE};
use common::*;
use prost::bytes::Bytes;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{
    response_apply_snapshot_chunk, response_offer_snapshot, RequestApplySnapshotChunk, RequestInfo,
    RequestLoadSnapshotChunk, RequestOfferSnapshot, RequestQuery, Snapshot,
};

const INTERVAL: u64 = 4;

fn snapshotting_app(dir: &std::path::Path) -> BlyanApp {
    let store = Store::temporary_with(StoreOptions {
        retain_blocks: 100,
        snapshots: Some(SnapshotConfig {
            dir: dir.to_path_buf(),
            interval: INTERVAL,
            keep_recent: 2,
        }),
    })
    .unwrap();
    app_with_genesis_in(store, 4)
}

fn empty_app() -> BlyanApp {
    BlyanApp::new(Store::temporary(100).unwrap(), Metrics::new(), 100_000)
}

/// Block `h`'s transfers: dev `h % 4` sends to a fresh account.
fn block_txs(h: u64) -> Vec<Bytes> {
    let from = dev((h % 4) as usize);
    let nonce = (h - 1) / 4;
    let to = blyan_proto::SecretKey::from_seed(&format!("state-sync/{h}")).address();
    vec![signed(&from, nonce, to, 1_000 + u128::from(h))]
}

fn wait_snapshot(app: &BlyanApp, h: u64) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = app
            .list_snapshots()
            .snapshots
            .into_iter()
            .find(|s| s.height == h)
        {
            return s;
        }
        assert!(Instant::now() < deadline, "snapshot {h} was not taken");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn offer(app: &BlyanApp, s: &Snapshot, app_hash: &[u8]) -> response_offer_snapshot::Result {
    let r = app
        .offer_snapshot(RequestOfferSnapshot {
            snapshot: Some(s.clone()),
            app_hash: app_hash.to_vec().into(),
        })
        .result;
    response_offer_snapshot::Result::try_from(r).unwrap()
}

fn chunks(app: &BlyanApp, s: &Snapshot) -> Vec<Bytes> {
    (0..s.chunks)
        .map(|i| {
            app.load_snapshot_chunk(RequestLoadSnapshotChunk {
                height: s.height,
                format: s.format,
                chunk: i,
            })
            .chunk
        })
        .collect()
}

#[test]
fn a_fresh_node_restores_a_served_snapshot_and_follows_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let src = snapshotting_app(dir.path());
    let mut hashes = vec![Vec::new()];
    for h in 1..=9 {
        let r = finalize_and_commit(&src, h, block_txs(h));
        assert!(r.tx_results.iter().all(|t| t.code == 0), "block {h}");
        hashes.push(r.app_hash.to_vec());
    }
    let snap = wait_snapshot(&src, 8);
    assert!(src
        .list_snapshots()
        .snapshots
        .iter()
        .all(|s| s.height % INTERVAL == 0));
    assert_eq!(snap.format, 1);
    assert_eq!(snap.hash.len(), 32);
    let served = chunks(&src, &snap);
    assert!(served.iter().all(|c| !c.is_empty()));
    // A chunk that was never taken is answered empty.
    assert!(src
        .load_snapshot_chunk(RequestLoadSnapshotChunk {
            height: 7,
            format: 1,
            chunk: 0
        })
        .chunk
        .is_empty());

    let dst = empty_app();
    assert_eq!(dst.info(RequestInfo::default()).last_block_height, 0);
    use response_offer_snapshot::Result as O;
    assert_eq!(
        offer(&dst, &snap, &hashes[7]),
        O::Reject,
        "another app hash"
    );
    assert_eq!(
        offer(&src, &snap, &hashes[8]),
        O::Abort,
        "a node with state"
    );
    assert_eq!(offer(&dst, &snap, &hashes[8]), O::Accept);

    use response_apply_snapshot_chunk::Result as A;
    let mut corrupt = served[0].to_vec();
    corrupt[0] ^= 0xff;
    let r = dst.apply_snapshot_chunk(RequestApplySnapshotChunk {
        index: 0,
        chunk: corrupt.into(),
        sender: "badpeer".into(),
    });
    assert_eq!(A::try_from(r.result).unwrap(), A::Retry);
    assert_eq!(r.refetch_chunks, vec![0]);
    assert_eq!(r.reject_senders, vec!["badpeer".to_string()]);
    for (i, c) in served.iter().enumerate() {
        let r = dst.apply_snapshot_chunk(RequestApplySnapshotChunk {
            index: i as u32,
            chunk: c.clone(),
            sender: "goodpeer".into(),
        });
        assert_eq!(A::try_from(r.result).unwrap(), A::Accept, "chunk {i}");
        assert!(r.refetch_chunks.is_empty() && r.reject_senders.is_empty());
    }

    // What CometBFT checks after the last chunk.
    let info = dst.info(RequestInfo::default());
    assert_eq!(info.last_block_height, 8);
    assert_eq!(info.last_block_app_hash.to_vec(), hashes[8]);
    assert_eq!(
        info.app_version,
        src.info(RequestInfo::default()).app_version
    );

    // Heights before the snapshot were never on this node; the source still has them.
    let q = |app: &BlyanApp, height: i64| {
        app.query(RequestQuery {
            path: QueryPath::ChainId.to_string(),
            height,
            prove: true,
            ..Default::default()
        })
    };
    let below = q(&dst, 7);
    assert_eq!(below.code, QUERY_HEIGHT_UNAVAILABLE, "{}", below.log);
    assert!(below.log.contains("no longer available"), "{}", below.log);
    assert_eq!(q(&src, 7).code, 0);
    let at = q(&dst, 8);
    assert_eq!(at.code, 0, "{}", at.log);
    assert_eq!(at.value, q(&src, 8).value);

    // The restored node checks new transactions against the restored nonces ...
    let next = block_txs(10);
    assert_eq!(check(&dst, &next[0]), 0);
    // ... and executes the next blocks to the same app hashes.
    let r9 = finalize_and_commit(&dst, 9, block_txs(9));
    assert_eq!(r9.app_hash.to_vec(), hashes[9]);
    for h in 10..=13 {
        let a = finalize_and_commit(&src, h, block_txs(h));
        let b = finalize_and_commit(&dst, h, block_txs(h));
        assert!(b.tx_results.iter().all(|t| t.code == 0), "block {h}");
        assert_eq!(a.app_hash, b.app_hash, "block {h}");
    }
    assert_eq!(
        dst.info(RequestInfo::default()).last_block_app_hash,
        src.info(RequestInfo::default()).last_block_app_hash
    );
}

#[test]
fn a_node_without_snapshots_serves_none() {
    let app = app_with_genesis(2);
    finalize_and_commit(&app, 1, Vec::new());
    assert!(app.list_snapshots().snapshots.is_empty());
    assert!(app
        .load_snapshot_chunk(RequestLoadSnapshotChunk {
            height: 1,
            format: 1,
            chunk: 0
        })
        .chunk
        .is_empty());
}
