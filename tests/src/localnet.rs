//! [`Localnet`]: an N-validator Blyan network of real processes on loopback ports.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use blyan_client::RpcClient;
use blyan_genesis::localnet::{
    add_full_node, DevAccount, FullNode, FullNodeSpec, LocalnetNode, NodePorts, StateSyncSettings,
    LOCALNET_SNAPSHOT_INTERVAL, LOCALNET_SNAPSHOT_KEEP_RECENT, PORTS_PER_NODE,
};
use blyan_genesis::{GenesisAppState, LocalnetLayout, LocalnetSpec};
use blyan_proto::{Address, SecretKey};

use crate::bins::Bins;
use crate::ports::free_port_block;
use crate::process::{ProcSpec, Processes};

/// How long readiness and height waits last unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The keyring password the harness's CLI calls use.
pub const KEYRING_PASSWORD: &str = "e2e-password";

/// Multi-validator nets take this exclusively, single-validator nets share it, so that the
/// tests of one binary never run two multi-validator nets at once on a small machine.
static NET_SLOT: RwLock<()> = RwLock::new(());

enum Slot {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// What network to start.
#[derive(Debug, Clone)]
pub struct LocalnetOptions {
    /// Number of validators (one node each).
    pub validators: usize,
    /// Funded dev accounts.
    pub dev_accounts: usize,
    /// CometBFT `timeout_commit`, milliseconds.
    pub timeout_commit_ms: u64,
    /// The chain id.
    pub chain_id: String,
    /// How long to wait for every node to reach height 2.
    pub ready_timeout: Duration,
    /// The app's `snapshot_interval` (state-sync snapshots every this many blocks).
    pub snapshot_interval: u64,
    /// Models published at genesis (owned by dev account 0).
    pub models: Vec<blyan_genesis::GenesisModel>,
    /// Proof-of-Learning parameters (default: the localnet's).
    pub pol: blyan_proto::pol::PolParams,
    /// Governance parameters (default: the localnet's: 10 BLY deposit, 20-block periods).
    pub gov: blyan_proto::gov::GovParams,
}

impl LocalnetOptions {
    /// Defaults: 4 dev accounts, 400 ms commit timeout, chain id `blyan-e2e`, 60 s, a
    /// snapshot every 10 blocks.
    pub fn new(validators: usize) -> Self {
        LocalnetOptions {
            validators,
            dev_accounts: 4,
            timeout_commit_ms: 400,
            chain_id: "blyan-e2e".into(),
            ready_timeout: DEFAULT_TIMEOUT,
            snapshot_interval: LOCALNET_SNAPSHOT_INTERVAL,
            models: Vec::new(),
            pol: blyan_genesis::localnet::localnet_pol_params(),
            gov: blyan_genesis::localnet::localnet_gov_params(),
        }
    }
}

/// A running localnet: node `i` is the processes `node<i>/blyand` and `node<i>/cometbft`
/// in [`Localnet::processes`], with its home (and both logs) in a temporary directory.
/// Nodes `0..size()` are the genesis validators; full nodes added later
/// ([`Localnet::add_full_node`]) take the next indices, and every per-node helper
/// (`rpc`, `height`, `app_height`, kills and restarts, ...) works for them too.
///
/// Helpers panic with a readable message on failure. Dropping the net kills and reaps every
/// process; if the thread is panicking it first prints the last 60 lines of every log.
/// Set `BLYAN_E2E_KEEP=1` to keep the directory of a failed test.
pub struct Localnet {
    procs: Processes,
    layout: LocalnetLayout,
    full_nodes: Vec<FullNode>,
    opts: LocalnetOptions,
    rpcs: Vec<RpcClient>,
    bins: Bins,
    dir: Option<tempfile::TempDir>,
    _slot: Slot,
}

impl Localnet {
    /// Starts an `n`-validator net with the default options; panics if it does not come up.
    pub fn start(n: usize) -> Localnet {
        Self::start_with(LocalnetOptions::new(n))
    }

    /// Starts a net with `opts`; panics if it does not come up.
    pub fn start_with(opts: LocalnetOptions) -> Localnet {
        match Self::try_start(opts) {
            Ok(net) => net,
            Err(e) => panic!("the localnet did not start: {e:#}"),
        }
    }

