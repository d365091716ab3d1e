//! `generate`: from a [`LocalnetSpec`] to a ready-to-start set of node homes.

use std::path::{Path, PathBuf};

use super::config::{app_config, edit_config, NodeSettings, SnapshotSettings};
use super::layout::{DevAccount, LocalnetLayout, LocalnetNode};
use super::state::{
    dev_key, localnet_app_state, operator_key, DEV_ACCOUNT_BALANCE, VALIDATOR_POWER,
};
use super::{cometbft, LocalnetError, LocalnetSpec, NodePorts};
use crate::app_state::GenesisValidator;
use crate::doc::GenesisDoc;
use crate::validate::validate_chain_id;

/// What `cometbft init` produced for one node.
struct InitNode {
    name: String,
    home: PathBuf,
    ports: NodePorts,
    node_id: String,
    consensus_pub_key: String,
}

/// Generates the localnet: runs `cometbft init` for every node, writes one shared
/// `genesis.json` (all validators, power [`VALIDATOR_POWER`] each, the validated
/// `app_state`), edits each `config.toml`, writes each `blyand/app.toml` and
/// `<out_dir>/keys.json`. Refuses an `out_dir` that already holds a localnet.
pub fn generate(spec: &LocalnetSpec) -> Result<LocalnetLayout, LocalnetError> {
    let ports = check_spec(spec)?;
    std::fs::create_dir_all(&spec.out_dir).map_err(LocalnetError::io(&spec.out_dir))?;
    let out_dir = spec
        .out_dir
        .canonicalize()
        .map_err(LocalnetError::io(&spec.out_dir))?;

    let mut nodes = Vec::with_capacity(spec.validators);
    for (i, ports) in ports.into_iter().enumerate() {
        let name = format!("node{i}");
        let home = out_dir.join(&name);
        cometbft::init(&spec.cometbft_bin, &home)?;
        nodes.push(InitNode {
            node_id: cometbft::node_id(&spec.cometbft_bin, &home)?,
            consensus_pub_key: cometbft::validator_pub_key(&home)?,
            name,
            home,
            ports,
        });
    }

    let chain_id = spec.chain_id.as_str();
    let validators: Vec<GenesisValidator> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| GenesisValidator {
            name: n.name.clone(),
            operator: operator_key(chain_id, i).address(),
            consensus_pub_key: n.consensus_pub_key.clone(),
            power: VALIDATOR_POWER,
        })
        .collect();
    let dev_keys: Vec<_> = (0..spec.dev_accounts)
        .map(|j| dev_key(chain_id, j))
        .collect();
    let dev_addresses: Vec<_> = dev_keys.iter().map(|k| k.address()).collect();
    let mut state = localnet_app_state(chain_id, validators, &dev_addresses)?;
    spec.pol
        .validate()
        .map_err(|e| LocalnetError::InvalidSpec(e.to_string()))?;
    state.pol = spec.pol.clone();
    spec.gov
        .validate()
        .map_err(|e| LocalnetError::InvalidSpec(e.to_string()))?;
    state.gov = spec.gov.clone();
    if let Some(owner) = dev_addresses.first() {
        state.models = spec
            .models
            .iter()
            .cloned()
            .map(|mut m| {
                m.owner = *owner;
                m
            })
            .collect();
    } else if !spec.models.is_empty() {
        return Err(LocalnetError::InvalidSpec(
            "genesis models need at least one dev account to own them".into(),
        ));
    }

    let first = nodes
        .first()
        .ok_or_else(|| LocalnetError::InvalidSpec("no validators".into()))?;
    let mut doc = GenesisDoc::read(&genesis_path(&first.home))?;
    doc.set_chain_id(chain_id);
    doc.set_validators(&state.validators)?;
    doc.set_app_state(&state)?;
    doc.set_consensus_params()?;
    doc.check()?;

    for node in &nodes {
        doc.write(&genesis_path(&node.home))?;
        write_configs(node, &nodes, spec)?;
    }

    let layout = LocalnetLayout {
        chain_id: chain_id.to_string(),
        nodes: nodes
            .iter()
            .enumerate()
            .map(|(i, n)| node_entry(chain_id, i, n))
            .collect(),
        dev_accounts: dev_keys
            .iter()
            .map(|k| DevAccount {
                address: k.address(),
                private_key_hex: format!("0x{}", hex::encode(k.to_bytes())),
                balance: DEV_ACCOUNT_BALANCE,
            })
            .collect(),
        blyand_bin: spec.blyand_bin_hint.clone(),
    };
    layout.save(&out_dir)?;
    Ok(layout)
}

