//! The store over redb: app hashes as under sled, proofs, pruning, reopening.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use blyan_chain::state::WriteSet;
use blyan_chain::StateRead;

use super::*;

/// Fifty accounts over five versions, deleting a few each time.
fn golden_writes(v: u64) -> WriteSet {
    let mut w = WriteSet::new();
    for i in 0..50u64 {
        let key = format!("acct/{i}").into_bytes();
        if (i + v) % 7 == 3 && v > 0 {
            w.insert(key, None);
        } else {
            w.insert(key, Some(format!("{i}:{v}").into_bytes()));
        }
    }
    w
}

fn commit(store: &Store, version: u64, writes: WriteSet) -> [u8; 32] {
    let p = store.prepare(version, writes).unwrap();
    let root = p.root;
    store.commit(p).unwrap();
    root
}

/// Roots of the sequence above computed by the sled store this one replaced: the engine
/// must not change app hashes.
#[test]
fn roots_are_the_ones_the_sled_store_computed() {
    const SLED_ROOTS: [&str; 5] = [
        "dc64bf71ad727a12b6e2449be36458c27f097e49a6b4210606ee91b75113c24f",
        "cd40073a64fe22d6f540b11c1f256692b990edbd7e828d6fa46dcad98c64f1fb",
        "24c341db92aa0a3f20d1da993cd7792793b13a60759f787b7a55878494f0134f",
        "d89c33089d2fdc5f5890569b0d89d55fe54238d9bfa829c46ee7887b08d4a4c3",
        "368fb3f6336a7075f12f66b0529d8e0e5dc224e80715a1800b8a37057a8ff6e4",
    ];
    let store = Store::temporary(10).unwrap();
    for (v, want) in SLED_ROOTS.iter().enumerate() {
        let root = commit(&store, v as u64, golden_writes(v as u64));
        assert_eq!(hex::encode(root), *want, "version {v}");
    }
    store.wait_written();
    assert_eq!(
        hex::encode(store.root_at(4).unwrap().unwrap()),
        SLED_ROOTS[4]
    );
}

/// Every entry of the database under `prefix`.
fn count(store: &Store, prefix: u8) -> usize {
    let mut n = 0;
    let view = store.inner.shared.db.read().unwrap();
    kv::scan_prefix(&*view, &[prefix], &mut |_, _| n += 1).unwrap();
    n
}

