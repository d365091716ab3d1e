//! Proof-of-Learning helpers for end-to-end tests: miner and validator workers as named
//! processes of a [`Localnet`], and the `pol` queries tests read rounds with.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::localnet::Localnet;
use crate::process::ProcSpec;
use crate::wait_for;
use crate::worker::worker_bin;

/// Starts `blyan-worker validator` for validator `i` as process `val<i>` (log
/// `<dir>/val<i>.log`, state `<dir>/val<i>`), signing with the validator's operator key,
/// talking to node `i` and the Kubo API `kubo_api`. `extra` is appended to the arguments.
pub fn spawn_validator(
    net: &mut Localnet,
    i: usize,
    dir: &Path,
    kubo_api: &str,
    model: &str,
    extra: &[&str],
) {
    let worker = worker_bin().expect("blyan-worker");
    let node = net.node(i).clone();
    let home = dir.join(format!("val{i}"));
    let mut args: Vec<String> = [
        "validator",
        "--chain",
        &node.rpc_url,
        "--ipfs",
        kubo_api,
        "--model-id",
        model,
        "--home",
        &home.to_string_lossy(),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    let spec = ProcSpec::new(&worker, args, dir.join(format!("val{i}.log")))
        .env("BLYAN_WORKER_KEY", &node.operator_private_key_hex)
        .env("RUST_LOG", "info");
    net.processes()
        .spawn(&format!("val{i}"), spec)
        .expect("validator worker");
}

/// Starts `blyan-worker miner` as process `name` (log `<dir>/<name>.log`, state
/// `<dir>/<name>`) with dev account `account`'s key, talking to node 0 and `kubo_api`;
/// `args` are the miner's own options (`--blocks`, `--seed`, `--attack`, …).
pub fn spawn_miner(
    net: &mut Localnet,
    name: &str,
    account: usize,
    dir: &Path,
    kubo_api: &str,
    model: &str,
    args: &[&str],
) {
    let worker = worker_bin().expect("blyan-worker");
    let rpc = net.node(0).rpc_url.clone();
    let key = net.dev_accounts()[account].private_key_hex.clone();
    let home = dir.join(name);
    let mut all: Vec<String> = [
        "miner",
        "--chain",
        &rpc,
        "--ipfs",
        kubo_api,
        "--model-id",
        model,
        "--home",
        &home.to_string_lossy(),
    ]
    .map(String::from)
    .to_vec();
    all.extend(args.iter().map(|s| s.to_string()));
    let spec = ProcSpec::new(&worker, all, dir.join(format!("{name}.log")))
        .env("BLYAN_WORKER_KEY", key)
        .env("RUST_LOG", "info");
    net.processes().spawn(name, spec).expect("miner worker");
}

/// `blyand query pol <args>`'s `result`, or `Null` when the query fails (no such round yet).
pub fn pol_query(net: &Localnet, args: &[&str]) -> Value {
    let mut all = vec!["query", "pol"];
    all.extend_from_slice(args);
    all.extend(["--output", "json"]);
    let out = net.cli(&all);
    if !out.status.success() {
        return Value::Null;
    }
    serde_json::from_slice::<Value>(&out.stdout).unwrap_or_default()["result"].clone()
}

/// A round's record (`Null` while it does not exist).
pub fn round(net: &Localnet, id: u64) -> Value {
    pol_query(net, &["round", &id.to_string()])
}

/// A round's submissions, in order (empty while the round does not exist).
pub fn submissions(net: &Localnet, round: u64) -> Vec<Value> {
    pol_query(net, &["submissions", &round.to_string()])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until round `id` has ended; returns its record.
pub fn wait_round_end(net: &Localnet, id: u64, timeout: Duration) -> Value {
    wait_for(&format!("round {id} to end"), timeout, || {
        let r = round(net, id);
        matches!(
            r["status"].as_str(),
            Some("accepted" | "rejected" | "no_quorum")
        )
        .then_some(r)
    })
}

/// An account's balance, base units.
pub fn balance(net: &Localnet, address: &str) -> u128 {
    let v = net.cli_json(&["query", "bank", "balance", address]);
    v["balance"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no balance in {v}"))
}

/// A JSON number or decimal string as u128 (amounts print as strings).
pub fn amount(v: &Value) -> u128 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64().map(u128::from))
        .unwrap_or(0)
}

/// 32 bytes as hex, whether the JSON shows them as hex (fields with a hex serializer) or as
/// an array of numbers (plain `[u8; 32]` fields such as `depends_on` or a round's
/// `aggregate_hash`).
pub fn hex32(v: &Value) -> String {
    match v.as_array() {
        Some(bytes) => bytes
            .iter()
            .map(|b| format!("{:02x}", b.as_u64().unwrap_or(0)))
            .collect(),
        None => v.as_str().unwrap_or_default().to_string(),
    }
}
