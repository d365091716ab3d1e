//! `keys.json`: what a generated localnet holds, for scripts, tests and people.

use std::path::{Path, PathBuf};

use blyan_proto::params::u128_string;
use blyan_proto::Address;
use serde::{Deserialize, Serialize};

use super::LocalnetError;

/// File name of the layout inside the output directory.
pub const KEYS_FILE: &str = "keys.json";

/// A generated localnet, as written to `<out_dir>/keys.json`.
///
/// **Dev net only**: this file holds private keys in plain text on purpose, so that scripts
/// and tests can sign transactions. Never use these keys, or this format, for anything of
/// value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalnetLayout {
    /// The chain id.
    pub chain_id: String,
    /// One entry per validator node, in index order.
    pub nodes: Vec<LocalnetNode>,
    /// The funded dev accounts.
    pub dev_accounts: Vec<DevAccount>,
    /// The `blyand` binary meant to run the nodes, when the generator was told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blyand_bin: Option<PathBuf>,
}

/// One validator node of a localnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalnetNode {
    /// `node<i>`, also the CometBFT moniker and the genesis validator name.
    pub name: String,
    /// The node's home: CometBFT's `config/` and `data/`, the app's `blyand/`.
    pub home: PathBuf,
    /// CometBFT RPC, `http://127.0.0.1:<port>`.
    pub rpc_url: String,
    /// Where the app listens for CometBFT's ABCI connections, `127.0.0.1:<port>`.
    pub abci_addr: String,
    /// The app's Prometheus endpoint, `http://127.0.0.1:<port>/metrics`.
    pub metrics_url: String,
    /// CometBFT p2p listen address, `127.0.0.1:<port>`.
    pub p2p_addr: String,
    /// CometBFT node id (hex of the node key's address).
    pub node_id: String,
    /// The ed25519 consensus key, base64, as in `genesis.json`.
    pub consensus_pub_key: String,
    /// The validator's operator account.
    pub operator_address: Address,
    /// The operator's secp256k1 secret key, `0x` + 64 hex digits (plain text: dev net only).
    pub operator_private_key_hex: String,
}

/// A funded dev account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevAccount {
    /// The address.
    pub address: Address,
    /// The secp256k1 secret key, `0x` + 64 hex digits (plain text: dev net only).
    pub private_key_hex: String,
    /// Genesis balance, base units (decimal string in JSON).
    #[serde(with = "u128_string")]
    pub balance: u128,
}

impl LocalnetLayout {
    /// Path of `keys.json` in an output directory.
    pub fn keys_path(out_dir: &Path) -> PathBuf {
        out_dir.join(KEYS_FILE)
    }

    /// Reads `<out_dir>/keys.json`.
    pub fn load(out_dir: &Path) -> Result<Self, LocalnetError> {
        let path = Self::keys_path(out_dir);
        let text = std::fs::read_to_string(&path).map_err(LocalnetError::io(&path))?;
        serde_json::from_str(&text).map_err(|e| LocalnetError::Parse {
            path,
            reason: e.to_string(),
        })
    }

    /// Writes `<out_dir>/keys.json`, pretty-printed.
    pub fn save(&self, out_dir: &Path) -> Result<(), LocalnetError> {
        let path = Self::keys_path(out_dir);
        let mut text = serde_json::to_string_pretty(self).map_err(|e| LocalnetError::Parse {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        text.push('\n');
        std::fs::write(&path, text).map_err(LocalnetError::io(&path))
    }
}
