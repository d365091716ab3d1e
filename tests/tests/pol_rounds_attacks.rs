//! Proof-of-Learning under attack (issue 6 acceptance): on a 4-validator localnet with a
//! validator worker per validator, two honest miners train the same expert next to one
//! miner per attack mode (gaussian noise, sign flip, 10× scaling, label flip). Round 1:
//! every gaussian, sign-flipped and scaled submission is flagged: its bond slashed on
//! absolute evidence (norm, distance, ...), 10% of it when its own loss is worse than the
//! base (harmful), returned when only cosine/Krum (relative to the round) flagged it; the
//! label-flipped one is left out (harmful, flagged or excluded) and earns nothing, the
//! honest ones are admitted and rewarded; validator 3 runs with `--fake-aggregate` and is outvoted (the other three hold
//! more than 2/3). Round 2: validator 3's worker is killed as the round opens; the other
//! three still carry both phases and the round is accepted.

use std::time::{Duration, Instant};

use blyan_proto::pol::{flags, PolParams};
use blyan_proto::BLY;
use blyan_tests::kubo::KuboNode;
use blyan_tests::pol::{
    amount, balance, hex32, pol_query, round, spawn_miner, spawn_validator, submissions,
    wait_round_end,
};
use blyan_tests::ports::free_port_block;
use blyan_tests::process::Processes;
use blyan_tests::wait_for;
use blyan_tests::worker::{tiny_genesis_model, worker_bin};
use blyan_tests::{Localnet, LocalnetOptions};
use serde_json::Value;

const MODEL: &str = "blyan-tiny";
const EXPERT: &str = "layer0.expert0";

fn pol_params() -> PolParams {
    PolParams {
        round_blocks: 60,
        phase1_blocks: 30,
        phase2_blocks: 30,
        hashcash_bits: 8,
        quota_newbie_per_day: 10,
        ..blyan_genesis::localnet::localnet_pol_params()
    }
}

