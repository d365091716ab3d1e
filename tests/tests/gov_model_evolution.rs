//! Model evolution end to end (issue 14) on a one-validator net with one Kubo node: a
//! validator worker runs from the start; `blyan-worker model evolve` derives the blocks
//! of adding one expert per layer (from expert 0) and writes the proposal file;
//! `blyand tx gov submit-proposal` submits it (evolving an unknown model is refused with
//! code 621); `model evolve --check` re-derives and matches it; the operator votes yes
//! and at its height the model has 5 experts per layer (meta 2.0.0, grown routers, new
//! expert blocks) with the old blocks unchanged. A miner then trains the new expert
//! `layer0.expert4`, and the validator worker, which picked the new architecture up
//! without a restart, judges the round: it is accepted and the new expert gets a learned
//! version. Last, a deepening proposal (`--add-layers 1`) is checked, passed and executed:
//! the model has 3 layers of 5 experts and `blyan-worker eval` of the chain's heads gives
//! exactly the loss round 1 recorded (the new layer starts as the identity).

use std::time::{Duration, Instant};

use blyan_proto::gov::{ProposalInfo, ProposalStatus};
use blyan_proto::pol::PolParams;
use blyan_tests::kubo::KuboNode;
use blyan_tests::pol::{hex32, spawn_miner, spawn_validator, submissions, wait_round_end};
use blyan_tests::ports::free_port_block;
use blyan_tests::process::Processes;
use blyan_tests::txs::events;
use blyan_tests::wait_for;
use blyan_tests::worker::{run_worker, tiny_genesis_model, worker_bin};
use blyan_tests::{Localnet, LocalnetOptions};
use serde_json::Value;

const MODEL: &str = "blyan-tiny";
const NEW_EXPERT: &str = "layer0.expert4";

fn pol_params() -> PolParams {
    PolParams {
        round_blocks: 40,
        phase1_blocks: 40,
        phase2_blocks: 40,
        hashcash_bits: 8,
        quota_newbie_per_day: 10,
        ..blyan_genesis::localnet::localnet_pol_params()
    }
}

