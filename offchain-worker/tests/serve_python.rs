//! The official `openai` Python package, unchanged, against `blyan-worker serve`: a
//! completion, a streamed completion (identical text), and 404/400 errors raised as the
//! package's own exception types. Uses the venv `run-tests.sh` creates (`$BLYAN_PYTHON`, else
//! `<workspace>/.venv/bin/python`); a venv without `openai` fails the test, saying how to install it.

mod serve_common;

use std::path::PathBuf;
use std::process::Command;

use serve_common::{tiny_model_dir, Server};

fn python() -> PathBuf {
    std::env::var_os("BLYAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"))
}

#[test]
fn the_openai_package_gets_a_completion_and_a_stream() {
    let py = python();
    let has_openai = Command::new(&py)
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_openai,
        "{} has no `openai` package: run ./run-tests.sh (it installs it) or \
         .venv/bin/pip install openai==3.54.0",
        py.display()
    );
    let dir = tiny_model_dir(7);
    let server = Server::start(dir.path(), &["--hashcash-bits", "0"]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/openai_client.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg(&server.url)
        .arg("blyan-tiny")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openai client failed:\n{stdout}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    eprintln!("openai {}: {v}", v["openai_version"]);
    assert_eq!(v["text"], v["streamed"]);
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}
