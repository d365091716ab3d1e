//! A blocking client of Kubo's HTTP RPC API (`/api/v0/…`, every call a POST), on `ureq`.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Cursor, Read, Write};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::unixfs::{cid_of_bytes, cid_of_reader};
use super::{Cid, IpfsError, ADD_PARAMS};

/// Default time limit of one call (Kubo is told the same limit with its `timeout` option).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What `/api/v0/id` says about a node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PeerInfo {
    /// The libp2p peer id.
    #[serde(rename = "ID")]
    pub id: String,
    /// The multiaddrs it listens on, each ending in `/p2p/{id}`.
    #[serde(rename = "Addresses", default)]
    pub addresses: Vec<String>,
    /// `kubo/0.43.0/…`.
    #[serde(rename = "AgentVersion", default)]
    pub agent_version: String,
}

/// A Kubo node's RPC API.
#[derive(Debug, Clone)]
pub struct KuboClient {
    base: String,
    agent: ureq::Agent,
    timeout: Duration,
}

impl KuboClient {
    /// A client of the API at `api`: `http://127.0.0.1:5001`, `127.0.0.1:5001`, or a
    /// multiaddr such as `/ip4/127.0.0.1/tcp/5001` (what `$IPFS_PATH/api` holds).
    pub fn new(api: &str) -> Result<Self, IpfsError> {
        let base = api_base_url(api)?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .build();
        Ok(Self {
            base,
            agent,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same client with another per-call time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The API's base URL (`http://host:port`).
    pub fn api_url(&self) -> &str {
        &self.base
    }

    /// The node's peer id and addresses.
    pub fn id(&self) -> Result<PeerInfo, IpfsError> {
        self.call_json("id", &[])
    }

    /// The Kubo version (`0.43.0`).
    pub fn version(&self) -> Result<String, IpfsError> {
        #[derive(Deserialize)]
        struct V {
            #[serde(rename = "Version")]
            version: String,
        }
        Ok(self.call_json::<V>("version", &[])?.version)
    }

    /// Adds `bytes` with the fixed parameters, pinned; the CID is checked against the one
    /// computed locally from the bytes.
    pub fn add_bytes(&self, bytes: &[u8]) -> Result<Cid, IpfsError> {
        let want = cid_of_bytes(bytes);
        let got = self.add_stream(Cursor::new(bytes.to_vec()), bytes.len() as u64)?;
        check_same(&got, want)
    }

    /// Adds the file at `path` (streamed, not read into memory) with the fixed parameters,
    /// pinned; the CID is checked against the one computed locally from the file.
    pub fn add_file(&self, path: &Path) -> Result<Cid, IpfsError> {
        let io_err = |source| IpfsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let want = cid_of_reader(File::open(path).map_err(io_err)?).map_err(io_err)?;
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let got = self.add_stream(file, len)?;
        check_same(&got, want)
    }

    /// Fetches the content of `cid` (from this node's store or, by bitswap, from its peers)
    /// into memory; fails beyond `max_bytes`.
    pub fn cat(&self, cid: &Cid, max_bytes: u64) -> Result<Vec<u8>, IpfsError> {
        let mut out = Vec::new();
        self.cat_to(cid, &mut out, max_bytes)?;
        Ok(out)
    }

    /// Streams the content of `cid` into `out`; fails beyond `max_bytes`. Returns the
    /// number of bytes written.
    pub fn cat_to(&self, cid: &Cid, out: &mut dyn Write, max_bytes: u64) -> Result<u64, IpfsError> {
        let arg = cid.to_string();
        let resp = self.post("cat", &[("arg", &arg)]).call();
        let mut body = self
            .check("cat", resp)?
            .into_reader()
            .take(max_bytes.saturating_add(1));
        let n = io::copy(&mut body, out).map_err(|e| IpfsError::Transport {
            endpoint: "cat",
            url: self.base.clone(),
            message: format!("reading {cid}: {e}"),
        })?;
        if n > max_bytes {
            return Err(IpfsError::TooLarge {
                cid: *cid,
                limit: max_bytes,
            });
        }
        Ok(n)
    }

    /// Pins `cid` (recursively), fetching it first if needed.
    pub fn pin(&self, cid: &Cid) -> Result<(), IpfsError> {
        #[derive(Deserialize)]
        struct Pins {
            #[serde(rename = "Pins", default)]
            pins: Vec<String>,
        }
        let arg = cid.to_string();
        let p: Pins = self.call_json("pin/add", &[("arg", &arg)])?;
        if p.pins.contains(&arg) {
            Ok(())
        } else {
            Err(IpfsError::Decode {
                endpoint: "pin/add",
                message: format!("{arg} is not among the pins reported: {:?}", p.pins),
            })
        }
    }

    /// Connects to a peer by multiaddr (`/ip4/127.0.0.1/tcp/4001/p2p/12D3…`).
    pub fn swarm_connect(&self, addr: &str) -> Result<(), IpfsError> {
        self.call_json::<serde_json::Value>("swarm/connect", &[("arg", addr)])?;
        Ok(())
    }

    /// The peer ids this node is connected to.
    pub fn swarm_peers(&self) -> Result<Vec<String>, IpfsError> {
        #[derive(Deserialize)]
        struct Peer {
            #[serde(rename = "Peer")]
            peer: String,
        }
        #[derive(Deserialize)]
        struct Peers {
            #[serde(rename = "Peers", default)]
            peers: Option<Vec<Peer>>,
        }
        let p: Peers = self.call_json("swarm/peers", &[])?;
        Ok(p.peers
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.peer)
            .collect())
    }

    fn add_stream(&self, data: impl Read, len: u64) -> Result<Cid, IpfsError> {
        let boundary = boundary();
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let total = head.len() as u64 + len + tail.len() as u64;
        let body = Cursor::new(head.into_bytes())
            .chain(data.take(len))
            .chain(Cursor::new(tail.into_bytes()));
        let resp = self
            .post("add", ADD_PARAMS)
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .set("Content-Length", &total.to_string())
            .send(body);
        let text = self
            .check("add", resp)?
            .into_string()
            .map_err(|e| self.transport("add", e))?;
        #[derive(Deserialize)]
        struct Added {
            #[serde(rename = "Hash")]
            hash: Option<String>,
        }
        // One JSON object per line; the file's entry carries its CID.
        let hash = text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Added>(l).ok())
            .find_map(|a| a.hash)
            .ok_or_else(|| IpfsError::Decode {
                endpoint: "add",
                message: format!("no Hash in the answer {:?}", truncate(&text)),
            })?;
        Ok(hash.parse()?)
    }

    fn post(&self, endpoint: &'static str, params: &[(&str, &str)]) -> ureq::Request {
        let kubo_timeout = format!("{}ms", self.timeout.as_millis());
        let mut req = self
            .agent
            .post(&format!("{}/api/v0/{endpoint}", self.base))
            // Kubo gives up at the same limit and says so, rather than the socket timing out.
            .timeout(self.timeout + Duration::from_secs(5))
            .query("timeout", &kubo_timeout);
        for (k, v) in params {
            req = req.query(k, v);
        }
        req
    }

    fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &'static str,
        params: &[(&str, &str)],
    ) -> Result<T, IpfsError> {
        let resp = self.post(endpoint, params).call();
        let text = self
            .check(endpoint, resp)?
            .into_string()
            .map_err(|e| self.transport(endpoint, e))?;
        serde_json::from_str(&text).map_err(|e| IpfsError::Decode {
            endpoint,
            message: format!("{e} in {:?}", truncate(&text)),
        })
    }

