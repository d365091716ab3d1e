//! State sync on a four-validator net: the validators take a snapshot every 10 blocks; a
//! fifth node that joins later restores the newest snapshot (checked against the app hash
//! CometBFT's light client trusts) instead of replaying from genesis, then block-syncs to
//! the tip and keeps agreeing with the validators.

use std::time::{Duration, Instant};

use blyan_proto::query::{QueryPath, QUERY_HEIGHT_UNAVAILABLE};
use blyan_proto::{Address, SecretKey, BLY};
use blyan_tests::txs::{balance, nonce, tx_height};
use blyan_tests::{wait_for, Localnet, LocalnetOptions, TxFactory};

const VALIDATORS: usize = 4;
const INTERVAL: u64 = 10;
const SENDERS: usize = 4;
const TXS_PER_SENDER: u64 = 6;

/// The first height `blyand` logs for its store after restoring a snapshot.
fn restored_height(log: &str) -> Option<u64> {
    let marker = "first height of this store is ";
    let at = log.find(marker)? + marker.len();
    let digits: String = log[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[test]
fn a_new_node_state_syncs_from_a_snapshot_then_block_syncs_to_the_tip() {
    let started = Instant::now();
    let mut opts = LocalnetOptions::new(VALIDATORS);
    opts.dev_accounts = SENDERS;
    opts.snapshot_interval = INTERVAL;
    let mut net = Localnet::start_with(opts);
    let f = TxFactory::from_node(net.rpc(0)).expect("chain id and fee params");

    // Transfers before the snapshot: sender j sends to its own recipient through node j.
    let recipients: Vec<Address> = (0..SENDERS)
        .map(|j| SecretKey::from_seed(&format!("e2e/state-sync/{j}")).address())
        .collect();
    let mut last = Vec::new();
    for (j, to) in recipients.iter().enumerate() {
        let key = net.dev_key(j);
        for n in 0..TXS_PER_SENDER {
            let hash = net.submit(j, &f.transfer(&key, n, *to, BLY));
            if n + 1 == TXS_PER_SENDER {
                last.push((j, hash));
            }
        }
    }
    let last_tx = last
        .iter()
        .map(|(j, h)| tx_height(&net.wait_committed(*j, h)))
        .max()
        .expect("transfers");

    // Wait past a snapshot height above the transfers, on every validator, and until the
    // light client can verify it (it needs the two headers after it).
    let snapshot = (last_tx / INTERVAL + 1) * INTERVAL;
    for i in 0..VALIDATORS {
        net.wait_app_height(i, snapshot + 2);
        wait_for(
            &format!("node{i} to take snapshot {snapshot}"),
            Duration::from_secs(30),
            || net.snapshot_heights(i).contains(&snapshot).then_some(()),
        );
        assert!(net.snapshot_heights(i).iter().all(|h| h % INTERVAL == 0));
    }
    eprintln!(
        "transfers committed by height {last_tx}; snapshot {snapshot} taken ({:.1?})",
        started.elapsed()
    );

    // The fifth node joins by state sync with an empty data directory.
    let joined_at = Instant::now();
    let new = net.add_full_node(true);
    assert_eq!(new, VALIDATORS);
    let synced = wait_for(
        "the new node to restore a snapshot and catch up",
        Duration::from_secs(180),
        || {
            let status = net.rpc(new).call("status", serde_json::json!({})).ok()?;
            let catching_up = status["sync_info"]["catching_up"].as_bool()?;
            let h = net.try_app_height(new).ok()?;
            (!catching_up && h + 3 >= net.app_height(0)).then_some(h)
        },
    );
    eprintln!(
        "node{new} caught up at height {synced} in {:.1?}",
        joined_at.elapsed()
    );

    // It restored a snapshot rather than replaying from genesis: its store starts at a
    // snapshot height, InitChain never ran, CometBFT says so too.
    let app_log = net.app_log(new);
    let first = restored_height(&app_log)
        .unwrap_or_else(|| panic!("node{new}'s blyand never restored a snapshot:\n{app_log}"));
    assert!(first >= snapshot, "restored {first}, older than {snapshot}");
    assert_eq!(
        first % INTERVAL,
        0,
        "restored {first}, not a snapshot height"
    );
    assert!(!app_log.contains("genesis written"), "InitChain ran");
    let comet_log = net.cometbft_log(new);
    assert!(
        comet_log.contains("Snapshot restored") && comet_log.contains(&format!("height={first}")),
        "CometBFT did not report restoring snapshot {first}"
    );
    eprintln!("node{new} restored snapshot {first}, then block-synced to {synced}");
    let line = |log: &str, what: &str| {
        log.lines()
            .find(|l| l.contains(what))
            .unwrap_or_default()
            .to_string()
    };
    eprintln!(
        "  node{new}: {}",
        line(&app_log, "restored state from snapshot")
    );
    eprintln!("  node0: {}", line(&net.app_log(0), "snapshot taken"));

    // Heights below the snapshot were never on the new node; the validators answer them.
    let below = first - 1;
    let q = net
        .rpc(new)
        .at_height(below)
        .abci_query(&QueryPath::ChainId, false)
        .expect("query");
    assert_eq!(q.code, QUERY_HEIGHT_UNAVAILABLE, "{}", q.log);
    assert!(q.log.contains("no longer available"), "{}", q.log);
    for i in 0..VALIDATORS {
        let q = net
            .rpc(i)
            .at_height(below)
            .abci_query(&QueryPath::ChainId, false)
            .expect("query");
        assert_eq!(q.code, 0, "node{i} at {below}: {}", q.log);
    }

    // The restored state holds the transfers, and every later block the new node executed
    // itself agrees with the validators: same app hashes, and its own store proves the
    // state each header commits to.
    for (j, to) in recipients.iter().enumerate() {
        let expected = u128::from(TXS_PER_SENDER) * BLY;
        assert_eq!(balance(net.rpc(new), *to, first).unwrap(), expected);
        assert_eq!(
            nonce(net.rpc(new), net.dev_accounts()[j].address, first).unwrap(),
            TXS_PER_SENDER
        );
    }
    let tip = net.wait_app_height(new, synced + 1);
    for h in [first, first + 1, tip - 1] {
        assert_eq!(
            net.app_hash_at(new, h),
            net.app_hash_at(0, h),
            "node{new} differs at {h}"
        );
        net.assert_state_matches_header(new, h);
    }

    // It takes part in the chain: a transfer sent through it commits everywhere, and it
    // takes snapshots of its own.
    let key = net.dev_key(0);
    let after =
        tx_height(&net.submit_and_wait(new, &f.transfer(&key, TXS_PER_SENDER, recipients[0], BLY)));
    let common = net
        .wait_app_height(0, after)
        .min(net.wait_app_height(new, after));
    let expected = u128::from(TXS_PER_SENDER + 1) * BLY;
    assert_eq!(
        balance(net.rpc(new), recipients[0], common).unwrap(),
        expected
    );
    assert_eq!(
        balance(net.rpc(0), recipients[0], common).unwrap(),
        expected
    );
    let next_snapshot = (tip / INTERVAL + 1) * INTERVAL;
    net.wait_app_height(new, next_snapshot);
    wait_for(
        "the new node to take a snapshot of its own",
        Duration::from_secs(30),
        || {
            net.snapshot_heights(new)
                .contains(&next_snapshot)
                .then_some(())
        },
    );

    // It becomes a validator: a funded operator bonds 5 BLY behind the new node's consensus
    // key, and CometBFT's /validators lists it with voting power 5 within a few blocks.
    let operator = SecretKey::from_seed("e2e/state-sync/operator");
    let fund = f.transfer(
        &net.dev_key(1),
        TXS_PER_SENDER,
        operator.address(),
        20 * BLY,
    );
    net.submit_and_wait(0, &fund);
    let op_hex = format!("0x{}", hex::encode(operator.to_bytes()));
    net.cli_json(&["keys", "import", "op-new", "--private-key", &op_hex]);
    let home = net.home(new);
    let created = net.cli_json(&[
        "tx",
        "staking",
        "create-validator",
        "--from",
        "op-new",
        "--node-home",
        home.to_str().expect("utf-8 home"),
        "--moniker",
        "joined-by-state-sync",
        "--self-stake",
        "5bly",
        "--wait",
    ]);
    assert_eq!(created["code"], 0, "{created}");
    let pv: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("config/priv_validator_key.json")).expect("key file"),
    )
    .expect("key json");
    let key = pv["pub_key"]["value"]
        .as_str()
        .expect("pub key")
        .to_string();
    let power = wait_for(
        "the new validator in CometBFT's /validators",
        Duration::from_secs(30),
        || {
            let r = net.rpc(0).call("validators", serde_json::json!({})).ok()?;
            r["validators"]
                .as_array()?
                .iter()
                .find(|v| v["pub_key"]["value"].as_str() == Some(key.as_str()))
                .map(|v| v["voting_power"].as_str().unwrap_or_default().to_string())
        },
    );
    assert_eq!(power, "5", "voting power of a 5 BLY self-stake");
    eprintln!("node{new} is now a validator with power {power}");
    eprintln!("state sync test done in {:.1?}", started.elapsed());
}
