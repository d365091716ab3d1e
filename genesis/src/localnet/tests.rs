//! Localnet generation, with the real `cometbft` binary for the end-to-end case.

use std::path::{Path, PathBuf};

use blyan_proto::{SecretKey, SUPPLY_CAP};
use toml_edit::DocumentMut;

use super::*;
use crate::app_state::GenesisValidator;
use crate::doc::GenesisDoc;

/// The pinned CometBFT: `$COMETBFT_BIN`, else `<workspace>/.bin/cometbft`. Fails loudly when
/// it is missing rather than letting the test pass without it.
fn cometbft_bin() -> PathBuf {
    let path = std::env::var_os("COMETBFT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".bin")
                .join("cometbft")
        });
    assert!(
        path.is_file(),
        "cometbft not found at {}: run localnet/install.sh (or set COMETBFT_BIN)",
        path.display()
    );
    path
}

fn config(home: &Path) -> DocumentMut {
    std::fs::read_to_string(home.join("config/config.toml"))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn two_validators_share_one_genesis_and_peer_with_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let mut spec = LocalnetSpec::new(2, "blyan-test-2", out.clone(), cometbft_bin());
    spec.base_port = 36_600;
    spec.dev_accounts = 3;
    spec.timeout_commit_ms = 300;
    spec.blyand_bin_hint = Some(PathBuf::from("/opt/blyand"));
    let layout = generate(&spec).unwrap();

    // One genesis, byte for byte, in both homes, consistent with itself.
    let homes: Vec<_> = layout.nodes.iter().map(|n| n.home.clone()).collect();
    assert_eq!(homes.len(), 2);
    let g0 = std::fs::read(homes[0].join("config/genesis.json")).unwrap();
    let g1 = std::fs::read(homes[1].join("config/genesis.json")).unwrap();
    assert_eq!(g0, g1, "genesis.json differs between homes");
    let doc = GenesisDoc::read(&homes[0].join("config/genesis.json")).unwrap();
    let state = doc.check().unwrap();
    state.validate().unwrap();
    assert_eq!(doc.chain_id(), Some("blyan-test-2"));
    assert_eq!(doc.as_value()["validators"].as_array().unwrap().len(), 2);
    assert_eq!(state.validators.len(), 2);
    assert_eq!(
        doc.as_value()["consensus_params"]["block"]["max_bytes"],
        "4194304"
    );
    assert_eq!(
        state.total_minted().unwrap() + state.emission_reserve,
        SUPPLY_CAP
    );

    // Each genesis validator is the key in that node's priv_validator_key.json.
    for (i, node) in layout.nodes.iter().enumerate() {
        let pv: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(node.home.join("config/priv_validator_key.json")).unwrap(),
        )
        .unwrap();
        let gv = &doc.as_value()["validators"][i];
        assert_eq!(gv["pub_key"]["value"], pv["pub_key"]["value"]);
        assert_eq!(gv["address"], pv["address"]);
        assert_eq!(gv["name"], node.name.as_str());
        assert_eq!(state.validators[i].operator, node.operator_address);
        let key = SecretKey::from_hex(&node.operator_private_key_hex).unwrap();
        assert_eq!(key.address(), node.operator_address);
        assert!(state
            .accounts
            .iter()
            .any(|a| a.address == node.operator_address && a.balance == OPERATOR_BALANCE));
    }

    // Config: ports, peers, and untouched settings kept.
    let c0 = config(&homes[0]);
    let c1 = config(&homes[1]);
    assert_eq!(c0["moniker"].as_str(), Some("node0"));
    assert_eq!(c0["proxy_app"].as_str(), Some("tcp://127.0.0.1:36602"));
    assert_eq!(c1["proxy_app"].as_str(), Some("tcp://127.0.0.1:36612"));
    assert_eq!(c0["rpc"]["laddr"].as_str(), Some("tcp://127.0.0.1:36601"));
    assert_eq!(c1["p2p"]["laddr"].as_str(), Some("tcp://127.0.0.1:36610"));
    let peer1 = format!("{}@127.0.0.1:36610", layout.nodes[1].node_id);
    let peer0 = format!("{}@127.0.0.1:36600", layout.nodes[0].node_id);
    assert_eq!(c0["p2p"]["persistent_peers"].as_str(), Some(peer1.as_str()));
    assert_eq!(c1["p2p"]["persistent_peers"].as_str(), Some(peer0.as_str()));
    assert_eq!(c0["p2p"]["pex"].as_bool(), Some(false));
    assert_eq!(c0["consensus"]["timeout_commit"].as_str(), Some("300ms"));
    assert_eq!(c0["mempool"]["max_tx_bytes"].as_integer(), Some(65_536));
    assert_eq!(c0["instrumentation"]["prometheus"].as_bool(), Some(true));
    assert_eq!(
        c1["instrumentation"]["prometheus_listen_addr"].as_str(),
        Some("127.0.0.1:36614")
    );
    assert!(
        c0["db_backend"].as_str().is_some(),
        "other settings are kept"
    );
    assert!(c0["statesync"]["enable"].as_bool().is_some());

    // App config.
    let app: DocumentMut = std::fs::read_to_string(homes[1].join("blyand/app.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(app["abci_addr"].as_str(), Some("127.0.0.1:36612"));
    assert_eq!(app["metrics_addr"].as_str(), Some("127.0.0.1:36613"));
    assert_eq!(app["retain_blocks"].as_integer(), Some(1_000));
    assert_eq!(app["snapshot_interval"].as_integer(), Some(10));
    assert_eq!(app["snapshot_keep_recent"].as_integer(), Some(4));

    // keys.json round-trips and its keys match the genesis accounts.
    let loaded = LocalnetLayout::load(&out).unwrap();
    assert_eq!(loaded, layout);
    assert_eq!(layout.blyand_bin, Some(PathBuf::from("/opt/blyand")));
    assert_eq!(layout.nodes[0].rpc_url, "http://127.0.0.1:36601");
    assert_eq!(
        layout.nodes[1].metrics_url,
        "http://127.0.0.1:36613/metrics"
    );
    assert_eq!(layout.dev_accounts.len(), 3);
    for dev in &layout.dev_accounts {
        let key = SecretKey::from_hex(&dev.private_key_hex).unwrap();
        assert_eq!(key.address(), dev.address);
        assert!(state
            .accounts
            .iter()
            .any(|a| a.address == dev.address && a.balance == DEV_ACCOUNT_BALANCE));
    }

    // A second run refuses to overwrite.
    assert!(matches!(
        generate(&spec),
        Err(LocalnetError::AlreadyExists(_))
    ));
}

#[test]
fn impossible_specs_are_refused_before_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |n: usize, chain: &str, port: u16| {
        let mut s = LocalnetSpec::new(n, chain, dir.path().join("x"), PathBuf::from("/nope"));
        s.base_port = port;
        s
    };
    assert!(matches!(
        generate(&spec(0, "c", 26_600)),
        Err(LocalnetError::InvalidSpec(_))
    ));
    assert!(matches!(
        generate(&spec(1, "bad id", 26_600)),
        Err(LocalnetError::Genesis(_))
    ));
    assert!(matches!(
        generate(&spec(2, "c", 65_530)),
        Err(LocalnetError::InvalidSpec(_))
    ));
    assert!(matches!(
        generate(&spec(1, "c", 26_600)),
        Err(LocalnetError::Spawn { .. })
    ));
}

