//! Shared helpers of the gateway tests: a tiny model directory, the gateway in-process on a
//! loopback port, and small HTTP helpers.
#![allow(dead_code)]
#![allow(unreachable_pub)]

mod crafted;
#[allow(unused_imports)]
pub use crafted::{e_acute_model_dir, E_ACUTE};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use blyan_worker::model::{MetaConfig, Model};
use blyan_worker::serve::{self, Gateway, GatewayConfig, ModelOrigin};
use blyan_worker::source::{self, BlockSource, DirSource, MANIFEST_FILE};
use blyan_worker::tensorblock::{TensorBlockWriter, DEFAULT_TILE_SIZE};
use candle_core::Device;
use serde_json::Value;
use tempfile::TempDir;

/// Signs in at `url` as `key` (Sign-In with Ethereum, as the README documents it); returns
/// the bearer header of the session.
pub fn session(url: &str, key: &blyan_proto::SecretKey) -> Vec<(&'static str, String)> {
    use blyan_worker::serve::siwe::{format_rfc3339, personal_sign, SiweMessage};
    let (s, _, n) = get(url, "/v1/auth/nonce");
    assert_eq!(s, 200, "{n}");
    let now = blyan_worker::serve::quote::now_secs();
    let text = SiweMessage {
        domain: n["domain"].as_str().unwrap().into(),
        address: key.address(),
        statement: n["statement"].as_str().map(str::to_string),
        uri: n["uri"].as_str().unwrap().into(),
        chain_id: n["chain_id"].as_u64().unwrap(),
        nonce: n["nonce"].as_str().unwrap().into(),
        issued_at: format_rfc3339(now),
        expiration_time: format_rfc3339(now + 600),
    }
    .text();
    let body = serde_json::json!({"message": text, "signature": personal_sign(key, &text)});
    let (s, _, r) = post(url, "/v1/auth/siwe", &body, &[]);
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["address"], key.address().to_string());
    vec![(
        "authorization",
        format!("Bearer {}", r["token"].as_str().unwrap()),
    )]
}

/// Two caller addresses (a bearer that is an address is not a session: anonymous).
pub const ADDR1: &str = "0x1111111111111111111111111111111111111111";
pub const ADDR2: &str = "0x2222222222222222222222222222222222222222";

/// A tiny model written to a temp dir.
pub fn tiny_model_dir(seed: u64) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let model = Model::init(&MetaConfig::tiny(), seed, &Device::Cpu).unwrap();
    source::save_model(&model, dir.path(), DEFAULT_TILE_SIZE, |_, _, _| {}).unwrap();
    dir
}

/// The test defaults: no hashcash, the tiny model's name.
pub fn base() -> GatewayConfig {
    GatewayConfig {
        model_name: "blyan-tiny".into(),
        hashcash_bits: 0,
        ..GatewayConfig::default()
    }
}

/// A running gateway.
pub struct Gw {
    pub url: String,
    pub gw: Arc<Gateway>,
    pub dir: TempDir,
    _rt: tokio::runtime::Runtime,
}

impl Gw {
    /// Starts a gateway over a fresh tiny model (seed 7).
    pub fn start(cfg: GatewayConfig) -> Self {
        Self::start_with(cfg, None)
    }

    /// Starts a gateway with a custom billing.
    pub fn start_with(cfg: GatewayConfig, billing: Option<Arc<dyn serve::Billing>>) -> Self {
        Self::start_inner(cfg, billing, None, tiny_model_dir(7))
    }

    /// Starts a gateway over the model in `dir` (kept alive with the gateway).
    pub fn start_dir(cfg: GatewayConfig, dir: TempDir) -> Self {
        Self::start_inner(cfg, None, None, dir)
    }

    /// Starts a gateway whose accepted sockets have a send buffer of `bytes` (inherited
    /// from the listener), so a client that stops reading blocks the gateway's writes soon.
    pub fn start_with_send_buffer(cfg: GatewayConfig, bytes: u32) -> Self {
        Self::start_inner(cfg, None, Some(bytes), tiny_model_dir(7))
    }

