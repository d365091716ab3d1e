//! A loopback-only Kubo daemon for the worker's integration tests: `$KUBO_BIN`, else
//! `<workspace>/.bin/ipfs` as `localnet/install.sh` installs it (a missing binary fails the
//! test with that hint).
#![allow(dead_code)]
#![allow(unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn kubo_bin() -> PathBuf {
    let bin = std::env::var_os("KUBO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(".bin")
                .join("ipfs")
        });
    assert!(
        bin.is_file(),
        "Kubo (ipfs) not found at {}: run localnet/install.sh (it installs the pinned Kubo into \
         .bin/ipfs) or set KUBO_BIN",
        bin.display()
    );
    bin
}

/// A loopback-only Kubo daemon in a temporary repo (the config of `tests/src/kubo.rs`).
pub struct Kubo {
    child: Child,
    /// `http://127.0.0.1:PORT` of its RPC API.
    pub api: String,
}

impl Drop for Kubo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_path(root: &mut Value, dotted: &str, value: Value) {
    let mut cur = root;
    let mut keys = dotted.split('.').peekable();
    while let Some(k) = keys.next() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let obj = cur.as_object_mut().unwrap();
        if keys.peek().is_none() {
            obj.insert(k.to_string(), value);
            return;
        }
        cur = obj.entry(k.to_string()).or_insert_with(|| json!({}));
    }
}

pub fn start_kubo(dir: &Path) -> Kubo {
    let bin = kubo_bin();
    let out = Command::new(&bin)
        .args(["init", "--profile=test"])
        .env("IPFS_PATH", dir)
        .env("IPFS_TELEMETRY", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ipfs init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (api, gw, swarm) = (free_port(), free_port(), free_port());
    let config = dir.join("config");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    for (k, v) in [
        ("Addresses.API", json!(format!("/ip4/127.0.0.1/tcp/{api}"))),
        (
            "Addresses.Gateway",
            json!(format!("/ip4/127.0.0.1/tcp/{gw}")),
        ),
        (
            "Addresses.Swarm",
            json!([format!("/ip4/127.0.0.1/tcp/{swarm}")]),
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
    ] {
        set_path(&mut cfg, k, v);
    }
    std::fs::write(&config, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let log = std::fs::File::create(dir.join("ipfs.log")).unwrap();
    let child = Command::new(&bin)
        .arg("daemon")
        .env("IPFS_PATH", dir)
        .env("IPFS_TELEMETRY", "off")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let k = Kubo {
        child,
        api: format!("http://127.0.0.1:{api}"),
    };
    let client = blyan_worker::ipfs::KuboClient::new(&k.api).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.id().is_err() {
        assert!(
            Instant::now() < deadline,
            "kubo did not start: {}",
            std::fs::read_to_string(dir.join("ipfs.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    k
}
