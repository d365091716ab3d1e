//! In-process FinalizeBlock + Commit throughput on blocks of 5,000 signed transfers, on the
//! store's engine (redb) against its previous one (sled) in the same run.
//!
//! For each engine, on a fresh store in a temp directory, two figures over several blocks:
//! (a) every signature recovered in FinalizeBlock (spread over all cores);
//! (b) signatures already recovered by this node's CheckTx (the signer cache; CheckTx time
//!     is not counted).
//! Each figure includes waiting, after the last block, until the store's writer thread has
//! written every committed version to the database, so pipelining cannot flatter it. The
//! engines alternate for `ROUNDS` rounds and each keeps its best round (the machine is
//! shared). Then the time of one block split into recovery, execution, root computation,
//! commit hand-off and the background write, per engine.
//!
//! Run: `cargo bench -p blyan-app --bench finalize_block`. `BENCH_ENGINE=redb` (or `sled`)
//! runs one engine only (for profiling).

mod common;
mod sled_baseline;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blyan_app::metrics::Metrics;
use blyan_app::node::{execute_block, verify_all, BlyanApp};
use blyan_app::sigcache::SignerCache;
use blyan_app::store::{KvBackend, RedbBackend, Store, StoreOptions};
use blyan_chain::BlockContext;
use blyan_proto::params::TxParams;
use common::{init_genesis, make_blocks, BLOCK_TXS, SENDERS};
use prost::bytes::Bytes;
use sled_baseline::SledBackend;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{RequestCheckTx, RequestFinalizeBlock};

const BLOCKS_PER_FIGURE: usize = 4;
const ROUNDS: usize = 2;
/// Versions kept, as in the sled benchmark before: pruning runs from block 100 on only.
const RETAIN_BLOCKS: u64 = 100;

#[derive(Clone, Copy, PartialEq)]
enum Engine {
    Sled,
    Redb,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Sled => "sled",
            Engine::Redb => "redb",
        }
    }

    fn open(self, dir: &Path) -> BlyanApp {
        let db: Arc<dyn KvBackend> = match self {
            Engine::Sled => Arc::new(SledBackend::open(dir)),
            Engine::Redb => Arc::new(RedbBackend::open(dir, 1024 * 1024 * 1024).expect("redb")),
        };
        let options = StoreOptions {
            retain_blocks: RETAIN_BLOCKS,
            snapshots: None,
        };
        let store = Store::with_backend(db, options).expect("store");
        let app = BlyanApp::new(store, Metrics::new(), 100_000);
        init_genesis(&app);
        app
    }
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

/// One round on a fresh store: figures (a) and (b) in transfers/s, the app hash after
/// them, and the breakdown of one more block.
struct Round {
    uncached: f64,
    cached: f64,
    app_hash: [u8; 32],
    breakdown: Breakdown,
}

fn round(engine: Engine, blocks: &[Vec<Bytes>]) -> Round {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = engine.open(dir.path());

    // (a) every signature recovered in the block.
    let mut total_a = Duration::ZERO;
    for (i, b) in blocks.iter().take(BLOCKS_PER_FIGURE).enumerate() {
        total_a += finalize_commit(&app, i as u64 + 1, b);
    }
    let t = Instant::now();
    app.store().wait_written();
    total_a += t.elapsed();

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
    let last = (2 * BLOCKS_PER_FIGURE) as u64;
    let app_hash = app.store().root_at(last).expect("root").expect("committed");
    let breakdown = breakdown(&app, last + 1, &blocks[2 * BLOCKS_PER_FIGURE]);
    Round {
        uncached: rate(BLOCKS_PER_FIGURE * BLOCK_TXS, total_a),
        cached: rate(BLOCKS_PER_FIGURE * BLOCK_TXS, total_b),
        app_hash,
        breakdown,
    }
}

/// Where one block's time goes (uncached, nothing in flight).
struct Breakdown {
    recover: Duration,
    decode_cached: Duration,
    execute: Duration,
    root: Duration,
    commit: Duration,
    write: Duration,
}

