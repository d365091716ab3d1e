//! Adding a non-validator node to an existing localnet: a fresh `cometbft init` home with
//! the net's `genesis.json`, peers to the running nodes and, to join a chain that is
//! already far along, `[statesync]` settings, plus the app's `blyand/app.toml`.

use std::path::PathBuf;

use super::config::{NodeSettings, SnapshotSettings};
use super::generate::{genesis_path, write_node_configs};
use super::{cometbft, LocalnetError, NodePorts};

/// CometBFT `[statesync]` settings of a joining node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSyncSettings {
    /// RPC addresses (at least two) the light client fetches and cross-checks headers
    /// from, e.g. `http://127.0.0.1:26601`.
    pub rpc_servers: Vec<String>,
    /// A height whose block hash is trusted.
    pub trust_height: u64,
    /// The hash (hex) of block `trust_height`, from a running node's `/block`.
    pub trust_hash: String,
    /// How long a trusted header stays trusted, e.g. `168h`.
    pub trust_period: String,
    /// How long to collect snapshot offers before picking one (CometBFT wants ≥ 5s).
    pub discovery_time: String,
}

impl StateSyncSettings {
    /// Settings trusting block `trust_height` with hash `trust_hash`, a 168 h trust
    /// period and a 5 s discovery.
    pub fn new(rpc_servers: Vec<String>, trust_height: u64, trust_hash: &str) -> Self {
        StateSyncSettings {
            rpc_servers,
            trust_height,
            trust_hash: trust_hash.to_string(),
            trust_period: "168h".into(),
            discovery_time: "5s".into(),
        }
    }
}

/// What to generate for a joining node.
#[derive(Debug, Clone)]
pub struct FullNodeSpec {
    /// Moniker, e.g. `node4`.
    pub name: String,
    /// The new home; must not exist yet.
    pub home: PathBuf,
    /// The CometBFT binary.
    pub cometbft_bin: PathBuf,
    /// The node's ports.
    pub ports: NodePorts,
    /// The `genesis.json` of the net to join (copied byte for byte).
    pub genesis: PathBuf,
    /// `id@127.0.0.1:port` of the nodes to connect to.
    pub peers: Vec<String>,
    /// CometBFT `consensus.timeout_commit`, milliseconds.
    pub timeout_commit_ms: u64,
    /// The app's `snapshot_interval`.
    pub snapshot_interval: u64,
    /// The app's `snapshot_keep_recent`.
    pub snapshot_keep_recent: u32,
    /// `[statesync]`; `None` block-syncs from genesis.
    pub state_sync: Option<StateSyncSettings>,
}

/// A generated full node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullNode {
    /// Its moniker.
    pub name: String,
    /// Its home.
    pub home: PathBuf,
    /// CometBFT RPC, `http://127.0.0.1:<port>`.
    pub rpc_url: String,
    /// The app's ABCI address, `127.0.0.1:<port>`.
    pub abci_addr: String,
    /// The app's Prometheus endpoint.
    pub metrics_url: String,
    /// CometBFT p2p listen address.
    pub p2p_addr: String,
    /// CometBFT node id.
    pub node_id: String,
}

/// Generates the home of a node joining an existing net. Its validator key is not in the
/// genesis, so it runs as a full node.
pub fn add_full_node(spec: &FullNodeSpec) -> Result<FullNode, LocalnetError> {
    if spec.home.exists() {
        return Err(LocalnetError::AlreadyExists(spec.home.clone()));
    }
    if let Some(ss) = &spec.state_sync {
        if ss.rpc_servers.len() < 2 {
            return Err(LocalnetError::InvalidSpec(
                "state sync needs at least two RPC servers".into(),
            ));
        }
        if ss.trust_height == 0 || ss.trust_hash.is_empty() {
            return Err(LocalnetError::InvalidSpec(
                "state sync needs a trusted height and hash".into(),
            ));
        }
    }
    cometbft::init(&spec.cometbft_bin, &spec.home)?;
    let target = genesis_path(&spec.home);
    std::fs::copy(&spec.genesis, &target).map_err(LocalnetError::io(&target))?;
    let settings = NodeSettings {
        moniker: spec.name.clone(),
        ports: spec.ports,
        peers: spec.peers.clone(),
        timeout_commit_ms: spec.timeout_commit_ms,
        state_sync: spec.state_sync.clone(),
    };
    let snapshots = SnapshotSettings {
        interval: spec.snapshot_interval,
        keep_recent: spec.snapshot_keep_recent,
    };
    write_node_configs(&spec.home, &settings, snapshots)?;
    let p = spec.ports;
    Ok(FullNode {
        name: spec.name.clone(),
        home: spec.home.clone(),
        rpc_url: format!("http://127.0.0.1:{}", p.rpc),
        abci_addr: format!("127.0.0.1:{}", p.abci),
        metrics_url: format!("http://127.0.0.1:{}/metrics", p.metrics),
        p2p_addr: format!("127.0.0.1:{}", p.p2p),
        node_id: cometbft::node_id(&spec.cometbft_bin, &spec.home)?,
    })
}
