//! Kubo (`ipfs`) nodes on loopback for end-to-end tests: a fresh repo per node, listening on
//! 127.0.0.1 only, with every way of reaching the public network switched off (no bootstrap
//! peers, no mDNS, routing `none`, no AutoNAT, relays, hole punching, AutoConf, AutoTLS,
//! providing or telemetry), so content moves only between the nodes a test connects, by
//! bitswap.
//!
//! The binary is `$KUBO_BIN`, else `<workspace>/.bin/ipfs` as `localnet/install.sh` installs
//! it; a missing binary is an error telling to run that script, never a skipped test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use blyan_worker::ipfs::KuboClient;
use serde_json::{json, Value};

use crate::bins::workspace_root;
use crate::{ProcSpec, Processes};

/// How long a daemon may take to answer its API after start.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The config a loopback test node runs with: `(dotted key, value)`, applied on top of
/// `ipfs init --profile=test`. `localnet/up.sh` applies the same list.
pub fn loopback_config(
    api_port: u16,
    gateway_port: u16,
    swarm_port: u16,
) -> Vec<(&'static str, Value)> {
    vec![
        (
            "Addresses.API",
            json!(format!("/ip4/127.0.0.1/tcp/{api_port}")),
        ),
        (
            "Addresses.Gateway",
            json!(format!("/ip4/127.0.0.1/tcp/{gateway_port}")),
        ),
        (
            "Addresses.Swarm",
            json!([format!("/ip4/127.0.0.1/tcp/{swarm_port}")]),
        ),
        ("Addresses.Announce", json!([])),
        ("Addresses.AppendAnnounce", json!([])),
        ("Bootstrap", json!([])),
        ("Discovery.MDNS.Enabled", json!(false)),
        ("Routing.Type", json!("none")),
        ("AutoNAT.ServiceMode", json!("disabled")),
        ("AutoConf.Enabled", json!(false)),
        ("AutoTLS.Enabled", json!(false)),
        ("Provide.Enabled", json!(false)),
        ("Swarm.DisableNatPortMap", json!(true)),
        ("Swarm.EnableHolePunching", json!(false)),
        ("Swarm.RelayClient.Enabled", json!(false)),
        ("Swarm.RelayService.Enabled", json!(false)),
        ("Swarm.Transports.Network.QUIC", json!(false)),
        ("Swarm.Transports.Network.WebTransport", json!(false)),
        ("Swarm.Transports.Network.WebRTCDirect", json!(false)),
        ("Swarm.Transports.Network.Websocket", json!(false)),
        ("Plugins.Plugins.telemetry.Config.Mode", json!("off")),
    ]
}

/// The Kubo binary: `$KUBO_BIN`, else `<workspace>/.bin/ipfs`.
pub fn kubo_bin() -> anyhow::Result<PathBuf> {
    let bin = std::env::var_os("KUBO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".bin").join("ipfs"));
    if !bin.is_file() {
        bail!(
            "Kubo (ipfs) not found at {}: run localnet/install.sh (it builds the pinned Kubo \
             into .bin/ipfs) or set KUBO_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// One running Kubo daemon.
#[derive(Debug, Clone)]
pub struct KuboNode {
    /// Its name in the [`Processes`] registry (`{dir name}/ipfs`).
    pub name: String,
    /// Its repo (`IPFS_PATH`).
    pub dir: PathBuf,
    /// RPC API port.
    pub api_port: u16,
    /// Gateway port.
    pub gateway_port: u16,
    /// libp2p (TCP) port.
    pub swarm_port: u16,
    /// Its peer id.
    pub peer_id: String,
    /// A client of its API.
    pub client: KuboClient,
}

impl KuboNode {
    /// Initialises a repo in `dir` (unless one is there), configures it for loopback only,
    /// starts `ipfs daemon` in `processes` as `{dir name}/ipfs`, and waits until its API
    /// answers.
    pub fn start(
        processes: &mut Processes,
        dir: &Path,
        api_port: u16,
        gateway_port: u16,
        swarm_port: u16,
    ) -> anyhow::Result<KuboNode> {
        let bin = kubo_bin()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let config = dir.join("config");
        if !config.is_file() {
            let out = Command::new(&bin)
                .args(["init", "--profile=test"])
                .env("IPFS_PATH", dir)
                .env("IPFS_TELEMETRY", "off")
                .output()
                .context("running ipfs init")?;
            if !out.status.success() {
                bail!(
                    "ipfs init in {} failed ({}): {}",
                    dir.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let mut cfg: Value = serde_json::from_slice(&std::fs::read(&config)?)
            .with_context(|| format!("parsing {}", config.display()))?;
        for (key, value) in loopback_config(api_port, gateway_port, swarm_port) {
            set_path(&mut cfg, key, value);
        }
        std::fs::write(&config, serde_json::to_vec_pretty(&cfg)?)?;

        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kubo".into());
        let name = format!("{dir_name}/ipfs");
        let spec = ProcSpec::new(&bin, ["daemon"], dir.join("ipfs.log"))
            .env("IPFS_PATH", dir)
            .env("IPFS_TELEMETRY", "off");
        processes.spawn(&name, spec)?;

        let client = KuboClient::new(&format!("http://127.0.0.1:{api_port}"))?
            .with_timeout(Duration::from_secs(30));
        let deadline = Instant::now() + START_TIMEOUT;
        let peer_id = loop {
            match client.id() {
                Ok(id) => break id.id,
                Err(e) => {
                    if !processes.is_running(&name) {
                        bail!(
                            "{name} exited at startup: {:?}\n{}",
                            processes.exit_status(&name),
                            processes.tail(&name, 40)
                        );
                    }
                    if Instant::now() > deadline {
                        bail!(
                            "{name} does not answer on port {api_port} after {START_TIMEOUT:?}: {e}\n{}",
                            processes.tail(&name, 40)
                        );
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        Ok(KuboNode {
            name,
            dir: dir.to_path_buf(),
            api_port,
            gateway_port,
            swarm_port,
            peer_id,
            client,
        })
    }

    /// Its libp2p address: `/ip4/127.0.0.1/tcp/{swarm}/p2p/{peer id}`.
    pub fn swarm_addr(&self) -> String {
        format!(
            "/ip4/127.0.0.1/tcp/{}/p2p/{}",
            self.swarm_port, self.peer_id
        )
    }

    /// Its API URL.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// Connects to `other` (`/api/v0/swarm/connect`) and waits until both list each other
    /// as peers.
    pub fn connect(&self, other: &KuboNode) -> anyhow::Result<()> {
        self.client
            .swarm_connect(&other.swarm_addr())
            .with_context(|| format!("{} connecting to {}", self.name, other.name))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let a = self.client.swarm_peers()?.contains(&other.peer_id);
            let b = other.client.swarm_peers()?.contains(&self.peer_id);
            if a && b {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} and {} do not see each other as peers",
                    self.name,
                    other.name
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Sets `a.b.c` in a JSON object, creating objects on the way.
fn set_path(root: &mut Value, dotted: &str, value: Value) {
    let mut cur = root;
    let mut keys = dotted.split('.').peekable();
    while let Some(k) = keys.next() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if keys.peek().is_none() {
            obj.insert(k.to_string(), value);
            return;
        }
        cur = obj.entry(k.to_string()).or_insert_with(|| json!({}));
    }
}
