//! `blyand start`: serve the ABCI application of a node home.

use std::path::PathBuf;

use anyhow::Context;
use tendermint_abci::ServerBuilder;

use crate::config::AppConfig;
use crate::metrics::Metrics;
use crate::node::BlyanApp;
use crate::store::Store;

/// Arguments of `blyand start`.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// The node home (holds `blyand/app.toml` and `blyand/data`).
    #[arg(long)]
    pub home: PathBuf,
    /// Override the ABCI listen address.
    #[arg(long)]
    pub abci_addr: Option<String>,
    /// Override the metrics listen address (empty disables metrics).
    #[arg(long)]
    pub metrics_addr: Option<String>,
}

/// Runs the node until killed.
pub(super) fn run(args: StartArgs) -> anyhow::Result<()> {
    let mut cfg = AppConfig::load(&args.home)?;
    if let Some(a) = args.abci_addr {
        cfg.abci_addr = a;
    }
    if let Some(a) = args.metrics_addr {
        cfg.metrics_addr = a;
    }
    std::fs::create_dir_all(&cfg.data_dir)?;
    let store = Store::open_with(&cfg.data_dir, cfg.store_options())
        .with_context(|| format!("opening the state database at {}", cfg.data_dir.display()))?;
    let metrics = Metrics::new();
    if !cfg.metrics_addr.is_empty() {
        metrics
            .serve(&cfg.metrics_addr)
            .with_context(|| format!("serving metrics on {}", cfg.metrics_addr))?;
    }
    let height = store.last_version()?.unwrap_or(0);
    tracing::info!(abci = %cfg.abci_addr, metrics = %cfg.metrics_addr, height, "blyand starting");
    // A binary older than the chain (an applied upgrade it does not know), or one that
    // would stop at the very next block for an upgrade, does not start.
    if let Some(r) = crate::node::startup_refusal(&store.latest(), height.saturating_add(1))
        .map_err(|e| anyhow::anyhow!("reading the upgrade state: {e}"))?
    {
        anyhow::bail!("{}", r.message());
    }
    let app = BlyanApp::new(store, metrics, cfg.sig_cache_size).with_data_dir(cfg.data_dir.clone());
    let server = ServerBuilder::new(4 * 1024 * 1024)
        .bind(&cfg.abci_addr, app)
        .map_err(|e| anyhow::anyhow!("binding ABCI on {}: {e}", cfg.abci_addr))?;
    server
        .listen()
        .map_err(|e| anyhow::anyhow!("ABCI server stopped: {e}"))
}
