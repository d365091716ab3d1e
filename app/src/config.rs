//! The node's own configuration, `<home>/blyand/app.toml`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::store::{SnapshotConfig, StoreOptions};

/// Settings of `blyand start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// Where the ABCI server listens (CometBFT's `proxy_app`).
    pub abci_addr: String,
    /// Where `/metrics` is served; empty disables it.
    pub metrics_addr: String,
    /// How many recent heights stay queryable (and provable); older JMT history (stale
    /// nodes, superseded values, roots) is pruned as blocks commit. Default 1000.
    pub retain_blocks: u64,
    /// Entries in the CheckTx signer cache.
    pub sig_cache_size: usize,
    /// The store's directory (its redb file is `state.redb` inside).
    pub data_dir: PathBuf,
    /// Take a state-sync snapshot every this many blocks (heights that are multiples of
    /// it); 0 takes none.
    pub snapshot_interval: u64,
    /// How many of the newest snapshots to keep.
    pub snapshot_keep_recent: u32,
    /// Where snapshots are written: `snapshot_dir` in the file (relative to the home),
    /// else `snapshots/` next to the data directory.
    pub snapshot_dir: PathBuf,
}

/// Default `retain_blocks` of a node: about 1000 heights of history stay queryable.
pub const DEFAULT_RETAIN_BLOCKS: u64 = 1000;
/// Default `snapshot_interval` of a node.
pub const DEFAULT_SNAPSHOT_INTERVAL: u64 = 100;
/// Default `snapshot_keep_recent` of a node.
pub const DEFAULT_SNAPSHOT_KEEP_RECENT: u32 = 2;

impl AppConfig {
    /// Defaults for a node home.
    pub fn default_for(home: &Path) -> Self {
        AppConfig {
            abci_addr: "127.0.0.1:26658".into(),
            metrics_addr: "127.0.0.1:26660".into(),
            retain_blocks: DEFAULT_RETAIN_BLOCKS,
            sig_cache_size: 200_000,
            data_dir: home.join("blyand").join("data"),
            snapshot_interval: DEFAULT_SNAPSHOT_INTERVAL,
            snapshot_keep_recent: DEFAULT_SNAPSHOT_KEEP_RECENT,
            snapshot_dir: home.join("blyand").join("snapshots"),
        }
    }

    /// How the node opens its store.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            retain_blocks: self.retain_blocks,
            snapshots: Some(SnapshotConfig {
                dir: self.snapshot_dir.clone(),
                interval: self.snapshot_interval,
                keep_recent: self.snapshot_keep_recent.max(1),
            }),
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
            cfg.snapshot_dir = cfg.data_dir.parent().unwrap_or(home).join("snapshots");
        }
        if let Some(v) = doc.get("snapshot_dir").and_then(|v| v.as_str()) {
            cfg.snapshot_dir = home.join(v);
        }
        if let Some(v) = doc.get("snapshot_interval").and_then(|v| v.as_integer()) {
            cfg.snapshot_interval =
                u64::try_from(v).context("snapshot_interval must not be negative")?;
        }
        if let Some(v) = doc.get("snapshot_keep_recent").and_then(|v| v.as_integer()) {
            cfg.snapshot_keep_recent = u32::try_from(v)
                .ok()
                .filter(|n| *n > 0)
                .context("snapshot_keep_recent must be at least 1")?;
        }
        Ok(cfg)
    }

    /// Writes the config file (used by `blyand init`).
    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        let dir = home.join("blyand");
        std::fs::create_dir_all(&dir)?;
        let text = format!(
            "# blyand settings\nabci_addr = \"{}\"\nmetrics_addr = \"{}\"\n\
             # heights kept queryable and provable; older JMT history is pruned\n\
             retain_blocks = {}\nsig_cache_size = {}\n\
             # state sync: take a snapshot every this many blocks (0: none), keep the newest few\n\
             snapshot_interval = {}\nsnapshot_keep_recent = {}\n",
            self.abci_addr,
            self.metrics_addr,
            self.retain_blocks,
            self.sig_cache_size,
            self.snapshot_interval,
            self.snapshot_keep_recent
        );
        std::fs::write(dir.join("app.toml"), text)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn snapshot_settings_default_load_and_round_trip() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let d = AppConfig::load(h).unwrap();
        assert_eq!(d.snapshot_interval, DEFAULT_SNAPSHOT_INTERVAL);
        assert_eq!(d.snapshot_keep_recent, DEFAULT_SNAPSHOT_KEEP_RECENT);
        assert_eq!(d.snapshot_dir, h.join("blyand/snapshots"));

        let mut cfg = d.clone();
        cfg.snapshot_interval = 0;
        cfg.snapshot_keep_recent = 5;
        cfg.save(h).unwrap();
        let back = AppConfig::load(h).unwrap();
        assert_eq!(back, cfg);
        let opts = back.store_options();
        let snaps = opts.snapshots.unwrap();
        assert_eq!((snaps.interval, snaps.keep_recent), (0, 5));

        std::fs::write(
            h.join("blyand/app.toml"),
            "data_dir = \"db/state\"\nsnapshot_interval = 10\n",
        )
        .unwrap();
        let moved = AppConfig::load(h).unwrap();
        assert_eq!(moved.snapshot_interval, 10);
        assert_eq!(moved.snapshot_dir, h.join("db/snapshots"));
        std::fs::write(h.join("blyand/app.toml"), "snapshot_keep_recent = 0\n").unwrap();
        assert!(AppConfig::load(h).is_err());
        std::fs::write(h.join("blyand/app.toml"), "snapshot_interval = -1\n").unwrap();
        assert!(AppConfig::load(h).is_err());
    }
}
