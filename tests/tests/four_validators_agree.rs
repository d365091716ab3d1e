//! Four validators execute hundreds of transfers from several accounts, spread over all
//! four nodes, and agree on the state at every height; the supply shrinks by exactly the
//! burned fees.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use blyan_genesis::localnet::{OPERATOR_BALANCE, VALIDATOR_POWER};
use blyan_proto::query::{PoolInfo, QueryPath};
use blyan_proto::{Address, SecretKey, SignedTx, BLY};
use blyan_tests::txs::{attr, attr_u128, balance, nonce, query_at, tx_height};
use blyan_tests::{wait_for, Localnet, LocalnetOptions, TxFactory};

const NODES: usize = 4;
const SENDERS: usize = 8;
const TXS_PER_SENDER: u64 = 64;
const RECIPIENTS: usize = 20;

#[test]
fn four_validators_commit_512_transfers_and_agree_on_every_app_hash() {
    let mut opts = LocalnetOptions::new(NODES);
    opts.dev_accounts = SENDERS;
    let net = Localnet::start_with(opts);
    let f = TxFactory::from_node(net.rpc(0)).expect("chain id and fee params");
    let recipients: Vec<Address> = (0..RECIPIENTS)
        .map(|r| SecretKey::from_seed(&format!("e2e/four/recipient/{r}")).address())
        .collect();

    // Sign everything locally: sender j's k-th transfer goes to recipient (7j + k) % 20.
    let amount = |j: usize, k: u64| (j as u128 * 1_000 + u128::from(k) + 1) * 1_000_000_000_000;
    let signed: Vec<Vec<SignedTx>> = (0..SENDERS)
        .map(|j| {
            let key = net.dev_key(j);
            (0..TXS_PER_SENDER)
                .map(|k| {
                    let to = recipients[(7 * j + k as usize) % RECIPIENTS];
                    f.transfer(&key, k, to, amount(j, k))
                })
                .collect()
        })
        .collect();

    // Sender j's transactions all go to node j % 4, in nonce order; one thread per node.
    let hashes: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..NODES)
            .map(|node| {
                let (net, signed) = (&net, &signed);
                s.spawn(move || {
                    let mine: Vec<usize> = (node..SENDERS).step_by(NODES).collect();
                    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
                    // Interleave the senders, each in nonce order.
                    let order = (0..TXS_PER_SENDER as usize)
                        .flat_map(|k| mine.iter().map(move |&j| (j, k)));
                    for (j, k) in order {
                        let hash = net.submit(node, &signed[j][k]);
                        out.entry(j).or_default().push(hash);
                    }
                    out
                })
            })
            .collect();
        let mut all: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for h in handles {
            all.extend(h.join().expect("sender thread"));
        }
        all.into_values().collect()
    });

    // Wait until every sender's nonce shows all its transfers committed.
    wait_for(
        "all 512 transfers to commit",
        Duration::from_secs(120),
        || {
            (0..SENDERS)
                .all(|j| {
                    nonce(net.rpc(0), net.dev_accounts()[j].address, 0).ok() == Some(TXS_PER_SENDER)
                })
                .then_some(())
        },
    );

    // Every transfer succeeded; tally what each cost and who got the tips.
    let mut burned_total = 0u128;
    let mut tips_by_proposer: BTreeMap<String, u128> = BTreeMap::new();
    let mut spent = [0u128; SENDERS];
    let mut received: BTreeMap<Address, u128> = BTreeMap::new();
    let mut last_tx_height = 0;
    let mut tx_heights = BTreeSet::new();
    for (j, list) in hashes.iter().enumerate() {
        for (k, hash) in list.iter().enumerate() {
            let t = net.wait_committed((j + k) % NODES, hash);
            let (burned, tip) = (attr_u128(&t, "fee", "burned"), attr_u128(&t, "fee", "tip"));
            let proposer = attr(&t, "fee", "proposer").expect("fee.proposer");
            burned_total += burned;
            *tips_by_proposer.entry(proposer).or_default() += tip;
            let sent = attr_u128(&t, "transfer", "amount");
            assert_eq!(sent, amount(j, k as u64));
            spent[j] += sent + burned + tip;
            *received
                .entry(recipients[(7 * j + k) % RECIPIENTS])
                .or_default() += sent;
            last_tx_height = last_tx_height.max(tx_height(&t));
            tx_heights.insert(tx_height(&t));
        }
    }
    eprintln!(
        "512 transfers committed in {} blocks, last at height {last_tx_height}",
        tx_heights.len()
    );

    // Every node reports the same app hash at every height, and each node's own store
    // holds exactly that state.
    let tip = (0..NODES)
        .map(|i| net.wait_app_height(i, last_tx_height + 1))
        .min()
        .expect("nodes")
        - 1;
    for h in 1..=tip {
        let reference = net.app_hash_at(0, h);
        for i in 1..NODES {
            assert_eq!(
                net.app_hash_at(i, h),
                reference,
                "node{i} differs at height {h}"
            );
        }
    }
    for i in 0..NODES {
        for h in [1, last_tx_height / 2, last_tx_height, tip] {
            net.assert_state_matches_header(i, h.max(1));
        }
    }

    // Supply: initial supply minus the burn, on every node; the known balances add up to
    // it; senders, recipients and operators got exactly what the events say.
    // Block rewards are minted out of the emission reserve into the rewards pool.
    let genesis = net.genesis_app_state();
    let initial_supply = genesis.total_minted().expect("genesis supply");
    let pool: PoolInfo = query_at(net.rpc(0), &QueryPath::StakingPool, tip).unwrap();
    let minted = genesis.emission_reserve - pool.emission_reserve;
    assert!(minted > 0, "validators earned block rewards");
    for i in 0..NODES {
        let rpc = net.rpc(i);
        let supply: u128 = query_at(rpc, &QueryPath::Supply, tip).unwrap();
        let burned: u128 = query_at(rpc, &QueryPath::Burned, tip).unwrap();
        assert_eq!(burned, burned_total, "node{i}: burned");
        assert_eq!(
            supply,
            initial_supply + minted - burned_total,
            "node{i}: supply"
        );
    }
    let rpc = net.rpc(0);
    let mut known: BTreeSet<Address> = genesis.accounts.iter().map(|a| a.address).collect();
    known.extend(recipients.iter().copied());
    // The staking module's pool accounts, by the addresses the chain documents (written
    // out here, not imported from the runtime).
    known.extend([
        Address(*b"module/bonded_pool__"),
        Address(*b"module/unbond_pool__"),
        Address(*b"module/reward_pool__"),
    ]);
    let sum: u128 = known.iter().map(|a| balance(rpc, *a, tip).unwrap()).sum();
    assert_eq!(
        sum,
        initial_supply + minted - burned_total,
        "sum of all balances"
    );
    assert_eq!(pool.rewards, minted, "no reward withdrawn yet");
    for (j, dev) in net.dev_accounts().iter().enumerate() {
        assert_eq!(
            balance(rpc, dev.address, tip).unwrap(),
            dev.balance - spent[j]
        );
    }
    for (addr, got) in &received {
        assert_eq!(balance(rpc, *addr, tip).unwrap(), *got, "recipient {addr}");
    }
    for i in 0..NODES {
        let op = net.operator(i);
        let tips = tips_by_proposer.get(&op.to_string()).copied().unwrap_or(0);
        assert_eq!(
            balance(rpc, op, tip).unwrap(),
            OPERATOR_BALANCE - u128::from(VALIDATOR_POWER) * BLY + tips,
            "operator {i} (its genesis power is bonded)"
        );
    }
    let tips_total: u128 = tips_by_proposer.values().sum();
    assert!(tips_total > 0);
    assert_eq!(
        tips_by_proposer.keys().filter(|p| p.is_empty()).count(),
        0,
        "every tip went to a known proposer"
    );
}