#[test]
fn history_beyond_retain_blocks_is_pruned_and_the_window_still_proves() {
    const RETAIN: u64 = 5;
    let store = Store::temporary(RETAIN).unwrap();
    let mut roots = Vec::new();
    // One hot key rewritten every version, one written once, one deleted at version 3.
    for v in 0..40u64 {
        let mut w = WriteSet::new();
        w.insert(b"hot".to_vec(), Some(v.to_be_bytes().to_vec()));
        if v == 0 {
            w.insert(b"cold".to_vec(), Some(b"c".to_vec()));
            w.insert(b"gone".to_vec(), Some(b"g".to_vec()));
        }
        if v == 3 {
            w.insert(b"gone".to_vec(), None);
        }
        for i in 0..20u64 {
            w.insert(
                format!("k/{i}").into_bytes(),
                Some((v * i).to_be_bytes().to_vec()),
            );
        }
        roots.push(commit(&store, v, w));
    }
    store.wait_written();
    let latest = 39;
    let oldest = store.oldest_retained(latest);
    assert_eq!(oldest, latest - RETAIN + 1);

    // Old versions are gone: no root, no proof, no reads.
    for v in [0, 10, oldest - 1] {
        assert!(store.root_at(v).unwrap().is_none(), "root of {v}");
        assert!(matches!(
            store.get_with_proof(b"hot", v),
            Err(StoreError::Unavailable(..))
        ));
    }
    // Roots: only the window. Value history: the hot key keeps one entry per retained
    // version (and nothing older), `cold` its only entry, `gone` nothing.
    assert_eq!(count(&store, P_ROOT), RETAIN as usize);
    let entries = |key: &[u8]| {
        let mut n = 0;
        let view = store.inner.shared.db.read().unwrap();
        kv::scan_prefix(&*view, &prefixed(P_VALUE, &key_hash(key).0), &mut |_, _| {
            n += 1
        })
        .unwrap();
        n
    };
    assert_eq!(entries(b"hot"), RETAIN as usize);
    assert_eq!(entries(b"cold"), 1);
    assert_eq!(entries(b"gone"), 0);
    // Nothing stale at or before the window's start is left in either pruning index.
    let mut stale_before = 0;
    let view = store.inner.shared.db.read().unwrap();
    let end = (oldest + 1).to_be_bytes();
    view.scan(&[P_STALE], Some(&prefixed(P_STALE, &end)), &mut |_, _| {
        stale_before += 1
    })
    .unwrap();
    view.scan(&[P_VSTALE], Some(&prefixed(P_VSTALE, &end)), &mut |_, _| {
        stale_before += 1
    })
    .unwrap();
    assert_eq!(stale_before, 0);
    // The tree does not grow with history: 40 versions of 22 keys keep about as many
    // nodes as the live tree of a few versions, not 40 times as many.
    let nodes = count(&store, P_NODE);
    assert!(nodes < 22 * 2 * RETAIN as usize, "{nodes} nodes");

    // Every retained version still reads and proves against its own root.
    for v in oldest..=latest {
        let root = store.root_at(v).unwrap().unwrap();
        assert_eq!(root, roots[v as usize]);
        for (key, want) in [
            (&b"hot"[..], Some(v.to_be_bytes().to_vec())),
            (b"cold", Some(b"c".to_vec())),
            (b"gone", None),
            (b"k/7", Some((v * 7).to_be_bytes().to_vec())),
        ] {
            let (value, proof) = store.get_with_proof(key, v).unwrap();
            assert_eq!(value, want, "{} at {v}", String::from_utf8_lossy(key));
            verify_proof(&root, key, value.as_deref(), &proof.to_bytes()).unwrap();
            assert_eq!(store.at_version(v).unwrap().get_raw(key), want);
        }
    }
}

#[test]
fn a_reopened_store_has_what_was_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let roots: Vec<[u8; 32]> = {
        let store = Store::open(dir.path(), 10).unwrap();
        let roots = (0..5)
            .map(|v| commit(&store, v, golden_writes(v)))
            .collect();
        store.flush().unwrap();
        roots
    };
    // The writer thread may still hold the database for a moment after the last handle.
    let store = loop {
        match Store::open(dir.path(), 10) {
            Ok(s) => break s,
            Err(StoreError::Db(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(store.last_version().unwrap(), Some(4));
    assert_eq!(store.root_at(4).unwrap(), Some(roots[4]));
    assert_eq!(store.latest().get_raw(b"acct/1"), Some(b"1:4".to_vec()));
    let (value, proof) = store.get_with_proof(b"acct/2", 3).unwrap();
    verify_proof(&roots[3], b"acct/2", value.as_deref(), &proof.to_bytes()).unwrap();
    // It keeps going from there with the same roots as a store that never stopped.
    let next = commit(&store, 5, golden_writes(5));
    let fresh = Store::temporary(10).unwrap();
    for v in 0..5 {
        commit(&fresh, v, golden_writes(v));
    }
    assert_eq!(commit(&fresh, 5, golden_writes(5)), next);
}

#[test]
fn a_sled_data_directory_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("conf"), b"").unwrap();
    std::fs::write(dir.path().join("db"), b"").unwrap();
    let err = Store::open(dir.path(), 10).err().unwrap();
    assert!(matches!(err, StoreError::OldFormat(_)), "{err}");
    assert!(err.to_string().contains("sled"));
}