    /// Turns an HTTP error into [`IpfsError::Api`] with Kubo's message.
    fn check(
        &self,
        endpoint: &'static str,
        resp: Result<ureq::Response, ureq::Error>,
    ) -> Result<ureq::Response, IpfsError> {
        match resp {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(status, r)) => {
                let text = r.into_string().unwrap_or_default();
                #[derive(Deserialize)]
                struct KuboErr {
                    #[serde(rename = "Message")]
                    message: String,
                }
                let message = serde_json::from_str::<KuboErr>(&text)
                    .map(|e| e.message)
                    .unwrap_or_else(|_| truncate(&text).to_string());
                Err(IpfsError::Api {
                    endpoint,
                    status,
                    message,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(self.transport(endpoint, t)),
        }
    }

    fn transport(&self, endpoint: &'static str, e: impl std::fmt::Display) -> IpfsError {
        IpfsError::Transport {
            endpoint,
            url: self.base.clone(),
            message: e.to_string(),
        }
    }
}

fn check_same(got: &Cid, want: Cid) -> Result<Cid, IpfsError> {
    if *got == want {
        Ok(want)
    } else {
        Err(IpfsError::CidMismatch {
            kubo: *got,
            local: want,
        })
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(300) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A multipart boundary that no file will contain by chance (128 random bits).
fn boundary() -> String {
    let mut h1 = RandomState::new().build_hasher();
    h1.write_u32(std::process::id());
    let mut h2 = RandomState::new().build_hasher();
    h2.write_u64(h1.finish());
    format!("blyan-{:016x}{:016x}", h1.finish(), h2.finish())
}

/// `http://host:port` from a URL, `host:port`, or an `/ip4|ip6|dns*/…/tcp/PORT` multiaddr.
pub(crate) fn api_base_url(api: &str) -> Result<String, IpfsError> {
    let bad = || IpfsError::BadAddress(api.to_string());
    let api = api.trim();
    if let Some(rest) = api.strip_prefix('/') {
        let parts: Vec<&str> = rest.split('/').collect();
        let [proto, host, "tcp", port, ..] = parts.as_slice() else {
            return Err(bad());
        };
        port.parse::<u16>().map_err(|_| bad())?;
        return match *proto {
            "ip4" | "dns" | "dns4" | "dns6" => Ok(format!("http://{host}:{port}")),
            "ip6" => Ok(format!("http://[{host}]:{port}")),
            _ => Err(bad()),
        };
    }
    let url = if api.starts_with("http://") || api.starts_with("https://") {
        api.trim_end_matches('/').to_string()
    } else {
        format!("http://{}", api.trim_end_matches('/'))
    };
    let host_port = url.split_once("://").map(|(_, r)| r).unwrap_or_default();
    if host_port.is_empty() || host_port.contains('/') {
        return Err(bad());
    }
    Ok(url)
}
