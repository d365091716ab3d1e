//! The gateway's Prometheus metrics (`GET /metrics`, text format).

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntGauge, Registry,
    TextEncoder,
};

use super::cache::ExpertCache;

/// Every metric the gateway exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Request latency by path and status, seconds (a stream counts until its last byte).
    pub request_seconds: HistogramVec,
    /// Time to the first generated token, seconds.
    pub first_token_seconds: Histogram,
    /// Tokens generated (completion tokens, cancelled streams included).
    pub tokens_generated: IntCounter,
    /// Tokens per second of the last finished generation.
    pub tokens_per_second: Gauge,
    /// Generations (streamed or not) running now.
    pub active_streams: IntGauge,
    /// Generations stopped because the client went away.
    pub cancelled: IntCounter,
    /// Streams dropped because the client stopped taking events (send timeout or deadline).
    pub stalled: IntCounter,
    /// Model versions loaded after the first.
    pub reloads: IntCounter,
    /// Reload attempts that failed (the old version stays).
    pub reload_failures: IntCounter,
    /// Bytes of experts held by the cache.
    pub cache_bytes: IntGauge,
}

impl Metrics {
    /// Registers everything, including `cache`'s counters.
    pub fn new(cache: &ExpertCache) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let buckets = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ];
        let m = Self {
            request_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "blyan_gateway_request_seconds",
                    "Request latency (streams until their last byte)",
                )
                .buckets(buckets.clone()),
                &["path", "status"],
            )?,
            first_token_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "blyan_gateway_first_token_seconds",
                    "Time from request to the first generated token",
                )
                .buckets(buckets),
            )?,
            tokens_generated: IntCounter::new(
                "blyan_gateway_tokens_generated_total",
                "Completion tokens generated",
            )?,
            tokens_per_second: Gauge::new(
                "blyan_gateway_tokens_per_second",
                "Tokens per second of the last finished generation",
            )?,
            active_streams: IntGauge::new(
                "blyan_gateway_active_streams",
                "Generations running now",
            )?,
            cancelled: IntCounter::new(
                "blyan_gateway_cancelled_total",
                "Generations stopped by a client disconnect",
            )?,
            stalled: IntCounter::new(
                "blyan_gateway_stalled_streams_total",
                "Streams dropped because the client stopped reading",
            )?,
            reloads: IntCounter::new(
                "blyan_gateway_model_reloads_total",
                "New model versions loaded without restart",
            )?,
            reload_failures: IntCounter::new(
                "blyan_gateway_model_reload_failures_total",
                "Reloads that failed verification or fetching",
            )?,
            cache_bytes: IntGauge::new(
                "blyan_gateway_expert_cache_bytes",
                "Bytes of expert weights in the cache",
            )?,
            registry,
        };
        let r = &m.registry;
        r.register(Box::new(m.request_seconds.clone()))?;
        r.register(Box::new(m.first_token_seconds.clone()))?;
        r.register(Box::new(m.tokens_generated.clone()))?;
        r.register(Box::new(m.tokens_per_second.clone()))?;
        r.register(Box::new(m.active_streams.clone()))?;
        r.register(Box::new(m.cancelled.clone()))?;
        r.register(Box::new(m.stalled.clone()))?;
        r.register(Box::new(m.reloads.clone()))?;
        r.register(Box::new(m.reload_failures.clone()))?;
        r.register(Box::new(m.cache_bytes.clone()))?;
        let c = cache.counters();
        r.register(Box::new(c.hits.clone()))?;
        r.register(Box::new(c.misses.clone()))?;
        r.register(Box::new(c.evictions.clone()))?;
        Ok(m)
    }

    /// The text exposition of every metric.
    pub fn render(&self, cache: &ExpertCache) -> String {
        self.cache_bytes
            .set(i64::try_from(cache.stats().bytes).unwrap_or(i64::MAX));
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Decrements `active_streams` when dropped.
#[derive(Debug)]
pub struct ActiveGuard(IntGauge);

impl ActiveGuard {
    /// Increments `g` until the guard drops.
    pub fn new(g: &IntGauge) -> Self {
        g.inc();
        Self(g.clone())
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
