//! Sign-In with Ethereum from outside: Python `eth-account` signs the message the README
//! documents (`Account.sign_message(encode_defunct(text=msg), key)`), the real gateway
//! binary returns a session, and the official `openai` package uses it as its API key: the
//! request is billed to the signed-in address. Forged, tampered and replayed sign-ins are
//! refused. Needs `$BLYAN_PYTHON` (else `<workspace>/.venv/bin/python`) with `eth-account`
//! and `openai`: a missing tool fails the test.
//!
//! Also: the free tier's daily counts survive a gateway restart (`--home`).

mod serve_common;

use std::path::PathBuf;
use std::process::Command;

use blyan_proto::SecretKey;
use serve_common::{chat_body, post, tiny_model_dir, Server};

fn python() -> PathBuf {
    std::env::var_os("BLYAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"))
}

#[test]
fn eth_account_signs_in_and_the_session_is_the_caller() {
    let py = python();
    let has = Command::new(&py)
        .args(["-c", "import eth_account, openai"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has,
        "{} lacks eth-account or openai: python3 -m venv .venv && .venv/bin/pip install eth-account==0.14.0 openai==3.54.0, and set BLYAN_PYTHON",
        py.display()
    );
    let dir = tiny_model_dir(7);
    let server = Server::start(dir.path(), &["--hashcash-bits", "0", "--free-newbie", "3"]);
    let key = SecretKey::from_seed("python caller");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/siwe_client.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg(&server.url)
        .arg("blyan-tiny")
        .arg(format!("0x{}", hex::encode(key.to_bytes())))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "siwe client failed:\n{stdout}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    eprintln!("{v}");
    assert_eq!(v["address"], key.address().to_string());
    assert_eq!(v["caller"], key.address().to_string());
    assert_eq!(v["remaining_today"], 2);
}

#[test]
fn free_tier_counts_survive_a_restart() {
    let dir = tiny_model_dir(7);
    let home = tempfile::tempdir().unwrap();
    let args = [
        "--hashcash-bits",
        "0",
        "--free-newbie",
        "2",
        "--home",
        home.path().to_str().unwrap(),
    ];
    let body = chat_body("q", 1, false);
    {
        let server = Server::start(dir.path(), &args);
        for _ in 0..2 {
            let (s, _, b) = post(&server.url, "/v1/chat/completions", &body, &[]);
            assert_eq!(s, 200, "{b}");
        }
    }
    let server = Server::start(dir.path(), &args);
    let (s, _, b) = post(&server.url, "/v1/chat/completions", &body, &[]);
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (429, Some("free_quota_exceeded")),
        "{b}"
    );
    assert!(home.path().join("free_quota.json").exists());
}

#[test]
fn chat_signs_in_with_its_key() {
    let dir = tiny_model_dir(7);
    let server = Server::start(dir.path(), &["--hashcash-bits", "0"]);
    let key = SecretKey::from_seed("chat caller");
    let out = Command::new(env!("CARGO_BIN_EXE_blyan-worker"))
        .args([
            "chat",
            "--url",
            &server.url,
            "--sign-in",
            "--max-tokens",
            "4",
        ])
        .arg("hello")
        .env("BLYAN_WORKER_KEY", hex::encode(key.to_bytes()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chat: {err}\n{}", server.log());
    assert!(
        err.contains(&format!("signed in as {}", key.address())),
        "{err}"
    );
}
