//! Miners (issue 5 acceptance): on a 4-validator localnet a miner trains one expert of the
//! genesis model for 300 steps and submits a compressed delta; the round, submission, bond
//! and manifest are visible through queries and the CLI; the delta fetched through a
//! different Kubo node decodes to the same bytes in separate processes. The miner is
//! killed mid-round and restarted: it does not submit twice, and goes on to the next
//! round. Bad submissions are rejected with their codes and never cost a bond; a delta
//! whose content does not match its hash is caught at fetch time, naming it; a copy of a
//! delta already in the round is refused, and so is the owner's publish of a new head of
//! this model (it has a validation set: only Proof-of-Learning rounds move it).

use std::time::{Duration, Instant};

use blyan_proto::pol::PolParams;
use blyan_proto::BLY;
use blyan_tests::kubo::KuboNode;
use blyan_tests::ports::free_port_block;
use blyan_tests::process::{ProcSpec, Processes};
use blyan_tests::wait_for;
use blyan_tests::worker::{run_worker, tiny_genesis_model, worker_bin};
use blyan_tests::{Localnet, LocalnetOptions};
use serde_json::Value;

const MODEL: &str = "blyan-tiny";
const EXPERT: &str = "layer0.expert1";

fn pol_params() -> PolParams {
    PolParams {
        round_blocks: 30,
        phase1_blocks: 10,
        phase2_blocks: 10,
        hashcash_bits: 16,
        quota_newbie_per_day: 2,
        ..blyan_genesis::localnet::localnet_pol_params()
    }
}

fn q(net: &Localnet, args: &[&str]) -> Value {
    let mut all = vec!["query", "pol"];
    all.extend_from_slice(args);
    net.cli_json(&all)["result"].clone()
}

