//! `blyan-worker serve`: an OpenAI-compatible HTTP gateway over the model's current heads.
//!
//! - The model comes from a [`ModelOrigin`] (a model directory, or the chain's heads plus
//!   Kubo); every block is verified against its payload hash before it is used. Dense blocks
//!   stay resident; experts are loaded on demand through an [`ExpertCache`] bounded in bytes.
//! - A poller re-reads the heads every `poll` interval; when they move, the new version is
//!   loaded and swapped in atomically ([`ModelHandle`]): running streams finish on the
//!   version they started with, new requests get the new one.
//! - Endpoints: `GET /v1/models`, `POST /v1/chat/completions` (SSE with `stream: true`),
//!   `POST /v1/quote`, `GET /v1/challenge`, `GET /v1/blyan/model`, `GET /health`,
//!   `GET /metrics`, `GET|POST /v1/auth/nonce` and `POST /v1/auth/siwe` (Sign-In with
//!   Ethereum, [`siwe`]), and the chat page at `/`. Every response carries the
//!   `x-blyan-model-version` header ([`api::VERSION_HEADER`]); JSON bodies also carry
//!   `system_fingerprint` and a `blyan` object with the head ids.
//! - Payment goes through the [`Billing`] trait; [`FreeTier`] is the default, and
//!   [`VoucherBilling`] takes payment-channel vouchers (`x-blyan-voucher`, see [`payments`])
//!   with the free tier for requests without one. `GET /v1/blyan/payments`,
//!   `GET /v1/blyan/channel/{id}` and `POST /v1/blyan/voucher` serve paying clients.
//! - Generation runs on tokio's blocking pool, at most `max_concurrency` at once and at most
//!   `max_per_caller` per caller (more: 429). A stream ends after `stream_deadline`, and a
//!   client that does not take an event within `send_timeout` is dropped, so a client that
//!   never reads cannot hold a generation permit.

pub mod api;
pub mod billing;
pub mod cache;
mod chat;
pub mod engine;
mod free_tier;
mod handlers;
mod limits;
pub mod metrics;
pub mod payments;
pub mod quote;
mod rfc3339;
pub mod siwe;
pub mod version;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use candle_core::Device;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use billing::{
    Authorization, Billing, BillingError, BillingRequest, BlockTokens, FreeTier, FreeTierConfig,
    Settlement,
};
pub use cache::{CacheStats, ExpertCache};
pub use payments::{PaymentsConfig, VoucherBilling};
pub use version::{ModelHandle, ModelOrigin, ModelVersion};

use metrics::Metrics;
use quote::Signer;

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The model id clients name (`model` in requests).
    pub model_name: String,
    /// Byte budget of the expert cache (`usize::MAX`: unbounded).
    pub cache_bytes: usize,
    /// Largest `max_tokens` accepted.
    pub max_tokens_limit: usize,
    /// `max_tokens` when the request has none.
    pub default_max_tokens: usize,
    /// Longest prompt (template applied), bytes.
    pub max_prompt_bytes: usize,
    /// Price per 1,000 tokens, base units (1 BLY = 10^18).
    pub price_per_1k: u128,
    /// How long a quote stays valid, seconds.
    pub quote_ttl_secs: u64,
    /// Leading zero bits of a hashcash stamp (0: free requests need no stamp).
    pub hashcash_bits: u32,
    /// How long a challenge stays valid, seconds.
    pub challenge_ttl_secs: u64,
    /// Generations running at once (more wait).
    pub max_concurrency: usize,
    /// How often the heads are re-read (`None`: never).
    pub poll: Option<Duration>,
    /// Free tier limits.
    pub free_tier: FreeTierConfig,
    /// MAC key of quotes and challenges (`None`: random at start).
    pub signer_key: Option<[u8; 32]>,
    /// Sign-In with Ethereum settings.
    pub siwe: siwe::SiweConfig,
    /// Generations one caller may run at once (more: 429).
    pub max_per_caller: usize,
    /// Longest a generation (a stream) may run.
    pub stream_deadline: Duration,
    /// Longest a stream waits for the client to take an event before dropping it.
    pub send_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            model_name: "blyan".into(),
            cache_bytes: usize::MAX,
            max_tokens_limit: 1024,
            default_max_tokens: 64,
            max_prompt_bytes: 16 * 1024,
            price_per_1k: 1_000_000_000_000_000,
            quote_ttl_secs: 300,
            hashcash_bits: 16,
            challenge_ttl_secs: 600,
            max_concurrency: 64,
            poll: None,
            free_tier: FreeTierConfig::default(),
            signer_key: None,
            siwe: siwe::SiweConfig::default(),
            max_per_caller: 4,
            stream_deadline: Duration::from_secs(600),
            send_timeout: Duration::from_secs(30),
        }
    }
}

