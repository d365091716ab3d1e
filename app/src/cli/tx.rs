//! `blyand tx`: build, sign and broadcast transactions.

use std::time::Duration;

use anyhow::{bail, Context};
use blyan_client::{FeeOptions, RpcClient, TxSender};
use blyan_proto::{Address, BankMsg, Msg, SecretKey};
use serde_json::{json, Value};

use super::keys::password;
use super::keys::KeyringArgs;
use super::{parse_amount, Output};

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
    /// Governance proposals, deposits and votes.
    #[command(subcommand)]
    Gov(super::gov::GovTx),
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
        TxCommand::Gov(c) => super::gov::run_tx(c, out),
    }
}

/// Fills in nonce and fees from the node, signs, broadcasts, optionally waits.
pub(super) fn sign_and_broadcast(opts: &TxOpts, msgs: Vec<Msg>) -> anyhow::Result<Value> {
    sign_and_broadcast_with(opts, |_| Ok(msgs.clone()))
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
/// (e.g. a hashcash stamp bound to them). Without `--nonce`, the account's next nonce is
/// read from the node (and read again, the messages rebuilt, after a nonce error).
pub(super) fn sign_and_broadcast_with(
    opts: &TxOpts,
    mut build: impl FnMut(&TxContext<'_>) -> anyhow::Result<Vec<Msg>>,
) -> anyhow::Result<Value> {
    let ring = opts.ring.open()?;
    let key: SecretKey = ring.load(
        &opts.from,
        &password(&format!("Password for {}: ", opts.from))?,
    )?;
    let fees = FeeOptions {
        tip: parse_amount(&opts.tip)?,
        max_fee_per_gas: opts
            .max_fee_per_gas
            .as_deref()
            .map(parse_amount)
            .transpose()?,
        gas_limit: opts.gas_limit,
    };
    let sender = TxSender::new(RpcClient::new(&opts.node), key)?.with_fees(fees);
    let mut build_for = |nonce| {
        build(&TxContext {
            chain_id: sender.chain_id(),
            signer: sender.address(),
            nonce,
            rpc: sender.rpc(),
        })
    };
    let sent = match opts.nonce {
        Some(n) => sender.send_at(n, build_for(n)?, &opts.memo)?,
        None => sender.send_with(&opts.memo, build_for)?,
    };
    let mut result = json!({
        "hash": sent.hash,
        "code": sent.code,
        "log": sent.log,
        "from": sender.address().to_string(),
        "nonce": sent.nonce,
    });
    if let Some(c) = blyan_proto::ErrorCode::from_u32(sent.code) {
        result["error"] = json!(c.name());
    }
    if sent.code == 0 && opts.wait {
        let committed = sender
            .rpc()
            .wait_tx(&sent.hash, Duration::from_secs(60))
            .context("waiting for the transaction")?;
        result["height"] = json!(committed.height);
        result["code"] = json!(committed.code);
        result["log"] = json!(committed.log);
        result["gas_used"] = json!(committed.gas_used);
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
