//! Crashes on a four-validator net: a whole validator, or only its app, is killed with
//! SIGKILL while transfers flow; the others keep producing blocks, and the restarted node
//! catches up to exactly the same state.

use std::time::Duration;

use blyan_proto::{SecretKey, BLY};
use blyan_tests::localnet::comet_name;
use blyan_tests::txs::{balance, tx_height};
use blyan_tests::{Localnet, TxFactory};

/// Asserts that nodes `a` and `b` report the same app hash at every height in `heights`
/// and that `b`'s own store holds that state at the last one.
fn assert_agree(net: &Localnet, a: usize, b: usize, heights: std::ops::RangeInclusive<u64>) {
    let last = *heights.end();
    for h in heights {
        assert_eq!(
            net.app_hash_at(a, h),
            net.app_hash_at(b, h),
            "node{a} and node{b} differ at height {h}"
        );
    }
    net.assert_state_matches_header(b, last);
}

#[test]
fn a_validator_killed_with_sigkill_restarts_and_catches_up_to_the_same_app_hash() {
    let mut net = Localnet::start(4);
    let f = TxFactory::from_node(net.rpc(0)).expect("chain id and fee params");
    let key = net.dev_key(0);
    let to = SecretKey::from_seed("e2e/crash/node").address();
    let before = tx_height(&net.submit_and_wait(0, &f.transfer(&key, 0, to, BLY)));

    net.kill9_node(3);
    let at_kill = net.height(0);
    // Three of four equal validators hold 75% of the power: blocks keep coming.
    net.wait_height(0, at_kill + 3);
    net.wait_height(1, at_kill + 3);
    // One account's transfers go to one node, in nonce order.
    let mut last = String::new();
    for n in 1..=5 {
        last = net.submit(1, &f.transfer(&key, n, to, BLY));
    }
    let outage = tx_height(&net.wait_committed(0, &last));

    net.restart_node(3);
    let target = net.app_height(0) + 2;
    net.wait_app_height(3, target);
    assert_agree(&net, 0, 3, before..=target);
    net.assert_state_matches_header(3, outage);

    // The restarted node takes part again: a transfer sent through it commits.
    let after = tx_height(&net.submit_and_wait(3, &f.transfer(&key, 6, to, BLY)));
    let common = net
        .wait_app_height(0, after)
        .min(net.wait_app_height(3, after));
    assert_eq!(balance(net.rpc(3), to, common).unwrap(), 7 * BLY);
    assert_eq!(balance(net.rpc(0), to, common).unwrap(), 7 * BLY);
}

#[test]
fn an_app_killed_under_its_cometbft_restarts_and_replays_to_the_same_app_hash() {
    let mut net = Localnet::start(4);
    let f = TxFactory::from_node(net.rpc(0)).expect("chain id and fee params");
    let key = net.dev_key(1);
    let to = SecretKey::from_seed("e2e/crash/app").address();
    let before = tx_height(&net.submit_and_wait(1, &f.transfer(&key, 0, to, BLY)));

    net.kill9_app(1);
    // What CometBFT v0.38 does when its app dies: the ABCI socket clients read EOF, it logs
    // "query connection terminated. Did the application crash? Please restart CometBFT"
    // and stops the whole node (the process exits). So both are restarted, app first.
    assert!(
        net.processes()
            .wait_exit(&comet_name(1), Duration::from_secs(10)),
        "node1/cometbft kept running without its app"
    );
    let at_kill = net.height(0);
    net.wait_height(0, at_kill + 3);
    let mut last = String::new();
    for n in 1..=5 {
        last = net.submit(2, &f.transfer(&key, n, to, BLY));
    }
    let outage = tx_height(&net.wait_committed(0, &last));

    net.restart_app(1);
    net.start_cometbft(1);
    let target = net.app_height(0) + 2;
    net.wait_app_height(1, target);
    let log = net.processes().tail(&comet_name(1), 400);
    let handshakes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ABCI Replay Blocks"))
        .collect();
    eprintln!("node1/cometbft handshakes: {handshakes:#?}");
    assert_agree(&net, 0, 1, before..=target);
    net.assert_state_matches_header(1, outage);

    let after = tx_height(&net.submit_and_wait(1, &f.transfer(&key, 6, to, BLY)));
    let common = net
        .wait_app_height(0, after)
        .min(net.wait_app_height(1, after));
    assert_eq!(balance(net.rpc(1), to, common).unwrap(), 7 * BLY);
    assert_eq!(balance(net.rpc(0), to, common).unwrap(), 7 * BLY);
}
