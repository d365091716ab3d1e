//! Issue 11 item 4 against a real Kubo node: a submission whose CID nobody has (a valid CID
//! of bytes never added) used to hold a validator 60 s per delta, one submission after
//! another, past the phase deadline. The round's deltas are now fetched in parallel under
//! one time budget: the unfetchable one is flagged `UNFETCHABLE` when the budget ends, and
//! the others are fetched, decoded against the base blocks and judged.

mod kubo_common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use blyan_proto::pol::{flags, DeltaRef, SubmissionInfo, SubmissionStatus, TrustLevel};
use blyan_proto::Address;
use blyan_worker::compress::{self, tensors_to_delta, DeltaTensor, Pipeline};
use blyan_worker::defense::{AggregationRule, DefenseParams};
use blyan_worker::ipfs::{cid_of_bytes, KuboClient};
use blyan_worker::model::{BlockName, MetaConfig, Model};
use blyan_worker::validator::candidate::Outer;
use blyan_worker::validator::fetch::{fetch_round, FETCH_CONCURRENCY};
use blyan_worker::validator::judge::{self, fetch_flags};
use blyan_worker::validator::weights::BlockWeights;
use blyan_worker::validator::Base;
use candle_core::Device;

fn submission(id: u64, deltas: Vec<DeltaRef>) -> SubmissionInfo {
    SubmissionInfo {
        id,
        round: 1,
        miner: Address([id as u8; 20]),
        model: "m".into(),
        base_heads: vec![],
        deltas,
        samples: 100,
        weight: 100,
        dataset_refs: vec![],
        manifest_cid: String::new(),
        manifest_hash: [0; 32],
        manifest_size: 0,
        bond: 0,
        trust: TrustLevel::Newbie,
        height: 1,
        status: SubmissionStatus::Pending,
        median_loss_micro: None,
        flags: 0,
        reward: 0,
        penalty: 0,
        fee: 0,
    }
}

/// A small delta of `base` (every value ±`step`, sign from `seed`), encoded and added to Kubo.
fn honest_delta(kubo: &KuboClient, block: &str, base: &[DeltaTensor], seed: u64) -> DeltaRef {
    let delta: Vec<DeltaTensor> = base
        .iter()
        .map(|t| DeltaTensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
            values: (0..t.values.len() as u64)
                .map(|i| if (i * 31 + seed) % 7 < 3 { 1e-4 } else { -1e-4 })
                .collect(),
        })
        .collect();
    let enc = compress::encode(block, &delta, &Pipeline::default(), None).unwrap();
    let cid = kubo.add_bytes(&enc.bytes).unwrap();
    DeltaRef {
        block: block.into(),
        cid: cid.to_string(),
        hash: enc.hash,
        size: enc.bytes.len() as u64,
    }
}

#[test]
fn an_unfetchable_cid_is_flagged_within_the_budget_while_the_others_are_judged() {
    let d = tempfile::tempdir().unwrap();
    let node = kubo_common::start_kubo(&d.path().join("kubo"));
    let kubo = KuboClient::new(&node.api).unwrap();

    let cfg = MetaConfig::tiny();
    let device = Device::Cpu;
    let model = Model::init(&cfg, 7, &device).unwrap();
    let mut blocks = BTreeMap::new();
    for b in Model::block_names(&cfg) {
        let tensors = tensors_to_delta(&model.block_tensors(&b).unwrap()).unwrap();
        let name = b.to_string();
        let w = BlockWeights {
            block: name.clone(),
            tensors,
            tile_size: 4096,
        };
        blocks.insert(name, w);
    }
    let expert = BlockName::Expert {
        layer: 0,
        expert: 1,
    }
    .to_string();
    let base_tensors = blocks[&expert].tensors.clone();
    let mut base = Base::from_weights(&cfg, blocks, vec![], &device).unwrap();

    // A valid CID of bytes nobody added: Kubo looks for it until told to stop.
    let missing = cid_of_bytes(b"never added to any node: issue 11 item 4");
    let subs = vec![
        submission(1, vec![honest_delta(&kubo, &expert, &base_tensors, 1)]),
        submission(
            2,
            vec![DeltaRef {
                block: expert.clone(),
                cid: missing.to_string(),
                hash: [7; 32],
                size: 1000,
            }],
        ),
        submission(3, vec![honest_delta(&kubo, &expert, &base_tensors, 2)]),
    ];

    let budget = Duration::from_secs(4);
    let start = Instant::now();
    let fetched = fetch_round(
        &kubo,
        &subs,
        &base.layouts(),
        start + budget,
        FETCH_CONCURRENCY,
    );
    let took = start.elapsed();
    assert!(
        took < budget + Duration::from_secs(2),
        "the round's fetching took {took:?} with a budget of {budget:?}"
    );
    assert!(fetched[0].is_ok(), "{:?}", fetched[0].as_ref().err());
    assert!(fetched[2].is_ok(), "{:?}", fetched[2].as_ref().err());
    let err = fetched[1].as_ref().unwrap_err();
    assert_eq!(fetch_flags(err), Some(flags::UNFETCHABLE), "{err}");

    let texts: Vec<String> = blyan_worker::data::synth::split(3, "valid", 8)
        .into_iter()
        .map(|e| e.text)
        .collect();
    let outer = Outer {
        rule: AggregationRule::WeightedFedAvg,
        optimizer: blyan_proto::pol::OuterOptimizer::default(),
    };
    let judging = judge::Judging {
        defense: &DefenseParams::default(),
        outer: &outer,
        texts: &texts,
        recorded_loss: None,
        harmful_noise_bps: blyan_proto::pol::PolParams::default().harmful_noise_bps,
    };
    let outcomes = judge::judge(&mut base, &subs, fetched, &judging).unwrap();
    let by_id: BTreeMap<u64, &judge::Outcome> =
        outcomes.iter().map(|o| (o.submission, o)).collect();
    assert_eq!(by_id[&2].flags, flags::UNFETCHABLE, "{}", by_id[&2].note);
    assert_eq!(by_id[&2].loss, None);
    for id in [1, 3] {
        let o = by_id[&id];
        assert_eq!(o.flags, 0, "submission {id}: {}", o.note);
        assert!(o.loss.is_some(), "submission {id} was judged: {}", o.note);
        assert!(o.contribution.is_some(), "by leave-one-out: {}", o.note);
    }
    let j = judge::judgements(&[1, 2, 3], &outcomes);
    assert_eq!(j[1].flags, flags::UNFETCHABLE);
}