/// The running gateway's shared state.
pub struct Gateway {
    /// Settings.
    pub cfg: GatewayConfig,
    /// The version being served.
    pub handle: ModelHandle,
    /// Where versions come from.
    pub origin: ModelOrigin,
    /// The shared expert cache.
    pub cache: Arc<ExpertCache>,
    /// Metrics.
    pub metrics: Metrics,
    /// The payment seam.
    pub billing: Arc<dyn Billing>,
    /// Quote and challenge MACs.
    pub signer: Arc<Signer>,
    /// Sign-In with Ethereum nonces and sessions.
    pub siwe: Arc<siwe::Siwe>,
    permits: Arc<Semaphore>,
    callers: Arc<limits::CallerSlots>,
    device: Device,
    reload_lock: std::sync::Mutex<()>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("model", &self.cfg.model_name)
            .field("version", &self.handle.current().fingerprint)
            .finish()
    }
}

impl Gateway {
    /// Loads the current version from `origin` (blocking: fetches and verifies every block).
    /// `billing` defaults to a [`FreeTier`] with `cfg.free_tier`.
    pub fn load(
        origin: ModelOrigin,
        cfg: GatewayConfig,
        device: &Device,
        billing: Option<Arc<dyn Billing>>,
    ) -> anyhow::Result<Arc<Self>> {
        let cache = Arc::new(ExpertCache::new(cfg.cache_bytes)?);
        let snap = origin.snapshot()?;
        let version = ModelVersion::load(snap, cache.clone(), device)?;
        tracing::info!(version = %version.fingerprint, blocks = version.heads.len(), expert_bytes = version.expert_bytes, "model loaded, every block verified");
        let signer = Arc::new(Signer::new(cfg.signer_key));
        let billing = billing.unwrap_or_else(|| {
            let free = FreeTierConfig {
                hashcash: cfg.hashcash_bits > 0,
                ..cfg.free_tier.clone()
            };
            Arc::new(FreeTier::new(free, signer.clone())) as Arc<dyn Billing>
        });
        Ok(Arc::new(Self {
            metrics: Metrics::new(&cache)?,
            permits: Arc::new(Semaphore::new(cfg.max_concurrency.max(1))),
            callers: Arc::new(limits::CallerSlots::new(cfg.max_per_caller)),
            siwe: Arc::new(siwe::Siwe::new(cfg.siwe.clone())),
            handle: ModelHandle::new(version),
            origin,
            cache,
            billing,
            signer,
            cfg,
            device: device.clone(),
            reload_lock: std::sync::Mutex::new(()),
        }))
    }

    /// Re-reads the heads; if they moved, loads and verifies the new version and swaps it
    /// in. Returns whether a new version is now served (blocking).
    pub fn reload_once(&self) -> anyhow::Result<bool> {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let snap = self.origin.snapshot()?;
        if snap.heads == self.handle.current().heads {
            return Ok(false);
        }
        match ModelVersion::load(snap, self.cache.clone(), &self.device) {
            Ok(v) => {
                let fp = v.fingerprint.clone();
                let old = self.handle.swap(v);
                self.metrics.reloads.inc();
                tracing::info!(from = %old.fingerprint, to = %fp, "new model version served");
                Ok(true)
            }
            Err(e) => {
                self.metrics.reload_failures.inc();
                Err(e.into())
            }
        }
    }

    /// The axum router of every endpoint.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        handlers::router(self.clone())
    }
}

/// Re-reads the heads every `every` on a background task (see [`Gateway::reload_once`]);
/// failures are logged and the old version stays.
pub fn spawn_poller(gw: Arc<Gateway>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let g = gw.clone();
            match tokio::task::spawn_blocking(move || g.reload_once()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "model reload failed; old version stays"),
                Err(e) => tracing::warn!(error = %e, "model reload task failed"),
            }
        }
    })
}

/// Serves `gw` on `listener` until the task is dropped, polling the heads if configured.
pub async fn serve(gw: Arc<Gateway>, listener: TcpListener) -> std::io::Result<()> {
    if let Some(every) = gw.cfg.poll {
        spawn_poller(gw.clone(), every);
    }
    let app = gw.router();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