#[test]
fn attackers_are_slashed_honest_miners_rewarded_a_dissenter_outvoted_and_a_dead_worker_tolerated() {
    let started = Instant::now();
    worker_bin().expect("blyan-worker");
    let dir = tempfile::tempdir().unwrap();
    let mut kubos = Processes::new();
    let p = free_port_block(6).unwrap();
    let a = KuboNode::start(&mut kubos, &dir.path().join("kubo-a"), p, p + 1, p + 2).unwrap();
    let b = KuboNode::start(&mut kubos, &dir.path().join("kubo-b"), p + 3, p + 4, p + 5).unwrap();
    b.connect(&a).unwrap();
    let gm = tiny_genesis_model(dir.path(), &a.api_url(), MODEL, 7).unwrap();

    let mut opts = LocalnetOptions::new(4);
    opts.models = vec![gm];
    opts.pol = pol_params();
    opts.dev_accounts = 7;
    let mut net = Localnet::start_with(opts);
    let (api_a, api_b) = (a.api_url(), b.api_url());
    for i in 0..4 {
        let api = if i < 2 { &api_a } else { &api_b };
        let extra: &[&str] = if i == 3 { &["--fake-aggregate"] } else { &[] };
        spawn_validator(&mut net, i, dir.path(), api, MODEL, extra);
    }
    // (account, name, attack, submissions)
    let miners: [(usize, &str, Option<&str>, &str); 6] = [
        (1, "honest1", None, "2"),
        (2, "honest2", None, "2"),
        (3, "gaussian", Some("gaussian"), "1"),
        (4, "signflip", Some("sign-flip"), "1"),
        (5, "scale10", Some("scale:10"), "1"),
        (6, "labelflip", Some("label-flip"), "1"),
    ];
    let address = |net: &Localnet, j: usize| net.dev_accounts()[j].address.to_string();
    let before: Vec<u128> = miners
        .iter()
        .map(|m| balance(&net, &address(&net, m.0)))
        .collect();
    for (j, name, attack, subs) in miners {
        let seed = j.to_string();
        let corpus = (10 + j).to_string();
        let mut args = vec![
            "--blocks",
            EXPERT,
            "--steps",
            "100",
            "--synthetic",
            "300",
            "--seed",
            &seed,
            "--corpus-seed",
            &corpus,
            "--bond",
            "10bly",
            "--submissions",
            subs,
        ];
        if let Some(at) = attack {
            args.extend(["--attack", at]);
        }
        spawn_miner(&mut net, name, j, dir.path(), &api_a, MODEL, &args);
    }

    // Round 1: all six submit; the verdicts.
    let r1 = wait_round_end(&net, 1, Duration::from_secs(300));
    let subs = submissions(&net, 1);
    let by_miner = |j: usize| -> Value {
        let a = address(&net, j);
        subs.iter()
            .find(|s| s["miner"] == a.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no submission from account {j} in round 1: {subs:?}"))
    };
    for (j, name, _, _) in miners {
        let s = by_miner(j);
        eprintln!(
            "round 1 {name:>9}: #{} {} flags {} median loss {} penalty {} reward {}",
            s["id"], s["status"], s["flags"], s["median_loss_micro"], s["penalty"], s["reward"]
        );
    }
    eprintln!(
        "round 1: {} -> {:?} µnats, agreeing power {} of {}",
        r1["base_loss_micro"], r1["new_loss_micro"], r1["phase2_agreeing_power"], r1["total_power"]
    );
    assert_eq!(r1["status"], "accepted", "{r1}");
    for j in [1, 2] {
        let s = by_miner(j);
        assert_eq!(s["status"], "admitted", "honest: {s}");
        assert!(amount(&s["reward"]) > 0, "{s}");
        assert_eq!(s["flags"], 0);
    }
    // Absolute evidence (norm, distance, ...) slashes; a loss worse than the base costs the
    // harmful fee; cosine/Krum alone (relative to the round's other updates, which Sybils
    // can steer) only excludes, bond returned.
    for j in [3, 4, 5] {
        let s = by_miner(j);
        let fl = s["flags"].as_u64().unwrap() as u32;
        assert_ne!(fl, 0, "attacker flagged: {s}");
        assert_eq!(amount(&s["reward"]), 0, "{s}");
        if fl & flags::SLASHING != 0 {
            assert_eq!(s["status"], "byzantine", "attacker: {s}");
            assert_eq!(
                amount(&s["penalty"]),
                10 * BLY,
                "the whole bond is slashed: {s}"
            );
        } else if s["status"] == "harmful" {
            // its own loss is worse than the base: absolute evidence, the 10% fee
            assert_eq!(amount(&s["penalty"]), BLY, "{s}");
        } else {
            assert_eq!(s["status"], "excluded", "attacker: {s}");
            assert_eq!(amount(&s["penalty"]), 0, "bond returned: {s}");
        }
    }
    let lf = by_miner(6);
    assert!(
        ["harmful", "byzantine", "excluded"].contains(&lf["status"].as_str().unwrap()),
        "label flip excluded: {lf}"
    );
    assert_eq!(amount(&lf["reward"]), 0, "{lf}");
    assert!(
        lf["status"] == "excluded" || amount(&lf["penalty"]) > 0,
        "{lf}"
    );
    assert!(r1["new_loss_micro"].as_u64().unwrap() < r1["base_loss_micro"].as_u64().unwrap());

    // The fake aggregate was outvoted: three validators agree, validator 3 attested another
    // hash and is not among the agreeing power.
    let op3 = net.operator(3).to_string();
    let atts = pol_query(&net, &["attestations", "1"]);
    let agg_of = |v: &str| -> Value {
        atts.as_array()
            .unwrap()
            .iter()
            .find(|a| a["validator"] == v && !a["aggregate"].is_null())
            .map(|a| a["aggregate"]["aggregate_hash"].clone())
            .unwrap_or(Value::Null)
    };
    let fake = agg_of(&op3);
    let honest = agg_of(&net.operator(0).to_string());
    assert!(!fake.is_null() && !honest.is_null());
    assert_ne!(fake, honest, "validator 3 attested a different aggregate");
    assert_eq!(hex32(&r1["aggregate_hash"]), hex32(&honest));
    assert_eq!(
        r1["phase2_agreeing_power"].as_u64().unwrap() * 4,
        r1["total_power"].as_u64().unwrap() * 3
    );

    // Round 2: validator 3's worker dies as the round opens; the other three carry it.
    wait_for("round 2 to open", Duration::from_secs(240), || {
        (round(&net, 2)["status"] == "open").then_some(())
    });
    net.processes().kill9("val3").unwrap();
    let r2 = wait_round_end(&net, 2, Duration::from_secs(240));
    eprintln!(
        "round 2: {} -> {:?} µnats, phase 1 power {} / phase 2 agreeing {} of {}",
        r2["base_loss_micro"],
        r2["new_loss_micro"],
        r2["phase1_power"],
        r2["phase2_agreeing_power"],
        r2["total_power"]
    );
    assert_eq!(r2["status"], "accepted", "{r2}");
    assert_eq!(
        r2["phase1_power"].as_u64().unwrap() * 4,
        r2["total_power"].as_u64().unwrap() * 3
    );
    assert!(r2["new_loss_micro"].as_u64() < r1["new_loss_micro"].as_u64());
    assert!(submissions(&net, 2)
        .iter()
        .all(|s| s["status"] == "admitted"));

    // Balances: honest miners gained, attackers lost at least their fee or bond.
    wait_for("the miners to stop", Duration::from_secs(60), || {
        let p = net.processes();
        miners.iter().all(|m| !p.is_running(m.1)).then_some(())
    });
    for ((j, name, _, _), b0) in miners.iter().zip(&before) {
        let b1 = balance(&net, &address(&net, *j));
        eprintln!(
            "{name:>9}: balance change {:+} base units",
            b1 as i128 - *b0 as i128
        );
        if *j <= 2 {
            assert!(b1 > *b0, "{name} rewarded");
        } else {
            assert!(b1 < *b0, "{name} paid");
        }
    }
    eprintln!("attack test done in {:.1?}", started.elapsed());
}
