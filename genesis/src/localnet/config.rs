//! Edits of CometBFT's `config.toml` (everything else in the file is kept) and the app's
//! `blyand/app.toml`.

use toml_edit::{DocumentMut, Item, Table, Value};

use super::NodePorts;

/// Retained block heights the app keeps for historical queries.
pub(super) const RETAIN_BLOCKS: i64 = 1_000;

/// The per-node settings written into `config.toml`.
#[derive(Debug, Clone)]
pub(super) struct NodeSettings {
    pub moniker: String,
    pub ports: NodePorts,
    /// `id@127.0.0.1:port` of every other node.
    pub peers: Vec<String>,
    pub timeout_commit_ms: u64,
    /// `[statesync]` for a node that joins by state sync.
    pub state_sync: Option<super::StateSyncSettings>,
}

fn set(
    doc: &mut DocumentMut,
    table: &str,
    key: &str,
    value: impl Into<Value>,
) -> Result<(), String> {
    let target: &mut Table = if table.is_empty() {
        doc.as_table_mut()
    } else {
        doc.as_table_mut()
            .entry(table)
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("[{table}] is not a table"))?
    };
    let mut value: Value = value.into();
    match target.get_mut(key).and_then(Item::as_value_mut) {
        // Replace the value only, so the key's comments and the value's spacing stay.
        Some(existing) => {
            *value.decor_mut() = existing.decor().clone();
            *existing = value;
        }
        None => {
            target.insert(key, Item::Value(value));
        }
    }
    Ok(())
}

/// Applies the localnet settings to the text of a CometBFT `config.toml`.
pub(super) fn edit_config(text: &str, s: &NodeSettings) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let local = |port: u16| format!("127.0.0.1:{port}");
    let tcp = |port: u16| format!("tcp://127.0.0.1:{port}");
    let p = s.ports;
    set(&mut doc, "", "moniker", s.moniker.as_str())?;
    set(&mut doc, "", "proxy_app", tcp(p.abci))?;
    set(&mut doc, "", "log_level", "info")?;

    set(&mut doc, "rpc", "laddr", tcp(p.rpc))?;
    set(&mut doc, "rpc", "max_body_bytes", 4_000_000i64)?;
    set(&mut doc, "rpc", "max_open_connections", 2_000i64)?;
    set(&mut doc, "rpc", "timeout_broadcast_tx_commit", "30s")?;

    set(&mut doc, "p2p", "laddr", tcp(p.p2p))?;
    set(&mut doc, "p2p", "persistent_peers", s.peers.join(","))?;
    set(&mut doc, "p2p", "addr_book_strict", false)?;
    set(&mut doc, "p2p", "allow_duplicate_ip", true)?;
    set(&mut doc, "p2p", "pex", false)?;

    set(
        &mut doc,
        "consensus",
        "timeout_commit",
        format!("{}ms", s.timeout_commit_ms),
    )?;
    set(&mut doc, "consensus", "timeout_propose", "1s")?;
    set(&mut doc, "consensus", "create_empty_blocks", true)?;
    set(&mut doc, "consensus", "create_empty_blocks_interval", "0s")?;

    set(&mut doc, "mempool", "size", 20_000i64)?;
    set(&mut doc, "mempool", "max_txs_bytes", 268_435_456i64)?;
    set(&mut doc, "mempool", "cache_size", 100_000i64)?;
    set(&mut doc, "mempool", "max_tx_bytes", 65_536i64)?;

    if let Some(ss) = &s.state_sync {
        set(&mut doc, "statesync", "enable", true)?;
        set(
            &mut doc,
            "statesync",
            "rpc_servers",
            ss.rpc_servers.join(","),
        )?;
        let trust_height =
            i64::try_from(ss.trust_height).map_err(|_| "trust height too large".to_string())?;
        set(&mut doc, "statesync", "trust_height", trust_height)?;
        set(&mut doc, "statesync", "trust_hash", ss.trust_hash.as_str())?;
        set(
            &mut doc,
            "statesync",
            "trust_period",
            ss.trust_period.as_str(),
        )?;
        set(
            &mut doc,
            "statesync",
            "discovery_time",
            ss.discovery_time.as_str(),
        )?;
    }

    set(&mut doc, "tx_index", "indexer", "kv")?;
    set(&mut doc, "instrumentation", "prometheus", true)?;
    set(
        &mut doc,
        "instrumentation",
        "prometheus_listen_addr",
        local(p.prometheus),
    )?;
    Ok(doc.to_string())
}

/// The snapshot settings written into `blyand/app.toml`.
#[derive(Debug, Clone, Copy)]
pub(super) struct SnapshotSettings {
    pub interval: u64,
    pub keep_recent: u32,
}

/// The text of a node's `blyand/app.toml`.
pub(super) fn app_config(moniker: &str, ports: NodePorts, snapshots: SnapshotSettings) -> String {
    let mut doc = DocumentMut::new();
    doc.insert(
        "abci_addr",
        toml_edit::value(format!("127.0.0.1:{}", ports.abci)),
    );
    doc.insert(
        "metrics_addr",
        toml_edit::value(format!("127.0.0.1:{}", ports.metrics)),
    );
    doc.insert("retain_blocks", toml_edit::value(RETAIN_BLOCKS));
    doc.insert(
        "snapshot_interval",
        toml_edit::value(i64::try_from(snapshots.interval).unwrap_or(i64::MAX)),
    );
    doc.insert(
        "snapshot_keep_recent",
        toml_edit::value(i64::from(snapshots.keep_recent)),
    );
    format!("# blyand configuration of localnet {moniker} (written by blyan-genesis).\n{doc}")
}
