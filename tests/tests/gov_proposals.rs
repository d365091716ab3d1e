//! Governance end to end (issue 14) on a one-validator net, through the CLI: a fee
//! parameter change passes and takes effect exactly at its effective height; a proposal
//! without quorum is rejected and its deposit burned; a vetoed proposal's deposit is
//! burned, the supply dropping by exactly the deposit beyond the block's fee burn and
//! reward mint.
//!
//! Stake: the validator's operator bonds 10 BLY; dev3 delegates 5 BLY to it, so 15 BLY
//! are bonded and the quorum (33.4%) needs more than 5 BLY of votes.

use blyan_proto::gov::{GovParams, ProposalInfo, TallyResult};
use blyan_proto::params::FeeParams;
use blyan_proto::query::QueryPath;
use blyan_proto::BLY;
use blyan_tests::staking::{find_block_event, pool};
use blyan_tests::txs::{events, query_at};
use blyan_tests::{Localnet, LocalnetOptions};
use serde_json::{json, Value};

const VOTING_BLOCKS: u64 = 40;

fn gov_params() -> GovParams {
    GovParams {
        min_deposit: 10 * BLY,
        max_deposit_period_blocks: VOTING_BLOCKS,
        voting_period_blocks: VOTING_BLOCKS,
        ..GovParams::default()
    }
}

