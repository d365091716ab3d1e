//! Downtime on a four-validator net: a validator whose processes are killed misses more of
//! the signing window than allowed, is slashed 0.1% and jailed, and leaves CometBFT's set
//! while the chain goes on; unjailing is refused until its jail time is over, then brings
//! it back with its (slashed) power, and it signs again.

use std::time::Duration;

use blyan_proto::params::StakingParams;
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, BLY};
// Expected values with the tests' own arithmetic, not the runtime's.
use blyan_tests::math::mul_div_floor;
use blyan_tests::staking::{comet_power, find_block_event, num_attr, validator};
use blyan_tests::txs::{attr, tx_height};
use blyan_tests::{wait_for, Localnet};

#[test]
fn a_validator_down_for_most_of_the_window_is_slashed_jailed_and_can_unjail_after_its_jail_time() {
    let mut net = Localnet::start(4);
    let p: StakingParams = net.rpc(0).query(&QueryPath::StakingParams).unwrap();
    assert_eq!((p.signed_blocks_window, p.min_signed_bps), (20, 5_000));
    assert_eq!((p.downtime_slash_bps, p.downtime_jail_blocks), (10, 10));
    let v3 = net.operator(3);
    let v3s = v3.to_string();
    let key3 = net.node(3).consensus_pub_key.clone();
    let op3 = net.import_operator_key(3);
    assert_eq!(comet_power(net.rpc(0), &key3), Some(10));
    let tokens = validator(net.rpc(0), v3, 0).tokens;
    assert_eq!(tokens, 10 * BLY);

    net.kill9_node(3);
    let killed_at = net.height(0);
    eprintln!("node3 killed at height {killed_at}");

    // Jailed once more than half of a full window is missed. Unjailing right away is
    // refused: the jail time is not over.
    let jailed_seen = wait_for("validator 3 to be jailed", Duration::from_secs(90), || {
        let h = net.app_height(0);
        let v = validator(net.rpc(0), v3, h);
        v.jailed.then_some((h, v))
    });
    let (seen_at, jailed) = jailed_seen;
    let (early, ok) = net.cli_tx(&["tx", "staking", "unjail", "--from", &op3]);
    assert!(!ok, "unjail before the jail time succeeded: {early}");
    assert_eq!(early["code"], ErrorCode::StillJailed.as_u32(), "{early}");
    assert!(
        net.app_height(0) + 1 < jailed.jailed_until,
        "the early unjail was not early"
    );
    eprintln!(
        "jailed (seen at {seen_at}), until {}; early unjail: {}",
        jailed.jailed_until, early["log"]
    );

    // The slash: one `slash` event in the block that jailed it, 0.1% burned (floor).
    let (hs, ev) = find_block_event(net.rpc(0), killed_at, seen_at, "slash", |e| {
        e.get("validator") == Some(&v3s)
    })
    .expect("no slash event for validator 3");
    assert_eq!(ev["reason"], "downtime");
    let burned = num_attr(&ev, "burned");
    assert_eq!(
        burned,
        mul_div_floor(tokens, u128::from(p.downtime_slash_bps), 10_000)
    );
    assert_eq!(burned, tokens / 1000, "0.1%");
    let jailed_until = u64::try_from(num_attr(&ev, "jailed_until")).unwrap();
    assert_eq!(jailed_until, hs + p.downtime_jail_blocks);
    assert_eq!(jailed.jailed_until, jailed_until);
    let before = validator(net.rpc(0), v3, hs - 1);
    let after = validator(net.rpc(0), v3, hs);
    assert!(!before.jailed && after.jailed);
    assert_eq!(before.tokens, tokens);
    assert_eq!(after.tokens, tokens - burned);
    assert_eq!(
        after.shares, before.shares,
        "shares stay, each is worth less"
    );
    assert_eq!(after.power, 9, "9.99 BLY of stake is 9 units of power");
    let missed = hs - killed_at;
    assert!(
        missed > p.signed_blocks_window / 2,
        "jailed after only {missed} blocks down"
    );
    eprintln!("slashed at height {hs} ({missed} blocks after the kill), burned {burned}");

    // It left CometBFT's set; the other three go on.
    let gone_at = wait_for(
        "validator 3 to leave /validators",
        Duration::from_secs(30),
        || {
            comet_power(net.rpc(0), &key3)
                .is_none()
                .then(|| net.height(0))
        },
    );
    assert!(gone_at <= hs + 3, "left the set only at {gone_at}");
    net.wait_height(0, gone_at + 3);
    net.wait_height(1, gone_at + 3);

    // Back up: the node catches up while jailed, then unjails once the jail time is over.
    net.restart_node(3);
    net.wait_app_height(0, jailed_until);
    let u = net.cli_tx_ok(&["tx", "staking", "unjail", "--from", &op3]);
    let hu = tx_height(&u);
    assert!(hu >= jailed_until);
    assert_eq!(attr(&u, "unjail", "validator"), Some(v3s.clone()));
    let back = validator(net.rpc(0), v3, hu);
    assert!(!back.jailed && back.active);
    assert_eq!(back.tokens, tokens - burned);
    let power = wait_for(
        "validator 3 back in /validators",
        Duration::from_secs(30),
        || comet_power(net.rpc(0), &key3),
    );
    assert_eq!(power, back.power);
    assert_eq!(power, 9);

    // And it signs again: a later commit carries its signature.
    let addr3 = wait_for("node3's consensus address", Duration::from_secs(5), || {
        blyan_tests::staking::comet_validators(net.rpc(0), None)
            .ok()?
            .into_iter()
            .find(|v| v.pub_key == key3)
            .map(|v| v.address)
    });
    let signed_at = wait_for("a commit signed by node3", Duration::from_secs(60), || {
        let h = net.height(0);
        let c = net
            .rpc(0)
            .call("commit", serde_json::json!({"height": (h - 1).to_string()}))
            .ok()?;
        let sigs = c["signed_header"]["commit"]["signatures"]
            .as_array()?
            .clone();
        sigs.iter()
            .any(|s| s["validator_address"] == addr3.as_str() && s["block_id_flag"] == 2)
            .then_some(h - 1)
    });
    assert!(validator(net.rpc(0), v3, 0).active);
    eprintln!("unjailed at {hu}; node3 signed block {signed_at}");
}
