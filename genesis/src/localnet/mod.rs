//! An N-validator localnet on loopback ports: one CometBFT home per validator (made by the
//! real `cometbft init`), one shared `genesis.json`, edited `config.toml` files, the app's
//! `blyand/app.toml`, and a `keys.json` with every key a developer needs.
//!
//! Node `i` lives in `<out_dir>/node<i>` and owns ports `base_port + 10 * i + k`: see
//! [`NodePorts`].

mod cometbft;
mod config;
mod full_node;
mod generate;
mod layout;
mod state;

use std::path::PathBuf;

pub use full_node::{add_full_node, FullNode, FullNodeSpec, StateSyncSettings};
pub use generate::generate;
pub use layout::{DevAccount, LocalnetLayout, LocalnetNode, KEYS_FILE};
pub use state::{
    dev_key, fund_key, localnet_app_state, localnet_gov_params, localnet_pol_params, operator_key,
    DEV_ACCOUNT_BALANCE, OPERATOR_BALANCE, VALIDATOR_POWER,
};

use crate::doc::DocError;
use crate::tokenomics::TokenomicsError;
use crate::validate::GenesisError;

/// Ports reserved for each node.
pub const PORTS_PER_NODE: u16 = 10;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalnetSpec {
    /// Number of validators (and nodes), at least 1.
    pub validators: usize,
    /// The chain id.
    pub chain_id: String,
    /// Directory that receives `node<i>/` and `keys.json`; must not already hold them.
    pub out_dir: PathBuf,
    /// The CometBFT binary (v0.38.x) used for `init` and `show-node-id`.
    pub cometbft_bin: PathBuf,
    /// First port of node 0's block of [`PORTS_PER_NODE`] ports.
    pub base_port: u16,
    /// Number of funded dev accounts.
    pub dev_accounts: usize,
    /// CometBFT `consensus.timeout_commit`, milliseconds.
    pub timeout_commit_ms: u64,
    /// The `blyand` binary that will run the nodes, recorded in `keys.json` for scripts.
    pub blyand_bin_hint: Option<PathBuf>,
    /// The app's `snapshot_interval` (state-sync snapshots every this many blocks; 0: none).
    pub snapshot_interval: u64,
    /// The app's `snapshot_keep_recent`.
    pub snapshot_keep_recent: u32,
    /// Models published at genesis; each is owned by dev account 0 (whatever `owner` the
    /// file names), so a dev key can publish new versions.
    pub models: Vec<crate::GenesisModel>,
    /// Proof-of-Learning parameters (default: [`localnet_pol_params`]).
    pub pol: blyan_proto::pol::PolParams,
    /// Governance parameters (default: [`localnet_gov_params`]).
    pub gov: blyan_proto::gov::GovParams,
}

/// Default [`LocalnetSpec::snapshot_interval`]: small, so that a node can join a young
/// localnet by state sync.
pub const LOCALNET_SNAPSHOT_INTERVAL: u64 = 10;
/// Default [`LocalnetSpec::snapshot_keep_recent`]: enough that a snapshot a joining node
/// picked is still there while it fetches it from a fast-moving localnet.
pub const LOCALNET_SNAPSHOT_KEEP_RECENT: u32 = 4;

impl LocalnetSpec {
    /// A spec with the defaults: base port 26600, 4 dev accounts, 1 s commit timeout,
    /// a snapshot every 10 blocks (the newest 4 kept).
    pub fn new(validators: usize, chain_id: &str, out_dir: PathBuf, cometbft_bin: PathBuf) -> Self {
        LocalnetSpec {
            validators,
            chain_id: chain_id.to_string(),
            out_dir,
            cometbft_bin,
            base_port: 26_600,
            dev_accounts: 4,
            timeout_commit_ms: 1_000,
            blyand_bin_hint: None,
            snapshot_interval: LOCALNET_SNAPSHOT_INTERVAL,
            snapshot_keep_recent: LOCALNET_SNAPSHOT_KEEP_RECENT,
            models: Vec::new(),
            pol: localnet_pol_params(),
            gov: localnet_gov_params(),
        }
    }
}

/// The loopback ports of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePorts {
    /// CometBFT p2p (`+0`).
    pub p2p: u16,
    /// CometBFT RPC (`+1`).
    pub rpc: u16,
    /// The app's ABCI socket, where CometBFT's `proxy_app` points (`+2`).
    pub abci: u16,
    /// The app's Prometheus metrics (`+3`).
    pub metrics: u16,
    /// CometBFT's Prometheus metrics (`+4`).
    pub prometheus: u16,
}

impl NodePorts {
    /// Ports of node `index`: `base_port + 10 * index + k`; `None` if they pass 65535.
    pub fn for_node(base_port: u16, index: usize) -> Option<Self> {
        let index = u16::try_from(index).ok()?;
        let start = base_port.checked_add(PORTS_PER_NODE.checked_mul(index)?)?;
        let port = |k: u16| start.checked_add(k);
        Some(NodePorts {
            p2p: port(0)?,
            rpc: port(1)?,
            abci: port(2)?,
            metrics: port(3)?,
            prometheus: port(4)?,
        })
    }
}

/// Why a localnet cannot be generated or loaded.
#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    /// The spec cannot produce a network.
    #[error("invalid localnet spec: {0}")]
    InvalidSpec(String),
    /// The output directory already holds a localnet.
    #[error("{0} already exists; remove it or choose another output directory")]
    AlreadyExists(PathBuf),
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The CometBFT binary could not be started.
    #[error("cannot run {bin} (run localnet/install.sh to install cometbft): {source}")]
    Spawn {
        /// The binary.
        bin: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A CometBFT command exited with an error.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// Its status and output.
        output: String,
    },
    /// A file CometBFT wrote, or `keys.json`, does not parse.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The generated genesis state is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// `genesis.json` could not be edited.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// The allocation could not be built.
    #[error(transparent)]
    Tokenomics(#[from] TokenomicsError),
}

impl LocalnetError {
    fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| LocalnetError::Io { path, source }
    }
}

#[cfg(test)]
mod tests;