    /// Generates the homes, starts every process and waits until every node's RPC answers
    /// at height ≥ 2. On failure the error carries the tail of every log.
    pub fn try_start(opts: LocalnetOptions) -> anyhow::Result<Localnet> {
        let slot = if opts.validators > 1 {
            Slot::Exclusive(NET_SLOT.write().unwrap_or_else(|e| e.into_inner()))
        } else {
            Slot::Shared(NET_SLOT.read().unwrap_or_else(|e| e.into_inner()))
        };
        let bins = Bins::get()?;
        let n_ports = u16::try_from(opts.validators)
            .ok()
            .and_then(|n| n.checked_mul(PORTS_PER_NODE))
            .context("too many validators")?;
        let base_port = free_port_block(n_ports)?;
        let dir = tempfile::Builder::new().prefix("blyan-e2e-").tempdir()?;
        let mut spec = LocalnetSpec::new(
            opts.validators,
            &opts.chain_id,
            dir.path().join("net"),
            bins.cometbft.clone(),
        );
        spec.base_port = base_port;
        spec.dev_accounts = opts.dev_accounts;
        spec.timeout_commit_ms = opts.timeout_commit_ms;
        spec.blyand_bin_hint = Some(bins.blyand.clone());
        spec.snapshot_interval = opts.snapshot_interval;
        spec.models = opts.models.clone();
        spec.pol = opts.pol.clone();
        spec.gov = opts.gov.clone();
        let layout = blyan_genesis::generate(&spec).context("generating the localnet")?;
        let rpcs = layout
            .nodes
            .iter()
            .map(|n| RpcClient::new(&n.rpc_url))
            .collect();
        let ready_timeout = opts.ready_timeout;
        let mut net = Localnet {
            procs: Processes::new(),
            layout,
            full_nodes: Vec::new(),
            opts,
            rpcs,
            bins,
            dir: Some(dir),
            _slot: slot,
        };
        std::fs::create_dir_all(net.keyring_dir())?;
        let started = (|| {
            for i in 0..net.size() {
                net.spawn_node(i)?;
            }
            net.wait_ready(ready_timeout)
        })();
        if let Err(e) = started {
            let mut logs = String::new();
            for name in net.procs.names() {
                logs.push_str(&format!("\n----- {name} (last 30 lines) -----\n"));
                logs.push_str(&net.procs.tail(&name, 30));
            }
            bail!("{e:#}{logs}");
        }
        Ok(net)
    }

    fn spawn_node(&mut self, i: usize) -> anyhow::Result<()> {
        let home = self.home(i).to_path_buf();
        let app = ProcSpec::new(
            &self.bins.blyand,
            [
                "start".into(),
                "--home".into(),
                home.clone().into_os_string(),
            ],
            home.join("blyand.log"),
        )
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
        self.procs.spawn(&app_name(i), app)?;
        self.wait_abci(i)?;
        let comet = ProcSpec::new(
            &self.bins.cometbft,
            [
                "start".into(),
                "--home".into(),
                home.clone().into_os_string(),
            ],
            home.join("cometbft.log"),
        );
        self.procs.spawn(&comet_name(i), comet)
    }

