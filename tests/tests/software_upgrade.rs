//! A software upgrade end to end (issue 14) on a four-validator net, through the CLI: a
//! `software_upgrade` proposal for `v2` passes; one validator switches to the
//! `upgrade-demo-v2` build early and applies the upgrade live at the plan's height; there
//! every other validator's `blyand` (which has no `v2` handler) stops with
//! `UPGRADE "v2" NEEDED`, writing nothing for that height, and its CometBFT stops with it (a validator that had not received
//! that block's commit when the others stopped waits one height below, and stops once the
//! restarted nodes send it the block); the old binary refuses to start again; each node is
//! restarted with the `upgrade-demo-v2` build, whose migration runs first thing in the
//! plan's block (CometBFT replays that block to it), and the chain goes on with the same
//! history; a validator that was down meanwhile catches up with the old binary and stops
//! at the plan's height too; the app version is 2 in state and in the headers; and the
//! old binary refuses the upgraded state.

use std::time::{Duration, Instant};

use blyan_proto::gov::{GovParams, ProposalContent, ProposalInfo};
use blyan_proto::query::QueryPath;
use blyan_proto::BLY;
use blyan_tests::localnet::{app_name, comet_name};
use blyan_tests::staking::find_block_event;
use blyan_tests::txs::{events, query_at};
use blyan_tests::{Localnet, LocalnetOptions};
use serde_json::json;

const VOTING_BLOCKS: u64 = 12;
const NODES: usize = 4;

