//! Snapshots at the store level: export, chunking, restore, and every way a chunk or an
//! offer can be wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use blyan_chain::state::WriteSet;
use blyan_chain::StateRead;
use parity_scale_codec::Encode;

use super::format::{chunk_hash, decode_chunk, encode_chunk, snapshot_hash, CHUNK_TARGET_BYTES};
use super::*;
use crate::store::{Store, StoreOptions};

fn store_with(dir: &Path, interval: u64, keep: u32) -> Store {
    Store::temporary_with(StoreOptions {
        retain_blocks: 100,
        snapshots: Some(SnapshotConfig {
            dir: dir.to_path_buf(),
            interval,
            keep_recent: keep,
        }),
    })
    .unwrap()
}

fn commit(store: &Store, version: u64, writes: WriteSet) -> [u8; 32] {
    let p = store.prepare(version, writes).unwrap();
    let root = p.root;
    store.commit(p).unwrap();
    root
}

/// Version 0: `n` keys with `value_len`-byte values; versions 1..=3 update, add and delete.
fn build(store: &Store, n: usize, value_len: usize) -> u64 {
    let value = |i: usize, v: u64| {
        let mut x = format!("value {i} at {v} ").into_bytes();
        x.resize(value_len, (i % 251) as u8);
        x
    };
    commit(
        store,
        0,
        (0..n)
            .map(|i| (format!("key/{i}").into_bytes(), Some(value(i, 0))))
            .collect(),
    );
    for v in 1..=3u64 {
        let mut w = WriteSet::new();
        for i in (0..n).step_by(7) {
            w.insert(format!("key/{i}").into_bytes(), Some(value(i, v)));
        }
        for i in (v as usize..n).step_by(13) {
            w.insert(format!("key/{i}").into_bytes(), None);
        }
        w.insert(format!("new/{v}").into_bytes(), Some(vec![v as u8; 3]));
        commit(store, v, w);
    }
    store.wait_written();
    3
}

/// The chunks of the newest snapshot, as a peer would serve them.
fn chunks_of(store: &Store, info: &SnapshotInfo) -> Vec<Vec<u8>> {
    (0..info.chunks())
        .map(|i| {
            store
                .load_snapshot_chunk(info.height, info.format, i)
                .unwrap()
        })
        .collect()
}

fn offer(store: &Store, info: &SnapshotInfo, trusted: [u8; 32]) -> OfferOutcome {
    store.offer_snapshot(
        info.height,
        info.format,
        info.chunks(),
        &info.hash(),
        &info.metadata_bytes(),
        &trusted,
    )
}

fn all_pairs(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    store.latest().prefix_raw(b"")
}

fn db_is_empty(store: &Store) -> bool {
    let mut empty = true;
    store
        .inner
        .shared
        .db
        .read()
        .unwrap()
        .scan(&[], None, &mut |_, _| empty = false)
        .unwrap();
    empty
}

