//! The parameter DAG: publishing models, new block versions, every rejection code, and a
//! property test that no sequence of accepted messages creates a cycle.

mod common;

use blyan_chain::dag::{self, block_names, PublishOptions, DEPOSIT_POOL};
use blyan_chain::state::{apply_writes, Overlay};
use blyan_chain::{bank, MemState};
use blyan_proto::dag::{BlockId, BlockSpec, ModelArch, SemVer};
use blyan_proto::{Address, ErrorCode, BLY};
use common::*;
use proptest::prelude::*;

fn arch() -> ModelArch {
    ModelArch {
        arch: "blyan-moe-v1".into(),
        n_layers: 2,
        n_experts: 2,
    }
}

fn v(patch: u32) -> SemVer {
    SemVer {
        major: 1,
        minor: 0,
        patch,
    }
}

fn spec(name: &str, ty: blyan_proto::dag::BlockType, patch: u32, deps: Vec<BlockId>) -> BlockSpec {
    let mut h = [0u8; 32];
    h[..name.len().min(32)].copy_from_slice(&name.as_bytes()[..name.len().min(32)]);
    h[31] = patch as u8 + 1;
    BlockSpec {
        name: name.into(),
        block_type: ty,
        payload_hash: h,
        cid: format!("bafk{}{patch}", name.replace('.', "")),
        size: 1024,
        version: v(patch),
        depends_on: deps,
    }
}

fn all_specs() -> Vec<BlockSpec> {
    block_names(&arch())
        .into_iter()
        .map(|(n, t, _)| spec(&n, t, 0, vec![]))
        .collect()
}

fn publish(
    s: &mut MemState,
    who: &Address,
    model: &str,
    blocks: &[BlockSpec],
    deposit: u128,
) -> Result<(), ErrorCode> {
    let mut o = Overlay::new(&*s);
    let msg = blyan_proto::dag::PublishModel {
        model_id: model.into(),
        arch: arch(),
        meta_json: "{\"arch\":\"blyan-moe-v1\"}".into(),
        blocks: blocks.to_vec(),
        deposit,
    };
    match dag::publish_model(
        &mut o,
        who,
        &msg,
        1,
        PublishOptions {
            charge_deposit: true,
        },
    ) {
        Ok(_) => {
            let w = o.into_writes();
            apply_writes(s, w);
            Ok(())
        }
        Err(e) => Err(e.code),
    }
}

#[test]
fn a_model_is_published_and_its_blocks_get_new_versions() {
    let mut s = genesis(&["alice"]);
    let alice = key("alice").address();
    publish(&mut s, &alice, "tiny", &all_specs(), 100 * BLY).unwrap();
    assert_eq!(bank::balance(&s, &DEPOSIT_POOL).unwrap(), 100 * BLY);
    let rec = dag::must_model(&s, "tiny").unwrap();
    assert_eq!(
        rec.blocks as usize,
        all_specs().len() + 1,
        "meta + every block"
    );
    let e0 = dag::head(&s, "tiny", "layer0.expert1").unwrap().unwrap();
    assert_eq!(e0.depends_on, vec![rec.meta_block]);
    assert_eq!(e0.layer, Some(0));
    // A new version depends on the meta block and its previous version.
    let router = dag::head(&s, "tiny", "layer1.router").unwrap().unwrap();
    let upd = spec(
        "layer0.expert1",
        blyan_proto::dag::BlockType::Expert,
        1,
        vec![router.id],
    );
    publish(&mut s, &alice, "tiny", &[upd], 0).unwrap();
    let e1 = dag::head(&s, "tiny", "layer0.expert1").unwrap().unwrap();
    assert_eq!(e1.version, v(1));
    assert_eq!(e1.depends_on, vec![rec.meta_block, e0.id, router.id]);
    let hist = dag::history(&s, "tiny", "layer0.expert1").unwrap();
    assert_eq!(
        hist.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![e0.id, e1.id]
    );
    assert!(dag::children(&s, &e0.id).contains(&e1.id));
    assert!(dag::children(&s, &router.id).contains(&e1.id));
    let topo = dag::topological(&s, "tiny").unwrap();
    assert_eq!(topo.first(), Some(&rec.meta_block));
    assert_eq!(topo.last(), Some(&e1.id));
}

