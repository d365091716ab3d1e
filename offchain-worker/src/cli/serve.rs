//! `blyan-worker serve`: the OpenAI-compatible inference gateway (see
//! [`blyan_worker::serve`]). With `--home` (chain mode) and a provider key it takes
//! payment-channel vouchers ([`blyan_worker::serve::payments`]) and can redeem them every
//! `--redeem-every` seconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use blyan_proto::inference::ProviderInfo;
use blyan_proto::query::QueryPath;
use blyan_worker::chain::{RpcClient, TxSender};
use blyan_worker::ipfs::KuboClient;
use blyan_worker::serve::quote::Signer;
use blyan_worker::serve::siwe::SiweConfig;
use blyan_worker::serve::{
    self, payments, Billing, FreeTier, FreeTierConfig, Gateway, GatewayConfig, ModelOrigin,
    PaymentsConfig, VoucherBilling,
};

use super::miner::KeyArgs;
use candle_core::Device;
use clap::Args;

/// Arguments of `serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Model directory (with `meta.json`); a changed `meta.json` is picked up as a new version.
    #[arg(long, conflicts_with_all = ["chain", "model_id"], required_unless_present = "chain")]
    model_dir: Option<PathBuf>,
    /// CometBFT RPC of a node (`http://127.0.0.1:26657`): serve the chain's heads.
    #[arg(long, requires_all = ["model_id", "ipfs"])]
    chain: Option<String>,
    /// Model id on chain.
    #[arg(long)]
    model_id: Option<String>,
    /// Kubo RPC API the blocks are fetched from.
    #[arg(long, env = "BLYAN_IPFS_API")]
    ipfs: Option<String>,
    /// Cache directory for fetched blocks (default: `$TMPDIR/blyan-worker-cache/{model id}`).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Byte budget of the expert cache (default: unbounded).
    #[arg(long)]
    cache_bytes: Option<u64>,
    /// Re-read the heads every this many seconds (0: never).
    #[arg(long, default_value_t = 10)]
    poll_secs: u64,
    /// The model id clients name (default: the chain model id, or `blyan-{preset}`).
    #[arg(long)]
    model_name: Option<String>,
    /// Largest `max_tokens` accepted.
    #[arg(long, default_value_t = 1024)]
    max_tokens_limit: usize,
    /// `max_tokens` when a request gives none.
    #[arg(long, default_value_t = 64)]
    default_max_tokens: usize,
    /// Price per 1,000 tokens: `0.001bly` or base units (1 BLY = 10^18).
    #[arg(long, default_value = "0.001bly", value_parser = super::miner::parse_amount)]
    price_per_1k: u128,
    /// How long a quote stays valid, seconds.
    #[arg(long, default_value_t = 300)]
    quote_ttl_secs: u64,
    /// Leading zero bits of the hashcash stamp free newbie requests need (0: none).
    #[arg(long, default_value_t = 16)]
    hashcash_bits: u32,
    /// Free requests a day for anonymous and newbie callers.
    #[arg(long, default_value_t = 5)]
    free_newbie: u32,
    /// Free requests a day for trusted callers.
    #[arg(long, default_value_t = 500)]
    free_trusted: u32,
    /// Generations running at once.
    #[arg(long, default_value_t = 64)]
    max_concurrency: usize,
    /// MAC key of quotes and challenges, 64 hex digits (default: random at start, so quotes
    /// do not survive a restart).
    #[arg(long, env = "BLYAN_GATEWAY_KEY")]
    quote_key: Option<String>,
    /// Time limit of one Kubo call, in seconds.
    #[arg(long, default_value_t = 60)]
    ipfs_timeout: u64,
    /// The gateway's state directory: the free tier's daily counts (`free_quota.json`, so a
    /// restart does not reset them) and, with `--chain`, paid requests: the payments book
    /// (vouchers, billed totals, usage) with the provider's key (`--key-hex`/
    /// `BLYAN_WORKER_KEY` or `--keystore`).
    #[arg(long)]
    home: Option<PathBuf>,
    /// The domain Sign-In with Ethereum messages must name (default: the request's Host).
    #[arg(long)]
    siwe_domain: Option<String>,
    /// The chain id Sign-In with Ethereum messages must name.
    #[arg(long, default_value_t = 1)]
    siwe_chain_id: u64,
    /// Generations one caller may run at once.
    #[arg(long, default_value_t = 4)]
    max_per_caller: usize,
    /// Longest a generation (a stream) may run, seconds.
    #[arg(long, default_value_t = 600)]
    stream_deadline_secs: u64,
    /// Longest a stream waits for the client to take an event, seconds.
    #[arg(long, default_value_t = 30)]
    send_timeout_secs: u64,
    #[command(flatten)]
    key: KeyArgs,
    /// Redeem the vouchers on chain every this many seconds (0: never; then use
    /// `blyan-worker redeem` while the gateway is stopped).
    #[arg(long, default_value_t = 0)]
    redeem_every: u64,
    /// Blocks a channel must have left before expiry for its vouchers to be taken.
    #[arg(long, default_value_t = 5)]
    min_blocks_left: u64,
}

