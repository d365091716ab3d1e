//! `blyan-worker pol …`: look at Proof-of-Learning submissions as a validator would, and
//! replay a model's learned history from its recorded deltas.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;

use blyan_worker::chain::submission::{fetch_deltas, fetch_manifest, submission};
use blyan_worker::chain::RpcClient;
use blyan_worker::ipfs::KuboClient;
use blyan_worker::validator::replay::replay;

/// Where to read the chain and IPFS.
#[derive(Args, Debug)]
pub struct PolFrom {
    /// CometBFT RPC of a node.
    #[arg(long, default_value = "http://127.0.0.1:26657", env = "BLYAN_NODE")]
    chain: String,
    /// Kubo RPC API to fetch content through.
    #[arg(long, env = "BLYAN_IPFS_API")]
    ipfs: String,
}

/// `pol` subcommands.
#[derive(Subcommand, Debug)]
pub enum PolCmd {
    /// Fetch a submission's deltas by CID, check each against the hash on chain, decode
    /// them and print each block's decoded hash (equal on every machine).
    FetchDelta {
        #[command(flatten)]
        from: PolFrom,
        /// Submission id.
        #[arg(long)]
        submission: u64,
        /// Also write each verified container to `DIR/{block}.delta`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch a submission's training manifest, check its hash and size, print it.
    Manifest {
        #[command(flatten)]
        from: PolFrom,
        /// Submission id.
        #[arg(long)]
        submission: u64,
    },
    /// Replay every block's history: from its first version, apply each recorded aggregate
    /// delta in order and check the result's payload hash equals the recorded version's.
    /// Exits non-zero on any mismatch.
    Replay {
        #[command(flatten)]
        from: PolFrom,
        /// Model id on chain.
        #[arg(long)]
        model_id: String,
        /// Print JSON rows.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `pol` subcommand.
pub fn run(cmd: PolCmd) -> Result<()> {
    match cmd {
        PolCmd::FetchDelta {
            from,
            submission: id,
            out,
            json: as_json,
        } => {
            let rpc = RpcClient::new(&from.chain);
            let kubo = KuboClient::new(&from.ipfs)?.with_timeout(Duration::from_secs(60));
            let sub = submission(&rpc, id)?;
            let fetched = fetch_deltas(&kubo, &sub)?;
            if let Some(dir) = &out {
                std::fs::create_dir_all(dir)?;
                for f in &fetched {
                    std::fs::write(dir.join(format!("{}.delta", f.block)), &f.bytes)?;
                }
            }
            let blocks: Vec<_> = fetched
                .iter()
                .map(|f| {
                    json!({
                        "block": f.block,
                        "bytes": f.bytes.len(),
                        "values": f.decoded.tensors.iter().map(|t| t.values.len()).sum::<usize>(),
                        "decoded_hash": hex::encode(f.decoded_hash),
                    })
                })
                .collect();
            let v = json!({"submission": id, "round": sub.round, "miner": sub.miner.to_string(), "blocks": blocks});
            if as_json {
                println!("{v}");
            } else {
                for b in &blocks {
                    println!(
                        "{}  {} bytes  decoded {}",
                        b["block"].as_str().unwrap_or_default(),
                        b["bytes"],
                        b["decoded_hash"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        PolCmd::Manifest {
            from,
            submission: id,
        } => {
            let rpc = RpcClient::new(&from.chain);
            let kubo = KuboClient::new(&from.ipfs)?.with_timeout(Duration::from_secs(60));
            let sub = submission(&rpc, id)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&fetch_manifest(&rpc, &kubo, &sub)?)?
            );
            Ok(())
        }
        PolCmd::Replay {
            from,
            model_id,
            json: as_json,
        } => {
            let rpc = RpcClient::new(&from.chain);
            let kubo = KuboClient::new(&from.ipfs)?.with_timeout(Duration::from_secs(60));
            let rows = replay(&rpc, &kubo, &model_id)?;
            if as_json {
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                println!(
                    "{:<18} {:<8} {:<9} {:<16} {:<16} ok",
                    "block", "version", "source", "recorded", "replayed"
                );
                for r in &rows {
                    println!(
                        "{:<18} {:<8} {:<9} {:<16} {:<16} {}",
                        r.block,
                        r.version,
                        r.source,
                        &r.recorded[..16.min(r.recorded.len())],
                        &r.replayed[..16.min(r.replayed.len())],
                        if r.ok { "yes" } else { "MISMATCH" }
                    );
                }
            }
            let bad = rows.iter().filter(|r| !r.ok).count();
            let replayed = rows.iter().filter(|r| r.source == "delta").count();
            eprintln!(
                "{} versions, {replayed} replayed from deltas, {bad} mismatches",
                rows.len()
            );
            if bad > 0 {
                anyhow::bail!("{bad} versions do not replay to their recorded payload hash");
            }
            Ok(())
        }
    }
}
