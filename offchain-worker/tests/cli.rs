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

#[test]
fn train_writes_deltas_and_a_reproducible_summary() {
    let d = tempfile::tempdir().unwrap();
    let (m, o1, o2, o3) = (
        d.path().join("m"),
        d.path().join("o1"),
        d.path().join("o2"),
        d.path().join("o3"),
    );
    ok(&["model", "init", "--seed", "2", "--out", s(&m)]);
    let args = |out: &Path| {
        vec![
            "train".to_string(),
            "--model-dir".into(),
            s(&m).into(),
            "--blocks".into(),
            "layer1.expert2,head".into(),
            "--steps".into(),
            "6".into(),
            "--batch-size".into(),
            "4".into(),
            "--synthetic".into(),
            "30".into(),
            "--seed".into(),
            "5".into(),
            "--out".into(),
            s(out).into(),
        ]
    };
    let run = |extra: &[&str], out: &Path| {
        let mut a = args(out);
        a.extend(extra.iter().map(|x| x.to_string()));
        ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let printed = run(&[], &o1);
    assert!(
        printed.contains("trained 2 block(s) for 6 steps"),
        "{printed}"
    );
    run(&[], &o2);
    let summary = |o: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(o.join("train.json")).unwrap()).unwrap()
    };
    let (a, b) = (summary(&o1), summary(&o2));
    assert_eq!(a["steps"], 6);
    assert_eq!(a["samples"], 24);
    assert!(a["tokens"].as_u64().unwrap() > 24);
    assert_eq!(a["batch_hashes"].as_array().unwrap().len(), 6);
    assert_eq!(a["losses"].as_array().unwrap().len(), 6);
    assert!(a["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(a["blocks"], serde_json::json!(["layer1.expert2", "head"]));
    // same seed, same deltas and batches
    assert_eq!(a["deltas"], b["deltas"]);
    assert_eq!(a["batch_hashes"], b["batch_hashes"]);
    for f in ["layer1.expert2.blyt", "head.blyt"] {
        assert!(ok(&["block", s(&o1.join(f))]).contains("all tiles verified"));
        assert_eq!(
            std::fs::read(o1.join(f)).unwrap(),
            std::fs::read(o2.join(f)).unwrap()
        );
    }
    // label flipping: same batches, other deltas
    run(&["--flip-labels"], &o3);
    let c = summary(&o3);
    assert_eq!(c["targets"], "flipped");
    assert_eq!(c["batch_hashes"], a["batch_hashes"]);
    assert_ne!(c["deltas"], a["deltas"]);
    // a text file as data, and the refusals
    let txt = d.path().join("t.txt");
    std::fs::write(&txt, "1+1=2\nthe cat sleeps.\n").unwrap();
    ok(&[
        "train",
        "--model-dir",
        s(&m),
        "--blocks",
        "layer0",
        "--steps",
        "2",
        "--data",
        s(&txt),
        "--out",
        s(&d.path().join("o4")),
    ]);
    assert!(d.path().join("o4/layer0.router.blyt").is_file());
    let err = fails(&[
        "train",
        "--model-dir",
        s(&m),
        "--blocks",
        "layer9",
        "--synthetic",
        "5",
        "--out",
        s(&d.path().join("o5")),
    ]);
    assert!(err.contains("layer9"), "{err}");
}

#[test]
fn compress_and_decompress_deltas() {
    let d = tempfile::tempdir().unwrap();
    let (model, deltas, out) = (
        d.path().join("m"),
        d.path().join("deltas"),
        d.path().join("c"),
    );
    let fb = d.path().join("feedback.bin");
    ok(&[
        "model",
        "init",
        "--preset",
        "tiny",
        "--seed",
        "1",
        "--out",
        s(&model),
    ]);
    ok(&[
        "train",
        "--model-dir",
        s(&model),
        "--blocks",
        "layer0.expert0,layer1.router",
        "--steps",
        "3",
        "--synthetic",
        "64",
        "--out",
        s(&deltas),
    ]);
    let args = [
        "compress",
        "--delta-dir",
        s(&deltas),
        "--pipeline",
        "topk:0.05,int8",
        "--feedback",
        s(&fb),
        "--out",
        s(&out),
        "--json",
    ];
    let report: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(report["pipeline"], "topk:0.05,int8");
    assert!(report["ratio"].as_f64().unwrap() > 5.0, "{report}");
    assert_eq!(report["blocks"].as_array().unwrap().len(), 2);
    assert!(fb.exists());
    // A second round reads the feedback state back.
    ok(&args);

    let file = out.join("layer0.expert0.delta");
    let a: serde_json::Value =
        serde_json::from_str(&ok(&["decompress", s(&file), "--json"])).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&ok(&["decompress", s(&file), "--json"])).unwrap();
    assert_eq!(a["block"], "layer0.expert0");
    assert_eq!(a["decoded_hash"], b["decoded_hash"]);
    assert_eq!(a["tensors"].as_array().unwrap().len(), 3);
    let text = ok(&["decompress", s(&file)]);
    assert!(text.contains(a["decoded_hash"].as_str().unwrap()), "{text}");

    let mut bytes = std::fs::read(&file).unwrap();
    bytes[12] ^= 1;
    let bad = d.path().join("bad.delta");
    std::fs::write(&bad, bytes).unwrap();
    assert!(fails(&["decompress", s(&bad)]).contains("hash mismatch"));
    assert!(fails(&[
        "compress",
        "--delta-dir",
        s(&deltas),
        "--pipeline",
        "zip",
        "--out",
        s(&out)
    ])
    .contains("pipeline"));
}

