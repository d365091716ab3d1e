//! Staking helpers of the harness: typed staking queries at a height, CometBFT's own
//! validator set, begin/end-block events from `/block_results`, staking transactions built
//! like a wallet builds them, the CLI with failures returned instead of asserted, and a
//! "twin" node that signs with a copy of a validator's consensus key (double signing).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use blyan_client::RpcClient;
use blyan_genesis::localnet::{NodePorts, PORTS_PER_NODE};
use blyan_proto::query::{
    DelegationInfo, PoolInfo, QueryPath, RewardsInfo, UnbondingInfo, ValidatorInfo,
};
use blyan_proto::{Address, Msg, SecretKey, SignedTx, StakingMsg};
use serde_json::Value;

use crate::localnet::Localnet;
use crate::ports::free_port_block;
use crate::process::ProcSpec;
use crate::txs::{events, query_at, FeeTerms, TxFactory};

/// A validator's staking record at `height` (0 = latest).
pub fn validator(rpc: &RpcClient, op: Address, height: u64) -> ValidatorInfo {
    query_at(rpc, &QueryPath::Validator(op), height)
        .unwrap_or_else(|e| panic!("validator {op} at {height}: {e:#}"))
}

// Paths answered by scanning a key prefix (every validator, a delegator's delegations or
// unbonding entries) are only right at the latest height: the app's past-version view
// serves point reads only and answers a scan with nothing (an empty list, code 0). The
// helpers below therefore read them at the latest height; read single records (a
// validator, rewards, balances, pools) at a past height instead.

/// Every validator, by operator (latest height: see above).
pub fn validators(rpc: &RpcClient) -> Vec<ValidatorInfo> {
    query_at(rpc, &QueryPath::Validators, 0).unwrap_or_else(|e| panic!("validators: {e:#}"))
}

/// The staking pools at `height` (0 = latest).
pub fn pool(rpc: &RpcClient, height: u64) -> PoolInfo {
    query_at(rpc, &QueryPath::StakingPool, height)
        .unwrap_or_else(|e| panic!("staking pool at {height}: {e:#}"))
}

/// A delegator's delegations (latest height: see above).
pub fn delegations(rpc: &RpcClient, delegator: Address) -> Vec<DelegationInfo> {
    query_at(rpc, &QueryPath::Delegations(delegator), 0)
        .unwrap_or_else(|e| panic!("delegations of {delegator}: {e:#}"))
}

/// A delegator's unbonding entries (latest height: see above).
pub fn unbonding(rpc: &RpcClient, delegator: Address) -> Vec<UnbondingInfo> {
    query_at(rpc, &QueryPath::Unbonding(delegator), 0)
        .unwrap_or_else(|e| panic!("unbonding of {delegator}: {e:#}"))
}

/// What `delegator` could withdraw from `op` at `height` (0 = latest).
pub fn rewards(rpc: &RpcClient, delegator: Address, op: Address, height: u64) -> RewardsInfo {
    query_at(rpc, &QueryPath::Rewards(delegator, op), height)
        .unwrap_or_else(|e| panic!("rewards of {delegator} from {op} at {height}: {e:#}"))
}

/// A member of CometBFT's validator set (`/validators`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CometValidator {
    /// Consensus address, upper-case hex.
    pub address: String,
    /// ed25519 public key, base64 (as in `keys.json` and `genesis.json`).
    pub pub_key: String,
    /// Voting power.
    pub power: u64,
}

fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        v => v.as_u64().unwrap_or(0),
    }
}