/// The round's submissions (none while the round does not exist).
fn submissions_of(net: &Localnet, round: u64) -> Vec<Value> {
    let out = net.cli([
        "query",
        "pol",
        "submissions",
        &round.to_string(),
        "--output",
        "json",
    ]);
    if !out.status.success() {
        return Vec::new();
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["result"].as_array().cloned().unwrap_or_default()
}

/// Sends a submission file through `blyand tx pol submit-delta`; returns the JSON result
/// (whatever its code).
fn submit_file(net: &Localnet, key: &str, body: &Value, extra: &[&str]) -> Value {
    let file = net.dir().join(format!("submit-{}.json", rand_name()));
    std::fs::write(&file, body.to_string()).unwrap();
    let f = file.to_string_lossy().to_string();
    let mut args = vec![
        "tx",
        "pol",
        "submit-delta",
        f.as_str(),
        "--from",
        key,
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = net.cli(&args);
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn balance_of(net: &Localnet, address: &str) -> u128 {
    let v = net.cli_json(&["query", "bank", "balance", address]);
    v["balance"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no balance in {v}"))
}

fn rand_name() -> String {
    format!("{:?}", Instant::now()).replace(['.', ' '], "")
}

#[test]
fn a_miner_submits_a_trained_expert_delta_once_per_round_and_bad_submissions_are_rejected() {
    let started = Instant::now();
    let worker = worker_bin().expect("blyan-worker");
    let dir = tempfile::tempdir().unwrap();
    let mut kubos = Processes::new();
    let p = free_port_block(6).unwrap();
    let a = KuboNode::start(&mut kubos, &dir.path().join("kubo-a"), p, p + 1, p + 2).unwrap();
    let b = KuboNode::start(&mut kubos, &dir.path().join("kubo-b"), p + 3, p + 4, p + 5).unwrap();
    b.connect(&a).unwrap();
    let gm = tiny_genesis_model(dir.path(), &a.api_url(), MODEL, 7).unwrap();

    let mut opts = LocalnetOptions::new(4);
    opts.models = vec![gm];
    opts.pol = pol_params();
    let mut net = Localnet::start_with(opts);
    let miner = net.dev_accounts()[1].clone();
    let rpc0 = net.node(0).rpc_url.clone();
    let rpc3 = net.node(3).rpc_url.clone();
    let home = dir.path().join("miner");
    let miner_spec = ProcSpec::new(
        &worker,
        [
            "miner",
            "--chain",
            &rpc0,
            "--ipfs",
            &a.api_url(),
            "--model-id",
            MODEL,
            "--blocks",
            EXPERT,
            "--steps",
            "300",
            "--synthetic",
            "400",
            "--seed",
            "3",
            "--bond",
            "10bly",
            "--submissions",
            "2",
            "--home",
            &home.to_string_lossy(),
        ]
        .map(String::from),
        dir.path().join("miner.log"),
    )
    .env("BLYAN_WORKER_KEY", &miner.private_key_hex)
    .env("RUST_LOG", "info");
    let balance0 = balance_of(&net, &miner.address.to_string());
    net.processes().spawn("miner", miner_spec).unwrap();

    // The first submission opens round 1.
    let sub1 = wait_for(
        "the miner's first submission",
        Duration::from_secs(400),
        || submissions_of(&net, 1).first().cloned(),
    );
    assert_eq!(sub1["miner"], miner.address.to_string());
    assert_eq!(sub1["bond"], (10 * BLY).to_string());
    assert_eq!(sub1["deltas"][0]["block"], EXPERT);
    assert_eq!(sub1["status"], "pending");
    let round1 = q(&net, &["round", "1"]);
    assert_eq!(round1["status"], "open", "{round1}");
    assert_eq!(round1["bonds"], (10 * BLY).to_string());
    let current = q(&net, &["current", MODEL]);
    assert_eq!(current["id"], 1);

    // Killed mid-round and restarted, the miner does not submit again to round 1.
    net.processes().kill9("miner").unwrap();
    net.processes().restart("miner").unwrap();
    wait_for("round 1 to close", Duration::from_secs(120), || {
        (q(&net, &["round", "1"])["status"] != "open").then_some(())
    });
    assert_eq!(submissions_of(&net, 1).len(), 1, "no duplicate submission");
    let log = std::fs::read_to_string(dir.path().join("miner.log")).unwrap();
    assert!(
        log.contains("already submitted"),
        "the restarted miner saw its record:\n{log}"
    );

    // Round 1 gets no attestations (no validator workers yet): the bond comes back, and the
    // miner submits again to round 2 and stops after its 2 submissions.
    let r1 = wait_for("round 1 to end", Duration::from_secs(120), || {
        let r = q(&net, &["round", "1"]);
        (r["status"] == "no_quorum").then_some(r)
    });
    assert_eq!(r1["bonds"], "0");
    assert_eq!(q(&net, &["submission", "1"])["status"], "returned");
    assert!(
        net.processes().wait_exit("miner", Duration::from_secs(400)),
        "the miner stops after 2 submissions"
    );
    let subs2 = submissions_of(&net, 2);
    assert_eq!(subs2.len(), 1, "{subs2:?}");
    assert_eq!(subs2[0]["miner"], miner.address.to_string());
    let trust = q(&net, &["trust", &miner.address.to_string()]);
    assert_eq!(trust["level"], "newbie");
    assert_eq!(trust["submissions_today"], 2);

    // The manifest, through Kubo node B and node 3.
    let manifest: Value = serde_json::from_str(
        &run_worker(&[
            "pol",
            "manifest",
            "--chain",
            &rpc3,
            "--ipfs",
            &b.api_url(),
            "--submission",
            "1",
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["model"], MODEL);
    assert_eq!(manifest["steps"], 300);
    assert_eq!(manifest["batch_hashes"].as_array().unwrap().len(), 300);
    assert_eq!(manifest["base_heads"][0]["block"], EXPERT);
    assert!(manifest["datasets"][0]
        .as_str()
        .unwrap()
        .starts_with("synthetic:"));
    let (first, last) = (
        manifest["loss"]["first"].as_f64().unwrap(),
        manifest["loss"]["last"].as_f64().unwrap(),
    );
    assert!(last < first, "training lowered the loss: {first} -> {last}");
    assert_eq!(manifest["optimizer"]["start_step"], 0);
    // the second round continued the AdamW state the first one left in --home
    let sub2_id = subs2[0]["id"].as_u64().unwrap().to_string();
    let manifest2: Value = serde_json::from_str(
        &run_worker(&[
            "pol",
            "manifest",
            "--chain",
            &rpc3,
            "--ipfs",
            &b.api_url(),
            "--submission",
            &sub2_id,
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest2["optimizer"]["start_step"], 300, "{manifest2}");
    assert_eq!(manifest2["optimizer"]["end_step"], 600);
    let states: Vec<_> = std::fs::read_dir(home.join("optimizer")).unwrap().collect();
    assert_eq!(
        states.len(),
        1,
        "one AdamW state file for the model and block"
    );

    // The delta: fetched through Kubo B by two separate processes, and through Kubo A:
    // verified against the chain's hash, decoded to identical bytes.
    let fetch = |api: &str| -> Value {
        serde_json::from_str(
            &run_worker(&[
                "pol",
                "fetch-delta",
                "--chain",
                &rpc3,
                "--ipfs",
                api,
                "--submission",
                "1",
                "--json",
            ])
            .unwrap(),
        )
        .unwrap()
    };
    let (f1, f2, f3) = (
        fetch(&b.api_url()),
        fetch(&b.api_url()),
        fetch(&a.api_url()),
    );
    let h = f1["blocks"][0]["decoded_hash"].clone();
    assert_eq!(h.as_str().unwrap().len(), 64);
    assert_eq!(f2["blocks"][0]["decoded_hash"], h);
    assert_eq!(f3["blocks"][0]["decoded_hash"], h);
    eprintln!(
        "delta of {EXPERT}: {} bytes on IPFS, decoded hash {h}",
        f1["blocks"][0]["bytes"]
    );

    // The miner paid two gas fees and two submission fees (kept by no-quorum rounds) and got
    // both bonds back once round 2 ends.
    wait_for("round 2 to end", Duration::from_secs(120), || {
        (q(&net, &["round", "2"])["status"] == "no_quorum").then_some(())
    });
    let balance1 = balance_of(&net, &miner.address.to_string());
    let fees = balance0 - balance1;
    let submission_fees = 2 * pol_params().submission_fee;
    assert!(submission_fees > 0);
    assert!(
        fees > submission_fees && fees - submission_fees < BLY / 100,
        "only fees were spent: {fees}"
    );
    assert_eq!(sub1["fee"], pol_params().submission_fee.to_string());

    // Bad submissions. A template from the miner's own valid submission.
    let key1 = net.import_dev_key(1);
    let key2 = net.import_dev_key(2);
    let mut template = sub1.clone();
    for k in [
        "id", "round", "miner", "trust", "height", "status", "weight", "fee",
    ] {
        template.as_object_mut().unwrap().remove(k);
    }
    template["model"] = Value::from(MODEL);
    let expect_code = |r: &Value, code: u64, name: &str| {
        assert_eq!(r["code"], code, "{name}: {r}");
        assert_eq!(r["error"], name, "{r}");
        assert!(!r["log"].as_str().unwrap_or_default().is_empty());
    };
    let dev2_balance = || balance_of(&net, &net.dev_accounts()[2].address.to_string());
    let before = dev2_balance();
    let mut t = template.clone();
    t["deltas"][0]["block"] = Value::from("layer9.expert0");
    t["base_heads"][0]["block"] = Value::from("layer9.expert0");
    expect_code(&submit_file(&net, &key2, &t, &[]), 401, "UnknownBlock");
    expect_code(
        &submit_file(&net, &key2, &template, &["--bond", "0"]),
        403,
        "BondTooLow",
    );
    expect_code(
        &submit_file(&net, &key2, &template, &["--no-stamp"]),
        405,
        "MissingStamp",
    );
    let mut t = template.clone();
    t["stamp"] = Value::from(12_345u64);
    expect_code(&submit_file(&net, &key2, &t, &[]), 406, "BadStamp");
    let mut t = template.clone();
    t["manifest_size"] = Value::from(pol_params().max_manifest_bytes + 1);
    expect_code(&submit_file(&net, &key2, &t, &[]), 407, "ManifestTooLarge");
    expect_code(
        &submit_file(&net, &key1, &template, &[]),
        404,
        "QuotaExceeded",
    );
    assert_eq!(
        dev2_balance(),
        before,
        "rejected submissions cost nothing, bonds included"
    );

    // A delta whose bytes are not what its hash says: the chain cannot know, the fetch does.
    let mut t = template.clone();
    t["deltas"][0]["hash"] = Value::from("ab".repeat(32));
    let ok = submit_file(&net, &key2, &t, &["--wait"]);
    assert_eq!(ok["code"], 0, "{ok}");
    let sub3 = wait_for("submission 3", Duration::from_secs(30), || {
        q(&net, &["current", MODEL])["id"]
            .as_u64()
            .and_then(|r| submissions_of(&net, r).first().cloned())
    });
    let id3 = sub3["id"].as_u64().unwrap().to_string();
    // A copy of that delta (same content hash) from another miner, claiming more samples:
    // refused as a copy, at no cost.
    let key3 = net.import_dev_key(3);
    let dev3_balance = || balance_of(&net, &net.dev_accounts()[3].address.to_string());
    let before3 = dev3_balance();
    let mut copy = t.clone();
    copy["samples"] = Value::from(u64::MAX);
    expect_code(&submit_file(&net, &key3, &copy, &[]), 419, "DuplicateDelta");
    assert_eq!(dev3_balance(), before3, "a refused copy costs nothing");
    let err = run_worker(&[
        "pol",
        "fetch-delta",
        "--chain",
        &rpc3,
        "--ipfs",
        &b.api_url(),
        "--submission",
        &id3,
    ])
    .expect_err("a hash mismatch must not decode")
    .to_string();
    assert!(
        err.contains(&format!("submission {id3}"))
            && err.contains(EXPERT)
            && err.contains("hashes to"),
        "{err}"
    );

    // The owner publishes a new version of the expert mid-round, bypassing Proof-of-Learning:
    // refused (the model has a validation set), the head stays and submissions against it
    // still count.
    let owner = net.import_dev_key(0);
    let head_before = net.cli_json(&["query", "dag", "head", MODEL, EXPERT]);
    let gm_file = dir.path().join("genesis-model.json");
    let gm: blyan_genesis::GenesisModel =
        serde_json::from_str(&std::fs::read_to_string(&gm_file).unwrap()).unwrap();
    let mut spec = gm.blocks.iter().find(|b| b.name == EXPERT).unwrap().clone();
    spec.version.patch += 1;
    let update = serde_json::json!({
        "id": MODEL, "owner": net.dev_accounts()[0].address.to_string(), "arch": gm.arch,
        "meta_json": gm.meta_json, "blocks": [spec],
    });
    let uf = dir.path().join("update.json");
    std::fs::write(&uf, update.to_string()).unwrap();
    let out = net.cli([
        "tx",
        "dag",
        "publish-model",
        &uf.to_string_lossy(),
        "--from",
        &owner,
        "--output",
        "json",
    ]);
    let sent: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    expect_code(&sent, 312, "ModelUnderPol");
    // The query answers at the latest height, which moved on: compare the head itself.
    assert_eq!(
        net.cli_json(&["query", "dag", "head", MODEL, EXPERT])["result"],
        head_before["result"]
    );
    eprintln!("miner e2e test done in {:.1?}", started.elapsed());
}