#[test]
fn bad_publishes_get_their_own_codes_and_change_nothing() {
    use blyan_proto::dag::BlockType::*;
    let mut s = genesis(&["alice", "bob"]);
    let alice = key("alice").address();
    let bob = key("bob").address();
    let before = s.clone();
    let mut outside = all_specs();
    outside.push(spec("layer2.expert0", Expert, 0, vec![]));
    assert_eq!(
        publish(&mut s, &alice, "m", &outside, 100 * BLY),
        Err(ErrorCode::NameOutsideArchitecture)
    );
    let mut dup = all_specs();
    dup.push(dup[1].clone());
    assert_eq!(
        publish(&mut s, &alice, "m", &dup, 100 * BLY),
        Err(ErrorCode::DuplicateBlock)
    );
    assert_eq!(
        publish(&mut s, &alice, "m", &all_specs(), BLY),
        Err(ErrorCode::DepositTooLow)
    );
    assert_eq!(
        publish(&mut s, &alice, "m", &all_specs()[1..], 100 * BLY),
        Err(ErrorCode::MissingBlocks)
    );
    let mut dangling = all_specs();
    dangling[2].depends_on = vec![[9u8; 32]];
    assert_eq!(
        publish(&mut s, &alice, "m", &dangling, 100 * BLY),
        Err(ErrorCode::DanglingDependency)
    );
    let mut mismatch = all_specs();
    mismatch[2].block_type = Expert;
    assert_eq!(
        publish(&mut s, &alice, "m", &mismatch, 100 * BLY),
        Err(ErrorCode::BlockTypeMismatch)
    );
    assert_eq!(
        publish(&mut s, &alice, "Bad Id", &all_specs(), 100 * BLY),
        Err(ErrorCode::InvalidModelId)
    );
    let mut nocid = all_specs();
    nocid[0].cid = String::new();
    assert_eq!(
        publish(&mut s, &alice, "m", &nocid, 100 * BLY),
        Err(ErrorCode::InvalidBlockField)
    );
    assert_eq!(s, before, "nothing changed");
    publish(&mut s, &alice, "m", &all_specs(), 100 * BLY).unwrap();
    // Versions only go up; only the owner adds versions; dependencies stay in the model.
    assert_eq!(
        publish(
            &mut s,
            &alice,
            "m",
            &[spec("embed", Backbone, 0, vec![])],
            0
        ),
        Err(ErrorCode::VersionNotIncreasing)
    );
    assert_eq!(
        publish(&mut s, &bob, "m", &[spec("embed", Backbone, 1, vec![])], 0),
        Err(ErrorCode::ModelExists)
    );
    publish(&mut s, &bob, "other", &all_specs(), 100 * BLY).unwrap();
    let foreign = dag::head(&s, "other", "embed").unwrap().unwrap().id;
    assert_eq!(
        publish(
            &mut s,
            &alice,
            "m",
            &[spec("embed", Backbone, 1, vec![foreign])],
            0
        ),
        Err(ErrorCode::DanglingDependency)
    );
}