fn proposal(net: &Localnet, id: u64) -> ProposalInfo {
    let v = net.cli_json(&["query", "gov", "proposal", &id.to_string()]);
    serde_json::from_value(v["result"].clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

fn tally(net: &Localnet, id: u64) -> TallyResult {
    let v = net.cli_json(&["query", "gov", "tally", &id.to_string()]);
    serde_json::from_value(v["result"].clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// Submits the proposal `file` (written from `body`) as `from`; returns its id.
fn submit(net: &Localnet, from: &str, name: &str, body: Value) -> u64 {
    let file = net.dir().join(format!("{name}.json"));
    std::fs::write(&file, body.to_string()).unwrap();
    let path = file.to_string_lossy().to_string();
    let r = net.cli_tx_ok(&["tx", "gov", "submit-proposal", &path, "--from", from]);
    let ev = &events(&r, "proposal_submitted")[0];
    ev["proposal_id"].parse().unwrap()
}

fn vote(net: &Localnet, from: &str, id: u64, option: &str) {
    let r = net.cli_tx_ok(&["tx", "gov", "vote", &id.to_string(), option, "--from", from]);
    assert_eq!(events(&r, "proposal_vote")[0]["option"], option);
}

fn fee_params(net: &Localnet, h: u64) -> FeeParams {
    query_at(net.rpc(0), &QueryPath::FeeParams, h).unwrap()
}

#[test]
fn a_param_change_passes_a_proposal_misses_quorum_and_a_veto_burns_the_deposit() {
    let mut opts = LocalnetOptions::new(1);
    opts.gov = gov_params();
    let net = Localnet::start_with(opts);
    let rpc = net.rpc(0);
    let op = net.import_operator_key(0);
    let devs: Vec<String> = (0..4).map(|j| net.import_dev_key(j)).collect();
    let v0 = net.operator(0).to_string();
    let params = net.cli_json(&["query", "gov", "params"]);
    assert_eq!(params["result"]["voting_period_blocks"], VOTING_BLOCKS);
    net.cli_tx_ok(&["tx", "staking", "delegate", &v0, "5bly", "--from", &devs[3]]);

    // A: raise the gas of bank.send, effective 3 blocks after the latest possible end of
    // voting (the CLI completes the other fee parameters from the node).
    let before = fee_params(&net, 0);
    let a = submit(
        &net,
        &devs[0],
        "param",
        json!({
            "title": "Dearer transfers",
            "description": "bank.send gas 5000 -> 6500",
            "deposit": "10bly",
            "content": {"type": "param_change", "module": "fees",
                        "params": {"gas_per_bank_send": 6500}, "effective_height": "+3"}
        }),
    );
    // B: a text proposal only dev3's 5 BLY will vote on.
    let b = submit(
        &net,
        &devs[1],
        "text",
        json!({"title": "Signal", "description": "", "deposit": "10bly",
               "content": {"type": "text"}}),
    );
    // C: submitted with half the deposit; a second deposit starts its voting period.
    let c = submit(
        &net,
        &devs[2],
        "veto",
        json!({"title": "Spend", "description": "", "deposit": "5bly",
               "content": {"type": "community_pool_spend", "recipient": v0, "amount": "1bly"}}),
    );
    assert_eq!(
        proposal(&net, c).status,
        blyan_proto::gov::ProposalStatus::DepositPeriod
    );
    let d = net.cli_tx_ok(&[
        "tx",
        "gov",
        "deposit",
        &c.to_string(),
        "5bly",
        "--from",
        &devs[2],
    ]);
    assert_eq!(events(&d, "proposal_voting_started").len(), 1);

    vote(&net, &op, a, "yes");
    vote(&net, &devs[3], a, "no");
    vote(&net, &devs[3], b, "yes");
    vote(&net, &op, c, "veto");
    let votes = net.cli_json(&["query", "gov", "votes", &a.to_string()]);
    assert_eq!(votes["result"].as_array().unwrap().len(), 2, "{votes}");
    // The running tally: the operator's vote carries its 10 BLY, dev3's own vote its 5.
    let running = tally(&net, a);
    assert_eq!((running.yes, running.no), (10 * BLY, 5 * BLY));
    assert_eq!(running.total_bonded, 15 * BLY);

    // A passes at the end of its voting period and takes effect at its height.
    let pa = proposal(&net, a);
    let effective = pa.content.effective_height().unwrap();
    assert!(effective >= pa.voting_end, "{pa:?}");
    net.wait_app_height(0, effective);
    assert_eq!(fee_params(&net, pa.voting_end).gas_per_bank_send, 5_000);
    assert_eq!(fee_params(&net, effective - 1), before);
    let after = fee_params(&net, effective);
    assert_eq!(after.gas_per_bank_send, 6_500);
    assert_eq!(
        FeeParams {
            gas_per_bank_send: before.gas_per_bank_send,
            ..after
        },
        before,
        "only the named field changed"
    );
    let pa = proposal(&net, a);
    assert_eq!(pa.status, blyan_proto::gov::ProposalStatus::Executed);
    assert_eq!(
        pa.deposit_outcome,
        blyan_proto::gov::DepositOutcome::Refunded
    );

    // B: 5 of 15 BLY voted (33.3% < 33.4%): rejected, deposit burned.
    let pb = proposal(&net, b);
    net.wait_app_height(0, pb.voting_end);
    let pb = proposal(&net, b);
    assert_eq!(pb.status, blyan_proto::gov::ProposalStatus::Rejected);
    assert_eq!(pb.deposit_outcome, blyan_proto::gov::DepositOutcome::Burned);
    let tb = pb.final_tally.unwrap();
    assert_eq!((tb.yes, tb.total_bonded), (5 * BLY, 15 * BLY));
    let (_, ev) = find_block_event(rpc, pb.voting_end, pb.voting_end, "proposal_tallied", |e| {
        e["proposal_id"] == b.to_string()
    })
    .expect("B's tally event");
    assert_eq!(ev["result"], "no_quorum");

    // C: vetoed by the whole validator power; its 10 BLY are burned.
    let pc = proposal(&net, c);
    let h = pc.voting_end;
    net.wait_app_height(0, h);
    let pc = proposal(&net, c);
    assert_eq!(pc.status, blyan_proto::gov::ProposalStatus::Rejected);
    assert_eq!(pc.deposit_outcome, blyan_proto::gov::DepositOutcome::Burned);
    let (_, burned) = find_block_event(rpc, h, h, "proposal_deposits_burned", |e| {
        e["proposal_id"] == c.to_string()
    })
    .expect("C's burn event");
    assert_eq!(burned["reason"], "vetoed");
    assert_eq!(burned["amount"], (10 * BLY).to_string());
    let supply = |h| -> u128 { query_at(rpc, &QueryPath::Supply, h).unwrap() };
    let fees_burned = |h| -> u128 { query_at(rpc, &QueryPath::Burned, h).unwrap() };
    let minted = pool(rpc, h - 1).emission_reserve - pool(rpc, h).emission_reserve;
    let fee_burn = fees_burned(h) - fees_burned(h - 1);
    assert_eq!(
        supply(h) + 10 * BLY + fee_burn,
        supply(h - 1) + minted,
        "the supply drops by the deposit beyond fees and rewards"
    );
    let escrow = net.cli_json(&[
        "query",
        "bank",
        "balance",
        &blyan_chain_free_escrow().to_string(),
    ]);
    assert_eq!(escrow["balance"], "0", "{escrow}");
    let all = net.cli_json(&["query", "gov", "proposals"]);
    assert_eq!(all["result"].as_array().unwrap().len(), 3);
}

/// The escrow's address (`module/gov_escrow___`), written here rather than imported from
/// the runtime.
fn blyan_chain_free_escrow() -> blyan_proto::Address {
    blyan_proto::Address(*b"module/gov_escrow___")
}