/// Checks the spec and the output directory; returns every node's ports.
fn check_spec(spec: &LocalnetSpec) -> Result<Vec<NodePorts>, LocalnetError> {
    if spec.validators == 0 {
        return Err(LocalnetError::InvalidSpec(
            "at least one validator is needed".into(),
        ));
    }
    validate_chain_id(&spec.chain_id)?;
    let ports = (0..spec.validators)
        .map(|i| NodePorts::for_node(spec.base_port, i))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            LocalnetError::InvalidSpec(format!(
                "{} nodes from base port {} run past port 65535",
                spec.validators, spec.base_port
            ))
        })?;
    let keys = LocalnetLayout::keys_path(&spec.out_dir);
    if keys.exists() {
        return Err(LocalnetError::AlreadyExists(keys));
    }
    for i in 0..spec.validators {
        let home = spec.out_dir.join(format!("node{i}"));
        if home.exists() {
            return Err(LocalnetError::AlreadyExists(home));
        }
    }
    Ok(ports)
}

pub(super) fn genesis_path(home: &Path) -> PathBuf {
    home.join("config").join("genesis.json")
}

/// Edits the node's `config.toml` and writes its `blyand/app.toml`.
fn write_configs(
    node: &InitNode,
    all: &[InitNode],
    spec: &LocalnetSpec,
) -> Result<(), LocalnetError> {
    let peers = all
        .iter()
        .filter(|n| n.name != node.name)
        .map(|n| format!("{}@127.0.0.1:{}", n.node_id, n.ports.p2p))
        .collect();
    let settings = NodeSettings {
        moniker: node.name.clone(),
        ports: node.ports,
        peers,
        timeout_commit_ms: spec.timeout_commit_ms,
        state_sync: None,
    };
    let snapshots = SnapshotSettings {
        interval: spec.snapshot_interval,
        keep_recent: spec.snapshot_keep_recent,
    };
    write_node_configs(&node.home, &settings, snapshots)
}

/// Edits `<home>/config/config.toml` with `settings` and writes `<home>/blyand/app.toml`.
pub(super) fn write_node_configs(
    home: &Path,
    settings: &NodeSettings,
    snapshots: SnapshotSettings,
) -> Result<(), LocalnetError> {
    let path = home.join("config").join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(LocalnetError::io(&path))?;
    let edited = edit_config(&text, settings).map_err(|reason| LocalnetError::Parse {
        path: path.clone(),
        reason,
    })?;
    std::fs::write(&path, edited).map_err(LocalnetError::io(&path))?;

    let app_dir = home.join("blyand");
    std::fs::create_dir_all(&app_dir).map_err(LocalnetError::io(&app_dir))?;
    let app_toml = app_dir.join("app.toml");
    std::fs::write(
        &app_toml,
        app_config(&settings.moniker, settings.ports, snapshots),
    )
    .map_err(LocalnetError::io(&app_toml))
}

fn node_entry(chain_id: &str, index: usize, n: &InitNode) -> LocalnetNode {
    let operator = operator_key(chain_id, index);
    LocalnetNode {
        name: n.name.clone(),
        home: n.home.clone(),
        rpc_url: format!("http://127.0.0.1:{}", n.ports.rpc),
        abci_addr: format!("127.0.0.1:{}", n.ports.abci),
        metrics_url: format!("http://127.0.0.1:{}/metrics", n.ports.metrics),
        p2p_addr: format!("127.0.0.1:{}", n.ports.p2p),
        node_id: n.node_id.clone(),
        consensus_pub_key: n.consensus_pub_key.clone(),
        operator_address: operator.address(),
        operator_private_key_hex: format!("0x{}", hex::encode(operator.to_bytes())),
    }
}