/// Every block's dependencies are recorded, belong to the model and come earlier in the
/// topological listing; a depth-first search finds no cycle.
fn assert_acyclic(s: &MemState, model: &str) {
    let topo = dag::topological(s, model).unwrap();
    let pos: std::collections::BTreeMap<BlockId, usize> =
        topo.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for (i, id) in topo.iter().enumerate() {
        let b = dag::block(s, id).unwrap().unwrap();
        for d in &b.depends_on {
            let j = pos
                .get(d)
                .copied()
                .expect("dependency recorded in the model");
            assert!(j < i, "dependency after dependent");
        }
    }
    // DFS with colours.
    fn visit(s: &MemState, id: &BlockId, state: &mut std::collections::BTreeMap<BlockId, u8>) {
        match state.get(id) {
            Some(1) => panic!("cycle through {id:?}"),
            Some(2) => return,
            _ => {}
        }
        state.insert(*id, 1);
        for d in dag::block(s, id).unwrap().unwrap().depends_on {
            visit(s, &d, state);
        }
        state.insert(*id, 2);
    }
    let mut colours = std::collections::BTreeMap::new();
    for id in &topo {
        visit(s, id, &mut colours);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn no_sequence_of_accepted_messages_creates_a_cycle(
        steps in prop::collection::vec((0usize..14, 0u32..6, prop::collection::vec(0usize..64, 0..3)), 1..30)
    ) {
        let mut s = genesis(&["alice"]);
        let alice = key("alice").address();
        publish(&mut s, &alice, "m", &all_specs(), 100 * BLY).unwrap();
        let names = block_names(&arch());
        for (which, patch, dep_picks) in steps {
            let (name, ty, _) = &names[which % names.len()];
            let known = dag::topological(&s, "m").unwrap();
            let deps: Vec<BlockId> = dep_picks.iter().map(|i| known[i % known.len()]).collect();
            let _ = publish(&mut s, &alice, "m", &[spec(name, *ty, patch, deps)], 0);
            assert_acyclic(&s, "m");
        }
    }
}

#[test]
fn genesis_models_pass_the_same_checks_and_record_their_baseline_loss() {
    use blyan_chain::genesis::{init_chain, ChainGenesis, GenesisModelSpec};
    use blyan_proto::dag::ValidationSet;
    use blyan_proto::params::{FeeParams, StakingParams, TxParams};
    let owner = key("owner").address();
    let make = |blocks: Vec<BlockSpec>| ChainGenesis {
        chain_id: CHAIN.into(),
        tx_params: TxParams::default(),
        fee_params: FeeParams::default(),
        accounts: vec![(owner, BLY)],
        emission_reserve: 0,
        staking_params: StakingParams::default(),
        pol_params: Default::default(),
        dag_params: Default::default(),
        inference_params: Default::default(),
        gov_params: Default::default(),
        validators: Vec::new(),
        models: vec![GenesisModelSpec {
            id: "genesis-tiny".into(),
            owner,
            arch: arch(),
            meta_json: "{}".into(),
            blocks,
            validation: Some(ValidationSet {
                cid: "bafkval".into(),
                hash: [5u8; 32],
                baseline_loss_micro: 5_545_177,
            }),
        }],
    };
    let mut s = MemState::new();
    init_chain(&mut s, &make(all_specs())).unwrap();
    let rec = dag::must_model(&s, "genesis-tiny").unwrap();
    assert_eq!(rec.loss_micro, Some(5_545_177));
    assert_eq!(rec.deposit, 0);
    assert_eq!(
        bank::balance(&s, &owner).unwrap(),
        BLY,
        "no deposit at genesis"
    );
    let err = init_chain(&mut MemState::new(), &make(all_specs()[1..].to_vec())).unwrap_err();
    assert_eq!(err.code, ErrorCode::MissingBlocks);
}

/// The DAG parameters of the genesis file are written to state, answered (with a proof
/// key) at `/dag/params`, and govern publishes; unusable ones are refused at genesis.
#[test]
fn dag_params_are_written_at_genesis_queryable_and_enforced() {
    use blyan_chain::genesis::{init_chain, ChainGenesis};
    use blyan_proto::dag::DagParams;
    use blyan_proto::params::{FeeParams, StakingParams, TxParams};
    use blyan_proto::query::QueryPath;
    use parity_scale_codec::Decode;
    let owner = key("owner").address();
    let make = |dag_params: DagParams| ChainGenesis {
        chain_id: CHAIN.into(),
        tx_params: TxParams::default(),
        fee_params: FeeParams::default(),
        accounts: vec![(owner, 1_000 * BLY)],
        emission_reserve: 0,
        staking_params: StakingParams::default(),
        pol_params: Default::default(),
        dag_params,
        inference_params: Default::default(),
        gov_params: Default::default(),
        validators: Vec::new(),
        models: Vec::new(),
    };
    let custom = DagParams {
        publish_deposit: 7 * BLY,
        max_blocks_per_msg: 3,
        ..DagParams::default()
    };
    let mut s = MemState::new();
    init_chain(&mut s, &make(custom.clone())).unwrap();
    let a = blyan_chain::query::answer(&s, &QueryPath::DagParams).unwrap();
    assert_eq!(DagParams::decode(&mut a.value.as_slice()).unwrap(), custom);
    assert_eq!(a.proof_key, Some(dag::state_key::PARAMS.to_vec()));
    assert_eq!(dag::params(&s).unwrap(), custom);
    // Four blocks in one message exceed `max_blocks_per_msg` = 3.
    assert_eq!(
        publish(&mut s, &owner, "m", &all_specs(), 7 * BLY),
        Err(ErrorCode::InvalidBlockField)
    );
    let bad = DagParams {
        max_arch_dim: 0,
        ..DagParams::default()
    };
    let err = init_chain(&mut MemState::new(), &make(bad)).unwrap_err();
    assert_eq!(err.code, ErrorCode::CorruptState);
}

/// The owner of a model with a validation set tries to replace a head mid-round (the
/// round's miners trained on it, and the owner's version skips Proof-of-Learning): refused
/// in CheckTx and in a block with `ModelUnderPol`, only the fee and nonce spent.
#[test]
fn the_owner_cannot_publish_heads_of_a_model_under_proof_of_learning() {
    use blyan_chain::runtime::Mode;
    use blyan_chain::{BlockExecutor, VerifiedTx};
    use blyan_proto::{DagMsg, Fee, Msg, Tx};
    use common::pol::{self as p, MODEL};

    let mut s = p::genesis_with(p::params(), true);
    // the owner (the genesis validator, its tokens staked) gets funds for fees
    let fund = verify(send_tx(0, proposer(), 10 * BLY), &key("outsider"));
    assert_eq!(run_block(&mut s, 1, &[fund])[0].code, 0);
    let m = p::stamped(&s, "m1", p::submission(&s, 10 * BLY));
    assert_eq!(p::submit(&mut s, 2, "m1", m).code, 0, "a round is open");
    let head0 = dag::head(&s, MODEL, "layer0.expert1").unwrap().unwrap();
    let mut upd = spec(
        "layer0.expert1",
        blyan_proto::dag::BlockType::Expert,
        1,
        vec![],
    );
    upd.cid = "bafkownerupgrade".into();
    let publish_tx = |s: &MemState| -> VerifiedTx {
        let owner = key("proposer");
        verify(
            Tx {
                chain_id: CHAIN.into(),
                nonce: blyan_chain::auth::nonce(s, &owner.address()).unwrap(),
                fee: Fee {
                    gas_limit: 200_000,
                    max_fee_per_gas: 10_000_000_000,
                    max_priority_fee_per_gas: 1_000,
                },
                msgs: vec![Msg::Dag(DagMsg::PublishModel(
                    blyan_proto::dag::PublishModel {
                        model_id: MODEL.into(),
                        arch: p::arch(),
                        meta_json: "{}".into(),
                        blocks: vec![upd.clone()],
                        deposit: 0,
                    },
                ))],
                memo: String::new(),
            },
            &owner,
        )
    };
    let t = publish_tx(&s);
    let mut ex = BlockExecutor::begin(&s, ctx(3)).unwrap();
    let o = ex.execute(Ok(&t), Mode::Check);
    assert_eq!(o.code, ErrorCode::ModelUnderPol.as_u32(), "{}", o.log);
    assert!(o.invalid);

    let (bal, nonce) = (
        bank::balance(&s, &proposer()).unwrap(),
        blyan_chain::auth::nonce(&s, &proposer()).unwrap(),
    );
    let o = run_block(&mut s, 3, &[t]).remove(0);
    assert_eq!(o.code, ErrorCode::ModelUnderPol.as_u32(), "{}", o.log);
    assert!(o.log.contains("validation set"), "{}", o.log);
    // the proposer tips itself, so its balance moved by the burned part of the fee only
    assert_eq!(
        bank::balance(&s, &proposer()).unwrap(),
        bal - p::fee_paid(&o) + tip_of(&o)
    );
    assert_eq!(
        blyan_chain::auth::nonce(&s, &proposer()).unwrap(),
        nonce + 1
    );
    assert_eq!(
        dag::head(&s, MODEL, "layer0.expert1").unwrap().unwrap(),
        head0,
        "the head stays"
    );

    // after the round too: such a model changes only through accepted rounds
    p::empty_blocks(&mut s, 4, 12);
    assert_eq!(
        blyan_chain::pol::round(&s, 1).unwrap().unwrap().status,
        blyan_proto::pol::RoundStatus::NoQuorum
    );
    let t = publish_tx(&s);
    let o = run_block(&mut s, 13, &[t]).remove(0);
    assert_eq!(o.code, ErrorCode::ModelUnderPol.as_u32(), "{}", o.log);
    assert_eq!(
        dag::head(&s, MODEL, "layer0.expert1").unwrap().unwrap(),
        head0
    );
}

fn tip_of(o: &blyan_chain::TxOutcome) -> u128 {
    o.events
        .iter()
        .find_map(|e| match e {
            blyan_proto::event::Event::Fees(blyan_proto::event::FeeEvent::FeePaid {
                tip, ..
            }) => Some(*tip),
            _ => None,
        })
        .unwrap()
}
