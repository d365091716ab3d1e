//! The node's own configuration, `<home>/blyand/app.toml`.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Settings of `blyand start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// Where the ABCI server listens (CometBFT's `proxy_app`).
    pub abci_addr: String,
    /// Where `/metrics` is served; empty disables it.
    pub metrics_addr: String,
    /// How many recent heights stay queryable (and provable).
    pub retain_blocks: u64,
    /// Entries in the CheckTx signer cache.
    pub sig_cache_size: usize,
    /// The sled database directory.
    pub data_dir: PathBuf,
}

impl AppConfig {
    /// Defaults for a node home.
    pub fn default_for(home: &Path) -> Self {
        AppConfig {
            abci_addr: "127.0.0.1:26658".into(),
            metrics_addr: "127.0.0.1:26660".into(),
            retain_blocks: 1000,
            sig_cache_size: 200_000,
            data_dir: home.join("blyand").join("data"),
        }
    }

    /// Loads `<home>/blyand/app.toml`, falling back to defaults for absent keys.
    pub fn load(home: &Path) -> anyhow::Result<Self> {
        let mut cfg = Self::default_for(home);
        let path = home.join("blyand").join("app.toml");
        if !path.exists() {
            return Ok(cfg);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let doc: toml_edit::DocumentMut = text
            .parse()
            .with_context(|| format!("parsing {}", path.display()))?;
        if let Some(v) = doc.get("abci_addr").and_then(|v| v.as_str()) {
            cfg.abci_addr = v.to_string();
        }
        if let Some(v) = doc.get("metrics_addr").and_then(|v| v.as_str()) {
            cfg.metrics_addr = v.to_string();
        }
        if let Some(v) = doc.get("retain_blocks").and_then(|v| v.as_integer()) {
            cfg.retain_blocks = u64::try_from(v).context("retain_blocks must be positive")?;
        }
        if let Some(v) = doc.get("sig_cache_size").and_then(|v| v.as_integer()) {
            cfg.sig_cache_size = usize::try_from(v).context("sig_cache_size must be positive")?;
        }
        if let Some(v) = doc.get("data_dir").and_then(|v| v.as_str()) {
            cfg.data_dir = home.join(v);
        }
        Ok(cfg)
    }

    /// Writes the config file (used by `blyand init`).
    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        let dir = home.join("blyand");
        std::fs::create_dir_all(&dir)?;
        let text = format!(
            "# blyand settings\nabci_addr = \"{}\"\nmetrics_addr = \"{}\"\nretain_blocks = {}\nsig_cache_size = {}\n",
            self.abci_addr, self.metrics_addr, self.retain_blocks, self.sig_cache_size
        );
        std::fs::write(dir.join("app.toml"), text)?;
        Ok(())
    }
}
