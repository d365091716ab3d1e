//! The model lives on chain (issue 4 acceptance): a seeded `tiny` MoE is added to one Kubo
//! node and published at genesis of a 4-validator net with its validation set and baseline
//! loss; a worker attached to a *different* Kubo node rebuilds the model from the chain's
//! heads, verifies every block and measures the same loss. A wrong CID recorded on chain is
//! caught, naming the block, and nothing is loaded.

use std::time::Instant;

use blyan_genesis::GenesisModel;
use blyan_tests::kubo::KuboNode;
use blyan_tests::ports::free_port_block;
use blyan_tests::process::Processes;
use blyan_tests::worker::{run_worker, worker_bin};
use blyan_tests::{Localnet, LocalnetOptions};

const MODEL: &str = "blyan-tiny";

fn eval_json(net_rpc: &str, kubo: &str) -> anyhow::Result<serde_json::Value> {
    let out = run_worker(&[
        "eval",
        "--chain",
        net_rpc,
        "--model-id",
        MODEL,
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

    let mut opts = LocalnetOptions::new(4);
    opts.models = vec![gm.clone()];
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

    // A wrong CID on chain: the owner records a new version of layer0.expert0 whose CID
    // points at layer0.expert1's bytes. The chain cannot know; the worker must.
    let e0 = gm
        .blocks
        .iter()
        .find(|b| b.name == "layer0.expert0")
        .unwrap();
    let e1 = gm
        .blocks
        .iter()
        .find(|b| b.name == "layer0.expert1")
        .unwrap();
    let mut wrong = e0.clone();
    wrong.cid = e1.cid.clone();
    wrong.size = e1.size;
    wrong.version.patch += 1;
    let update = serde_json::json!({
        "id": MODEL,
        "owner": net.dev_accounts()[0].address.to_string(),
        "arch": gm.arch,
        "meta_json": gm.meta_json,
        "blocks": [wrong],
    });
    std::fs::write(path("update.json"), update.to_string()).unwrap();
    let key = net.import_dev_key(0);
    let sent = net.cli_json(&[
        "tx",
        "dag",
        "publish-model",
        &path("update.json"),
        "--from",
        &key,
        "--wait",
    ]);
    assert_eq!(sent["code"], 0, "{sent}");
    let err = eval_json(&rpc3, &b.api_url())
        .expect_err("a wrong CID must not load")
        .to_string();
    assert!(
        err.contains("layer0.expert0"),
        "the error names the block: {err}"
    );
    eprintln!("model-on-chain test done in {:.1?}", started.elapsed());
}