fn proposal(net: &Localnet, id: u64) -> ProposalInfo {
    let v = net.cli_json(&["query", "gov", "proposal", &id.to_string()]);
    serde_json::from_value(v["result"].clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// `blyan-worker eval` of the chain's heads on the model's validation set (JSON).
fn eval_chain(rpc: &str, api: &str, dir: &std::path::Path) -> Value {
    let cache = dir.join("eval-cache").to_string_lossy().to_string();
    let out = run_worker(&[
        "eval",
        "--chain",
        rpc,
        "--model-id",
        MODEL,
        "--ipfs",
        api,
        "--cache",
        &cache,
        "--json",
    ])
    .unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn head(net: &Localnet, name: &str) -> Value {
    net.cli_json(&["query", "dag", "head", MODEL, name])["result"].clone()
}

#[test]
fn a_gov_proposal_adds_an_expert_and_a_pol_round_trains_it() {
    let started = Instant::now();
    worker_bin().expect("blyan-worker");
    let dir = tempfile::tempdir().unwrap();
    let mut kubos = Processes::new();
    let p = free_port_block(3).unwrap();
    let kubo = KuboNode::start(&mut kubos, &dir.path().join("kubo"), p, p + 1, p + 2).unwrap();
    let api = kubo.api_url();
    let gm = tiny_genesis_model(dir.path(), &api, MODEL, 7).unwrap();

    let mut opts = LocalnetOptions::new(1);
    opts.models = vec![gm];
    opts.pol = pol_params();
    let mut net = Localnet::start_with(opts);
    spawn_validator(&mut net, 0, dir.path(), &api, MODEL, &[]);
    let op = net.import_operator_key(0);
    let dev = net.import_dev_key(0);
    let rpc = net.node(0).rpc_url.clone();
    let before: Vec<Value> = [
        "embed",
        "layer0.expert0",
        "layer1.expert3",
        "layer1.backbone",
    ]
    .iter()
    .map(|n| head(&net, n)["id"].clone())
    .collect();

    // The proposal file, derived from the chain's heads.
    let work = dir.path().join("evo");
    let file = dir.path().join("evo.json");
    let (work_s, file_s) = (work.to_string_lossy(), file.to_string_lossy());
    let evolve = |extra: &[&str]| {
        let mut args = vec![
            "model",
            "evolve",
            "--chain",
            &rpc,
            "--model-id",
            MODEL,
            "--ipfs",
            &api,
            "--work",
            &work_s,
        ];
        args.extend_from_slice(extra);
        run_worker(&args).unwrap()
    };
    evolve(&["--count", "1", "--source-expert", "0", "--out", &file_s]);
    let body: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(body["content"]["blocks"].as_array().unwrap().len(), 4);

    // Evolving a model that does not exist: refused with 621.
    let mut unknown = body.clone();
    unknown["content"]["model"] = "no-such-model".into();
    let bad = dir.path().join("unknown.json");
    std::fs::write(&bad, unknown.to_string()).unwrap();
    let (v, _) = net.cli_tx(&[
        "tx",
        "gov",
        "submit-proposal",
        &bad.to_string_lossy(),
        "--from",
        &dev,
        "--wait",
    ]);
    assert_eq!(v["code"], 621, "{v}");

    let r = net.cli_tx_ok(&["tx", "gov", "submit-proposal", &file_s, "--from", &dev]);
    let id: u64 = events(&r, "proposal_submitted")[0]["proposal_id"]
        .parse()
        .unwrap();
    let out = evolve(&["--check", &id.to_string()]);
    assert!(out.contains("all 4 blocks match"), "{out}");
    net.cli_tx_ok(&["tx", "gov", "vote", &id.to_string(), "yes", "--from", &op]);

    let effective = proposal(&net, id).content.effective_height().unwrap();
    net.wait_app_height(0, effective);
    let pinfo = proposal(&net, id);
    assert_eq!(
        pinfo.status,
        ProposalStatus::Executed,
        "{}",
        pinfo.execution_log
    );
    let meta = net.cli_json(&["query", "dag", "meta", MODEL])["result"].clone();
    assert_eq!(meta["arch"]["n_experts"], 5, "{meta}");
    assert!(meta["meta_json"]
        .as_str()
        .unwrap()
        .contains("\"n_experts\":5"));
    let meta_block =
        net.cli_json(&["query", "dag", "block", &hex32(&meta["meta_block"])])["result"].clone();
    assert_eq!(meta_block["version"]["major"], 2, "{meta_block}");
    for b in body["content"]["blocks"].as_array().unwrap() {
        let h = head(&net, b["name"].as_str().unwrap());
        assert_eq!(h["cid"], b["cid"], "{h}");
        assert_eq!(hex32(&h["payload_hash"]), hex32(&b["payload_hash"]));
    }
    for (n, id0) in [
        "embed",
        "layer0.expert0",
        "layer1.expert3",
        "layer1.backbone",
    ]
    .iter()
    .zip(&before)
    {
        assert_eq!(&head(&net, n)["id"], id0, "{n} carried over");
    }
    let new_v1 = head(&net, NEW_EXPERT)["id"].clone();
    let evolved = eval_chain(&rpc, &api, dir.path());
    eprintln!(
        "after adding experts: validation loss {} µnats, recorded {} (kept from genesis)",
        evolved["micro_nats"], evolved["recorded_loss_micro"]
    );

    // A miner trains the new expert; the running validator judges the round.
    spawn_miner(
        &mut net,
        "miner1",
        1,
        dir.path(),
        &api,
        MODEL,
        &[
            "--blocks",
            NEW_EXPERT,
            "--steps",
            "150",
            "--synthetic",
            "400",
            "--seed",
            "1",
            "--corpus-seed",
            "11",
            "--bond",
            "10bly",
            "--submissions",
            "1",
        ],
    );
    let round = wait_for("round 1 to open", Duration::from_secs(300), || {
        let subs = submissions(&net, 1);
        (!subs.is_empty()).then_some(subs)
    });
    assert_eq!(round[0]["deltas"][0]["block"], NEW_EXPERT, "{round:?}");
    let r1 = wait_round_end(&net, 1, Duration::from_secs(300));
    let subs = submissions(&net, 1);
    eprintln!(
        "round 1: {} -> {:?} µnats; submissions {:?}",
        r1["base_loss_micro"],
        r1["new_loss_micro"],
        subs.iter()
            .map(|s| format!(
                "#{} {} median {}",
                s["id"], s["status"], s["median_loss_micro"]
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(r1["status"], "accepted", "{r1}");
    assert_eq!(subs[0]["status"], "admitted", "{subs:?}");
    let hist = net.cli_json(&["query", "dag", "history", MODEL, NEW_EXPERT])["result"].clone();
    let hist = hist.as_array().unwrap();
    assert_eq!(hist.len(), 2, "{hist:?}");
    assert_eq!(hist[0]["id"], new_v1);
    assert_eq!(head(&net, NEW_EXPERT)["id"], hist[1]["id"]);

    // Deepening: one more layer, each of its blocks derived from the new meta's seed
    // (checked by a voter's re-derivation), appended at the proposal's height.
    let deep = dir.path().join("deep.json");
    let deep_s = deep.to_string_lossy();
    evolve(&["--add-layers", "1", "--out", &deep_s]);
    let r = net.cli_tx_ok(&["tx", "gov", "submit-proposal", &deep_s, "--from", &dev]);
    let id2: u64 = events(&r, "proposal_submitted")[0]["proposal_id"]
        .parse()
        .unwrap();
    let out = evolve(&["--check", &id2.to_string()]);
    assert!(out.contains("all 7 blocks match"), "{out}");
    net.cli_tx_ok(&["tx", "gov", "vote", &id2.to_string(), "yes", "--from", &op]);
    net.wait_app_height(0, proposal(&net, id2).content.effective_height().unwrap());
    let p2 = proposal(&net, id2);
    assert_eq!(p2.status, ProposalStatus::Executed, "{}", p2.execution_log);
    let meta = net.cli_json(&["query", "dag", "meta", MODEL])["result"].clone();
    assert_eq!(
        (
            meta["arch"]["n_layers"].clone(),
            meta["arch"]["n_experts"].clone()
        ),
        (Value::from(3), Value::from(5)),
        "{meta}"
    );
    assert!(!head(&net, "layer2.expert4")["cid"].is_null());
    // The appended layer is the identity: the loss is exactly the one round 1 recorded.
    let deepened = eval_chain(&rpc, &api, dir.path());
    assert_eq!(deepened["matches_recorded"], true, "{deepened}");
    assert_eq!(deepened["micro_nats"], r1["new_loss_micro"], "{deepened}");
    eprintln!("test done in {:.1?}", started.elapsed());
}
