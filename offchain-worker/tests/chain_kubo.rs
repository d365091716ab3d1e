//! `model publish-genesis` and the chain-backed `eval`/`generate` against a real Kubo node
//! (`$KUBO_BIN`, else `<workspace>/.bin/ipfs` as `localnet/install.sh` installs it; a
//! missing binary fails the test with that hint). The genesis JSON is parsed as the chain's
//! `blyan_genesis::GenesisModel`. The chain side is a JSON-RPC stub answering `abci_query`
//! with the SCALE `ModelInfo`/`ParamBlock` values built from that JSON, so a head can be
//! made to lie (wrong CID, wrong hash, wrong size) and the worker must refuse naming the
//! block.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use blyan_proto::dag::{ModelInfo, ParamBlock};
use parity_scale_codec::Encode;
use serde_json::{json, Value};

mod kubo_common;
use kubo_common::start_kubo;

const OWNER: &str = "0x00000000000000000000000000000000000000aa";

fn worker(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blyan-worker"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = worker(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let o = worker(args);
    assert!(!o.status.success(), "{args:?} should fail");
    String::from_utf8(o.stderr).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A CometBFT JSON-RPC stub: `abci_query` answers from `answers` (path → SCALE bytes),
/// code 1 for an unknown path.
fn chain_stub(answers: Arc<Mutex<HashMap<String, Vec<u8>>>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            if r.read_exact(&mut body).is_err() {
                continue;
            }
            let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let path = req["params"]["path"].as_str().unwrap_or_default();
            let resp = match answers.lock().unwrap().get(path) {
                Some(v) => json!({"jsonrpc":"2.0","id":1,"result":{"response":{
                    "code":0,"log":"","value":base64::engine::general_purpose::STANDARD.encode(v)}}}),
                None => json!({"jsonrpc":"2.0","id":1,"result":{"response":{
                    "code":1,"log":format!("unknown {path}"),"value":null}}}),
            };
            let out = resp.to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
                out.len()
            );
        }
    });
    url
}

fn head_of(g: &blyan_genesis::GenesisModel, i: usize) -> ParamBlock {
    let b = &g.blocks[i];
    ParamBlock {
        id: [i as u8; 32],
        model: g.id.clone(),
        block_type: b.block_type,
        name: b.name.clone(),
        layer: None,
        depends_on: vec![],
        payload_hash: b.payload_hash,
        cid: b.cid.clone(),
        size: b.size,
        version: b.version,
        author: g.owner,
        height: 1,
    }
}

