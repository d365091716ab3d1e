//! `blyand query`: read chain state, optionally proved against a block's app hash.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use blyan_proto::params::FeeParams;
use blyan_proto::query::{AccountInfo, QueryPath};
use blyan_proto::Address;
use parity_scale_codec::Decode;
use serde_json::{json, Value};

use super::amount::format_bly;
use super::tx::as_u64;
use super::Output;
use crate::store::verify_proof;
use blyan_client::{QueryResponse, RpcClient};

/// Options shared by queries.
#[derive(Debug, clap::Args)]
pub struct QueryOpts {
    /// CometBFT RPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:26657", env = "BLYAN_NODE")]
    pub node: String,
    /// Height to read at (default: latest; older heights within the node's retained window).
    #[arg(long, default_value_t = 0)]
    pub height: u64,
    /// Ask for a Merkle proof and verify it against the app hash in the next block's header.
    #[arg(long)]
    pub prove: bool,
}

/// Query commands.
#[derive(Debug, clap::Subcommand)]
pub enum QueryCommand {
    /// Bank module.
    #[command(subcommand)]
    Bank(BankQuery),
    /// Accounts and nonces.
    #[command(subcommand)]
    Auth(AuthQuery),
    /// Fee market.
    #[command(subcommand)]
    Fees(FeesQuery),
    /// Validators, delegations, rewards.
    #[command(subcommand)]
    Staking(super::staking::StakingQuery),
    /// Models and parameter blocks.
    #[command(subcommand)]
    Dag(super::dag::DagQuery),
    /// Proof-of-Learning rounds, submissions and trust.
    #[command(subcommand)]
    Pol(super::pol::PolQuery),
    /// Inference providers and payment channels.
    #[command(subcommand)]
    Inference(super::inference::InferenceQuery),
    /// Governance proposals, votes and tallies.
    #[command(subcommand)]
    Gov(super::gov::GovQuery),
    /// A committed transaction by hash (from CometBFT's index).
    Tx {
        /// Transaction hash (hex).
        hash: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
}

/// Bank queries.
#[derive(Debug, clap::Subcommand)]
pub enum BankQuery {
    /// An account's balance.
    Balance {
        /// The account.
        address: Address,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Total supply.
    Supply {
        #[command(flatten)]
        opts: QueryOpts,
    },
}

/// Auth queries.
#[derive(Debug, clap::Subcommand)]
pub enum AuthQuery {
    /// Nonce and balance of an account.
    Account {
        /// The account.
        address: Address,
        #[command(flatten)]
        opts: QueryOpts,
    },
}

/// Fee queries.
#[derive(Debug, clap::Subcommand)]
pub enum FeesQuery {
    /// Fee market parameters and gas schedule.
    Params {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Base fee per gas for the next block.
    BaseFee {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Base units burned by fees since genesis.
    Burned {
        #[command(flatten)]
        opts: QueryOpts,
    },
}

fn fetch(opts: &QueryOpts, path: &QueryPath) -> anyhow::Result<(QueryResponse, Value)> {
    let rpc = RpcClient::new(&opts.node);
    let r = rpc.at_height(opts.height).abci_query(path, opts.prove)?;
    if r.code != 0 {
        bail!("query {path} failed with code {}: {}", r.code, r.log);
    }
    let mut proof_json = Value::Null;
    if opts.prove {
        let proof = r.proof.as_ref().context("the node sent no proof")?;
        let root = app_hash_after(&rpc, r.height)?;
        let value = if r.info == "absent" {
            None
        } else {
            Some(r.value.as_slice())
        };
        verify_proof(&root, &r.key, value, proof)?;
        proof_json = json!({
            "verified": true,
            "app_hash": hex::encode_upper(root),
            "header_height": r.height + 1,
        });
    }
    Ok((r, proof_json))
}

/// The state root after `height`: the app hash in the header of block `height + 1`.
fn app_hash_after(rpc: &RpcClient, height: u64) -> anyhow::Result<[u8; 32]> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rpc.header_app_hash(height + 1) {
            Ok(h) => {
                return h
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("app hash is not 32 bytes"))
            }
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn decode<T: Decode>(r: &QueryResponse) -> anyhow::Result<T> {
    T::decode(&mut r.value.as_slice()).map_err(|e| anyhow::anyhow!("bad value: {e}"))
}

fn with_proof(mut v: Value, height: u64, proof: Value) -> Value {
    v["height"] = json!(height);
    if !proof.is_null() {
        v["proof"] = proof;
    }
    v
}

/// Runs a query command.
pub(super) fn run(cmd: QueryCommand, out: Output) -> anyhow::Result<()> {
    let v = match cmd {
        QueryCommand::Staking(c) => return super::staking::run_query(c, out),
        QueryCommand::Dag(c) => return super::dag::run_query(c, out),
        QueryCommand::Pol(c) => return super::pol::run_query(c, out),
        QueryCommand::Inference(c) => return super::inference::run_query(c, out),
        QueryCommand::Gov(c) => return super::gov::run_query(c, out),
        QueryCommand::Bank(BankQuery::Balance { address, opts }) => {
            let (r, p) = fetch(&opts, &QueryPath::Balance(address))?;
            let b: u128 = decode(&r)?;
            with_proof(
                json!({"address": address.to_string(), "balance": b.to_string(), "display": format_bly(b)}),
                r.height,
                p,
            )
        }
        QueryCommand::Bank(BankQuery::Supply { opts }) => {
            let (r, p) = fetch(&opts, &QueryPath::Supply)?;
            let s: u128 = decode(&r)?;
            with_proof(
                json!({"supply": s.to_string(), "display": format_bly(s)}),
                r.height,
                p,
            )
        }
        QueryCommand::Auth(AuthQuery::Account { address, opts }) => {
            let (r, p) = fetch(&opts, &QueryPath::Account(address))?;
            let a: AccountInfo = decode(&r)?;
            with_proof(serde_json::to_value(&a)?, r.height, p)
        }
        QueryCommand::Fees(FeesQuery::Params { opts }) => {
            let (r, p) = fetch(&opts, &QueryPath::FeeParams)?;
            let fp: FeeParams = decode(&r)?;
            with_proof(serde_json::to_value(&fp)?, r.height, p)
        }
        QueryCommand::Fees(FeesQuery::BaseFee { opts }) => {
            let (r, p) = fetch(&opts, &QueryPath::BaseFee)?;
            let b: u128 = decode(&r)?;
            with_proof(json!({"base_fee_per_gas": b.to_string()}), r.height, p)
        }
        QueryCommand::Fees(FeesQuery::Burned { opts }) => {
            let (r, p) = fetch(&opts, &QueryPath::Burned)?;
            let b: u128 = decode(&r)?;
            with_proof(
                json!({"burned": b.to_string(), "display": format_bly(b)}),
                r.height,
                p,
            )
        }
        QueryCommand::Tx { hash, opts } => {
            let rpc = RpcClient::new(&opts.node);
            let t = rpc
                .tx(&hash)?
                .with_context(|| format!("transaction {hash} not found"))?;
            tx_json(&t.raw)?
        }
    };
    out.print(&v);
    Ok(())
}

/// A committed transaction as people want to read it: decoded body, signer, result.
fn tx_json(t: &Value) -> anyhow::Result<Value> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(t["tx"].as_str().unwrap_or_default())
        .context("tx bytes are not base64")?;
    let decoded = blyan_proto::SignedTx::from_bytes(&raw).ok();
    let r = &t["tx_result"];
    Ok(json!({
        "hash": t["hash"],
        "height": as_u64(&t["height"]),
        "code": r["code"].as_u64().unwrap_or(0),
        "log": r["log"],
        "gas_wanted": as_u64(&r["gas_wanted"]),
        "gas_used": as_u64(&r["gas_used"]),
        "signer": decoded.as_ref().and_then(|d| d.recover_signer().ok()).map(|a| a.to_string()),
        "tx": decoded.as_ref().map(|d| serde_json::to_value(&d.tx).unwrap_or(Value::Null)),
        "events": r["events"],
    }))
}