    fn start_inner(
        cfg: GatewayConfig,
        billing: Option<Arc<dyn serve::Billing>>,
        send_buffer: Option<u32>,
        dir: TempDir,
    ) -> Self {
        let gw = Gateway::load(
            ModelOrigin::Dir(dir.path().to_path_buf()),
            cfg,
            &Device::Cpu,
            billing,
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(async {
                let sock = tokio::net::TcpSocket::new_v4()?;
                if let Some(b) = send_buffer {
                    sock.set_send_buffer_size(b)?;
                }
                sock.bind("127.0.0.1:0".parse().unwrap())?;
                sock.listen(1024)
            })
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(serve::serve(gw.clone(), listener));
        Self {
            url,
            gw,
            dir,
            _rt: rt,
        }
    }

    /// Headers naming caller `addr` as a bare bearer (no longer an identity: the caller is
    /// anonymous, by IP).
    pub fn headers(&self, addr: &str) -> Vec<(&'static str, String)> {
        vec![("authorization", format!("Bearer {addr}"))]
    }

    /// A solved hashcash stamp.
    pub fn stamp(&self) -> String {
        let (_, _, c) = get(&self.url, "/v1/challenge");
        serve::quote::solve_challenge(
            c["challenge"].as_str().unwrap(),
            c["bits"].as_u64().unwrap() as u32,
        )
    }

    /// Starts a streamed request.
    pub fn stream(&self, addr: &str, body: &Value) -> Result<ureq::Response, Box<ureq::Error>> {
        ureq::post(&format!("{}/v1/chat/completions", self.url))
            .set("authorization", &format!("Bearer {addr}"))
            .send_string(&body.to_string())
            .map_err(Box::new)
    }
}

/// A chat request body.
pub fn chat_body(text: &str, max_tokens: u32, stream: bool) -> Value {
    serde_json::json!({
        "model": "blyan-tiny",
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens, "temperature": 0, "stream": stream,
    })
}

fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, String, Value) {
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = r.status();
    let v = r
        .header("x-blyan-model-version")
        .unwrap_or_default()
        .to_string();
    let text = r.into_string().unwrap();
    (
        status,
        v,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// POSTs a JSON string: (status, version header, body).
pub fn post_raw(
    url: &str,
    path: &str,
    body: &str,
    headers: &[(&str, String)],
) -> (u16, String, Value) {
    let mut req = ureq::post(&format!("{url}{path}")).set("content-type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    answer(req.send_string(body))
}

/// POSTs JSON.
pub fn post(
    url: &str,
    path: &str,
    body: &Value,
    headers: &[(&str, String)],
) -> (u16, String, Value) {
    post_raw(url, path, &body.to_string(), headers)
}

/// GETs JSON.
pub fn get(url: &str, path: &str) -> (u16, String, Value) {
    answer(ureq::get(&format!("{url}{path}")).call())
}

/// GETs text.
pub fn get_text(url: &str, path: &str) -> String {
    ureq::get(&format!("{url}{path}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

/// The `data:` payloads of an SSE response.
pub fn read_events(r: ureq::Response) -> Vec<String> {
    BufReader::new(r.into_reader())
        .lines()
        .map(Result::unwrap)
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .collect()
}

/// Writes a new version of `head` and `layer0.expert1` (weights scaled) under new file
/// names and swaps `meta.json` atomically; returns the new version's fingerprint.
pub fn write_new_version(dir: &Path, tag: u64) -> String {
    let src = DirSource::new(dir);
    let mut m = src.manifest().unwrap();
    let model = source::load_model(&src, &Device::Cpu, |_, _, _| {}).unwrap();
    for name in ["head", "layer0.expert1"] {
        let block = name.parse().unwrap();
        let mut w = TensorBlockWriter::new();
        for (t, v) in model.block_tensors(&block).unwrap() {
            w.add_tensor(&t, &(v * 1.5).unwrap()).unwrap();
        }
        let file = format!("{name}.v{tag}.blyt");
        let (hash, size) = w.write(&dir.join(&file)).unwrap();
        let e = m.blocks.iter_mut().find(|b| b.name == name).unwrap();
        e.payload_hash = hash;
        e.size = size;
        e.file = file;
    }
    let tmp = dir.join("meta.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    std::fs::rename(&tmp, dir.join(MANIFEST_FILE)).unwrap();
    let snap = ModelOrigin::Dir(dir.to_path_buf()).snapshot().unwrap();
    serve::version::fingerprint(&snap.heads)
}

/// `blyan-worker serve` as a child process on a free loopback port.
pub struct Server {
    pub url: String,
    child: std::process::Child,
    log: std::path::PathBuf,
    _logdir: TempDir,
}

impl Server {
    /// Starts the binary over `model_dir` with `extra` arguments; waits for its address.
    // The child is killed and reaped by `Drop` (or before the timeout panic).
    #[allow(clippy::zombie_processes)]
    pub fn start(model_dir: &Path, extra: &[&str]) -> Self {
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("serve.log");
        let out = logdir.path().join("serve.out");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_blyan-worker"))
            .arg("serve")
            .arg("--model-dir")
            .arg(model_dir)
            .args(["--listen", "127.0.0.1:0", "--poll-secs", "0"])
            .args(extra)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let s = std::fs::read_to_string(&out).unwrap_or_default();
            if let Some(i) = s.find("http://") {
                let url = s[i..].split_whitespace().next().unwrap().to_string();
                return Self {
                    url,
                    child,
                    log,
                    _logdir: logdir,
                };
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serve did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
