//! Kubo (`ipfs`) nodes on loopback for end-to-end tests: a fresh repo per node, listening on
//! 127.0.0.1 only, with every way of reaching the public network switched off (no bootstrap
//! peers, no mDNS, routing `none`, no AutoNAT, relays, hole punching, AutoConf, AutoTLS,
//! providing or telemetry), so content moves only between the nodes a test connects, by
//! bitswap.
//!
//! The binary is `$KUBO_BIN`, else `<workspace>/.bin/ipfs` as `localnet/install.sh` installs
//! it; a missing binary is an error telling to run that script, never a skipped test.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use blyan_client::fixtures::kubo::init_repo;
use blyan_worker::ipfs::KuboClient;

use crate::{ProcSpec, Processes};

pub use blyan_client::fixtures::kubo::{kubo_bin, loopback_config, START_TIMEOUT};

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
        init_repo(&bin, dir, api_port, gateway_port, swarm_port)?;

        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kubo".into());
        let name = format!("{dir_name}/ipfs");
        // `daemon_command` of the fixture, as a spec of the harness's process registry.
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
