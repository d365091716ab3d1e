//! Double signing on a four-validator net, produced for real: a "twin" node (its own
//! `blyand` and `cometbft`, fresh home, same genesis) signs with a copy of validator 3's
//! consensus key. When validator 3 proposes, both instances propose (different blocks) and
//! each prevotes its own, so the honest nodes see two conflicting votes from one validator,
//! CometBFT turns them into DuplicateVoteEvidence, and a later block delivers it to the
//! app as FinalizeBlock `misbehavior`. The validator loses 10% of its bonded stake and of
//! the pending unbonding entries created at or after the infraction height (entries that
//! started unbonding before it were not at risk and keep all of their amount), is
//! tombstoned, leaves CometBFT's set, and can neither unjail nor take new stake.

use std::collections::BTreeMap;
use std::time::Duration;

use blyan_proto::params::StakingParams;
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, StakingMsg, BLY};
// Expected values with the tests' own arithmetic, not the runtime's.
use blyan_tests::math::mul_div_floor;
use blyan_tests::staking::{
    block_events, comet_power, comet_validators, delegations, find_block_event, num_attr, pool,
    staking_tx, unbonding, validator, Twin,
};
use blyan_tests::txs::{events, nonce, tx_height};
use blyan_tests::{wait_for, Localnet, TxFactory};

/// Each unbonding entry the test creates from validator 3.
const ENTRY: u128 = BLY / 2;

/// One undelegation: where it landed, when it completes, how much it holds.
#[derive(Debug, Clone, Copy)]
struct Entry {
    height: u64,
    completion: u64,
    amount: u128,
}

impl Entry {
    /// Whether a slash at the start of block `s` cuts it: it existed (created before `s`)
    /// and was not paid yet (it is paid at the end of its completion block).
    fn pending_at(&self, s: u64) -> bool {
        self.height < s && self.completion >= s
    }

    /// Whether the slash at the start of block `s` for an infraction at height
    /// `infraction` cuts it: pending then, and created at or after the infraction.
    fn cut_by(&self, s: u64, infraction: u64) -> bool {
        self.pending_at(s) && self.height >= infraction
    }
}

