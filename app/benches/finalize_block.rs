//! In-process FinalizeBlock + Commit throughput on blocks of 5,000 signed transfers.
//!
//! Two figures, each over several blocks against a sled store in a temp directory:
//! (a) every signature recovered in FinalizeBlock (spread over all cores);
//! (b) signatures already recovered by this node's CheckTx (the signer cache).
//! Each figure includes waiting, after the last block, until the store's writer thread has
//! written every committed version to sled, so pipelining cannot flatter it. Then the time
//! of one block split into recovery, execution, root computation, commit hand-off and the
//! background write.
//!
//! Run: `cargo bench -p blyan-app --bench finalize_block`.

mod common;

use std::time::{Duration, Instant};

use blyan_app::metrics::Metrics;
use blyan_app::node::{execute_block, verify_all, BlyanApp};
use blyan_app::sigcache::SignerCache;
use blyan_app::store::Store;
use blyan_chain::BlockContext;
use blyan_proto::params::TxParams;
use common::{init_genesis, make_blocks, BLOCK_TXS, SENDERS};
use prost::bytes::Bytes;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{RequestCheckTx, RequestFinalizeBlock};

const BLOCKS_PER_FIGURE: usize = 4;

fn new_app(dir: &std::path::Path) -> BlyanApp {
    let store = Store::open(dir, 100).expect("store");
    let app = BlyanApp::new(store, Metrics::new(), 100_000);
    init_genesis(&app);
    app
}

fn finalize_commit(app: &BlyanApp, height: u64, txs: &[Bytes]) -> Duration {
    let t = Instant::now();
    let r = app.finalize_block(RequestFinalizeBlock {
        txs: txs.to_vec(),
        height: height as i64,
        ..Default::default()
    });
    app.commit();
    let d = t.elapsed();
    let failed = r.tx_results.iter().filter(|x| x.code != 0).count();
    assert_eq!(
        failed,
        0,
        "block {height}: {failed} transfers failed: {:?}",
        r.tx_results.iter().find(|x| x.code != 0)
    );
    d
}

fn rate(txs: usize, d: Duration) -> f64 {
    txs as f64 / d.as_secs_f64()
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("FinalizeBlock + Commit, blocks of {BLOCK_TXS} signed transfers from {SENDERS} senders, {threads} threads");
    let t = Instant::now();
    let blocks = make_blocks(2 * BLOCKS_PER_FIGURE + 1);
    println!(
        "  signed {} transactions in {:.2?}",
        blocks.len() * BLOCK_TXS,
        t.elapsed()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let app = new_app(dir.path());

    // (a) every signature recovered in FinalizeBlock.
    let mut total_a = Duration::ZERO;
    for (i, b) in blocks.iter().take(BLOCKS_PER_FIGURE).enumerate() {
        total_a += finalize_commit(&app, i as u64 + 1, b);
    }
    let t = Instant::now();
    app.store().wait_written();
    total_a += t.elapsed();
    let a = rate(BLOCKS_PER_FIGURE * BLOCK_TXS, total_a);
    println!("  (a) signatures recovered in the block: {a:>9.0} transfers/s  (target >= 12,000)");

    // (b) signatures already recovered by CheckTx.
    let mut total_b = Duration::ZERO;
    for (i, b) in blocks
        .iter()
        .skip(BLOCKS_PER_FIGURE)
        .take(BLOCKS_PER_FIGURE)
        .enumerate()
    {
        for tx in b {
            let code = app
                .check_tx(RequestCheckTx {
                    tx: tx.clone(),
                    r#type: 0,
                })
                .code;
            assert_eq!(code, 0, "CheckTx");
        }
        total_b += finalize_commit(&app, (BLOCKS_PER_FIGURE + i) as u64 + 1, b);
    }
    let t = Instant::now();
    app.store().wait_written();
    total_b += t.elapsed();
    let bb = rate(BLOCKS_PER_FIGURE * BLOCK_TXS, total_b);
    println!("  (b) signatures cached by CheckTx:      {bb:>9.0} transfers/s  (target >= 50,000)");
    println!("      ratio (b)/(a): {:.2}", bb / a);

    // Where one block's time goes (the last block, uncached, nothing in flight).
    app.store().wait_written();
    let height = (2 * BLOCKS_PER_FIGURE) as u64 + 1;
    let last = &blocks[2 * BLOCKS_PER_FIGURE];
    let params = TxParams::default();
    let empty = SignerCache::new(1);
    let t = Instant::now();
    let verified = verify_all(&empty, last, &params);
    let recover = t.elapsed();
    let cached = SignerCache::new(BLOCK_TXS);
    for v in verified.iter().flatten() {
        cached.insert(v.hash, v.signer);
    }
    let t = Instant::now();
    let _ = verify_all(&cached, last, &params);
    let decode_cached = t.elapsed();
    let ctx = BlockContext {
        height,
        ..Default::default()
    };
    let t = Instant::now();
    let result = execute_block(app.store().latest(), ctx, &verified).expect("execute");
    let execute = t.elapsed();
    let t = Instant::now();
    let pending = app.store().prepare(height, result.writes).expect("prepare");
    let root = t.elapsed();
    let t = Instant::now();
    app.store().commit(pending).expect("commit");
    let commit = t.elapsed();
    let t = Instant::now();
    app.store().wait_written();
    let write = t.elapsed();
    let total = recover + execute + root + commit + write;
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / total.as_secs_f64();
    println!("  one block of {BLOCK_TXS}, uncached: {total:.2?}");
    println!("    signature recovery + decode : {recover:>10.2?} ({:.0}%)  [decode with cached signers: {decode_cached:.2?}]", pct(recover));
    println!(
        "    execution (overlays)        : {execute:>10.2?} ({:.0}%)",
        pct(execute)
    );
    println!(
        "    JMT root computation        : {root:>10.2?} ({:.0}%)",
        pct(root)
    );
    println!(
        "    commit hand-off             : {commit:>10.2?} ({:.0}%)",
        pct(commit)
    );
    println!(
        "    background sled write       : {write:>10.2?} ({:.0}%)  [overlaps the next block in a running node]",
        pct(write)
    );
}
