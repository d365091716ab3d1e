//! `blyan-worker redeem`: redeems a gateway's vouchers on chain from its payments book (the
//! gateway must be stopped: the book is locked while it runs; a running gateway redeems
//! with `serve --redeem-every`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use blyan_worker::chain::{RpcClient, TxSender};
use blyan_worker::serve::payments::{self, PaymentsConfig, VoucherBilling};
use blyan_worker::serve::quote::Signer;
use blyan_worker::serve::{FreeTier, FreeTierConfig};
use clap::Args;

use super::miner::KeyArgs;

/// Arguments of `redeem`.
#[derive(Args)]
pub struct RedeemArgs {
    /// The gateway's payments directory (`serve --home`).
    #[arg(long)]
    home: PathBuf,
    /// CometBFT RPC of a node.
    #[arg(long, default_value = "http://127.0.0.1:26657", env = "BLYAN_NODE")]
    chain: String,
    /// Model id reported with the usage (default: the one the book recorded).
    #[arg(long)]
    model_id: Option<String>,
    /// How long to wait for each transaction, seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    #[command(flatten)]
    key: KeyArgs,
}

/// Runs `redeem`: prints a JSON report of each redemption; fails if one was refused.
pub fn redeem(a: RedeemArgs) -> Result<()> {
    let key = a.key.load().context("the provider key")?;
    let rpc = RpcClient::new(&a.chain);
    let chain_id = payments::chain_id(&rpc).context("reading the chain id")?;
    let cfg = PaymentsConfig {
        chain_id,
        provider: key.address(),
        model: a.model_id.clone().unwrap_or_default(),
        home: a.home.clone(),
        channel_ttl: Duration::ZERO,
        min_blocks_left: 0,
    };
    let free = FreeTier::new(FreeTierConfig::default(), Arc::new(Signer::new(None)));
    let vb = VoucherBilling::open(cfg, Box::new(rpc.clone()), free)?;
    if vb.config().model.is_empty() {
        bail!("the book records no model: give --model-id");
    }
    let sender = TxSender::new(rpc, key).context("tx sender")?;
    let reports = vb.redeem_all(&sender, Duration::from_secs(a.timeout));
    let refused = reports.iter().filter(|r| r.code != 0).count();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "redemptions": reports,
            "book": vb.book_status(),
        }))?
    );
    if refused > 0 {
        bail!("{refused} redemption(s) refused");
    }
    Ok(())
}