#[test]
fn ports_follow_the_block_of_ten_scheme() {
    let p = NodePorts::for_node(26_600, 3).unwrap();
    assert_eq!(
        (p.p2p, p.rpc, p.abci, p.metrics, p.prometheus),
        (26_630, 26_631, 26_632, 26_633, 26_634)
    );
    assert!(NodePorts::for_node(65_530, 0).is_some());
    assert!(NodePorts::for_node(65_532, 0).is_none());
    assert!(NodePorts::for_node(60_000, 1_000).is_none());
}

#[test]
fn localnet_keys_are_deterministic_and_labelled() {
    let key = |b: u8| base64_key(b);
    let validators = vec![GenesisValidator {
        name: "node0".into(),
        operator: operator_key("c", 0).address(),
        consensus_pub_key: key(1),
        power: VALIDATOR_POWER,
    }];
    let devs = [dev_key("c", 0).address()];
    let a = localnet_app_state("c", validators.clone(), &devs).unwrap();
    let b = localnet_app_state("c", validators, &devs).unwrap();
    assert_eq!(a, b);
    let label = |addr| {
        a.accounts
            .iter()
            .find(|x| x.address == addr)
            .and_then(|x| x.label.clone())
    };
    assert_eq!(
        label(operator_key("c", 0).address()).as_deref(),
        Some("node0-operator")
    );
    assert_eq!(label(devs[0]).as_deref(), Some("dev-0"));
    assert_eq!(
        label(fund_key("c", "team").address()).as_deref(),
        Some("team")
    );
    assert_ne!(
        operator_key("c", 0).address(),
        operator_key("d", 0).address()
    );
}

fn base64_key(byte: u8) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