#[test]
fn snapshot_restores_into_an_equal_store_that_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let src = store_with(dir.path(), 0, 2);
    // About 6 MB of pairs: at least three chunks.
    let h = build(&src, 6_000, 1_000);
    let report = src.take_snapshot().unwrap();
    let info = report.info.clone();
    assert_eq!(info.height, h);
    assert_eq!(info.metadata.app_hash, src.root_at(h).unwrap().unwrap());
    assert!(info.chunks() >= 3, "{} chunks", info.chunks());
    assert_eq!(info.metadata.pairs as usize, all_pairs(&src).len());
    assert_eq!(src.list_snapshots(), vec![info.clone()]);
    let chunks = chunks_of(&src, &info);
    for c in &chunks {
        assert!(c.len() <= 4 << 20, "chunk of {} bytes", c.len());
        let (pairs, _) = decode_chunk(c).unwrap();
        let raw: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
        assert!(raw <= CHUNK_TARGET_BYTES);
    }
    assert_eq!(
        report.bytes,
        chunks.iter().map(|c| c.len() as u64).sum::<u64>()
    );

    let dst = Store::temporary(100).unwrap();
    assert_eq!(
        offer(&dst, &info, info.metadata.app_hash),
        OfferOutcome::Accept
    );
    let last = chunks.len() - 1;
    for (i, c) in chunks.iter().enumerate() {
        let out = dst.apply_snapshot_chunk(i as u32, c);
        if i < last {
            assert_eq!(out, ChunkOutcome::Accepted, "chunk {i}");
            assert_eq!(
                dst.last_version().unwrap(),
                None,
                "no version before the end"
            );
        } else {
            assert_eq!(
                out,
                ChunkOutcome::Restored {
                    height: h,
                    app_hash: info.metadata.app_hash
                }
            );
        }
    }
    assert_eq!(dst.last_version().unwrap(), Some(h));
    assert_eq!(dst.root_at(h).unwrap(), src.root_at(h).unwrap());
    assert_eq!(dst.first_version(), h);
    assert_eq!(all_pairs(&dst), all_pairs(&src));
    // Point reads at h through the JMT, with proofs against the root.
    for key in [&b"key/7"[..], b"key/1", b"new/2", b"key/5999", b"missing"] {
        let (a, _) = src.get_with_proof(key, h).unwrap();
        let (b, proof) = dst.get_with_proof(key, h).unwrap();
        assert_eq!(a, b);
        crate::store::verify_proof(
            &info.metadata.app_hash,
            key,
            b.as_deref(),
            &proof.to_bytes(),
        )
        .unwrap();
        assert_eq!(dst.at_version(h).unwrap().get_raw(key), a);
    }
    // Below the snapshot: never held here.
    assert!(matches!(
        dst.at_version(h - 1),
        Err(StoreError::Unavailable(v, first, _)) if v == h - 1 && first == h
    ));
    assert!(src.at_version(h - 1).is_ok());
    // Both go on to identical next versions.
    for v in h + 1..h + 4 {
        let mut w = WriteSet::new();
        w.insert(format!("key/{v}").into_bytes(), None);
        w.insert(b"key/14".to_vec(), Some(vec![v as u8; 40]));
        w.insert(format!("later/{v}").into_bytes(), Some(vec![1]));
        assert_eq!(
            commit(&src, v, w.clone()),
            commit(&dst, v, w),
            "version {v}"
        );
    }
    assert_eq!(all_pairs(&dst), all_pairs(&src));
}

#[test]
fn a_corrupt_chunk_is_refetched_and_nothing_of_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    let src = store_with(dir.path(), 0, 2);
    let h = build(&src, 5_000, 1_000);
    let info = src.take_snapshot().unwrap().info;
    let chunks = chunks_of(&src, &info);
    assert!(chunks.len() >= 2);
    let dst = Store::temporary(100).unwrap();
    assert_eq!(
        offer(&dst, &info, info.metadata.app_hash),
        OfferOutcome::Accept
    );
    assert_eq!(
        dst.apply_snapshot_chunk(0, &chunks[0]),
        ChunkOutcome::Accepted
    );
    let mut bad = chunks[1].clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(matches!(
        dst.apply_snapshot_chunk(1, &bad),
        ChunkOutcome::Refetch(_)
    ));
    assert!(matches!(
        dst.apply_snapshot_chunk(1, &chunks[1][..10]),
        ChunkOutcome::Refetch(_)
    ));
    // The genuine chunk, fetched again, goes on from where the restore was.
    for (i, c) in chunks.iter().enumerate().skip(1) {
        let out = dst.apply_snapshot_chunk(i as u32, c);
        assert!(
            matches!(out, ChunkOutcome::Accepted | ChunkOutcome::Restored { .. }),
            "{out:?}"
        );
    }
    assert_eq!(dst.last_version().unwrap(), Some(h));
    assert_eq!(all_pairs(&dst), all_pairs(&src));
}

