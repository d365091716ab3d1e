//! The gateway's chat page in headless Chromium (Debian's `chromium`, or `$CHROMIUM_BIN`),
//! driven over the DevTools protocol: the page loads the model version, a message is sent
//! (the page prices it with a quote and solves the hashcash challenge in JavaScript), tokens
//! stream in, Stop aborts the stream (the gateway counts a cancelled generation), and a
//! screenshot is saved to `target/tmp/serve-chat.png`. A reply whose characters are each
//! split over two byte tokens shows whole. Without Chromium the tests fail, saying how to
//! install it (run-tests.sh does).

mod serve_common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use serve_common::{e_acute_model_dir, get_text, tiny_model_dir, Server};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DevTools session on one page.
struct Cdp {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
}

impl Cdp {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(msg)).unwrap();
        loop {
            let m = self.ws.read().unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    fn wait_for(&mut self, what: &str, js: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.eval(js);
            if v != Value::Null && v != Value::Bool(false) {
                return v;
            }
            let page = self.eval("document.body.innerText");
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; page:\n{page}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

fn chromium() -> Option<String> {
    let bin = std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "chromium".into());
    Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(bin)
}

fn launch(bin: &str) -> (Browser, Cdp) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--window-size=1000,800",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let browser = Browser {
        child,
        _profile: profile,
    };
    let mut port = None;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
            port = rest.split('/').next().map(str::to_string);
            break;
        }
    }
    let port = port.expect("chromium printed no DevTools address");
    let deadline = Instant::now() + Duration::from_secs(30);
    let ws_url = loop {
        let list: Value = ureq::get(&format!("http://127.0.0.1:{port}/json/list"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        let page = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page");
        if let Some(p) = page {
            break p["webSocketDebuggerUrl"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no page target: {list}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (ws, _) = tungstenite::connect(ws_url.as_str()).unwrap();
    (browser, Cdp { ws, next: 0 })
}

#[test]
fn the_chat_page_streams_and_stops_in_headless_chromium() {
    let bin = chromium()
        .expect("no chromium: run ./run-tests.sh (it installs it) or apt-get install chromium");
    let dir = tiny_model_dir(7);
    // expert cache off: every step reloads and verifies its experts, so the long stream is
    // slow enough to stop midway; the page solves a real (6-bit) hashcash challenge
    let server = Server::start(
        dir.path(),
        &[
            "--hashcash-bits",
            "6",
            "--max-tokens-limit",
            "4000",
            "--cache-bytes",
            "0",
        ],
    );
    let (_browser, mut cdp) = launch(&bin);
    cdp.call("Page.enable", json!({}));
    cdp.call("Runtime.enable", json!({}));
    let url = format!("{}/?temperature=0&max_tokens=3000", server.url);
    cdp.call("Page.navigate", json!({"url": url}));
    let version = cdp.wait_for(
        "the model version",
        "window.MODEL && document.getElementById('version').textContent.startsWith('fp_') && document.getElementById('version').textContent",
        30,
    );
    let model_line = cdp.eval("document.getElementById('model').textContent");
    assert!(
        model_line.as_str().unwrap().contains("validation loss"),
        "{model_line}"
    );
    cdp.eval("document.getElementById('msg').value = 'hello'; document.getElementById('form').requestSubmit(); true");
    let streaming = cdp.wait_for(
        "tokens to stream in",
        "(() => { const t = +document.getElementById('tokens').textContent; const s = document.body.dataset.state; return s === 'streaming' && t >= 5 ? {t, s, tps: document.getElementById('tps').textContent, cost: document.getElementById('cost').textContent, quote: document.getElementById('quote').textContent} : (s === 'error' ? {s, err: document.getElementById('error').textContent} : null); })()",
        60,
    );
    assert_eq!(streaming["s"], "streaming", "{streaming}");
    assert!(
        streaming["quote"].as_str().unwrap().contains("BLY"),
        "{streaming}"
    );
    assert!(
        streaming["cost"].as_str().unwrap().contains("BLY"),
        "{streaming}"
    );
    assert!(streaming["tps"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    cdp.eval("document.getElementById('stop').click(); true");
    let stopped = cdp.wait_for(
        "the stream to stop",
        "document.body.dataset.state === 'stopped' && +document.getElementById('tokens').textContent",
        30,
    );
    let n = stopped.as_u64().unwrap();
    assert!((5..3000).contains(&n), "{n} tokens");
    std::thread::sleep(Duration::from_millis(300));
    let after = cdp.eval("+document.getElementById('tokens').textContent");
    assert_eq!(after.as_u64(), Some(n), "tokens kept arriving after Stop");
    let text = cdp.eval("document.querySelector('.assistant .out').textContent");
    assert!(!text.as_str().unwrap().is_empty());
    let shot = cdp.call("Page.captureScreenshot", json!({"format": "png"}));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-chat.png");
    std::fs::write(&path, &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    eprintln!(
        "version {version}, {n} tokens before Stop; screenshot {}",
        path.display()
    );
    // the gateway saw the abort and stopped generating
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get_text(&server.url, "/metrics").contains("blyan_gateway_cancelled_total 1") {
        assert!(
            Instant::now() < deadline,
            "the gateway never counted the cancelled stream"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_chat_page_shows_characters_split_over_two_tokens_whole() {
    let bin = chromium()
        .expect("no chromium: run ./run-tests.sh (it installs it) or apt-get install chromium");
    // the crafted model replies 0xC3 0xA9 … ("é" over two tokens each): 7 tokens
    let dir = e_acute_model_dir();
    let server = Server::start(dir.path(), &["--hashcash-bits", "0"]);
    let (_browser, mut cdp) = launch(&bin);
    cdp.call("Page.enable", json!({}));
    cdp.call("Runtime.enable", json!({}));
    let url = format!("{}/?temperature=0&max_tokens=7", server.url);
    cdp.call("Page.navigate", json!({"url": url}));
    cdp.wait_for("the model", "!!window.MODEL", 30);
    cdp.eval("document.getElementById('msg').value = 'hi'; document.getElementById('form').requestSubmit(); true");
    let done = cdp.wait_for(
        "the reply",
        "(() => { const s = document.body.dataset.state; return s === 'done' || s === 'error' ? {s, text: document.querySelector('.assistant .out').textContent, err: document.getElementById('error').textContent} : null; })()",
        60,
    );
    assert_eq!(done["s"], "done", "{done}");
    assert_eq!(done["text"], "ééé\u{FFFD}", "{done}");
}
