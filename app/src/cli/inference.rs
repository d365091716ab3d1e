//! `blyand query inference …` and `blyand tx inference …`: providers, payment channels and
//! voucher redemption.

use blyan_proto::inference::{
    BlockUsage, ChannelInfo, InferenceMsg, InferenceParams, ProviderInfo, SignedVoucher,
};
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, Msg};

use super::dag::fetch;
use super::query::QueryOpts;
use super::tx::{sign_and_broadcast, TxOpts};
use super::{parse_amount, Output};

/// Inference queries.
#[derive(Debug, clap::Subcommand)]
pub enum InferenceQuery {
    /// The module's parameters (the redemption split).
    Params {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A provider.
    Provider {
        /// Provider account.
        address: Address,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Every provider.
    Providers {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A channel.
    Channel {
        /// Channel id.
        id: u64,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// The channels an account opened.
    Channels {
        /// User account.
        user: Address,
        #[command(flatten)]
        opts: QueryOpts,
    },
}

/// Runs an inference query.
pub(super) fn run_query(cmd: InferenceQuery, out: Output) -> anyhow::Result<()> {
    let v = match cmd {
        InferenceQuery::Params { opts } => {
            fetch::<InferenceParams>(&opts, &QueryPath::InferenceParams)?
        }
        InferenceQuery::Provider { address, opts } => {
            fetch::<ProviderInfo>(&opts, &QueryPath::Provider(address))?
        }
        InferenceQuery::Providers { opts } => {
            fetch::<Vec<ProviderInfo>>(&opts, &QueryPath::Providers)?
        }
        InferenceQuery::Channel { id, opts } => {
            fetch::<ChannelInfo>(&opts, &QueryPath::Channel(id))?
        }
        InferenceQuery::Channels { user, opts } => {
            fetch::<Vec<ChannelInfo>>(&opts, &QueryPath::Channels(user))?
        }
    };
    out.print(&v);
    Ok(())
}

/// Inference transactions.
#[derive(Debug, clap::Subcommand)]
pub enum InferenceTx {
    /// Register (or update) the signer as a provider.
    RegisterProvider {
        /// Public base URL of its OpenAI-compatible API.
        #[arg(long)]
        endpoint: String,
        /// Models served (repeat or comma-separate).
        #[arg(long, value_delimiter = ',', required = true)]
        models: Vec<String>,
        /// Price per 1,000 tokens: base units or `0.001bly`.
        #[arg(long)]
        price_per_1k: String,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Open a payment channel to a provider, locking a deposit.
    OpenChannel {
        /// Provider account.
        provider: Address,
        /// Deposit: base units or `5bly`.
        deposit: String,
        /// Blocks until the channel expires.
        #[arg(long, default_value_t = 100_000)]
        duration_blocks: u64,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Add to a channel's deposit and/or extend it.
    TopUp {
        /// Channel id.
        channel: u64,
        /// Amount added: base units or `1bly`.
        #[arg(long, default_value = "0")]
        amount: String,
        /// Blocks added to the expiry.
        #[arg(long, default_value_t = 0)]
        extend_blocks: u64,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Redeem a voucher (provider): a JSON file `{"voucher": SignedVoucher, "model": ..,
    /// "usage": [{"block": .., "tokens": ..}]}`.
    Redeem {
        /// The redemption JSON file.
        file: std::path::PathBuf,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Close an expired channel and take back what was not redeemed.
    Close {
        /// Channel id.
        channel: u64,
        #[command(flatten)]
        opts: TxOpts,
    },
}

#[derive(serde::Deserialize)]
struct RedeemFile {
    voucher: SignedVoucher,
    model: String,
    #[serde(default)]
    usage: Vec<BlockUsage>,
}

/// Runs an inference transaction.
pub(super) fn run_tx(cmd: InferenceTx, out: Output) -> anyhow::Result<()> {
    let (msg, opts) = match cmd {
        InferenceTx::RegisterProvider {
            endpoint,
            models,
            price_per_1k,
            opts,
        } => (
            InferenceMsg::RegisterProvider {
                endpoint,
                models,
                price_per_1k_tokens: parse_amount(&price_per_1k)?,
            },
            opts,
        ),
        InferenceTx::OpenChannel {
            provider,
            deposit,
            duration_blocks,
            opts,
        } => (
            InferenceMsg::OpenChannel {
                provider,
                deposit: parse_amount(&deposit)?,
                duration_blocks,
            },
            opts,
        ),
        InferenceTx::TopUp {
            channel,
            amount,
            extend_blocks,
            opts,
        } => (
            InferenceMsg::TopUp {
                channel,
                amount: parse_amount(&amount)?,
                extend_blocks,
            },
            opts,
        ),
        InferenceTx::Redeem { file, opts } => {
            let text = std::fs::read_to_string(&file)?;
            let r: RedeemFile = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not a redemption file: {e}", file.display()))?;
            (
                InferenceMsg::Redeem {
                    voucher: r.voucher,
                    model: r.model,
                    usage: r.usage,
                },
                opts,
            )
        }
        InferenceTx::Close { channel, opts } => (InferenceMsg::Close { channel }, opts),
    };
    let result = sign_and_broadcast(&opts, vec![Msg::Inference(msg)])?;
    out.print(&result);
    if result["code"].as_u64().unwrap_or(0) != 0 {
        anyhow::bail!("transaction failed");
    }
    Ok(())
}