/// A snapshot whose metadata matches its (forged) chunks, but whose state is not the one
/// the trusted app hash commits to, is rejected at the first forged chunk and the store
/// is wiped.
#[test]
fn a_consistent_but_forged_snapshot_is_rejected_and_wiped() {
    let dir = tempfile::tempdir().unwrap();
    let src = store_with(dir.path(), 0, 2);
    build(&src, 5_000, 1_000);
    let info = src.take_snapshot().unwrap().info;
    let mut chunks = chunks_of(&src, &info);
    let (mut pairs, proof) = decode_chunk(&chunks[1]).unwrap();
    pairs[3].1.push(0xAA);
    chunks[1] = encode_chunk(&pairs, &proof).unwrap();
    let mut forged = info.clone();
    forged.metadata.chunk_hashes = chunks.iter().map(|c| chunk_hash(c)).collect();

    let dst = Store::temporary(100).unwrap();
    assert_eq!(
        offer(&dst, &forged, info.metadata.app_hash),
        OfferOutcome::Accept
    );
    assert_eq!(
        dst.apply_snapshot_chunk(0, &chunks[0]),
        ChunkOutcome::Accepted
    );
    assert!(!db_is_empty(&dst));
    let out = dst.apply_snapshot_chunk(1, &chunks[1]);
    assert!(
        matches!(&out, ChunkOutcome::Reject(why) if why.contains("trusted app hash")),
        "{out:?}"
    );
    assert!(
        db_is_empty(&dst),
        "a rejected restore leaves nothing behind"
    );
    assert_eq!(dst.last_version().unwrap(), None);
    // No session any more: a stray chunk aborts.
    assert!(matches!(
        dst.apply_snapshot_chunk(1, &chunks[1]),
        ChunkOutcome::Abort(_)
    ));
    // The genuine snapshot restores into the same store afterwards.
    let genuine = chunks_of(&src, &info);
    assert_eq!(
        offer(&dst, &info, info.metadata.app_hash),
        OfferOutcome::Accept
    );
    for (i, c) in genuine.iter().enumerate() {
        assert_ne!(
            std::mem::discriminant(&dst.apply_snapshot_chunk(i as u32, c)),
            std::mem::discriminant(&ChunkOutcome::Reject(String::new()))
        );
    }
    assert_eq!(all_pairs(&dst), all_pairs(&src));
}

/// A chunk that matches its hash but does not decode (the snapshot's own metadata names
/// garbage) rejects the snapshot.
#[test]
fn a_chunk_that_does_not_decode_rejects_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let src = store_with(dir.path(), 0, 2);
    build(&src, 100, 10);
    let info = src.take_snapshot().unwrap().info;
    let garbage = b"not deflate at all".to_vec();
    let mut forged = info.clone();
    forged.metadata.chunk_hashes = vec![chunk_hash(&garbage)];
    let dst = Store::temporary(100).unwrap();
    assert_eq!(
        offer(&dst, &forged, info.metadata.app_hash),
        OfferOutcome::Accept
    );
    assert!(matches!(
        dst.apply_snapshot_chunk(0, &garbage),
        ChunkOutcome::Reject(_)
    ));
    assert!(db_is_empty(&dst));
}

#[test]
fn offers_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let src = store_with(dir.path(), 0, 2);
    build(&src, 100, 10);
    let info = src.take_snapshot().unwrap().info;
    let dst = Store::temporary(100).unwrap();
    let good = info.metadata.app_hash;
    // Another app hash than the light client trusts.
    assert!(matches!(
        offer(&dst, &info, [7; 32]),
        OfferOutcome::Reject(_)
    ));
    // Another format.
    assert!(matches!(
        dst.offer_snapshot(
            info.height,
            2,
            info.chunks(),
            &info.hash(),
            &info.metadata_bytes(),
            &good
        ),
        OfferOutcome::RejectFormat(_)
    ));
    // Chunk count, hash or metadata inconsistent.
    assert!(matches!(
        dst.offer_snapshot(
            info.height,
            1,
            info.chunks() + 1,
            &info.hash(),
            &info.metadata_bytes(),
            &good
        ),
        OfferOutcome::Reject(_)
    ));
    assert!(matches!(
        dst.offer_snapshot(
            info.height,
            1,
            info.chunks(),
            &[0; 32],
            &info.metadata_bytes(),
            &good
        ),
        OfferOutcome::Reject(_)
    ));
    assert!(matches!(
        dst.offer_snapshot(info.height, 1, info.chunks(), &info.hash(), b"junk", &good),
        OfferOutcome::Reject(_)
    ));
    assert!(matches!(
        dst.offer_snapshot(
            info.height,
            1,
            info.chunks(),
            &info.hash(),
            &info.metadata_bytes(),
            &good[..31]
        ),
        OfferOutcome::Reject(_)
    ));
    assert!(db_is_empty(&dst));
    // A node with state takes no snapshot.
    assert!(matches!(offer(&src, &info, good), OfferOutcome::Abort(_)));
    assert_eq!(src.last_version().unwrap(), Some(info.height));
}

