//! The model lives on chain (issue 4 acceptance): a seeded `tiny` MoE is added to one Kubo
//! node and published at genesis of a 4-validator net with its validation set and baseline
//! loss; a worker attached to a *different* Kubo node rebuilds the model from the chain's
//! heads, verifies every block and measures the same loss. A wrong CID recorded on chain (a
//! second genesis model whose `layer0.expert0` names `layer0.expert1`'s bytes) is caught,
//! naming the block, and nothing is loaded. The owner cannot replace heads of a model under
//! Proof-of-Learning (issue 11, item 13).

use std::time::Instant;

use blyan_genesis::GenesisModel;
use blyan_tests::kubo::KuboNode;
use blyan_tests::ports::free_port_block;
use blyan_tests::process::Processes;
use blyan_tests::worker::{run_worker, worker_bin};
use blyan_tests::{Localnet, LocalnetOptions};

const MODEL: &str = "blyan-tiny";
const WRONG_MODEL: &str = "blyan-tiny-wrong-cid";

fn eval_json(net_rpc: &str, kubo: &str) -> anyhow::Result<serde_json::Value> {
    eval_json_of(net_rpc, kubo, MODEL)
}

fn eval_json_of(net_rpc: &str, kubo: &str, model: &str) -> anyhow::Result<serde_json::Value> {
    let out = run_worker(&[
        "eval",
        "--chain",
        net_rpc,
        "--model-id",
        model,
        "--ipfs",
        kubo,
        "--json",
    ])?;
    Ok(serde_json::from_str(out.trim())?)
}

#[test]
fn a_worker_on_another_kubo_node_rebuilds_the_genesis_model_and_matches_its_baseline_loss() {
    let started = Instant::now();
    worker_bin().expect("blyan-worker");
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_string_lossy().to_string();
    let mut kubos = Processes::new();
    let p = free_port_block(6).unwrap();
    let a = KuboNode::start(&mut kubos, &dir.path().join("kubo-a"), p, p + 1, p + 2).unwrap();
    let b = KuboNode::start(&mut kubos, &dir.path().join("kubo-b"), p + 3, p + 4, p + 5).unwrap();
    b.connect(&a).unwrap();

    // The genesis model: blocks and validation set added on Kubo node A only.
    run_worker(&[
        "model",
        "init",
        "--preset",
        "tiny",
        "--seed",
        "7",
        "--out",
        &path("model"),
    ])
    .unwrap();
    run_worker(&[
        "data",
        "generate",
        "--seed",
        "7",
        "--out",
        &path("data"),
        "--train-lines",
        "200",
        "--val-lines",
        "120",
    ])
    .unwrap();
    run_worker(&[
        "model",
        "publish-genesis",
        "--model",
        &path("model"),
        "--data",
        &path("data"),
        "--ipfs",
        &a.api_url(),
        "--owner",
        "0x0000000000000000000000000000000000000000",
        "--model-id",
        MODEL,
        "--out",
        &path("genesis-model.json"),
    ])
    .unwrap();
    let gm: GenesisModel =
        serde_json::from_str(&std::fs::read_to_string(path("genesis-model.json")).unwrap())
            .unwrap();
    let baseline = gm
        .validation
        .as_ref()
        .expect("validation set")
        .baseline_loss_micro;
    assert!(baseline > 0);

    // A second model whose layer0.expert0 CID points at layer0.expert1's bytes: the chain
    // cannot know; the worker must.
    let cid_of = |name: &str| gm.blocks.iter().find(|b| b.name == name).unwrap().clone();
    let (e0, e1) = (cid_of("layer0.expert0"), cid_of("layer0.expert1"));
    let mut wrong = gm.clone();
    wrong.id = WRONG_MODEL.into();
    for b in wrong.blocks.iter_mut().filter(|b| b.name == e0.name) {
        b.cid = e1.cid.clone();
        b.size = e1.size;
    }
    let mut opts = LocalnetOptions::new(4);
    opts.models = vec![gm.clone(), wrong];
    let net = Localnet::start_with(opts);

    // The chain records the model, every head with its CID and hash, and the baseline.
    let meta = net.cli_json(&["query", "dag", "meta", MODEL]);
    assert_eq!(meta["result"]["loss_micro"], baseline);
    assert_eq!(
        meta["result"]["blocks"],
        gm.blocks.len() as u64 + 1,
        "meta + every block"
    );
    assert_eq!(
        meta["result"]["owner"],
        net.dev_accounts()[0].address.to_string()
    );
    for spec in &gm.blocks {
        let head = net.cli_json(&["query", "dag", "head", MODEL, &spec.name]);
        assert_eq!(head["result"]["cid"], spec.cid.as_str(), "{}", spec.name);
        assert_eq!(
            head["result"]["payload_hash"],
            hex::encode(spec.payload_hash),
            "{}",
            spec.name
        );
    }

    // A worker talking to node 3 and Kubo node B (which never added anything) rebuilds the
    // model from the heads, verifying every block, and measures the recorded loss.
    let rpc3 = net.node(3).rpc_url.clone();
    let e = eval_json(&rpc3, &b.api_url()).unwrap();
    let measured = e["micro_nats"].as_u64().expect("micro_nats");
    eprintln!(
        "genesis baseline {baseline} µnats; worker on node 3 + Kubo B measured {measured} µnats"
    );
    assert!(
        measured.abs_diff(baseline) <= 100,
        "loss {measured} µnats vs genesis baseline {baseline} (1e-4 nats = 100 µnats)"
    );

    // The owner cannot publish new heads of a model that has a validation set: its heads
    // change only through accepted Proof-of-Learning rounds.
    let mut update_block = e0.clone();
    update_block.version.patch += 1;
    let update = serde_json::json!({
        "id": MODEL,
        "owner": net.dev_accounts()[0].address.to_string(),
        "arch": gm.arch,
        "meta_json": gm.meta_json,
        "blocks": [update_block],
    });
    std::fs::write(path("update.json"), update.to_string()).unwrap();
    let key = net.import_dev_key(0);
    let update_path = path("update.json");
    let out = net.cli([
        "tx",
        "dag",
        "publish-model",
        update_path.as_str(),
        "--from",
        key.as_str(),
        "--wait",
        "--output",
        "json",
    ]);
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(sent["code"], 312, "ModelUnderPol: {sent}");
    let head = net.cli_json(&["query", "dag", "head", MODEL, "layer0.expert0"]);
    assert_eq!(
        head["result"]["cid"],
        e0.cid.as_str(),
        "the head did not move"
    );

    let err = eval_json_of(&rpc3, &b.api_url(), WRONG_MODEL)
        .expect_err("a wrong CID must not load")
        .to_string();
    assert!(
        err.contains("layer0.expert0"),
        "the error names the block: {err}"
    );
    eprintln!("model-on-chain test done in {:.1?}", started.elapsed());
}
