//! `blyand loadgen`: offered-rate load against a running network, reporting committed
//! transactions per second and commit latency.
//!
//! Each sender thread owns a disjoint set of accounts and sends their pre-signed
//! transfers in nonce order (so no nonce gap is ever seen) with `broadcast_tx_async`,
//! paced to the offered rate. An observer follows new blocks and matches their
//! transactions to send times. `--mode kvstore` sends opaque `key=value` transactions of
//! the same size to CometBFT's built-in kvstore app, the baseline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, BankMsg, Fee, Msg, SecretKey, Tx, TxHash, BLY};
use rayon::prelude::*;
use serde_json::json;

use super::Output;
use blyan_client::RpcClient;

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadMode {
    /// Signed Blyan transfers.
    Blyan,
    /// Opaque transactions for CometBFT's kvstore app (baseline).
    Kvstore,
}

/// Arguments of `blyand loadgen`.
#[derive(Debug, clap::Args)]
pub struct LoadgenArgs {
    /// Comma-separated CometBFT RPC endpoints; senders spread over them.
    #[arg(long, default_value = "http://127.0.0.1:26601")]
    pub nodes: String,
    /// Offered transactions per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Sender accounts (blyan mode), funded first by `--funder-key`.
    #[arg(long, default_value_t = 64)]
    pub accounts: usize,
    /// Sender threads.
    #[arg(long, default_value_t = 16)]
    pub threads: usize,
    /// Hex private key of a funded account (e.g. a dev account from keys.json).
    #[arg(long, env = "BLYAN_FUNDER_KEY")]
    pub funder_key: Option<String>,
    /// Load kind.
    #[arg(long, value_enum, default_value = "blyan")]
    pub mode: LoadMode,
    /// Size of kvstore transactions (default: the size of a signed transfer).
    #[arg(long)]
    pub tx_size: Option<usize>,
    /// Seconds to wait for stragglers after sending stops.
    #[arg(long, default_value_t = 15)]
    pub drain: u64,
}

struct Prepared {
    /// Per thread: (node index, transactions in send order).
    per_thread: Vec<(usize, Vec<Vec<u8>>)>,
    tx_size: usize,
}

fn transfer(
    chain_id: &str,
    key: &SecretKey,
    nonce: u64,
    to: Address,
    amount: u128,
    max_fee: u128,
) -> Vec<u8> {
    Tx {
        chain_id: chain_id.to_string(),
        nonce,
        fee: Fee {
            gas_limit: 30_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: 1_000,
        },
        msgs: vec![Msg::Bank(BankMsg::Send { to, amount })],
        memo: String::new(),
    }
    .sign(key)
    .to_bytes()
}