#[test]
fn chunks_out_of_order_restart_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let src = store_with(dir.path(), 0, 2);
    build(&src, 5_000, 1_000);
    let info = src.take_snapshot().unwrap().info;
    let chunks = chunks_of(&src, &info);
    let dst = Store::temporary(100).unwrap();
    assert_eq!(
        offer(&dst, &info, info.metadata.app_hash),
        OfferOutcome::Accept
    );
    assert!(matches!(
        dst.apply_snapshot_chunk(1, &chunks[1]),
        ChunkOutcome::RetrySnapshot(_)
    ));
    assert!(db_is_empty(&dst));
    // CometBFT offers it again after RETRY_SNAPSHOT.
    assert_eq!(
        offer(&dst, &info, info.metadata.app_hash),
        OfferOutcome::Accept
    );
    for (i, c) in chunks.iter().enumerate() {
        dst.apply_snapshot_chunk(i as u32, c);
    }
    assert_eq!(dst.last_version().unwrap(), Some(info.height));
}

#[test]
fn the_writer_takes_snapshots_every_interval_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 5, 2);
    let wait_listed = |h: u64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !store.list_snapshots().iter().any(|s| s.height == h) {
            assert!(Instant::now() < deadline, "snapshot {h} not taken");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let mut roots = Vec::new();
    for v in 0..=17u64 {
        let mut w = WriteSet::new();
        w.insert(format!("k{v}").into_bytes(), Some(vec![v as u8; 100]));
        if v > 2 {
            w.insert(format!("k{}", v - 2).into_bytes(), None);
        }
        roots.push(commit(&store, v, w));
        // Two more versions are committed before a snapshot is waited for: it is taken
        // while they are written, and must still be exactly its own version.
        if v >= 7 && v % 5 == 2 {
            wait_listed(v - 2);
        }
    }
    // The exporter prunes old snapshots right after publishing a new one, on its own
    // thread: wait for the listing to settle rather than racing it.
    let heights = |l: &[_]| -> Vec<u64> { l.iter().map(|s: &SnapshotInfo| s.height).collect() };
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let l = store.list_snapshots();
        if heights(&l) == vec![15, 10] || Instant::now() > deadline {
            break l;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(
        heights(&listed),
        vec![15, 10],
        "newest first, older ones pruned"
    );
    assert!(!dir.path().join("5").exists(), "pruned");
    for s in &listed {
        assert_eq!(s.metadata.app_hash, roots[s.height as usize]);
        let dst = Store::temporary(10).unwrap();
        assert_eq!(offer(&dst, s, s.metadata.app_hash), OfferOutcome::Accept);
        for (i, c) in chunks_of(&store, s).iter().enumerate() {
            dst.apply_snapshot_chunk(i as u32, c);
        }
        assert_eq!(dst.last_version().unwrap(), Some(s.height));
        let view = dst.latest();
        assert_eq!(
            view.get_raw(format!("k{}", s.height).as_bytes()),
            Some(vec![s.height as u8; 100])
        );
        assert_eq!(view.get_raw(format!("k{}", s.height - 2).as_bytes()), None);
    }
}

#[test]
fn chunk_decoding_is_bounded_and_exact() {
    let pairs = vec![(b"a".to_vec(), b"1".to_vec())];
    let c = encode_chunk(&pairs, &[0, 0, 0, 0]).unwrap();
    assert_eq!(decode_chunk(&c).unwrap(), (pairs.clone(), vec![0, 0, 0, 0]));
    // Trailing bytes after the SCALE value.
    let mut raw = (pairs, vec![0u8; 4]).encode();
    raw.push(0);
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    assert!(decode_chunk(&z.finish().unwrap()).is_err());
    // A compression bomb.
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..65 {
        std::io::Write::write_all(&mut z, &zeros).unwrap();
    }
    let bomb = z.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    assert!(decode_chunk(&bomb).unwrap_err().contains("inflates past"));
    assert_eq!(snapshot_hash(&[]), chunk_hash(b""));
}
