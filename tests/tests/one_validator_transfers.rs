//! A one-validator net: transfers by the CLI and by a raw signed transaction commit, pay
//! exactly the documented fees, and can be found and proved afterwards.

use std::time::Duration;

use base64::Engine as _;
use blyan_proto::query::{PoolInfo, QueryPath};
use blyan_proto::{SecretKey, BLY};
use blyan_tests::txs::{attr, attr_u128, balance, nonce, query_at, tx_code, tx_height};
use blyan_tests::{Localnet, TxFactory};
use serde_json::Value;

/// What one committed transfer cost, read from its `fee` event and checked against the
/// gas schedule and the base fee stored for its block.
struct Paid {
    height: u64,
    burned: u128,
    tip: u128,
}

fn check_fee(net: &Localnet, f: &TxFactory, committed: &Value, tip_per_gas: u128) -> Paid {
    let rpc = net.rpc(0);
    assert_eq!(tx_code(committed), 0, "transfer failed: {committed}");
    let height = tx_height(committed);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(committed["tx"].as_str().expect("tx bytes"))
        .expect("base64 tx");
    let gas: u128 = committed["tx_result"]["gas_used"]
        .as_str()
        .and_then(|g| g.parse().ok())
        .expect("tx_result.gas_used");
    assert_eq!(
        gas,
        u128::from(f.gas(raw.len(), 1)),
        "gas = gas_per_tx + gas_per_byte * {} bytes + gas_per_bank_send",
        raw.len()
    );
    let base_fee: u128 = query_at(rpc, &QueryPath::BaseFee, height - 1).expect("base fee");
    let burned = attr_u128(committed, "fee", "burned");
    let tip = attr_u128(committed, "fee", "tip");
    assert_eq!(burned, gas * base_fee, "burned = gas_used * base fee");
    assert_eq!(tip, gas * tip_per_gas, "tip = gas_used * tip per gas");
    assert_eq!(
        attr(committed, "fee", "proposer"),
        Some(net.operator(0).to_string()),
        "the only validator proposed the block and gets the tip"
    );
    Paid {
        height,
        burned,
        tip,
    }
}