#[test]
fn train_continues_an_optimizer_state_file() {
    let d = tempfile::tempdir().unwrap();
    let (m, st) = (d.path().join("m"), d.path().join("opt/adamw.blyo"));
    ok(&["model", "init", "--seed", "3", "--out", s(&m)]);
    let run = |out: &str| {
        let out = d.path().join(out);
        let a = [
            "train",
            "--model-dir",
            s(&m),
            "--blocks",
            "head",
            "--steps",
            "3",
            "--batch-size",
            "4",
            "--synthetic",
            "20",
            "--optimizer-state",
            s(&st),
            "--out",
            s(&out),
        ];
        (worker(&a), out)
    };
    let summary = |o: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(o.join("train.json")).unwrap()).unwrap()
    };
    let (r1, o1) = run("o1");
    assert!(r1.status.success());
    assert!(st.exists());
    let (r2, o2) = run("o2");
    assert!(r2.status.success());
    let (a, b) = (summary(&o1), summary(&o2));
    assert_eq!(a["optimizer"]["start_step"], 0);
    assert_eq!(a["optimizer"]["end_step"], 3);
    assert_eq!(b["optimizer"]["start_step"], 3);
    assert_eq!(b["optimizer"]["end_step"], 6);
    assert_ne!(a["batch_hashes"], b["batch_hashes"]);
    // a corrupt state file is refused with its name, not silently replaced
    std::fs::write(&st, b"not a state").unwrap();
    let (r3, _) = run("o3");
    let err = String::from_utf8_lossy(&r3.stderr).to_string();
    assert!(!r3.status.success());
    assert!(
        err.contains("corrupt") && err.contains("adamw.blyo"),
        "{err}"
    );
}

/// `validator --hidden-corpus`: listed in the help with its default sample size, and a
/// missing corpus file is refused by name before anything else is tried.
#[test]
fn validator_hidden_corpus_option() {
    let help = ok(&["validator", "--help"]);
    assert!(help.contains("--hidden-corpus [<PATH>]"), "{help}");
    assert!(
        help.contains("--hidden-passages <HIDDEN_PASSAGES>"),
        "{help}"
    );
    assert!(help.contains("[default: 32]"), "{help}");
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("no-bible.data");
    let err = fails(&[
        "validator",
        "--ipfs",
        "http://127.0.0.1:1",
        "--model-id",
        "m",
        "--home",
        s(&d.path().join("home")),
        "--hidden-corpus",
        s(&missing),
    ]);
    assert!(err.contains("the hidden corpus is missing"), "{err}");
    assert!(err.contains(s(&missing)), "{err}");
}