fn prepare_blyan(a: &LoadgenArgs, rpcs: &[RpcClient]) -> anyhow::Result<Prepared> {
    let funder = SecretKey::from_hex(
        a.funder_key
            .as_deref()
            .context("--funder-key is required in blyan mode")?,
    )?;
    let rpc = &rpcs[0];
    let chain_id: String = rpc.query(&QueryPath::ChainId)?;
    let base_fee: u128 = rpc.query(&QueryPath::BaseFee)?;
    let max_fee = base_fee.saturating_mul(4);
    let total = a.rate.saturating_mul(a.duration) as usize;
    let per_account = total.div_ceil(a.accounts.max(1)) as u128;
    let accounts: Vec<SecretKey> = (0..a.accounts)
        .map(|i| SecretKey::from_seed(&format!("loadgen/{chain_id}/{i}")))
        .collect();
    // Fund every sender with enough for its fees and 1-unit transfers, in one block.
    let first_nonce: u64 = rpc.query(&QueryPath::Nonce(funder.address()))?;
    let funding = per_account
        .saturating_mul(30_000u128.saturating_mul(max_fee))
        .saturating_add(BLY);
    for (nonce, acct) in (first_nonce..).zip(&accounts) {
        let tx = transfer(
            &chain_id,
            &funder,
            nonce,
            acct.address(),
            funding,
            base_fee.saturating_mul(4),
        );
        let r = rpc.broadcast_tx_sync(&tx)?;
        if r.code != 0 {
            bail!("funding transfer rejected: code {} {}", r.code, r.log);
        }
    }
    // Committed state, not the tx index, so this works with CometBFT's indexer off too.
    let last = accounts.last().map(SecretKey::address);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let funded = match last {
            Some(a) => rpc.query::<u128>(&QueryPath::Balance(a))? >= funding,
            None => true,
        };
        if funded {
            break;
        }
        if Instant::now() > deadline {
            bail!("funding did not commit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("funded {} sender accounts", accounts.len());
    let threads = a.threads.clamp(1, accounts.len().max(1));
    let sink = SecretKey::from_seed("loadgen/sink").address();
    let per_thread: Vec<(usize, Vec<Vec<u8>>)> = (0..threads)
        .into_par_iter()
        .map(|t| {
            let mine: Vec<&SecretKey> = accounts.iter().skip(t).step_by(threads).collect();
            let mut txs = Vec::new();
            let mut nonces: Vec<u64> = mine
                .iter()
                .map(|k| rpc.query(&QueryPath::Nonce(k.address())).unwrap_or(0))
                .collect();
            let quota = total / threads + usize::from(t < total % threads);
            for i in 0..quota {
                let j = i % mine.len().max(1);
                if let (Some(k), Some(n)) = (mine.get(j), nonces.get_mut(j)) {
                    txs.push(transfer(&chain_id, k, *n, sink, 1, max_fee));
                    *n += 1;
                }
            }
            (t % rpcs.len(), txs)
        })
        .collect();
    let tx_size = per_thread
        .first()
        .and_then(|(_, t)| t.first())
        .map_or(0, Vec::len);
    Ok(Prepared {
        per_thread,
        tx_size,
    })
}

fn prepare_kvstore(a: &LoadgenArgs, nodes: usize) -> Prepared {
    let size = a.tx_size.unwrap_or(170).max(16);
    let total = a.rate.saturating_mul(a.duration) as usize;
    let threads = a.threads.max(1);
    let run = std::process::id();
    let per_thread = (0..threads)
        .map(|t| {
            let quota = total / threads + usize::from(t < total % threads);
            let txs = (0..quota)
                .map(|i| {
                    let mut s = format!("lg{run}t{t}i{i}=");
                    while s.len() < size {
                        s.push('x');
                    }
                    s.into_bytes()
                })
                .collect();
            (t % nodes, txs)
        })
        .collect();
    Prepared {
        per_thread,
        tx_size: size,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64()
}

/// Runs the load and prints the report.
pub(super) fn run(a: LoadgenArgs, out: Output) -> anyhow::Result<()> {
    let rpcs: Vec<RpcClient> = a
        .nodes
        .split(',')
        .map(|n| RpcClient::new(n.trim()))
        .collect();
    if rpcs.is_empty() {
        bail!("no node given");
    }
    let prepared = match a.mode {
        LoadMode::Blyan => prepare_blyan(&a, &rpcs)?,
        LoadMode::Kvstore => prepare_kvstore(&a, rpcs.len()),
    };
    let sent: Arc<Mutex<HashMap<TxHash, Instant>>> = Arc::default();
    let start_height = rpcs[0].latest_height()?;
    let stop = Arc::new(AtomicBool::new(false));
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let observer = {
        let (rpc, sent, stop, lat) = (
            rpcs[0].clone(),
            sent.clone(),
            stop.clone(),
            latencies.clone(),
        );
        std::thread::spawn(move || observe(&rpc, start_height, &sent, &stop, &lat))
    };
    let threads = prepared.per_thread.len().max(1);
    let interval = Duration::from_secs_f64(threads as f64 / a.rate.max(1) as f64);
    let started = Instant::now();
    let handles: Vec<_> = prepared
        .per_thread
        .into_iter()
        .map(|(node, txs)| {
            let (rpc, sent) = (rpcs[node].clone(), sent.clone());
            std::thread::spawn(move || {
                let mut errors = 0u64;
                for (i, tx) in txs.iter().enumerate() {
                    let due = started + interval.mul_f64(i as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let hash = TxHash::of(tx);
                    if let Ok(mut m) = sent.lock() {
                        m.insert(hash, Instant::now());
                    }
                    let b64 = base64::engine::general_purpose::STANDARD.encode(tx);
                    if rpc.call("broadcast_tx_async", json!({"tx": b64})).is_err() {
                        errors += 1;
                    }
                }
                errors
            })
        })
        .collect();
    let send_errors: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let send_secs = started.elapsed().as_secs_f64();
    let total_sent = sent.lock().map(|m| m.len()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(a.drain);
    while Instant::now() < deadline {
        let done = latencies.lock().map(|l| l.len()).unwrap_or(0);
        if done >= total_sent {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::SeqCst);
    let (committed, window) = observer.join().unwrap_or((0, Duration::ZERO));
    let mut lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort();
    let window_secs = window.as_secs_f64().max(send_secs).max(1e-9);
    out.print(&json!({
        "mode": format!("{:?}", a.mode).to_lowercase(),
        "nodes": rpcs.len(),
        "tx_size_bytes": prepared.tx_size,
        "offered_rate": a.rate,
        "sent": total_sent,
        "send_errors": send_errors,
        "send_seconds": (send_secs * 100.0).round() / 100.0,
        "committed": committed,
        "committed_per_sec": (committed as f64 / window_secs).round(),
        "latency_p50_s": (percentile(&lat, 0.50) * 1000.0).round() / 1000.0,
        "latency_p99_s": (percentile(&lat, 0.99) * 1000.0).round() / 1000.0,
    }));
    Ok(())
}

/// Follows blocks; returns (transactions of ours committed, first send → last commit).
fn observe(
    rpc: &RpcClient,
    from: u64,
    sent: &Mutex<HashMap<TxHash, Instant>>,
    stop: &AtomicBool,
    latencies: &Mutex<Vec<Duration>>,
) -> (usize, Duration) {
    let mut next = from + 1;
    let mut committed = 0usize;
    let mut first_send: Option<Instant> = None;
    let mut last_commit: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let Ok(latest) = rpc.latest_height() else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        while next <= latest {
            let Ok(block) = rpc.call("block", json!({"height": next.to_string()})) else {
                break;
            };
            let now = Instant::now();
            let txs = block["block"]["data"]["txs"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if let Ok(map) = sent.lock() {
                for t in &txs {
                    let Ok(bytes) = base64::engine::general_purpose::STANDARD
                        .decode(t.as_str().unwrap_or_default())
                    else {
                        continue;
                    };
                    if let Some(at) = map.get(&TxHash::of(&bytes)) {
                        committed += 1;
                        first_send = Some(first_send.map_or(*at, |f| f.min(*at)));
                        last_commit = Some(now);
                        if let Ok(mut l) = latencies.lock() {
                            l.push(now.duration_since(*at));
                        }
                    }
                }
            }
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let window = match (first_send, last_commit) {
        (Some(f), Some(l)) => l.duration_since(f),
        _ => Duration::ZERO,
    };
    (committed, window)
}
