//! A delegation's whole life on a two-validator net, through the CLI: delegate, earn
//! rewards block by block (exactly as the accumulator says), withdraw them (and the
//! operator's commission), redelegate, undelegate and get the stake back after exactly the
//! unbonding period; the bonded pool always holds the validators' tokens.

use blyan_proto::params::StakingParams;
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, BLY};
use blyan_tests::math::mul_div_floor;
use blyan_tests::staking::{
    block_events, delegations, find_block_event, net_fee, pool, rewards, unbonding, validator,
    validators,
};
use blyan_tests::txs::{attr, attr_u128, balance, events, tx_height};
use blyan_tests::Localnet;
use serde_json::Value;

/// A `u128` the CLI printed as a decimal string.
fn cli_u128(v: &Value) -> u128 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
}

/// The fixed-point unit of the chain's reward-per-share accumulator (10^18), as the
/// staking module documents it; written here, not imported from the runtime.
const SCALE: u128 = 1_000_000_000_000_000_000;

/// The validation reward minted per block: the validators' part of the yearly emission
/// spread over the blocks of a year, both divisions rounding down, computed here from the
/// chain's parameters rather than by the parameters' own helper.
fn validation_reward_per_block(p: &StakingParams) -> u128 {
    p.max_annual_emission * u128::from(p.validation_reward_bps)
        / 10_000
        / u128::from(p.blocks_per_year.max(1))
}

/// The bonded pool holds exactly the validators' tokens at height `h`.
fn assert_bonded_is_sum_of_tokens(net: &Localnet, h: u64) {
    let rpc = net.rpc(0);
    let sum: u128 = (0..net.size())
        .map(|i| validator(rpc, net.operator(i), h).tokens)
        .sum();
    assert_eq!(
        pool(rpc, h).bonded,
        sum,
        "bonded pool vs validator tokens at {h}"
    );
}

/// The per-block reward of a validator holding `power` of `total`, split into commission
/// and the increase of its reward-per-share (`shares` outstanding), as the chain computes
/// them.
fn per_block(
    p: &StakingParams,
    power: u128,
    total: u128,
    commission_bps: u128,
    shares: u128,
) -> (u128, u128) {
    let share = mul_div_floor(validation_reward_per_block(p), power, total);
    let commission = mul_div_floor(share, commission_bps, 10_000);
    (commission, mul_div_floor(share - commission, SCALE, shares))
}