fn proposal(net: &Localnet, id: u64) -> ProposalInfo {
    let v = net.cli_json(&["query", "gov", "proposal", &id.to_string()]);
    serde_json::from_value(v["result"].clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// The `version.app` in block `h`'s header, as node `i` serves it.
fn header_app_version(net: &Localnet, i: usize, h: u64) -> u64 {
    let b = net
        .rpc(i)
        .call("block", json!({"height": h.to_string()}))
        .unwrap_or_else(|e| panic!("node{i} block {h}: {e:#}"));
    let v = &b["block"]["header"]["version"]["app"];
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
        .unwrap_or_else(|| panic!("no version.app in block {h}: {b}"))
}

fn gov_max_active(net: &Localnet, h: u64) -> u32 {
    query_at::<GovParams>(net.rpc(0), &QueryPath::GovParams, h)
        .unwrap()
        .max_active_proposals
}

/// Waits until the app of one of `nodes` stopped by itself, then a little more for the rest.
/// Returns the nodes that stopped and those still running, which must be waiting at
/// `h - 1`.
fn wait_for_stops(net: &mut Localnet, h: u64, nodes: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let start = Instant::now();
    let mut first_at = None;
    loop {
        let (stopped, running): (Vec<usize>, Vec<usize>) =
            nodes.iter().partition(|&&i| !net.app_running(i));
        if !stopped.is_empty() && first_at.is_none() {
            first_at = Some(Instant::now());
        }
        let grace_over = first_at.is_some_and(|t| t.elapsed() > Duration::from_secs(10));
        if running.is_empty() || grace_over {
            for &i in &running {
                let at = net.try_app_height(i).unwrap_or_default();
                eprintln!("node{i} did not receive block {h} yet; its app is at {at}");
                assert_eq!(at, h - 1, "node{i} neither stopped nor waits at {}", h - 1);
            }
            return (stopped, running);
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no node stopped at {h}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Node `i`'s `blyand` stopped at `h` as an old binary must: status 0, the message, the
/// upgrade-info file; and its CometBFT stopped with it.
fn assert_stopped_for_upgrade(net: &mut Localnet, i: usize, h: u64) {
    let tail = net.processes().tail(&app_name(i), 20);
    let needed = format!("UPGRADE \"v2\" NEEDED at height {h}: stop this binary");
    assert!(tail.contains(&needed), "node{i}: {tail}");
    let status = net.processes().exit_status(&app_name(i)).unwrap();
    assert!(status.success(), "node{i}/blyand: {status}");
    let info = net.home(i).join("blyand/data/upgrade-info.json");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&info).unwrap()).unwrap();
    assert_eq!(
        (info["name"].as_str(), info["height"].as_u64()),
        (Some("v2"), Some(h))
    );
    assert!(
        net.processes()
            .wait_exit(&comet_name(i), Duration::from_secs(30)),
        "node{i}/cometbft kept running without its app"
    );
}

/// Waits for node `i`'s `blyand` to exit by itself; returns the tail of its log.
fn wait_app_exit(net: &mut Localnet, i: usize, timeout: Duration) -> String {
    assert!(
        net.processes().wait_exit(&app_name(i), timeout),
        "node{i}/blyand kept running"
    );
    net.processes().tail(&app_name(i), 20)
}

#[test]
fn a_software_upgrade_stops_every_node_at_its_height_and_the_new_binary_continues_the_chain() {
    let v2 = blyan_tests::bins::blyand_with_feature("upgrade-demo-v2").expect("the v2 build");
    let mut opts = LocalnetOptions::new(NODES);
    opts.gov = GovParams {
        min_deposit: 10 * BLY,
        max_deposit_period_blocks: VOTING_BLOCKS,
        voting_period_blocks: VOTING_BLOCKS,
        ..GovParams::default()
    };
    let mut net = Localnet::start_with(opts);
    let v1 = net.default_app_binary().to_path_buf();
    let ops: Vec<String> = (0..NODES).map(|i| net.import_operator_key(i)).collect();
    let dev = net.import_dev_key(0);

    // Submit the plan: 3 blocks after the last possible end of voting.
    let file = net.dir().join("upgrade.json");
    let body = json!({
        "title": "Upgrade to v2",
        "description": "blyand built with --features upgrade-demo-v2",
        "deposit": "10bly",
        "content": {"type": "software_upgrade", "name": "v2", "height": "+3",
                    "info": "cargo build -p blyan-app --features upgrade-demo-v2"}
    });
    std::fs::write(&file, body.to_string()).unwrap();
    let path = file.to_string_lossy().to_string();
    let r = net.cli_tx_ok(&["tx", "gov", "submit-proposal", &path, "--from", &dev]);
    let id: u64 = events(&r, "proposal_submitted")[0]["proposal_id"]
        .parse()
        .unwrap();
    for op in &ops[..3] {
        net.cli_tx_ok(&["tx", "gov", "vote", &id.to_string(), "yes", "--from", op]);
    }
    // Node 3 is down through the upgrade (the other three hold 75% of the power).
    let late = NODES - 1;
    net.kill9_node(late);
    let p = proposal(&net, id);
    let ProposalContent::SoftwareUpgrade { height: h, .. } = p.content else {
        panic!("not an upgrade: {p:?}");
    };
    assert!(h > p.voting_end, "{p:?}");
    // Node 0's operator installs the new binary early: it runs like the old one until h,
    // then applies the upgrade live (the others apply it when block h is replayed).
    let early = 0;
    assert!(net.height(1) + 3 < h, "too late to swap early");
    net.set_app_binary(early, &v2);
    net.restart_node(early);
    let up: Vec<usize> = (1..late).collect();

    // Passed: the plan is stored and queryable; nothing applied yet.
    net.wait_app_height(0, p.voting_end);
    let plan = net.cli_json(&["query", "gov", "upgrade-plan"]);
    assert_eq!(plan["result"]["name"], "v2", "{plan}");
    assert_eq!(plan["result"]["height"], h, "{plan}");
    let version = net.cli_json(&["query", "gov", "app-version"]);
    assert_eq!(version["result"], 1, "{version}");
    let applied = net.cli_json(&["query", "gov", "upgrades-applied"]);
    assert_eq!(applied["result"], json!([]), "{applied}");
    // History to compare after the upgrade (the net stops soon after this).
    let before: Vec<(Vec<u8>, Vec<u8>)> = (1..=p.voting_end)
        .map(|k| {
            (
                net.rpc(0).block_hash(k).unwrap(),
                net.rpc(0).header_app_hash(k).unwrap(),
            )
        })
        .collect();

    // Every old binary that receives block h stops there, with the message and the
    // upgrade-info file, and its CometBFT stops with it. A validator that had not yet
    // received the last precommits of block h when the others stopped waits at h - 1.
    let (stopped, waiting) = wait_for_stops(&mut net, h, &up);
    for &i in &stopped {
        assert_stopped_for_upgrade(&mut net, i, h);
    }
    net.wait_app_height(early, h);
    assert!(net.app_running(early), "the early v2 node stopped");
    let log = net.app_log(early);
    assert!(
        !log.contains("NEEDED"),
        "the early v2 node asked for an upgrade"
    );
    // The old binary does not start again over a state whose next block is the plan's.
    let first = stopped[0];
    net.processes().start(&app_name(first)).unwrap();
    let tail = wait_app_exit(&mut net, first, Duration::from_secs(30));
    assert!(tail.contains("UPGRADE \"v2\" NEEDED"), "{tail}");

    // The operators swap binaries and restart; CometBFT replays block h to the new one.
    for &i in &stopped {
        net.set_app_binary(i, &v2);
        net.restart_node(i);
    }
    // The validators that waited at h - 1 now receive block h from them, and stop too.
    for &i in &waiting {
        wait_app_exit(&mut net, i, Duration::from_secs(90));
        assert_stopped_for_upgrade(&mut net, i, h);
        net.set_app_binary(i, &v2);
        net.restart_node(i);
    }
    // Node 3 comes back with the old binary: it catches up to h - 1 and stops at h.
    net.restart_node(late);
    wait_app_exit(&mut net, late, Duration::from_secs(120));
    assert_stopped_for_upgrade(&mut net, late, h);
    net.set_app_binary(late, &v2);
    net.restart_node(late);
    let top = h + 3;
    for i in 0..NODES {
        net.wait_app_height(i, top);
    }
    for (k, (block, app)) in (1..).zip(&before) {
        assert_eq!(
            &net.rpc(0).block_hash(k).unwrap(),
            block,
            "block {k} changed"
        );
        assert_eq!(&net.rpc(0).header_app_hash(k).unwrap(), app, "app hash {k}");
    }
    for k in 1..=top {
        let hash = net.app_hash_at(0, k);
        for i in 1..NODES {
            assert_eq!(net.app_hash_at(i, k), hash, "node{i} differs at {k}");
        }
    }
    for i in 0..NODES {
        // The old binary's last state is what block h's header committed to, and the new
        // binary's state at h is what block h + 1's header committed to.
        net.assert_state_matches_header(i, h - 1);
        net.assert_state_matches_header(i, h);
    }

    // The migration ran at h, once; the app version is 2 in state and from h + 1 on in
    // the headers (block h was proposed before the upgrade).
    let (_, ev) = find_block_event(net.rpc(0), h, h, "upgrade_applied", |_| true)
        .expect("the upgrade_applied event of block h");
    assert_eq!(
        (ev["name"].as_str(), ev["app_version"].as_str()),
        ("v2", "2")
    );
    assert_eq!(gov_max_active(&net, h - 1), 16);
    assert_eq!(gov_max_active(&net, h), 32);
    assert_eq!(
        query_at::<u64>(net.rpc(0), &QueryPath::AppVersion, h - 1).unwrap(),
        1
    );
    assert_eq!(
        query_at::<u64>(net.rpc(0), &QueryPath::AppVersion, h).unwrap(),
        2
    );
    assert_eq!(header_app_version(&net, 0, h), 1);
    assert_eq!(header_app_version(&net, 0, h + 1), 2);
    assert_eq!(header_app_version(&net, 3, top), 2);
    let applied = net.cli_json(&["query", "gov", "upgrades-applied"]);
    assert_eq!(
        applied["result"],
        json!([{"name": "v2", "height": h, "app_version": 2}]),
        "{applied}"
    );
    let plan = net.cli_json(&["query", "gov", "upgrade-plan"]);
    assert_eq!(plan["result"], serde_json::Value::Null, "{plan}");
    // Transactions still commit.
    net.cli_tx_ok(&["tx", "gov", "fund-community-pool", "1bly", "--from", &dev]);

    // A binary older than the chain refuses it.
    net.kill9_node(3);
    net.set_app_binary(3, &v1);
    net.processes().start(&app_name(3)).unwrap();
    let tail = wait_app_exit(&mut net, 3, Duration::from_secs(30));
    let refused = format!("upgrade \"v2\" was applied at height {h} (app version 2)");
    assert!(tail.contains(&refused), "{tail}");
    assert!(!net.processes().exit_status(&app_name(3)).unwrap().success());
}