    /// Waits until node `i`'s app accepts connections on its ABCI address.
    fn wait_abci(&mut self, i: usize) -> anyhow::Result<()> {
        let addr = match i.checked_sub(self.size()) {
            None => self.node(i).abci_addr.clone(),
            Some(j) => self.full_nodes[j].abci_addr.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(&addr).is_ok() {
                return Ok(());
            }
            if !self.procs.is_running(&app_name(i)) {
                bail!("node{i}/blyand exited at startup");
            }
            if Instant::now() > deadline {
                bail!("node{i}/blyand does not listen on {addr} after 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Adds a full node (not a validator) to the running net and starts it: a fresh
    /// `cometbft init` home with the net's genesis, peers to every node so far, the same
    /// snapshot settings, and an empty app data directory. With `state_sync`, it joins by
    /// state sync: the light client trusts node 0's block at its current height and
    /// cross-checks nodes 0 and 1 (so the net needs two nodes), and the node restores the
    /// newest snapshot its peers offer, then block-syncs to the tip. Without, it
    /// block-syncs from genesis. Returns the new node's index.
    pub fn add_full_node(&mut self, state_sync: bool) -> usize {
        match self.try_add_full_node(state_sync) {
            Ok(i) => i,
            Err(e) => panic!("adding a full node failed: {e:#}"),
        }
    }

    fn try_add_full_node(&mut self, state_sync: bool) -> anyhow::Result<usize> {
        let i = self.node_count();
        let name = format!("node{i}");
        let base = free_port_block(PORTS_PER_NODE)?;
        let ports = NodePorts::for_node(base, 0).context("ports")?;
        let mut peers: Vec<String> = self
            .layout
            .nodes
            .iter()
            .map(|n| format!("{}@{}", n.node_id, n.p2p_addr))
            .collect();
        peers.extend(
            self.full_nodes
                .iter()
                .map(|n| format!("{}@{}", n.node_id, n.p2p_addr)),
        );
        let state_sync = if state_sync {
            if self.size() < 2 {
                bail!("state sync needs two RPC servers: start at least two validators");
            }
            let trust_height = self.rpc(0).latest_height()?.saturating_sub(1).max(1);
            let block = self.rpc(0).call(
                "block",
                serde_json::json!({"height": trust_height.to_string()}),
            )?;
            let trust_hash = block["block_id"]["hash"]
                .as_str()
                .context("no block_id.hash in /block")?
                .to_string();
            let rpc_servers = vec![self.node(0).rpc_url.clone(), self.node(1).rpc_url.clone()];
            Some(StateSyncSettings::new(
                rpc_servers,
                trust_height,
                &trust_hash,
            ))
        } else {
            None
        };
        let spec = FullNodeSpec {
            home: self.dir().join("net").join(&name),
            name,
            cometbft_bin: self.bins.cometbft.clone(),
            ports,
            genesis: self.node(0).home.join("config").join("genesis.json"),
            peers,
            timeout_commit_ms: self.opts.timeout_commit_ms,
            snapshot_interval: self.opts.snapshot_interval,
            snapshot_keep_recent: LOCALNET_SNAPSHOT_KEEP_RECENT,
            state_sync,
        };
        let node = add_full_node(&spec).context("generating the node's home")?;
        self.rpcs.push(RpcClient::new(&node.rpc_url));
        self.full_nodes.push(node);
        self.spawn_node(i)?;
        Ok(i)
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let heights: Vec<Option<u64>> =
                self.rpcs.iter().map(|r| r.latest_height().ok()).collect();
            if heights.iter().all(|h| h.is_some_and(|h| h >= 2)) {
                return Ok(());
            }
            let dead = self.procs.not_running();
            if !dead.is_empty() {
                bail!("processes exited before the net was ready: {dead:?}");
            }
            if Instant::now() > deadline {
                bail!("not every node reached height 2 within {timeout:?}; heights: {heights:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Number of validators (the nodes of the genesis), `0..size()`.
    pub fn size(&self) -> usize {
        self.layout.nodes.len()
    }

    /// Number of nodes: the validators and the full nodes added since.
    pub fn node_count(&self) -> usize {
        self.size() + self.full_nodes.len()
    }

    /// The home of node `i` (validator or added full node).
    pub fn home(&self, i: usize) -> &Path {
        match i.checked_sub(self.size()) {
            None => &self.layout.nodes[i].home,
            Some(j) => &self.full_nodes[j].home,
        }
    }

    /// Added full node `i` (`i >= size()`).
    pub fn full_node(&self, i: usize) -> &FullNode {
        &self.full_nodes[i - self.size()]
    }

    /// Everything node `i`'s `blyand` has logged so far.
    pub fn app_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.home(i).join("blyand.log")).unwrap_or_default()
    }

    /// Everything node `i`'s `cometbft` has logged so far.
    pub fn cometbft_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.home(i).join("cometbft.log")).unwrap_or_default()
    }

    /// Heights of the state-sync snapshots node `i`'s app has on disk, newest first.
    pub fn snapshot_heights(&self, i: usize) -> Vec<u64> {
        let dir = self.home(i).join("blyand").join("snapshots");
        let mut out: Vec<u64> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.layout.chain_id
    }

    /// What was generated (nodes, dev accounts, keys).
    pub fn layout(&self) -> &LocalnetLayout {
        &self.layout
    }

    /// Validator `i` of the layout.
    pub fn node(&self, i: usize) -> &LocalnetNode {
        &self.layout.nodes[i]
    }

    /// The CometBFT RPC client of node `i`.
    pub fn rpc(&self, i: usize) -> &RpcClient {
        &self.rpcs[i]
    }

    /// The funded dev accounts.
    pub fn dev_accounts(&self) -> &[DevAccount] {
        &self.layout.dev_accounts
    }

    /// The secret key of dev account `j`.
    pub fn dev_key(&self, j: usize) -> SecretKey {
        let hex = &self.layout.dev_accounts[j].private_key_hex;
        SecretKey::from_hex(hex).unwrap_or_else(|e| panic!("dev key {j}: {e}"))
    }

    /// The operator account of validator `i` (it receives the tips of blocks it proposes).
    pub fn operator(&self, i: usize) -> Address {
        self.layout.nodes[i].operator_address
    }

    /// The genesis `app_state` (node 0's `genesis.json`; all nodes share it).
    pub fn genesis_app_state(&self) -> GenesisAppState {
        let path = self.node(0).home.join("config").join("genesis.json");
        let text = std::fs::read_to_string(&path).expect("reading genesis.json");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("genesis.json is JSON");
        serde_json::from_value(doc["app_state"].clone()).expect("app_state parses")
    }

    /// The temporary directory holding every node home.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new("/"), |d| d.path())
    }

    /// The binaries the net runs.
    pub fn bins(&self) -> &Bins {
        &self.bins
    }

    /// The directory of the CLI's keyring for this net.
    pub fn keyring_dir(&self) -> PathBuf {
        self.dir().join("keyring")
    }

    /// The process registry: add Kubo nodes, workers, ... here to have them killed and
    /// their logs printed with the nodes'.
    pub fn processes(&mut self) -> &mut Processes {
        &mut self.procs
    }

    /// `kill -9` both processes of node `i`.
    pub fn kill9_node(&mut self, i: usize) {
        self.procs.kill9(&comet_name(i)).expect("kill cometbft");
        self.procs.kill9(&app_name(i)).expect("kill blyand");
    }

    /// `kill -9` only node `i`'s `blyand`.
    pub fn kill9_app(&mut self, i: usize) {
        self.procs.kill9(&app_name(i)).expect("kill blyand");
    }

    /// Restarts node `i`: kills whatever of it still runs, starts `blyand`, waits for its
    /// ABCI socket, starts `cometbft`.
    pub fn restart_node(&mut self, i: usize) {
        self.kill9_node(i);
        self.procs.start(&app_name(i)).expect("start blyand");
        self.wait_abci(i).expect("blyand listens");
        self.procs.start(&comet_name(i)).expect("start cometbft");
    }

    /// Restarts node `i`'s `blyand` (killing it first if it runs) and waits for its ABCI
    /// socket; CometBFT is left as it is.
    pub fn restart_app(&mut self, i: usize) {
        self.procs.restart(&app_name(i)).expect("restart blyand");
        self.wait_abci(i).expect("blyand listens");
    }

    /// Starts node `i`'s `cometbft` if it is not running.
    pub fn start_cometbft(&mut self, i: usize) {
        if !self.cometbft_running(i) {
            self.procs.start(&comet_name(i)).expect("start cometbft");
        }
    }

    /// Whether node `i`'s `blyand` runs.
    pub fn app_running(&mut self, i: usize) -> bool {
        self.procs.is_running(&app_name(i))
    }

    /// Whether node `i`'s `cometbft` runs.
    pub fn cometbft_running(&mut self, i: usize) -> bool {
        self.procs.is_running(&comet_name(i))
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        // The process registry, dropped next, kills every child and, when panicking,
        // prints the log tails (the directory is removed only after that).
        self.procs.kill_all();
        if std::thread::panicking() && std::env::var_os("BLYAN_E2E_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("keeping the localnet directory {}", dir.keep().display());
            }
        }
    }
}

/// The process name of node `i`'s app.
pub fn app_name(i: usize) -> String {
    format!("node{i}/blyand")
}

/// The process name of node `i`'s CometBFT.
pub fn comet_name(i: usize) -> String {
    format!("node{i}/cometbft")
}
