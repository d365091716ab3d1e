//! The `blyan-worker` binary end to end on local directories: init, data, eval, generate,
//! and the refusals when a block is tampered with.

use std::path::Path;
use std::process::{Command, Output};

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

#[test]
fn init_data_eval_generate_are_reproducible() {
    let d = tempfile::tempdir().unwrap();
    let (m1, m2, data) = (
        d.path().join("m1"),
        d.path().join("m2"),
        d.path().join("data"),
    );
    ok(&[
        "model",
        "init",
        "--preset",
        "tiny",
        "--seed",
        "7",
        "--out",
        s(&m1),
    ]);
    ok(&[
        "model",
        "init",
        "--preset",
        "tiny",
        "--seed",
        "7",
        "--out",
        s(&m2),
    ]);
    assert_eq!(
        std::fs::read(m1.join("meta.json")).unwrap(),
        std::fs::read(m2.join("meta.json")).unwrap()
    );
    let listing = ok(&[
        "data",
        "generate",
        "--seed",
        "3",
        "--out",
        s(&data),
        "--train-lines",
        "100",
        "--val-lines",
        "60",
    ]);
    assert!(listing.contains("val.jsonl"));
    let val = data.join("val.jsonl");
    let e1 = ok(&["eval", "--model", s(&m1), "--data", s(&val), "--json"]);
    let e2 = ok(&["eval", "--model", s(&m2), "--data", s(&val), "--json"]);
    assert_eq!(e1, e2);
    let v: serde_json::Value = serde_json::from_str(&e1).unwrap();
    assert!(v["micro_nats"].as_u64().unwrap() > 4_000_000);
    let g1 = ok(&[
        "generate",
        "--model",
        s(&m1),
        "--prompt",
        "12+7=",
        "--max-tokens",
        "8",
        "--seed",
        "1",
    ]);
    let g2 = ok(&[
        "generate",
        "--model",
        s(&m2),
        "--prompt",
        "12+7=",
        "--max-tokens",
        "8",
        "--seed",
        "1",
    ]);
    assert!(g1.starts_with("12+7="));
    assert_eq!(g1, g2);
    assert!(ok(&["model", "inspect", "--model", s(&m1)]).contains("14 blocks verified"));
}

#[test]
fn tampered_blocks_are_refused_by_name() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m");
    ok(&["model", "init", "--seed", "1", "--out", s(&m)]);
    let text = d.path().join("v.txt");
    std::fs::write(&text, "1+1=2\n").unwrap();
    let f = m.join("layer1.expert2.blyt");
    let orig = std::fs::read(&f).unwrap();
    let mut flipped = orig.clone();
    flipped[4000] ^= 1;
    std::fs::write(&f, &flipped).unwrap();
    let err = fails(&["eval", "--model", s(&m), "--data", s(&text)]);
    assert!(
        err.contains("layer1.expert2") && err.contains("corrupt tile"),
        "{err}"
    );
    let err = fails(&["block", s(&f)]);
    assert!(err.contains("corrupt tile 0"), "{err}");
    std::fs::write(&f, &orig[..orig.len() / 2]).unwrap();
    let err = fails(&["generate", "--model", s(&m), "--prompt", "a"]);
    assert!(
        err.contains("layer1.expert2") && err.contains("truncated"),
        "{err}"
    );
    std::fs::write(&f, &orig).unwrap();
    ok(&["eval", "--model", s(&m), "--data", s(&text)]);
    let err = fails(&[
        "model",
        "init",
        "--preset",
        "huge",
        "--seed",
        "1",
        "--out",
        s(&m),
    ]);
    assert!(err.contains("unknown preset"), "{err}");
}