#[test]
fn a_full_node_joins_with_the_nets_genesis_peers_and_state_sync_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let mut spec = LocalnetSpec::new(2, "blyan-test-join", out.clone(), cometbft_bin());
    spec.base_port = 36_800;
    spec.snapshot_interval = 25;
    let layout = generate(&spec).unwrap();
    let genesis = layout.nodes[0].home.join("config/genesis.json");
    let peers: Vec<String> = layout
        .nodes
        .iter()
        .map(|n| format!("{}@{}", n.node_id, n.p2p_addr))
        .collect();
    let rpcs: Vec<String> = layout.nodes.iter().map(|n| n.rpc_url.clone()).collect();
    let ports = NodePorts::for_node(36_900, 0).unwrap();
    let mut full = FullNodeSpec {
        name: "node2".into(),
        home: out.join("node2"),
        cometbft_bin: cometbft_bin(),
        ports,
        genesis: genesis.clone(),
        peers: peers.clone(),
        timeout_commit_ms: 300,
        snapshot_interval: 25,
        snapshot_keep_recent: 3,
        state_sync: Some(StateSyncSettings::new(rpcs[..1].to_vec(), 12, "AB12")),
    };
    assert!(matches!(
        add_full_node(&full),
        Err(LocalnetError::InvalidSpec(_))
    ));
    full.state_sync = Some(StateSyncSettings::new(rpcs.clone(), 12, "AB12"));
    let node = add_full_node(&full).unwrap();
    assert!(matches!(
        add_full_node(&full),
        Err(LocalnetError::AlreadyExists(_))
    ));

    assert_eq!(
        std::fs::read(node.home.join("config/genesis.json")).unwrap(),
        std::fs::read(&genesis).unwrap()
    );
    assert_eq!(node.rpc_url, "http://127.0.0.1:36901");
    assert_eq!(node.abci_addr, "127.0.0.1:36902");
    assert_eq!(node.node_id.len(), 40);
    let c = config(&node.home);
    assert_eq!(c["moniker"].as_str(), Some("node2"));
    assert_eq!(c["proxy_app"].as_str(), Some("tcp://127.0.0.1:36902"));
    assert_eq!(
        c["p2p"]["persistent_peers"].as_str(),
        Some(peers.join(",").as_str())
    );
    let ss = &c["statesync"];
    assert_eq!(ss["enable"].as_bool(), Some(true));
    assert_eq!(ss["rpc_servers"].as_str(), Some(rpcs.join(",").as_str()));
    assert_eq!(ss["trust_height"].as_integer(), Some(12));
    assert_eq!(ss["trust_hash"].as_str(), Some("AB12"));
    assert_eq!(ss["trust_period"].as_str(), Some("168h"));
    assert_eq!(ss["discovery_time"].as_str(), Some("5s"));
    let app: DocumentMut = std::fs::read_to_string(node.home.join("blyand/app.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(app["abci_addr"].as_str(), Some("127.0.0.1:36902"));
    assert_eq!(app["snapshot_interval"].as_integer(), Some(25));
    assert_eq!(app["snapshot_keep_recent"].as_integer(), Some(3));
    // Its validator key is not one of the genesis validators.
    let key = std::fs::read_to_string(node.home.join("config/priv_validator_key.json")).unwrap();
    let gen = std::fs::read_to_string(&genesis).unwrap();
    let pub_key: serde_json::Value = serde_json::from_str(&key).unwrap();
    assert!(!gen.contains(pub_key["pub_key"]["value"].as_str().unwrap()));
    // The validators' own configs do not state-sync.
    assert_eq!(
        config(&layout.nodes[0].home)["statesync"]["enable"].as_bool(),
        Some(false)
    );
}

#[test]
fn genesis_models_are_written_into_app_state_and_owned_by_dev_account_zero() {
    use blyan_proto::dag::{BlockSpec, BlockType, ModelArch, SemVer};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let mut spec = LocalnetSpec::new(1, "blyan-test-model", out.clone(), cometbft_bin());
    spec.base_port = 37_000;
    spec.models.push(crate::GenesisModel {
        id: "blyan-tiny".into(),
        owner: blyan_proto::Address([0u8; 20]),
        arch: ModelArch {
            arch: "blyan-moe-v1".into(),
            n_layers: 1,
            n_experts: 1,
        },
        meta_json: "{}".into(),
        blocks: vec![BlockSpec {
            name: "embed".into(),
            block_type: BlockType::Backbone,
            payload_hash: [1u8; 32],
            cid: "bafkreiexample".into(),
            size: 10,
            version: SemVer {
                major: 1,
                minor: 0,
                patch: 0,
            },
            depends_on: Vec::new(),
        }],
        validation: None,
    });
    let layout = generate(&spec).unwrap();
    let doc = GenesisDoc::read(&layout.nodes[0].home.join("config/genesis.json")).unwrap();
    let state = doc.check().unwrap();
    assert_eq!(state.models.len(), 1);
    assert_eq!(state.models[0].owner, layout.dev_accounts[0].address);
    assert_eq!(state.models[0].blocks[0].cid, "bafkreiexample");
}