#[test]
fn delegate_earn_withdraw_redelegate_undelegate_and_get_the_stake_back() {
    let net = Localnet::start(2);
    let rpc = net.rpc(0);
    let p: StakingParams = rpc.query(&QueryPath::StakingParams).unwrap();
    let (v0, v1) = (net.operator(0), net.operator(1));
    let (v0s, v1s) = (v0.to_string(), v1.to_string());
    let dev = net.import_dev_key(0);
    let dev_addr: Address = net.dev_accounts()[0].address;
    let devs = dev_addr.to_string();
    let op0 = net.import_operator_key(0);
    assert!(
        validation_reward_per_block(&p) > 0,
        "no block rewards to earn"
    );

    // Delegate 100 BLY to validator 0.
    let d = net.cli_tx_ok(&["tx", "staking", "delegate", &v0s, "100bly", "--from", &dev]);
    let hd = tx_height(&d);
    let ev = &events(&d, "delegate")[0];
    assert_eq!(ev["delegator"], devs);
    assert_eq!(ev["validator"], v0s);
    assert_eq!(ev["amount"], (100 * BLY).to_string());
    assert_eq!(
        balance(rpc, dev_addr, hd).unwrap(),
        balance(rpc, dev_addr, hd - 1).unwrap() - 100 * BLY - net_fee(&d, dev_addr)
    );
    let v0_at_d = validator(rpc, v0, hd);
    assert_eq!(
        v0_at_d.tokens,
        validator(rpc, v0, hd - 1).tokens + 100 * BLY
    );
    assert_eq!(v0_at_d.tokens, 110 * BLY);
    assert_eq!(v0_at_d.power, 110);
    assert_eq!(pool(rpc, hd).bonded, pool(rpc, hd - 1).bonded + 100 * BLY);
    assert_bonded_is_sum_of_tokens(&net, hd);
    let dels = delegations(rpc, dev_addr);
    assert_eq!(dels.len(), 1);
    assert_eq!((dels[0].validator, dels[0].tokens), (v0, 100 * BLY));
    let del_shares = dels[0].shares;

    // Rewards grow every block by the delegation's part of validator 0's reward (110 of
    // the 120 units of power, less 5% commission, 100 of its 110 BLY of shares).
    let (commission_per_block, rps_per_block) = per_block(
        &p,
        110,
        120,
        u128::from(v0_at_d.commission_bps),
        v0_at_d.shares,
    );
    let expected = |h: u64| mul_div_floor(del_shares, u128::from(h - hd) * rps_per_block, SCALE);
    net.wait_app_height(0, hd + 4);
    let mut last = 0;
    for h in hd + 1..=hd + 4 {
        let r = net.cli_json(&[
            "query",
            "staking",
            "rewards",
            &devs,
            &v0s,
            "--height",
            &h.to_string(),
        ]);
        assert_eq!(r["height"], h);
        let now = cli_u128(&r["result"]["rewards"]);
        assert_eq!(
            cli_u128(&r["result"]["commission"]),
            0,
            "a delegator earns no commission"
        );
        assert!(
            now > last,
            "rewards did not grow at {h}: {now} after {last}"
        );
        assert_eq!(now, expected(h), "rewards at {h}");
        last = now;
    }

    // Withdraw: the event says what was paid, the balance moves by exactly that less the fee.
    let w = net.cli_tx_ok(&["tx", "staking", "withdraw-rewards", &v0s, "--from", &dev]);
    let hw = tx_height(&w);
    let paid = attr_u128(&w, "withdraw_rewards", "rewards");
    assert_eq!(attr_u128(&w, "withdraw_rewards", "commission"), 0);
    assert_eq!(
        attr(&w, "withdraw_rewards", "delegator"),
        Some(devs.clone())
    );
    assert_eq!(
        paid,
        expected(hw),
        "withdrawn = everything earned up to block {hw}"
    );
    assert!(paid > rewards(rpc, dev_addr, v0, hw - 1).rewards);
    assert_eq!(
        balance(rpc, dev_addr, hw).unwrap(),
        balance(rpc, dev_addr, hw - 1).unwrap() + paid - net_fee(&w, dev_addr)
    );
    assert_eq!(
        rewards(rpc, dev_addr, v0, hw).rewards,
        0,
        "nothing left after withdrawing"
    );
    let minted = attr_u128(&block_events(rpc, hw).unwrap(), "block_rewards", "minted");
    let budget = validation_reward_per_block(&p);
    assert_eq!(
        minted,
        mul_div_floor(budget, 110, 120) + mul_div_floor(budget, 10, 120)
    );
    assert_eq!(
        pool(rpc, hw).rewards,
        pool(rpc, hw - 1).rewards + minted - paid,
        "the rewards pool paid exactly the withdrawal"
    );

    // The operator withdraws its commission (and its self-stake's rewards).
    let accrued_before = validator(rpc, v0, net.app_height(0)).commission_accrued;
    assert!(accrued_before > 0, "validator 0 accrued no commission");
    let o = net.cli_tx_ok(&["tx", "staking", "withdraw-rewards", &v0s, "--from", &op0]);
    let ho = tx_height(&o);
    let commission = attr_u128(&o, "withdraw_rewards", "commission");
    let own = attr_u128(&o, "withdraw_rewards", "rewards");
    assert_eq!(
        commission,
        validator(rpc, v0, ho - 1).commission_accrued + commission_per_block,
        "commission = accrued up to {} plus block {ho}'s",
        ho - 1
    );
    assert!(own > 0, "the self-stake earned nothing");
    assert_eq!(validator(rpc, v0, ho).commission_accrued, 0);
    assert_eq!(
        balance(rpc, v0, ho).unwrap(),
        balance(rpc, v0, ho - 1).unwrap() + own + commission - net_fee(&o, v0)
    );

    // Redelegate 30 BLY to validator 1: bonded stake moves at once.
    let r = net.cli_tx_ok(&[
        "tx",
        "staking",
        "redelegate",
        &v0s,
        &v1s,
        "30bly",
        "--from",
        &dev,
    ]);
    let hr = tx_height(&r);
    let ev = &events(&r, "redelegate")[0];
    assert_eq!((&ev["from"], &ev["to"]), (&v0s, &v1s));
    assert_eq!(ev["amount"], (30 * BLY).to_string());
    assert_eq!(
        validator(rpc, v0, hr).tokens,
        validator(rpc, v0, hr - 1).tokens - 30 * BLY
    );
    assert_eq!(
        validator(rpc, v1, hr).tokens,
        validator(rpc, v1, hr - 1).tokens + 30 * BLY
    );
    assert_eq!(
        (validator(rpc, v0, hr).tokens, validator(rpc, v1, hr).tokens),
        (80 * BLY, 40 * BLY)
    );
    assert_eq!(pool(rpc, hr).bonded, pool(rpc, hr - 1).bonded);
    assert_bonded_is_sum_of_tokens(&net, hr);
    let mut dels: Vec<(Address, u128)> = delegations(rpc, dev_addr)
        .iter()
        .map(|d| (d.validator, d.tokens))
        .collect();
    dels.sort();
    let mut want = vec![(v0, 70 * BLY), (v1, 30 * BLY)];
    want.sort();
    assert_eq!(dels, want);

    // Undelegate 20 BLY from validator 0: it waits exactly `unbonding_blocks`.
    let balance_before = balance(rpc, dev_addr, net.app_height(0)).unwrap();
    let u = net.cli_tx_ok(&["tx", "staking", "undelegate", &v0s, "20bly", "--from", &dev]);
    let hu = tx_height(&u);
    let completion: u64 = attr(&u, "undelegate", "completion_height")
        .and_then(|s| s.parse().ok())
        .expect("completion_height");
    assert_eq!(completion, hu + p.unbonding_blocks);
    assert_eq!(attr_u128(&u, "undelegate", "amount"), 20 * BLY);
    let after_undelegate = balance(rpc, dev_addr, hu).unwrap();
    assert_eq!(after_undelegate, balance_before - net_fee(&u, dev_addr));
    assert_eq!(validator(rpc, v0, hu).tokens, 60 * BLY);
    assert_eq!(pool(rpc, hu).unbonding, 20 * BLY);
    assert_eq!(pool(rpc, hu).bonded, pool(rpc, hu - 1).bonded - 20 * BLY);
    assert_bonded_is_sum_of_tokens(&net, hu);
    // The entry is listed while it waits (the CLI, at the latest height).
    let listed = net.cli_json(&["query", "staking", "unbonding", &devs]);
    let at: u64 = listed["height"].as_u64().unwrap();
    assert!(at < completion, "the unbonding period passed too soon");
    let entries = listed["result"].as_array().expect("a list");
    assert_eq!(entries.len(), 1, "{listed}");
    assert_eq!(entries[0]["validator"], v0s);
    assert_eq!(cli_u128(&entries[0]["amount"]), 20 * BLY);
    assert_eq!(entries[0]["completion_height"], completion);

    // Nothing comes back before the completion height; all of it at it.
    net.wait_app_height(0, completion);
    let cli_balance = |h: u64| {
        let v = net.cli_json(&[
            "query",
            "bank",
            "balance",
            &devs,
            "--height",
            &h.to_string(),
        ]);
        assert_eq!(v["height"], h);
        cli_u128(&v["balance"])
    };
    assert_eq!(cli_balance(completion - 1), after_undelegate);
    assert_eq!(
        balance(rpc, dev_addr, completion - 1).unwrap(),
        after_undelegate
    );
    assert_eq!(
        balance(rpc, dev_addr, completion).unwrap(),
        after_undelegate + 20 * BLY,
        "the unbonded stake is paid at the end of block {completion}"
    );
    let (h, ev) = find_block_event(rpc, hu, completion, "unbonding_complete", |e| {
        e.get("delegator") == Some(&devs)
    })
    .expect("no unbonding_complete event");
    assert_eq!(h, completion);
    assert_eq!(ev["validator"], v0s);
    assert_eq!(ev["amount"], (20 * BLY).to_string());
    assert!(unbonding(rpc, dev_addr).is_empty());
    assert_eq!(pool(rpc, completion).unbonding, 0);
    assert_bonded_is_sum_of_tokens(&net, completion);

    // The CLI's pool and validator list agree at one height.
    let (pool_cli, list_cli) = loop {
        let a = net.cli_json(&["query", "staking", "pool"]);
        let b = net.cli_json(&["query", "staking", "validators"]);
        if a["height"] == b["height"] {
            break (a, b);
        }
    };
    let sum: u128 = list_cli["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| cli_u128(&v["tokens"]))
        .sum();
    assert_eq!(cli_u128(&pool_cli["result"]["bonded"]), sum);
    assert_eq!(validators(rpc).len(), 2);
}