#[test]
fn a_cli_transfer_and_a_raw_signed_transfer_commit_with_exact_balances_and_fees() {
    let net = Localnet::start(1);
    let rpc = net.rpc(0);
    let url = net.node(0).rpc_url.clone();
    let f = TxFactory::from_node(rpc).expect("chain id and fee params");
    let key_name = net.import_dev_key(0);
    let sender = net.dev_accounts()[0].address;
    let recipient = SecretKey::from_seed("e2e/one-validator/recipient").address();
    let operator = net.operator(0);

    let h0 = net.app_height(0);
    let sender0 = balance(rpc, sender, h0).unwrap();
    let operator0 = balance(rpc, operator, h0).unwrap();
    let supply0: u128 = query_at(rpc, &QueryPath::Supply, h0).unwrap();
    let burned0: u128 = query_at(rpc, &QueryPath::Burned, h0).unwrap();
    let pool0: PoolInfo = query_at(rpc, &QueryPath::StakingPool, h0).unwrap();
    assert_eq!(sender0, net.dev_accounts()[0].balance);
    assert_eq!(balance(rpc, recipient, h0).unwrap(), 0);

    // 1. The CLI: `tx bank send --wait` signs with the keyring key and waits for the commit.
    let sent = net.cli_json(&[
        "tx",
        "bank",
        "send",
        "--from",
        &key_name,
        &recipient.to_string(),
        "1.5bly",
        "--node",
        &url,
        "--wait",
    ]);
    assert_eq!(sent["code"], 0, "{sent}");
    assert_eq!(sent["nonce"], 0);
    assert_eq!(sent["from"], sender.to_string());
    let cli_hash = sent["hash"].as_str().expect("hash").to_string();
    let cli_tx = rpc.tx(&cli_hash).unwrap().expect("indexed").raw;
    let first = check_fee(&net, &f, &cli_tx, blyan_tests::txs::DEFAULT_TIP);
    assert_eq!(sent["height"].as_u64(), Some(first.height));
    assert_eq!(attr(&cli_tx, "fee", "nonce").as_deref(), Some("0"));
    assert_eq!(attr(&cli_tx, "fee", "payer"), Some(sender.to_string()));

    // 2. A raw transaction built with blyan_proto and sent with broadcast_tx_sync.
    let amount2 = 2 * BLY + 7;
    let signed = f.transfer(&net.dev_key(0), 1, recipient, amount2);
    let resp = rpc.broadcast_tx_sync(&signed.to_bytes()).unwrap();
    assert_eq!(resp.code, 0, "CheckTx: {}", resp.log);
    assert_eq!(resp.hash, signed.hash().to_hex());
    let raw_tx = rpc
        .wait_tx(&resp.hash, Duration::from_secs(30))
        .unwrap()
        .raw;
    let second = check_fee(&net, &f, &raw_tx, blyan_tests::txs::DEFAULT_TIP);
    assert_eq!(
        attr(&raw_tx, "transfer", "amount"),
        Some(amount2.to_string())
    );
    assert_eq!(
        attr(&raw_tx, "transfer", "sender"),
        Some(sender.to_string())
    );

    // Exact balances, nonce, burn and supply after both, at the second one's height.
    let h = second.height;
    let amount1 = 15 * BLY / 10;
    let fees = first.burned + first.tip + second.burned + second.tip;
    let burned = first.burned + second.burned;
    assert_eq!(
        balance(rpc, sender, h).unwrap(),
        sender0 - amount1 - amount2 - fees
    );
    assert_eq!(balance(rpc, recipient, h).unwrap(), amount1 + amount2);
    assert_eq!(
        balance(rpc, operator, h).unwrap(),
        operator0 + first.tip + second.tip
    );
    assert_eq!(nonce(rpc, sender, h).unwrap(), 2);
    assert_eq!(
        query_at::<u128>(rpc, &QueryPath::Burned, h).unwrap(),
        burned0 + burned
    );
    // Block rewards minted in between came out of the emission reserve.
    let pool: PoolInfo = query_at(rpc, &QueryPath::StakingPool, h).unwrap();
    let minted = pool0.emission_reserve - pool.emission_reserve;
    assert!(minted > 0);
    assert_eq!(
        query_at::<u128>(rpc, &QueryPath::Supply, h).unwrap(),
        supply0 + minted - burned
    );
    let h_arg = h.to_string();
    let burned_cli = net.cli_json(&["query", "fees", "burned", "--height", &h_arg]);
    assert_eq!(burned_cli["burned"], (burned0 + burned).to_string());
    let supply_cli = net.cli_json(&["query", "bank", "supply", "--height", &h_arg]);
    assert_eq!(
        supply_cli["supply"],
        (supply0 + minted - burned).to_string()
    );
    let account = net.cli_json(&["query", "auth", "account", &sender.to_string()]);
    assert_eq!(account["nonce"], 2);

    // The event index finds both transfers by recipient (EIP-55 form, as in the events).
    let found = rpc
        .tx_search(&format!("transfer.recipient='{recipient}'"))
        .unwrap();
    let hashes: Vec<&str> = found.iter().filter_map(|t| t["hash"].as_str()).collect();
    assert_eq!(hashes, [cli_hash.as_str(), resp.hash.as_str()]);
    // And the sender's transactions by the fee event's payer (its signer); amounts are not
    // indexed.
    let sent_by = rpc.tx_search(&format!("fee.payer='{sender}'")).unwrap();
    let sent_hashes: Vec<&str> = sent_by.iter().filter_map(|t| t["hash"].as_str()).collect();
    assert_eq!(sent_hashes, [cli_hash.as_str(), resp.hash.as_str()]);
    assert!(rpc
        .tx_search(&format!("transfer.amount='{amount2}'"))
        .unwrap()
        .is_empty());

    // `query tx` decodes the committed transaction.
    let shown = net.cli_json(&["query", "tx", &resp.hash]);
    assert_eq!(shown["code"], 0);
    assert_eq!(shown["signer"], sender.to_string());
    assert_eq!(
        shown["height"].as_u64().map(|h| h.to_string()),
        Some(h_arg.clone())
    );
    assert_eq!(shown["tx"]["nonce"], 1);

    // A proved query verifies against the next header's app hash.
    let proved = net.cli_json(&[
        "query",
        "bank",
        "balance",
        &recipient.to_string(),
        "--prove",
    ]);
    assert_eq!(proved["proof"]["verified"], true, "{proved}");
    assert_eq!(proved["balance"], (amount1 + amount2).to_string());
    let absent = SecretKey::from_seed("e2e/never-funded")
        .address()
        .to_string();
    let proved_absent = net.cli_json(&["query", "bank", "balance", &absent, "--prove"]);
    assert_eq!(proved_absent["proof"]["verified"], true);
    assert_eq!(proved_absent["balance"], "0");

    // Historical queries return the older state.
    let old = net.cli_json(&[
        "query",
        "bank",
        "balance",
        &sender.to_string(),
        "--height",
        &h0.to_string(),
    ]);
    assert_eq!(old["balance"], sender0.to_string());
    let mid = (first.height).to_string();
    let mid_balance = net.cli_json(&[
        "query",
        "bank",
        "balance",
        &recipient.to_string(),
        "--height",
        &mid,
    ]);
    assert_eq!(mid_balance["balance"], amount1.to_string());

    // The app's Prometheus page reports the height.
    let metrics = net.app_metrics(0);
    let reported: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("blyan_block_height "))
        .unwrap_or_else(|| panic!("no blyan_block_height in:\n{metrics}"))
        .trim()
        .parse()
        .expect("a number");
    assert!(reported >= h, "metrics height {reported} < {h}");
}
