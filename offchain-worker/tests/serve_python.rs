//! The official `openai` Python package, unchanged, against `blyan-worker serve`: a
//! completion, a streamed completion (identical text), and 404/400 errors raised as the
//! package's own exception types; a streamed reply whose characters are each split over two
//! byte tokens arrives as whole characters. Uses the venv `run-tests.sh` creates (`$BLYAN_PYTHON`, else
//! `<workspace>/.venv/bin/python`); a venv without `openai` fails the test, saying how to install it.

mod serve_common;

use std::path::PathBuf;
use std::process::Command;

use serve_common::{e_acute_model_dir, tiny_model_dir, Server};

fn python() -> PathBuf {
    std::env::var_os("BLYAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"))
}

/// The venv's Python, failing the test when it has no `openai` package.
fn python_with_openai() -> PathBuf {
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
    py
}

/// Runs `tests/python/{script}` with `args`; its stdout as JSON.
fn run_script(py: &PathBuf, script: &str, args: &[&str], server: &Server) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new(py).arg(&script).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{}\ngateway log:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn the_openai_package_streams_characters_split_over_two_tokens_whole() {
    let py = python_with_openai();
    let dir = e_acute_model_dir();
    let server = Server::start(dir.path(), &["--hashcash-bits", "0"]);
    let v = run_script(
        &py,
        "openai_utf8.py",
        &[&server.url, "blyan-tiny", "7"],
        &server,
    );
    assert_eq!(
        v["pieces"],
        serde_json::json!(["é", "é", "é", "\u{FFFD}"]),
        "{v}"
    );
    assert_eq!(v["plain"], "ééé\u{FFFD}");
}

#[test]
fn the_openai_package_gets_a_completion_and_a_stream() {
    let py = python_with_openai();
    let dir = tiny_model_dir(7);
    let server = Server::start(dir.path(), &["--hashcash-bits", "0"]);
    let v = run_script(
        &py,
        "openai_client.py",
        &[&server.url, "blyan-tiny"],
        &server,
    );
    eprintln!("openai {}: {v}", v["openai_version"]);
    assert_eq!(v["text"], v["streamed"]);
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}