fn breakdown(app: &BlyanApp, height: u64, block: &[Bytes]) -> Breakdown {
    app.store().wait_written();
    let params = TxParams::default();
    let empty = SignerCache::new(1);
    let t = Instant::now();
    let verified = verify_all(&empty, block, &params);
    let recover = t.elapsed();
    let cached = SignerCache::new(BLOCK_TXS);
    for v in verified.iter().flatten() {
        cached.insert(v.hash, v.signer);
    }
    let t = Instant::now();
    let _ = verify_all(&cached, block, &params);
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
    Breakdown {
        recover,
        decode_cached,
        execute,
        root,
        commit,
        write,
    }
}

fn print_breakdown(engine: Engine, b: &Breakdown) {
    let total = b.recover + b.execute + b.root + b.commit + b.write;
    let pct = |d: Duration| 100.0 * d.as_secs_f64() / total.as_secs_f64();
    println!(
        "  {}: one block of {BLOCK_TXS}, uncached: {total:.2?}",
        engine.name()
    );
    println!(
        "    signature recovery + decode : {:>10.2?} ({:.0}%)  [decode with cached signers: {:.2?}]",
        b.recover,
        pct(b.recover),
        b.decode_cached
    );
    println!(
        "    execution (overlays)        : {:>10.2?} ({:.0}%)",
        b.execute,
        pct(b.execute)
    );
    println!(
        "    JMT root computation        : {:>10.2?} ({:.0}%)",
        b.root,
        pct(b.root)
    );
    println!(
        "    commit hand-off             : {:>10.2?} ({:.0}%)",
        b.commit,
        pct(b.commit)
    );
    println!(
        "    background database write   : {:>10.2?} ({:.0}%)  [overlaps the next block in a running node]",
        b.write,
        pct(b.write)
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("FinalizeBlock + Commit, blocks of {BLOCK_TXS} signed transfers from {SENDERS} senders, {threads} threads, redb vs sled");
    println!("  load average before: {}", load_average());
    let t = Instant::now();
    let blocks = make_blocks(2 * BLOCKS_PER_FIGURE + 1);
    println!(
        "  signed {} transactions in {:.2?}",
        blocks.len() * BLOCK_TXS,
        t.elapsed()
    );
    let only = std::env::var("BENCH_ENGINE").ok();
    let engines = [Engine::Sled, Engine::Redb];
    let mut best: Vec<Option<Round>> = engines.iter().map(|_| None).collect();
    for r in 0..ROUNDS {
        for (i, &engine) in engines.iter().enumerate() {
            if only.as_deref().is_some_and(|o| o != engine.name()) {
                continue;
            }
            let got = round(engine, &blocks);
            println!(
                "  round {r} {}: (a) {:>7.0} /s  (b) {:>7.0} /s",
                engine.name(),
                got.uncached,
                got.cached
            );
            let slot = &mut best[i];
            if slot.as_ref().is_none_or(|b| got.cached > b.cached) {
                *slot = Some(got);
            }
        }
    }
    let [Some(sled), Some(redb)] = [&best[0], &best[1]] else {
        for (engine, r) in engines.iter().zip(&best) {
            if let Some(r) = r {
                print_breakdown(*engine, &r.breakdown);
            }
        }
        println!("  (one engine only: no ratio)");
        return;
    };
    assert_eq!(
        sled.app_hash, redb.app_hash,
        "engines disagree on the app hash"
    );
    println!("  best round per engine (same app hash on both):");
    for (engine, r) in [(Engine::Sled, sled), (Engine::Redb, redb)] {
        println!(
            "  {}: (a) signatures recovered in the block: {:>7.0} transfers/s   (b) cached by CheckTx: {:>7.0} transfers/s  (target >= 50,000)",
            engine.name(),
            r.uncached,
            r.cached
        );
    }
    println!(
        "  ratio redb/sled: (a) {:.2}  (b) {:.2}",
        redb.uncached / sled.uncached,
        redb.cached / sled.cached
    );
    print_breakdown(Engine::Sled, &sled.breakdown);
    print_breakdown(Engine::Redb, &redb.breakdown);
    println!("  load average after: {}", load_average());
}