/// Runs `serve` until interrupted.
pub fn serve(a: ServeArgs, device: &Device) -> Result<()> {
    let (origin, default_name) = if let Some(dir) = &a.model_dir {
        let preset = ModelOrigin::Dir(dir.clone())
            .snapshot()
            .map(|s| s.manifest.meta.preset)
            .unwrap_or_else(|_| "model".into());
        (ModelOrigin::Dir(dir.clone()), format!("blyan-{preset}"))
    } else {
        let (Some(rpc), Some(id), Some(api)) = (&a.chain, &a.model_id, &a.ipfs) else {
            bail!("give --model-dir DIR, or --chain URL --model-id ID --ipfs URL");
        };
        let cache_dir = a.cache.clone().unwrap_or_else(|| {
            std::env::temp_dir()
                .join("blyan-worker-cache")
                .join(id.as_str())
        });
        let kubo = KuboClient::new(api)?.with_timeout(Duration::from_secs(a.ipfs_timeout));
        (
            ModelOrigin::Chain {
                rpc: rpc.clone(),
                model_id: id.clone(),
                kubo,
                cache_dir,
            },
            id.clone(),
        )
    };
    let signer_key = match &a.quote_key {
        None => None,
        Some(h) => {
            let v = hex::decode(h.trim_start_matches("0x")).context("--quote-key is not hex")?;
            Some(
                <[u8; 32]>::try_from(v.as_slice())
                    .map_err(|_| anyhow::anyhow!("--quote-key must be 32 bytes"))?,
            )
        }
    };
    let cfg = GatewayConfig {
        model_name: a.model_name.clone().unwrap_or(default_name),
        cache_bytes: a
            .cache_bytes
            .map_or(usize::MAX, |b| usize::try_from(b).unwrap_or(usize::MAX)),
        max_tokens_limit: a.max_tokens_limit,
        default_max_tokens: a.default_max_tokens,
        price_per_1k: a.price_per_1k,
        quote_ttl_secs: a.quote_ttl_secs,
        hashcash_bits: a.hashcash_bits,
        max_concurrency: a.max_concurrency,
        poll: (a.poll_secs > 0).then(|| Duration::from_secs(a.poll_secs)),
        free_tier: FreeTierConfig {
            newbie_per_day: a.free_newbie,
            trusted_per_day: a.free_trusted,
            chain_rpc: a.chain.clone(),
            quota_store: a.home.as_ref().map(|h| h.join("free_quota.json")),
            ..FreeTierConfig::default()
        },
        signer_key,
        siwe: SiweConfig {
            domain: a.siwe_domain.clone(),
            chain_id: a.siwe_chain_id,
            ..SiweConfig::default()
        },
        max_per_caller: a.max_per_caller,
        stream_deadline: Duration::from_secs(a.stream_deadline_secs.max(1)),
        send_timeout: Duration::from_secs(a.send_timeout_secs.max(1)),
        ..GatewayConfig::default()
    };
    if let Some(home) = &a.home {
        std::fs::create_dir_all(home).with_context(|| home.display().to_string())?;
    }
    let (billing, payments) = match (&a.home, &a.chain) {
        (None, _) | (_, None) => (None, None),
        (Some(home), Some(_)) => {
            let (Some(rpc), Some(model)) = (&a.chain, &a.model_id) else {
                bail!("--home (payments) needs --chain and --model-id");
            };
            let key = a
                .key
                .load()
                .context("the provider key (payments are on with --home)")?;
            let client = RpcClient::new(rpc);
            let chain_id = payments::chain_id(&client).context("reading the chain id")?;
            let pcfg = PaymentsConfig {
                chain_id,
                provider: key.address(),
                model: model.clone(),
                home: home.clone(),
                channel_ttl: Duration::from_secs(2),
                min_blocks_left: a.min_blocks_left,
            };
            match client.query::<ProviderInfo>(&QueryPath::Provider(key.address())) {
                Ok(p) if p.price_per_1k_tokens != cfg.price_per_1k => tracing::warn!(
                    on_chain = %p.price_per_1k_tokens, serving = %cfg.price_per_1k,
                    "the price registered on chain differs from --price-per-1k"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, provider = %key.address(), "not a registered provider yet (blyand tx inference register-provider)")
                }
            }
            let free = FreeTier::new(
                FreeTierConfig {
                    hashcash: cfg.hashcash_bits > 0,
                    ..cfg.free_tier.clone()
                },
                Arc::new(Signer::new(cfg.signer_key)),
            );
            let vb = Arc::new(VoucherBilling::open(pcfg, Box::new(client.clone()), free)?);
            tracing::info!(provider = %key.address(), home = %home.display(), "payments on: vouchers in x-blyan-voucher");
            let sender = TxSender::new(client, key).context("tx sender")?;
            (Some(vb.clone() as Arc<dyn Billing>), Some((vb, sender)))
        }
    };
    let gw: Arc<Gateway> = Gateway::load(origin, cfg, device, billing)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .with_context(|| format!("listen on {}", a.listen))?;
        let addr = listener.local_addr()?;
        println!(
            "serving {} version {} on http://{addr}",
            gw.cfg.model_name,
            gw.handle.current().fingerprint
        );
        use std::io::Write as _;
        std::io::stdout().flush()?;
        if let (Some((vb, sender)), true) = (payments, a.redeem_every > 0) {
            let every = Duration::from_secs(a.redeem_every);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let (vb, sender) = (vb.clone(), sender.clone());
                    let done = tokio::task::spawn_blocking(move || {
                        vb.redeem_all(&sender, Duration::from_secs(60))
                    })
                    .await;
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "redeem task failed");
                    }
                }
            });
        }
        serve::serve(gw, listener).await?;
        Ok(())
    })
}
