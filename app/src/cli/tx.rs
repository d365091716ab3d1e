//! `blyand tx`: build, sign and broadcast transactions.

use std::time::Duration;

use anyhow::{bail, Context};
use blyan_proto::params::FeeParams;
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, BankMsg, Fee, Msg, SecretKey, Tx};
use serde_json::{json, Value};

use super::keys::KeyringArgs;
use super::{parse_amount, Output};
use crate::keystore::password;
use crate::rpc::RpcClient;

/// Signing and fee options shared by every transaction command.
#[derive(Debug, clap::Args)]
pub struct TxOpts {
    /// Name of the signing key in the keyring.
    #[arg(long)]
    pub from: String,
    /// CometBFT RPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:26657", env = "BLYAN_NODE")]
    pub node: String,
    /// Nonce to use (default: the account's next nonce from the node).
    #[arg(long)]
    pub nonce: Option<u64>,
    /// Gas limit (default: exactly what the transaction needs).
    #[arg(long)]
    pub gas_limit: Option<u64>,
    /// Most paid per gas, base units (default: twice the base fee plus the tip).
    #[arg(long)]
    pub max_fee_per_gas: Option<String>,
    /// Tip per gas to the proposer, base units.
    #[arg(long, default_value = "10000000")]
    pub tip: String,
    /// Memo.
    #[arg(long, default_value = "")]
    pub memo: String,
    /// Wait until the transaction is committed and print its result.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub ring: KeyringArgs,
}

/// Transaction commands.
#[derive(Debug, clap::Subcommand)]
pub enum TxCommand {
    /// Bank module.
    #[command(subcommand)]
    Bank(BankTx),
    /// Staking module.
    #[command(subcommand)]
    Staking(super::staking::StakingTx),
    /// Parameter DAG.
    #[command(subcommand)]
    Dag(super::dag::DagTx),
    /// Proof-of-Learning.
    #[command(subcommand)]
    Pol(super::pol::PolTx),
    /// Inference providers and payment channels.
    #[command(subcommand)]
    Inference(super::inference::InferenceTx),
}

/// Bank transactions.
#[derive(Debug, clap::Subcommand)]
pub enum BankTx {
    /// Send BLY: `blyand tx bank send --from alice 0xRECIPIENT 1.5bly`.
    Send {
        /// Recipient address.
        to: Address,
        /// Amount: base units, or BLY with a `bly` suffix.
        amount: String,
        #[command(flatten)]
        opts: TxOpts,
    },
}

/// Runs a transaction command.
pub(super) fn run(cmd: TxCommand, out: Output) -> anyhow::Result<()> {
    match cmd {
        TxCommand::Bank(BankTx::Send { to, amount, opts }) => {
            let amount = parse_amount(&amount)?;
            let msgs = vec![Msg::Bank(BankMsg::Send { to, amount })];
            let result = sign_and_broadcast(&opts, msgs)?;
            out.print(&result);
            if result["code"].as_u64().unwrap_or(0) != 0 {
                bail!("transaction failed");
            }
            Ok(())
        }
        TxCommand::Staking(c) => super::staking::run_tx(c, out),
        TxCommand::Dag(c) => super::dag::run_tx(c, out),
        TxCommand::Pol(c) => super::pol::run_tx(c, out),
        TxCommand::Inference(c) => super::inference::run_tx(c, out),
    }
}

/// Fills in nonce and fees from the node, signs, broadcasts, optionally waits.
pub(super) fn sign_and_broadcast(opts: &TxOpts, msgs: Vec<Msg>) -> anyhow::Result<Value> {
    sign_and_broadcast_with(opts, |_| Ok(msgs))
}

/// What a message builder may need to know about the transaction it goes into.
pub(super) struct TxContext<'a> {
    /// Chain id.
    pub chain_id: &'a str,
    /// The signer.
    pub signer: Address,
    /// The transaction's nonce.
    pub nonce: u64,
    /// The node to ask for further state.
    pub rpc: &'a RpcClient,
}

/// [`sign_and_broadcast`] with messages built once the signer, chain id and nonce are known
/// (e.g. a hashcash stamp bound to them).
pub(super) fn sign_and_broadcast_with(
    opts: &TxOpts,
    build: impl FnOnce(&TxContext<'_>) -> anyhow::Result<Vec<Msg>>,
) -> anyhow::Result<Value> {
    let ring = opts.ring.open()?;
    let key: SecretKey = ring.load(
        &opts.from,
        &password(&format!("Password for {}: ", opts.from))?,
    )?;
    let rpc = RpcClient::new(&opts.node);
    let chain_id: String = rpc.query_value(&QueryPath::ChainId)?;
    let params: FeeParams = rpc.query_value(&QueryPath::FeeParams)?;
    let base_fee: u128 = rpc.query_value(&QueryPath::BaseFee)?;
    let nonce = match opts.nonce {
        Some(n) => n,
        None => rpc.query_value(&QueryPath::Nonce(key.address()))?,
    };
    let msgs = build(&TxContext {
        chain_id: &chain_id,
        signer: key.address(),
        nonce,
        rpc: &rpc,
    })?;
    let tip = parse_amount(&opts.tip)?;
    let max_fee = match &opts.max_fee_per_gas {
        Some(s) => parse_amount(s)?,
        None => base_fee.saturating_mul(2).saturating_add(tip),
    };
    let mut tx = Tx {
        chain_id,
        nonce,
        fee: Fee {
            gas_limit: opts.gas_limit.unwrap_or(u64::MAX),
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
        },
        msgs,
        memo: opts.memo.clone(),
    };
    if opts.gas_limit.is_none() {
        // Gas depends on the encoded size, which does not depend on the gas limit value
        // (fixed-width u64), so one signing pass gives the exact figure.
        let len = tx.clone().sign(&key).to_bytes().len();
        tx.fee.gas_limit = blyan_chain::fees::tx_gas(&params, &tx, len);
    }
    let signed = tx.sign(&key);
    let bytes = signed.to_bytes();
    let resp = rpc.broadcast_tx_sync(&bytes)?;
    let mut result = json!({
        "hash": resp.hash,
        "code": resp.code,
        "log": resp.log,
        "from": key.address().to_string(),
        "nonce": nonce,
    });
    if let Some(c) = blyan_proto::ErrorCode::from_u32(resp.code) {
        result["error"] = json!(c.name());
    }
    if resp.code == 0 && opts.wait {
        let committed = rpc
            .wait_tx(&resp.hash, Duration::from_secs(60))
            .context("waiting for the transaction")?;
        let r = &committed["tx_result"];
        result["height"] = json!(as_u64(&committed["height"]));
        result["code"] = json!(r["code"].as_u64().unwrap_or(0));
        result["log"] = r["log"].clone();
        result["gas_used"] = json!(as_u64(&r["gas_used"]));
    }
    Ok(result)
}

/// CometBFT writes 64-bit numbers as JSON strings; print them as numbers.
pub(super) fn as_u64(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_u64().unwrap_or(0),
    }
}