#[test]
fn a_double_signing_validator_is_slashed_ten_percent_tombstoned_and_removed_for_good() {
    let mut net = Localnet::start(4);
    let rpc = net.rpc(0).clone();
    let f = TxFactory::from_node(&rpc).expect("chain id and fee params");
    let p: StakingParams = rpc.query(&QueryPath::StakingParams).unwrap();
    assert_eq!(p.double_sign_slash_bps, 1_000);
    let v3 = net.operator(3);
    let v3s = v3.to_string();
    let key3 = net.node(3).consensus_pub_key.clone();
    let addr3 = comet_validators(&rpc, None)
        .unwrap()
        .into_iter()
        .find(|v| v.pub_key == key3)
        .expect("validator 3 in /validators")
        .address;
    let op3 = net.import_operator_key(3);
    let dev_name = net.import_dev_key(0);
    let dev = net.dev_key(0);
    let dev_addr = dev.address();

    // A delegation to validator 3 (it keeps under a third of the power: 13 of 43), and a
    // first unbonding entry from it.
    let d = net.cli_tx_ok(&[
        "tx", "staking", "delegate", &v3s, "3bly", "--from", &dev_name,
    ]);
    assert_eq!(validator(&rpc, v3, tx_height(&d)).tokens, 13 * BLY);
    let mut next_nonce = nonce(&rpc, dev_addr, 0).unwrap();
    let mut undelegate = |net: &Localnet| -> String {
        let tx = staking_tx(
            &f,
            &dev,
            next_nonce,
            vec![StakingMsg::Undelegate {
                validator: v3,
                amount: ENTRY,
            }],
        );
        next_nonce += 1;
        net.submit(0, &tx)
    };
    let mut hashes = vec![undelegate(&net)];
    net.wait_committed(0, &hashes[0]);

    // The twin: validator 3 now signs from two processes.
    let started_at = net.height(0);
    let twin = Twin::start(&mut net, 3).expect("starting the twin");
    let synced = twin
        .wait_synced(started_at, Duration::from_secs(30))
        .expect("the twin syncs");
    eprintln!("twin started at height {started_at}, synced at {synced}");

    // Until the evidence lands, keep an unbonding entry pending (each waits 20 blocks):
    // a new one every 7 blocks, so that whenever the slash comes, some entry is in flight.
    let mut last_entry_at = net.app_height(0);
    eprintln!("double signing possible from height {last_entry_at} on");
    let slashed_seen = wait_for(
        "validator 3 to be tombstoned",
        Duration::from_secs(75),
        || {
            let h = net.app_height(0);
            if validator(&rpc, v3, h).tombstoned {
                return Some(h);
            }
            if h >= last_entry_at + 7 && hashes.len() < 5 {
                eprintln!("height {h}: another unbonding entry");
                hashes.push(undelegate(&net));
                last_entry_at = h;
            }
            None
        },
    );
    assert!(
        net.processes().is_running(&twin.names[0]) && net.processes().is_running(&twin.names[1]),
        "the twin died"
    );
    let entries: Vec<Entry> = hashes
        .iter()
        .map(|h| {
            let t = net.wait_committed(0, h);
            let e = &events(&t, "undelegate")[0];
            Entry {
                height: tx_height(&t),
                completion: e["completion_height"].parse().unwrap(),
                amount: num_attr(e, "amount"),
            }
        })
        .collect();
    eprintln!("validator 3 tombstoned (seen at {slashed_seen}); entries {entries:?}");

    // The slash event, in the block that carried CometBFT's DuplicateVoteEvidence.
    let (s, ev) = find_block_event(&rpc, started_at, slashed_seen, "slash", |e| {
        e.get("validator") == Some(&v3s)
    })
    .expect("no slash event for validator 3");
    assert_eq!(ev["reason"], "double_sign");
    assert_eq!(ev["jailed_until"], u64::MAX.to_string());
    let block = rpc
        .call("block", serde_json::json!({"height": s.to_string()}))
        .unwrap();
    let evidence = block["block"]["evidence"]["evidence"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let dup = evidence
        .iter()
        .find(|e| e["type"] == "tendermint/DuplicateVoteEvidence")
        .unwrap_or_else(|| panic!("block {s} carries no DuplicateVoteEvidence: {evidence:?}"));
    let (a, b) = (&dup["value"]["vote_a"], &dup["value"]["vote_b"]);
    assert_eq!(a["validator_address"], addr3.as_str());
    assert_eq!(b["validator_address"], addr3.as_str());
    assert_eq!(
        (&a["height"], &a["round"], &a["type"]),
        (&b["height"], &b["round"], &b["type"])
    );
    assert_ne!(
        a["block_id"]["hash"], b["block_id"]["hash"],
        "the votes do not conflict"
    );
    let infraction = a["height"].as_str().unwrap_or_default().to_string();
    let proposer = rpc
        .call("block", serde_json::json!({"height": infraction}))
        .map(|b| b["block"]["header"]["proposer_address"].clone())
        .unwrap_or_default();
    eprintln!(
        "block {s}: DuplicateVoteEvidence of height {infraction} round {} type {}: {} vs {} \
         (block {infraction} proposed by {proposer}; validator 3 is {addr3})",
        a["round"], a["type"], a["block_id"]["hash"], b["block_id"]["hash"]
    );

    // 10% of the bonded stake and of every entry still pending at the slash and created at
    // or after the infraction height is burned; older entries keep all of their amount.
    let infraction: u64 = infraction.parse().expect("infraction height");
    let before = validator(&rpc, v3, s - 1);
    let after = validator(&rpc, v3, s);
    assert!(!before.tombstoned && after.tombstoned && after.jailed);
    assert_eq!(after.jailed_until, u64::MAX);
    let bps = u128::from(p.double_sign_slash_bps);
    let bonded_cut = mul_div_floor(before.tokens, bps, 10_000);
    let cut = |e: &Entry| mul_div_floor(e.amount, bps, 10_000);
    assert_eq!(mul_div_floor(ENTRY, bps, 10_000), ENTRY / 10);
    let pending: Vec<&Entry> = entries.iter().filter(|e| e.pending_at(s)).collect();
    assert!(
        !pending.is_empty(),
        "no unbonding entry was pending at the slash"
    );
    assert!(pending.iter().all(|e| e.amount == ENTRY));
    let unbonding_cut: u128 = pending
        .iter()
        .filter(|e| e.cut_by(s, infraction))
        .map(|e| cut(e))
        .sum();
    eprintln!(
        "{} entries pending at the slash, {} of them created at or after the infraction",
        pending.len(),
        pending.iter().filter(|e| e.cut_by(s, infraction)).count()
    );
    assert_eq!(num_attr(&ev, "burned"), bonded_cut + unbonding_cut);
    let undelegated_in_s: u128 = entries
        .iter()
        .filter(|e| e.height == s)
        .map(|e| e.amount)
        .sum();
    assert_eq!(after.tokens, before.tokens - bonded_cut - undelegated_in_s);
    let paid_at_s: u128 = pending
        .iter()
        .filter(|e| e.completion == s)
        .map(|e| {
            if e.cut_by(s, infraction) {
                e.amount - cut(e)
            } else {
                e.amount
            }
        })
        .sum();
    let (pool_before, pool_after) = (pool(&rpc, s - 1), pool(&rpc, s));
    assert_eq!(
        pool_after.unbonding,
        pool_before.unbonding - unbonding_cut - paid_at_s + undelegated_in_s
    );
    assert_eq!(
        pool_after.bonded,
        pool_before.bonded - bonded_cut - undelegated_in_s
    );

    // Each entry pays out what is left of it: slashed ones 90%, the others all of it.
    let now = net.app_height(0);
    let listed = unbonding(&rpc, dev_addr);
    for e in &entries {
        let want = if e.cut_by(s, infraction) {
            e.amount - cut(e)
        } else {
            e.amount
        };
        if e.completion <= now {
            let list = block_events(&rpc, e.completion).unwrap();
            let paid: Vec<BTreeMap<String, String>> = events(&list, "unbonding_complete")
                .into_iter()
                .filter(|x| x.get("delegator") == Some(&dev_addr.to_string()))
                .collect();
            assert_eq!(paid.len(), 1, "entry {e:?}: {paid:?}");
            assert_eq!(num_attr(&paid[0], "amount"), want, "entry {e:?}");
        } else {
            let l = listed
                .iter()
                .find(|l| l.completion_height == e.completion)
                .unwrap_or_else(|| panic!("entry {e:?} not listed: {listed:?}"));
            assert_eq!(l.amount, want, "entry {e:?}");
        }
    }
    // The delegator's remaining stake lost 10% with the validator.
    let del = delegations(&rpc, dev_addr);
    let v_now = validator(&rpc, v3, 0);
    let mine = del.iter().find(|d| d.validator == v3).expect("delegation");
    assert_eq!(
        mine.tokens,
        mul_div_floor(mine.shares, v_now.tokens, v_now.shares)
    );

    // Out of CometBFT's set for good, and only one slash.
    let gone = wait_for(
        "validator 3 to leave /validators",
        Duration::from_secs(30),
        || comet_power(&rpc, &key3).is_none().then(|| net.height(0)),
    );
    assert!(gone <= s + 3, "left the set only at {gone}");
    net.wait_height(0, gone + 2);
    assert!(
        find_block_event(&rpc, s + 1, net.app_height(0), "slash", |e| {
            e.get("validator") == Some(&v3s)
        })
        .is_none(),
        "slashed twice"
    );
    assert_eq!(comet_power(&rpc, &key3), None);

    // No way back, and no new stake.
    let (out, ok) = net.cli_tx(&["tx", "staking", "unjail", "--from", &op3]);
    assert!(
        !ok && out["code"] == ErrorCode::Tombstoned.as_u32(),
        "unjail: {out}"
    );
    let (out, ok) = net.cli_tx(&[
        "tx", "staking", "delegate", &v3s, "1bly", "--from", &dev_name,
    ]);
    assert!(
        !ok && out["code"] == ErrorCode::Tombstoned.as_u32(),
        "delegate: {out}"
    );
    let v = validator(&rpc, v3, 0);
    assert!(v.tombstoned && v.jailed && !v.active);
}