#[test]
fn publish_genesis_then_eval_and_generate_from_chain() {
    let d = tempfile::tempdir().unwrap();
    let kubo = start_kubo(&d.path().join("kubo"));
    let (model, data, out) = (
        d.path().join("model"),
        d.path().join("data"),
        d.path().join("genesis-model.json"),
    );
    ok(&["model", "init", "--seed", "5", "--out", s(&model)]);
    ok(&[
        "data",
        "generate",
        "--seed",
        "9",
        "--out",
        s(&data),
        "--train-lines",
        "10",
        "--val-lines",
        "40",
    ]);
    let printed = ok(&[
        "model",
        "publish-genesis",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--ipfs",
        &kubo.api,
        "--owner",
        OWNER,
        "--model-id",
        "tiny",
        "--out",
        s(&out),
    ]);
    assert!(printed.contains("baseline"), "{printed}");

    // The JSON is the chain's GenesisModel.
    let raw = std::fs::read(&out).unwrap();
    let g: blyan_genesis::GenesisModel = serde_json::from_slice(&raw).unwrap();
    assert_eq!(g.id, "tiny");
    assert_eq!(g.owner, OWNER.parse().unwrap());
    let meta: blyan_worker::model::MetaConfig = serde_json::from_str(&g.meta_json).unwrap();
    assert_eq!(meta, blyan_worker::model::MetaConfig::tiny());
    assert_eq!(g.arch.arch, "blyan-moe-v1");
    assert_eq!(g.arch.n_layers, 2);
    assert_eq!(g.arch.n_experts, 4);
    let local: blyan_worker::source::ModelManifest =
        serde_json::from_slice(&std::fs::read(model.join("meta.json")).unwrap()).unwrap();
    assert_eq!(g.blocks.len(), local.blocks.len());
    for (spec, e) in g.blocks.iter().zip(&local.blocks) {
        assert_eq!(spec.name, e.name);
        assert_eq!(spec.payload_hash, e.payload_hash.0);
        assert_eq!(Some(&spec.cid), e.cid.as_ref());
        assert_eq!(spec.size, e.size);
        assert_eq!(spec.version.to_string(), "1.0.0");
        assert!(spec.depends_on.is_empty());
        assert_eq!(
            spec.block_type,
            blyan_worker::chain::block_type(&spec.name).unwrap()
        );
    }
    let v = g.validation.clone().unwrap();
    let val_bytes = std::fs::read(data.join("val.jsonl")).unwrap();
    assert_eq!(v.hash, blyan_worker::chain::validation_hash(&val_bytes));
    assert_eq!(
        v.cid,
        blyan_worker::ipfs::cid_of_bytes(&val_bytes).to_string()
    );
    let eval_dir = ok(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&data.join("val.jsonl")),
        "--json",
    ]);
    let e: Value = serde_json::from_str(&eval_dir).unwrap();
    assert_eq!(e["micro_nats"].as_u64(), Some(v.baseline_loss_micro));

    // The chain's answers, SCALE-encoded as the app serves them.
    let info = ModelInfo {
        id: g.id.clone(),
        owner: g.owner,
        arch: g.arch.clone(),
        meta_block: [0; 32],
        meta_json: g.meta_json.clone(),
        deposit: 0,
        blocks: g.blocks.len() as u64,
        validation: g.validation.clone(),
        loss_micro: Some(v.baseline_loss_micro),
    };
    let answers = Arc::new(Mutex::new(HashMap::new()));
    {
        let mut a = answers.lock().unwrap();
        a.insert("/dag/meta/tiny".to_string(), info.encode());
        for i in 0..g.blocks.len() {
            a.insert(
                format!("/dag/head/tiny/{}", g.blocks[i].name),
                head_of(&g, i).encode(),
            );
        }
    }
    let rpc = chain_stub(answers.clone());
    let cache = d.path().join("cache");
    let chain_args = |cmd: &str| -> Vec<String> {
        [
            cmd,
            "--chain",
            &rpc,
            "--model-id",
            "tiny",
            "--ipfs",
            &kubo.api,
            "--cache",
            s(&cache),
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let mut args = chain_args("eval");
    args.push("--json".into());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let e: Value = serde_json::from_str(&ok(&argv)).unwrap();
    assert_eq!(e["micro_nats"].as_u64(), Some(v.baseline_loss_micro));
    assert_eq!(e["matches_recorded"], json!(true));
    let text = ok(&argv[..argv.len() - 1]);
    assert!(text.contains("matches"), "{text}");

    let mut args = chain_args("generate");
    args.extend([
        "--prompt".into(),
        "1+1=".into(),
        "--max-tokens".into(),
        "4".into(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(ok(&argv).starts_with("1+1="));

    // Heads that lie: each refused, naming the block. A fresh cache each time.
    let target = g
        .blocks
        .iter()
        .position(|b| b.name == "layer0.expert1")
        .unwrap();
    let key = format!("/dag/head/tiny/{}", g.blocks[target].name);
    type Lie<'a> = (&'a str, Box<dyn Fn(&mut ParamBlock) + 'a>);
    let lies: Vec<Lie> = vec![
        ("wrong cid", Box::new(|h| h.cid = g.blocks[0].cid.clone())),
        ("flipped hash", Box::new(|h| h.payload_hash[3] ^= 1)),
        ("short size", Box::new(|h| h.size -= 1)),
    ];
    for (i, (what, lie)) in lies.iter().enumerate() {
        let mut h = head_of(&g, target);
        lie(&mut h);
        answers.lock().unwrap().insert(key.clone(), h.encode());
        let c = d.path().join(format!("cache-lie{i}"));
        let err = fails(&[
            "eval",
            "--chain",
            &rpc,
            "--model-id",
            "tiny",
            "--ipfs",
            &kubo.api,
            "--cache",
            s(&c),
        ]);
        assert!(err.contains("layer0.expert1"), "{what}: {err}");
    }
    answers
        .lock()
        .unwrap()
        .insert(key, head_of(&g, target).encode());

    // A validation set whose hash on chain is not the file's is refused.
    let mut bad = info.clone();
    if let Some(v) = bad.validation.as_mut() {
        v.hash[0] ^= 1;
    }
    answers
        .lock()
        .unwrap()
        .insert("/dag/meta/tiny".into(), bad.encode());
    let err = fails(&[
        "eval",
        "--chain",
        &rpc,
        "--model-id",
        "tiny",
        "--ipfs",
        &kubo.api,
        "--cache",
        s(&d.path().join("cache-badval")),
    ]);
    assert!(err.contains("validation set"), "{err}");
    drop(kubo);
}
