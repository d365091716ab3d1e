//! A newcomer's first chat reads as text (issue 19): the genesis model is pre-trained on the
//! real English corpus (Debian's `bible-kjv-text`) before genesis, as `localnet/up.sh` does
//! it (`data text`, `model pretrain`, `model publish-genesis`), on a fresh one-validator net
//! with real CometBFT and Kubo; `blyan-worker serve` serves the chain's heads and
//! `blyan-worker chat` (free tier) gets a reply that is valid UTF-8 made of characters of
//! the corpus; `eval --chain` measures exactly the validation loss the pre-training reported,
//! which is the baseline the chain records. The same pre-training run again is served from
//! the cache.
//!
//! Test-only config: `localnet/up.sh` pre-trains for 60 steps in a release build; here the
//! debug build trains [`TEST_STEPS`] steps so the test fits the suite's time budget. The
//! assertions do not depend on the step count.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use blyan_genesis::GenesisModel;
use blyan_tests::kubo::KuboNode;
use blyan_tests::ports::free_port_block;
use blyan_tests::process::{ProcSpec, Processes};
use blyan_tests::worker::{publish_genesis, run_worker, worker_bin};
use blyan_tests::{wait_for, Localnet, LocalnetOptions};
use serde_json::Value;

const MODEL: &str = "blyan-small";
/// Pre-training steps of this test (module docs).
const TEST_STEPS: &str = "20";

#[test]
fn a_newcomer_chats_with_the_pretrained_genesis_model_in_readable_text() {
    let started = Instant::now();
    let worker = worker_bin().expect("blyan-worker");
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_string_lossy().to_string();
    let mut kubos = Processes::new();
    let p = free_port_block(4).unwrap();
    let kubo = KuboNode::start(&mut kubos, &dir.path().join("kubo"), p, p + 1, p + 2).unwrap();
    let gw_port = p + 3;

    // The corpus (fails, naming the package, when bible-kjv-text is not installed) and the
    // pre-trained model, twice: the second run comes from the cache.
    run_worker(&["data", "text", "--preset", "small", "--out", &path("data")]).unwrap();
    let pretrain = |out: &str| {
        run_worker(&[
            "model",
            "pretrain",
            "--preset",
            "small",
            "--seed",
            "1",
            "--data",
            &path("data"),
            "--steps",
            TEST_STEPS,
            "--cache",
            &path("cache"),
            "--out",
            &path(out),
        ])
        .unwrap()
    };
    let t = Instant::now();
    let first = pretrain("model");
    let train_secs = t.elapsed().as_secs_f64();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(path("model/pretrain.json")).unwrap())
            .unwrap();
    let before = report["val_before"]["micro_nats"].as_u64().unwrap();
    let after = report["val_after"]["micro_nats"].as_u64().unwrap();
    eprintln!("pre-training ({TEST_STEPS} steps, debug build) took {train_secs:.0} s: {first}");
    assert!(
        after < before,
        "pre-training lowered the validation loss: {before} -> {after} µnats"
    );
    let again = pretrain("model-again");
    assert!(
        again.contains("pre-trained for") && again.contains(&format!("{after} micro-nats")),
        "the cached run reports the same loss: {again}"
    );
    for file in ["meta.json", "pretrain.json"] {
        assert_eq!(
            std::fs::read(path(&format!("model-again/{file}"))).unwrap(),
            std::fs::read(path(&format!("model/{file}"))).unwrap(),
            "the cached run gives the same {file}"
        );
    }

    // Genesis with the pre-trained model: the recorded baseline is the loss it reported.
    let gm: GenesisModel = publish_genesis(dir.path(), &kubo.api_url(), MODEL).unwrap();
    assert_eq!(gm.validation.as_ref().unwrap().baseline_loss_micro, after);
    let mut opts = LocalnetOptions::new(1);
    opts.models = vec![gm];
    let mut net = Localnet::start_with(opts);
    let rpc = net.node(0).rpc_url.clone();

    // eval of the chain's heads (fetched from Kubo, verified) reports the pre-trained loss
    let e: Value = serde_json::from_str(
        run_worker(&[
            "eval",
            "--chain",
            &rpc,
            "--model-id",
            MODEL,
            "--ipfs",
            &kubo.api_url(),
            "--json",
            "--cache",
            &path("eval-cache"),
        ])
        .unwrap()
        .trim(),
    )
    .unwrap();
    assert_eq!(e["micro_nats"].as_u64(), Some(after), "{e}");
    assert_eq!(e["matches_recorded"], true, "{e}");

    // the gateway over the chain's heads, and a newcomer's free chat
    let url = format!("http://127.0.0.1:{gw_port}");
    let spec = ProcSpec::new(
        &worker,
        [
            "serve",
            "--chain",
            &rpc,
            "--model-id",
            MODEL,
            "--ipfs",
            &kubo.api_url(),
            "--cache",
            &path("gw-cache"),
            "--listen",
            &format!("127.0.0.1:{gw_port}"),
            "--poll-secs",
            "0",
        ]
        .map(String::from),
        dir.path().join("gateway.log"),
    );
    net.processes().spawn("gateway", spec).unwrap();
    wait_for("the gateway", Duration::from_secs(120), || {
        ureq::get(&format!("{url}/health")).call().ok().map(|_| ())
    });
    let out = Command::new(&worker)
        .args([
            "chat",
            "--url",
            &url,
            "--temperature",
            "0",
            "--max-tokens",
            "48",
        ])
        .arg("In the beginning")
        .env_remove("BLYAN_WORKER_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chat: {err}");
    let reply = String::from_utf8(out.stdout).expect("the reply is valid UTF-8");
    let reply = reply.strip_suffix('\n').unwrap_or(&reply);
    eprintln!("chat 'In the beginning' -> {reply:?}");
    eprintln!("{err}");
    assert!(err.contains("free requests left today"), "{err}");
    // every character of the reply occurs in the corpus's training text
    let train = std::fs::read_to_string(path("data/train.jsonl")).unwrap();
    let mut alphabet = BTreeSet::new();
    for line in train.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        alphabet.extend(v["text"].as_str().unwrap().chars());
    }
    let foreign: Vec<char> = reply.chars().filter(|c| !alphabet.contains(c)).collect();
    assert!(!reply.trim().is_empty(), "an empty reply");
    assert!(
        foreign.is_empty(),
        "characters outside the corpus alphabet {foreign:?} in {reply:?}"
    );
    eprintln!(
        "newcomer chat test done in {:.0?} (corpus alphabet: {} characters)",
        started.elapsed(),
        alphabet.len()
    );
}