/// CometBFT's validator set at `height` (`None`: the latest), all pages.
pub fn comet_validators(
    rpc: &RpcClient,
    height: Option<u64>,
) -> anyhow::Result<Vec<CometValidator>> {
    let mut params = serde_json::json!({"page": "1", "per_page": "100"});
    if let Some(h) = height {
        params["height"] = Value::String(h.to_string());
    }
    let r = rpc.call("validators", params)?;
    let list = r["validators"]
        .as_array()
        .with_context(|| format!("/validators: no list in {r}"))?;
    Ok(list
        .iter()
        .map(|v| CometValidator {
            address: v["address"].as_str().unwrap_or_default().to_string(),
            pub_key: v["pub_key"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            power: num(&v["voting_power"]),
        })
        .collect())
}

/// The power CometBFT's latest validator set gives a consensus key (base64), if any.
pub fn comet_power(rpc: &RpcClient, pub_key_b64: &str) -> Option<u64> {
    comet_validators(rpc, None)
        .ok()?
        .into_iter()
        .find(|v| v.pub_key == pub_key_b64)
        .map(|v| v.power)
}

/// `/block_results?height=`: the begin/end-block (`finalize_block_events`) events of a block.
pub fn block_events(rpc: &RpcClient, height: u64) -> anyhow::Result<Value> {
    let r = rpc.call(
        "block_results",
        serde_json::json!({"height": height.to_string()}),
    )?;
    Ok(r["finalize_block_events"].clone())
}

/// The first block in `from..=to` with an event of type `kind` whose attributes satisfy
/// `pred`: its height and the attributes. Heights not yet committed are waited for (up to
/// 60 s each).
pub fn find_block_event(
    rpc: &RpcClient,
    from: u64,
    to: u64,
    kind: &str,
    pred: impl Fn(&BTreeMap<String, String>) -> bool,
) -> Option<(u64, BTreeMap<String, String>)> {
    for h in from..=to {
        let list = crate::wait_for(
            &format!("block_results at height {h}"),
            crate::DEFAULT_TIMEOUT,
            || block_events(rpc, h).ok(),
        );
        if let Some(e) = events(&list, kind).into_iter().find(|e| pred(e)) {
            return Some((h, e));
        }
    }
    None
}

/// A numeric attribute of an event map; panics naming the event if absent.
pub fn num_attr(e: &BTreeMap<String, String>, key: &str) -> u128 {
    e.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric {key} in {e:?}"))
}

/// A signed transaction of staking messages with the exact gas limit and default fees.
pub fn staking_tx(f: &TxFactory, key: &SecretKey, nonce: u64, msgs: Vec<StakingMsg>) -> SignedTx {
    let msgs: Vec<Msg> = msgs.into_iter().map(Msg::Staking).collect();
    let mut tx = f.unsigned(nonce, msgs, "", FeeTerms::default());
    let len = tx.clone().sign(key).to_bytes().len();
    // The published gas schedule (proto), as a wallet fills in its gas limit.
    tx.fee.gas_limit = f.params.tx_gas(&tx, len);
    tx.sign(key)
}

/// The ed25519 public key of validator `i` (from `keys.json`'s base64) as 32 bytes.
pub fn consensus_key_bytes(net: &Localnet, i: usize) -> [u8; 32] {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(&net.node(i).consensus_pub_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or_else(|| panic!("node{i}'s consensus key is not 32 bytes of base64"))
}

impl Localnet {
    /// Imports validator `i`'s operator key into the keyring as `op<i>`; returns the name.
    pub fn import_operator_key(&self, i: usize) -> String {
        let name = format!("op{i}");
        let hex = self.node(i).operator_private_key_hex.clone();
        let v = self.cli_json(&["keys", "import", &name, "--private-key", &hex]);
        assert_eq!(
            v["address"].as_str(),
            Some(self.operator(i).to_string().as_str())
        );
        name
    }

    /// The secret key of validator `i`'s operator.
    pub fn operator_key(&self, i: usize) -> SecretKey {
        SecretKey::from_hex(&self.node(i).operator_private_key_hex)
            .unwrap_or_else(|e| panic!("operator key {i}: {e}"))
    }

    /// Runs a CLI transaction with `--output json` and returns what it printed, whether it
    /// succeeded or not (the `code` field tells), plus its exit status.
    pub fn cli_tx(&self, args: &[&str]) -> (Value, bool) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.cli(&all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "blyand {}: stdout is not JSON ({e}): {stdout}\nstderr: {}",
                all.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (v, out.status.success())
    }

    /// Runs a CLI transaction with `--wait`, asserts it committed with code 0 and returns
    /// CometBFT's `/tx` answer for it (with its events).
    pub fn cli_tx_ok(&self, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--wait");
        let (v, ok) = self.cli_tx(&all);
        assert!(ok && v["code"] == 0, "blyand {} failed: {v}", all.join(" "));
        let hash = v["hash"].as_str().expect("the CLI prints the hash");
        self.wait_committed(0, hash)
    }
}

/// A second node signing with a copy of validator `of`'s consensus key: its own `blyand`
/// and `cometbft` with a fresh home (same genesis, own node key and ports), peered to every
/// node of the net. Both it and the real validator sign as the same validator, so votes
/// conflict as soon as they disagree on a block (two proposals when that validator
/// proposes, each instance prevoting its own).
pub struct Twin {
    /// Its home.
    pub home: PathBuf,
    /// Its RPC.
    pub rpc: RpcClient,
    /// Its process names in the net's registry.
    pub names: [String; 2],
}

fn replace_line(text: &str, key: &str, value: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with(&format!("{key} =")) {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

impl Twin {
    /// Builds the twin's home from node `of`'s and starts it: `cometbft init` (fresh node
    /// key and signing state), then `of`'s genesis, `config.toml` (ports moved, every node
    /// as a persistent peer, `double_sign_check_height = 0`) and a copy of its
    /// `priv_validator_key.json`. The twin block-syncs from genesis (its app replays every
    /// block), then joins consensus and signs.
    pub fn start(net: &mut Localnet, of: usize) -> anyhow::Result<Twin> {
        let base = free_port_block(PORTS_PER_NODE)?;
        let ports = NodePorts::for_node(base, 0).context("twin ports")?;
        let src = net.node(of).home.clone();
        let home = net.dir().join("twin");
        let out = std::process::Command::new(&net.bins().cometbft)
            .args(["init", "--home"])
            .arg(&home)
            .output()?;
        if !out.status.success() {
            bail!("cometbft init: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::copy(
            src.join("config/genesis.json"),
            home.join("config/genesis.json"),
        )?;
        let src_ports = node_ports(net, of)?;
        let mut config = std::fs::read_to_string(src.join("config/config.toml"))?;
        for (a, b) in [
            (src_ports.p2p, ports.p2p),
            (src_ports.rpc, ports.rpc),
            (src_ports.abci, ports.abci),
            (src_ports.prometheus, ports.prometheus),
        ] {
            config = config.replace(&format!("127.0.0.1:{a}\""), &format!("127.0.0.1:{b}\""));
        }
        let peers: Vec<String> = net
            .layout()
            .nodes
            .iter()
            .map(|n| format!("{}@{}", n.node_id, n.p2p_addr))
            .collect();
        config = replace_line(
            &config,
            "persistent_peers",
            &format!("\"{}\"", peers.join(",")),
        );
        config = replace_line(&config, "moniker", "\"twin\"");
        config = replace_line(&config, "double_sign_check_height", "0");
        std::fs::write(home.join("config/config.toml"), config)?;
        std::fs::create_dir_all(home.join("blyand"))?;
        std::fs::write(
            home.join("blyand/app.toml"),
            format!(
                "abci_addr = \"127.0.0.1:{}\"\nmetrics_addr = \"127.0.0.1:{}\"\nretain_blocks = 1000\n",
                ports.abci, ports.metrics
            ),
        )?;
        std::fs::copy(
            src.join("config/priv_validator_key.json"),
            home.join("config/priv_validator_key.json"),
        )?;
        let twin = Twin {
            rpc: RpcClient::new(&format!("http://127.0.0.1:{}", ports.rpc)),
            home: home.clone(),
            names: ["twin/blyand".into(), "twin/cometbft".into()],
        };
        let app = ProcSpec::new(
            &net.bins().blyand,
            [
                "start".into(),
                "--home".into(),
                home.clone().into_os_string(),
            ],
            home.join("blyand.log"),
        )
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
        net.processes().spawn(&twin.names[0], app)?;
        let abci = format!("127.0.0.1:{}", ports.abci);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&abci).is_err() {
            if Instant::now() > deadline {
                bail!("the twin's blyand does not listen on {abci}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let comet = ProcSpec::new(
            &net.bins().cometbft,
            [
                "start".into(),
                "--home".into(),
                home.clone().into_os_string(),
            ],
            home.join("cometbft.log"),
        );
        net.processes().spawn(&twin.names[1], comet)?;
        Ok(twin)
    }

    /// Waits until the twin's CometBFT has caught up (height ≥ `h`, not catching up).
    pub fn wait_synced(&self, h: u64, timeout: Duration) -> anyhow::Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(s) = self.rpc.call("status", serde_json::json!({})) {
                let height = num(&s["sync_info"]["latest_block_height"]);
                if height >= h && s["sync_info"]["catching_up"] == false {
                    return Ok(height);
                }
            }
            if Instant::now() > deadline {
                bail!("the twin did not sync to height {h} within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn port_of(addr: &str) -> anyhow::Result<u16> {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .with_context(|| format!("no port in {addr}"))
}

/// Node `i`'s ports, from its addresses in the layout (p2p is the block's first port).
fn node_ports(net: &Localnet, i: usize) -> anyhow::Result<NodePorts> {
    NodePorts::for_node(port_of(&net.node(i).p2p_addr)?, 0).context("ports")
}

/// What a committed transaction cost its signer: the fee burned plus the tip, less the tip
/// when the signer's own validator proposed the block (it pays the tip to itself).
pub fn net_fee(committed: &Value, signer: Address) -> u128 {
    let burned = crate::txs::attr_u128(committed, "fee", "burned");
    let tip = crate::txs::attr_u128(committed, "fee", "tip");
    let proposer = crate::txs::attr(committed, "fee", "proposer");
    if proposer == Some(signer.to_string()) {
        burned
    } else {
        burned + tip
    }
}
