//! A loopback-only Kubo daemon for the worker's integration tests: `$KUBO_BIN`, else
//! `<workspace>/.bin/ipfs` as `localnet/install.sh` installs it (a missing binary fails the
//! test with that hint).
#![allow(dead_code)]
#![allow(unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn kubo_bin() -> PathBuf {
    blyan_client::fixtures::kubo::kubo_bin().unwrap_or_else(|e| panic!("{e}"))
}

/// A loopback-only Kubo daemon in a temporary repo (`blyan_client::fixtures::kubo`).
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

pub fn start_kubo(dir: &Path) -> Kubo {
    let bin = kubo_bin();
    let (api, gw, swarm) = (free_port(), free_port(), free_port());
    blyan_client::fixtures::kubo::init_repo(&bin, dir, api, gw, swarm).unwrap();
    let log = std::fs::File::create(dir.join("ipfs.log")).unwrap();
    let child = blyan_client::fixtures::kubo::daemon_command(&bin, dir)
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
