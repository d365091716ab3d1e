//! Model evolution through governance (issue 14): a passed `ModelEvolution` adds an
//! expert per layer as a new architecture version (meta block 2.0.0, grown router, new
//! expert blocks derived from a source expert's head), old blocks stay, and a PoL
//! submission may then train the new expert. Malformed evolutions, unknown models,
//! absurd counts, stale bases and a model with a PoL round in progress are refused with
//! their own codes (620–625), leaving only the fee and the nonce. A passed evolution
//! keeps new PoL rounds of its model from opening (626) until it executes; one whose
//! effective height falls in a round opened during its vote fails cleanly and writes
//! nothing, one whose height is past that round executes.

mod common;

use blyan_chain::genesis::{init_chain, ChainGenesis, GenesisModelSpec, GenesisValidatorSpec};
use blyan_chain::{dag, gov, MemState, TxOutcome};
use blyan_proto::dag::{BlockSpec, BlockType, DagParams, ModelArch, SemVer, ValidationSet};
use blyan_proto::gov::{
    EvolvedBlock, GovMsg, GovParams, ModelChange, ProposalContent, ProposalStatus, VoteOption,
};
use blyan_proto::params::{FeeParams, StakingParams, TxParams};
use blyan_proto::pol::{BaseHead, DeltaRef};
use blyan_proto::{ErrorCode, Msg, BLY};
use common::pol::*;
use common::*;

const META: &str = r#"{"arch":"blyan-moe-v1","n_layers":2,"n_experts":2,"top_k":1}"#;
const VOTING: u64 = 5;

fn arch2() -> ModelArch {
    ModelArch {
        arch: "blyan-moe-v1".into(),
        n_layers: 2,
        n_experts: 2,
    }
}

/// A 2-layer, 2-expert model under PoL; validator operator `val`; short gov periods;
/// at most 4 experts per layer.
fn genesis() -> MemState {
    let blocks = dag::block_names(&arch2())
        .into_iter()
        .map(|(name, block_type, _)| BlockSpec {
            cid: format!("bafk{}", name.replace('.', "")),
            name,
            block_type,
            payload_hash: [9u8; 32],
            size: 4096,
            version: SemVer {
                major: 1,
                minor: 0,
                patch: 0,
            },
            depends_on: vec![],
        })
        .collect();
    let mut s = MemState::new();
    init_chain(
        &mut s,
        &ChainGenesis {
            chain_id: CHAIN.into(),
            tx_params: TxParams::default(),
            fee_params: FeeParams::default(),
            accounts: ["m1", "val"]
                .iter()
                .map(|n| (key(n).address(), 1_000 * BLY))
                .collect(),
            emission_reserve: 400_000_000 * BLY,
            staking_params: StakingParams::default(),
            pol_params: params(),
            dag_params: DagParams {
                max_arch_dim: 4,
                ..DagParams::default()
            },
            inference_params: Default::default(),
            gov_params: GovParams {
                min_deposit: BLY,
                max_deposit_period_blocks: VOTING,
                voting_period_blocks: VOTING,
                ..GovParams::default()
            },
            validators: vec![GenesisValidatorSpec {
                operator: key("val").address(),
                consensus_key: [7u8; 32],
                moniker: "v0".into(),
                power: 10,
            }],
            models: vec![GenesisModelSpec {
                id: MODEL.into(),
                owner: proposer(),
                arch: arch2(),
                meta_json: META.into(),
                blocks,
                validation: Some(ValidationSet {
                    cid: "bafkval".into(),
                    hash: [5u8; 32],
                    baseline_loss_micro: 5_000_000,
                }),
            }],
        },
    )
    .unwrap();
    s
}

fn head_id(s: &MemState, name: &str) -> [u8; 32] {
    dag::head(s, MODEL, name).unwrap().unwrap().id
}

/// The blocks of adding `count` experts from `source` (fake CIDs and hashes: the chain
/// records them; workers check them against the recipe).
fn evolved(s: &MemState, count: u32, source: u32) -> Vec<EvolvedBlock> {
    let n = dag::must_model(s, MODEL).unwrap().arch.n_experts;
    blyan_proto::gov::add_experts_names(2, n, count)
        .unwrap()
        .into_iter()
        .map(|name| {
            let layer = name.split('.').next().unwrap().to_string();
            let base = if name.ends_with("router") {
                head_id(s, &name)
            } else {
                head_id(s, &format!("{layer}.expert{source}"))
            };
            EvolvedBlock {
                cid: format!("bafkevo{}", name.replace('.', "")),
                payload_hash: blyan_proto::hash::keccak256(name.as_bytes()),
                size: 5000,
                base,
                name,
            }
        })
        .collect()
}

fn content(s: &MemState, count: u32, source: u32, effective_height: u64) -> ProposalContent {
    ProposalContent::ModelEvolution {
        model: MODEL.into(),
        change: ModelChange::AddExperts {
            count,
            source_expert: source,
        },
        base_meta: dag::must_model(s, MODEL).unwrap().meta_block,
        blocks: evolved(s, count, source),
        effective_height,
    }
}

fn propose(s: &mut MemState, height: u64, c: ProposalContent) -> TxOutcome {
    let m = Msg::Gov(GovMsg::SubmitProposal {
        title: "grow".into(),
        description: "one more expert".into(),
        content: c,
        initial_deposit: BLY,
    });
    let mut t = msg_tx(s, "m1", m);
    t.fee.gas_limit = 1_000_000;
    let t = verify(t, &key("m1"));
    run_block(s, height, &[t]).remove(0)
}

fn vote_yes(s: &mut MemState, height: u64, id: u64) {
    let m = Msg::Gov(GovMsg::Vote {
        proposal_id: id,
        option: VoteOption::Yes,
    });
    let t = verify(msg_tx(s, "val", m), &key("val"));
    let o = run_block(s, height, &[t]).remove(0);
    assert_eq!(o.code, 0, "{}", o.log);
}

/// Submits `c` at `height` and expects `code`, with only the fee and the nonce changed.
fn refused(s: &mut MemState, height: u64, c: ProposalContent, code: ErrorCode) {
    let before = (balance(s, "m1"), nonce_of(s, "m1"));
    let model = dag::must_model(s, MODEL).unwrap();
    let proposals = gov::proposals(s).unwrap().len();
    let o = propose(s, height, c);
    assert_eq!(o.code, code.as_u32(), "{}", o.log);
    assert!(!o.log.is_empty());
    assert_eq!(balance(s, "m1"), before.0 - fee_paid(&o));
    assert_eq!(nonce_of(s, "m1"), before.1 + 1);
    assert_eq!(dag::must_model(s, MODEL).unwrap(), model);
    assert_eq!(gov::proposals(s).unwrap().len(), proposals);
}

#[test]
fn a_passed_evolution_adds_an_expert_version_and_pol_can_train_it() {
    let mut s = genesis();
    let old = dag::must_model(&s, MODEL).unwrap();
    let old_heads: Vec<_> = [
        "embed",
        "layer0.expert0",
        "layer0.expert1",
        "layer1.backbone",
    ]
    .iter()
    .map(|n| head_id(&s, n))
    .collect();
    let c = content(&s, 1, 1, 1 + VOTING + 2);
    let o = propose(&mut s, 1, c.clone());
    assert_eq!(o.code, 0, "{}", o.log);
    let id = gov::proposals(&s).unwrap().last().unwrap().id;
    vote_yes(&mut s, 2, id);
    empty_blocks(&mut s, 3, 1 + VOTING + 1);
    assert_eq!(
        dag::must_model(&s, MODEL).unwrap(),
        old,
        "not before its height"
    );
    empty_blocks(&mut s, 1 + VOTING + 2, 1 + VOTING + 2);
    let p = gov::proposal(&s, id).unwrap();
    assert_eq!(p.status, ProposalStatus::Executed, "{}", p.execution_log);

    let new = dag::must_model(&s, MODEL).unwrap();
    assert_eq!(new.arch.n_experts, 3);
    assert_eq!(
        new.meta_json,
        META.replace("\"n_experts\":2", "\"n_experts\":3")
    );
    assert_eq!(new.loss_micro, old.loss_micro);
    let meta = dag::block(&s, &new.meta_block).unwrap().unwrap();
    assert_eq!(meta.version.to_string(), "2.0.0");
    assert_eq!(meta.depends_on, vec![old.meta_block]);
    assert_eq!(meta.author, gov::GOV_AUTHORITY);
    // Old blocks carry over unchanged.
    for (n, h) in [
        "embed",
        "layer0.expert0",
        "layer0.expert1",
        "layer1.backbone",
    ]
    .iter()
    .zip(&old_heads)
    {
        assert_eq!(head_id(&s, n), *h, "{n}");
    }
    let ProposalContent::ModelEvolution { blocks, .. } = &c else {
        unreachable!()
    };
    for b in blocks {
        let h = dag::head(&s, MODEL, &b.name).unwrap().unwrap();
        assert_eq!(
            (h.cid.as_str(), h.payload_hash, h.size),
            (b.cid.as_str(), b.payload_hash, b.size)
        );
        assert_eq!(h.depends_on, vec![new.meta_block, b.base], "{}", b.name);
        assert_eq!(h.version.to_string(), "2.0.0");
        let ty = if b.name.ends_with("router") {
            BlockType::Router
        } else {
            BlockType::Expert
        };
        assert_eq!(h.block_type, ty);
    }
    assert_eq!(dag::history(&s, MODEL, "layer1.router").unwrap().len(), 2);
    assert_eq!(dag::history(&s, MODEL, "layer1.expert2").unwrap().len(), 1);

    // The next PoL round takes a delta on the new expert.
    let mut m = submission(&s, 10 * BLY);
    m.base_heads = vec![BaseHead {
        block: "layer1.expert2".into(),
        id: head_id(&s, "layer1.expert2"),
    }];
    m.deltas = vec![DeltaRef {
        block: "layer1.expert2".into(),
        cid: "bafkdelta".into(),
        hash: [3u8; 32],
        size: 20_000,
    }];
    let m = stamped(&s, "m1", m);
    let o = submit(&mut s, 1 + VOTING + 3, "m1", m);
    assert_eq!(o.code, 0, "{}", o.log);
}

#[test]
fn bad_evolutions_are_refused_with_their_codes_and_leave_only_fee_and_nonce() {
    let mut s = genesis();
    let eff = 100;
    let mut unknown = content(&s, 1, 0, eff);
    if let ProposalContent::ModelEvolution { model, .. } = &mut unknown {
        *model = "nope".into();
    }
    refused(&mut s, 1, unknown, ErrorCode::EvolutionUnknownModel);
    let mut zero = content(&s, 1, 0, eff);
    if let ProposalContent::ModelEvolution { change, .. } = &mut zero {
        *change = ModelChange::AddExperts {
            count: 0,
            source_expert: 0,
        };
    }
    refused(&mut s, 2, zero, ErrorCode::EvolutionCountOutOfRange);
    // 2 + 3 > max_arch_dim (4); 17 > MAX_EXPERTS_ADDED.
    let three = content(&s, 3, 0, eff);
    refused(&mut s, 3, three, ErrorCode::EvolutionCountOutOfRange);
    let mut huge = content(&s, 1, 0, eff);
    if let ProposalContent::ModelEvolution { change, .. } = &mut huge {
        *change = ModelChange::AddExperts {
            count: u32::MAX,
            source_expert: 0,
        };
    }
    refused(&mut s, 4, huge, ErrorCode::EvolutionCountOutOfRange);
    let mut source = content(&s, 1, 0, eff);
    if let ProposalContent::ModelEvolution { change, .. } = &mut source {
        *change = ModelChange::AddExperts {
            count: 1,
            source_expert: 2,
        };
    }
    refused(&mut s, 5, source, ErrorCode::InvalidEvolution);
    let mut stale_meta = content(&s, 1, 0, eff);
    if let ProposalContent::ModelEvolution { base_meta, .. } = &mut stale_meta {
        *base_meta = [1; 32];
    }
    refused(&mut s, 6, stale_meta, ErrorCode::EvolutionStaleBase);
    let mut missing = content(&s, 1, 0, eff);
    if let ProposalContent::ModelEvolution { blocks, .. } = &mut missing {
        blocks.pop();
    }
    refused(&mut s, 7, missing, ErrorCode::EvolutionBlocksMismatch);
    let mut order = content(&s, 1, 0, eff);
    if let ProposalContent::ModelEvolution { blocks, .. } = &mut order {
        blocks.swap(0, 1);
    }
    refused(&mut s, 8, order, ErrorCode::EvolutionBlocksMismatch);
    let mut bad_cid = content(&s, 1, 0, eff);
    if let ProposalContent::ModelEvolution { blocks, .. } = &mut bad_cid {
        blocks[1].cid = "not a cid".into();
    }
    refused(&mut s, 9, bad_cid, ErrorCode::EvolutionBlocksMismatch);
    let mut wrong_base = content(&s, 1, 0, eff);
    if let ProposalContent::ModelEvolution { blocks, .. } = &mut wrong_base {
        blocks[1].base = head_id(&s, "layer0.expert1"); // not the source (expert 0)
    }
    refused(&mut s, 10, wrong_base, ErrorCode::EvolutionStaleBase);

    // A PoL round in progress: refused.
    let m = stamped(&s, "m1", submission(&s, 10 * BLY));
    let o = submit(&mut s, 11, "m1", m);
    assert_eq!(o.code, 0, "{}", o.log);
    let during_round = content(&s, 1, 0, eff);
    refused(&mut s, 12, during_round, ErrorCode::EvolutionRoundOpen);
}

#[test]
fn an_evolution_fails_cleanly_if_a_round_opened_during_its_vote_is_still_running() {
    let mut s = genesis();
    // Round 1 (opened at 3) takes submissions until 7 and is in phase 1 until 10.
    let eff = 1 + VOTING + 2;
    let c = content(&s, 1, 0, eff);
    let o = propose(&mut s, 1, c);
    assert_eq!(o.code, 0, "{}", o.log);
    let id = gov::proposals(&s).unwrap().last().unwrap().id;
    vote_yes(&mut s, 2, id);
    let m = stamped(&s, "m1", submission(&s, 10 * BLY));
    let o = submit(&mut s, 3, "m1", m);
    assert_eq!(o.code, 0, "{}", o.log);
    let model = dag::must_model(&s, MODEL).unwrap();
    empty_blocks(&mut s, 4, eff);
    let p = gov::proposal(&s, id).unwrap();
    assert_eq!(p.status, ProposalStatus::Failed);
    assert!(p.execution_log.contains("623"), "{}", p.execution_log);
    assert_eq!(dag::must_model(&s, MODEL).unwrap(), model);
    assert_eq!(
        head_id(&s, "layer0.router"),
        dag::history(&s, MODEL, "layer0.router").unwrap()[0].id
    );
    assert_eq!(gov::pending_evolution(&s, MODEL).unwrap(), None);
}

#[test]
fn an_evolution_whose_height_is_past_the_running_round_executes() {
    let mut s = genesis();
    let eff = 1 + VOTING + 12;
    let c = content(&s, 1, 0, eff);
    let o = propose(&mut s, 1, c);
    assert_eq!(o.code, 0, "{}", o.log);
    let id = gov::proposals(&s).unwrap().last().unwrap().id;
    vote_yes(&mut s, 2, id);
    let m = stamped(&s, "m1", submission(&s, 10 * BLY));
    assert_eq!(submit(&mut s, 3, "m1", m).code, 0);
    empty_blocks(&mut s, 4, 14);
    assert!(blyan_chain::pol::current_round(&s, MODEL)
        .unwrap()
        .is_none());
    // The round ended; the passed evolution keeps a new one from opening.
    let m = stamped(&s, "m1", submission(&s, 10 * BLY));
    let o = submit(&mut s, 15, "m1", m);
    assert_eq!(o.code, ErrorCode::EvolutionPending.as_u32(), "{}", o.log);
    empty_blocks(&mut s, 16, eff);
    let p = gov::proposal(&s, id).unwrap();
    assert_eq!(p.status, ProposalStatus::Executed, "{}", p.execution_log);
    assert_eq!(dag::must_model(&s, MODEL).unwrap().arch.n_experts, 3);
}

/// An `AddLayers` proposal of `count` layers (fake CIDs and hashes, bases = the meta).
fn layers_content(s: &MemState, count: u32, effective_height: u64) -> ProposalContent {
    let rec = dag::must_model(s, MODEL).unwrap();
    let blocks = blyan_proto::gov::add_layers_names(rec.arch.n_layers, rec.arch.n_experts, count)
        .unwrap()
        .into_iter()
        .map(|name| EvolvedBlock {
            cid: format!("bafkdeep{}", name.replace('.', "")),
            payload_hash: blyan_proto::hash::keccak256(name.as_bytes()),
            size: 5000,
            base: rec.meta_block,
            name,
        })
        .collect();
    ProposalContent::ModelEvolution {
        model: MODEL.into(),
        change: ModelChange::AddLayers { count },
        base_meta: rec.meta_block,
        blocks,
        effective_height,
    }
}

#[test]
fn a_passed_deepening_appends_a_layer_and_pol_can_train_it() {
    let mut s = genesis();
    // Out of range: more than MAX_LAYERS_ADDED, or past max_arch_dim (2 + 3 > 4).
    let five = layers_content(&s, 5, 100);
    refused(&mut s, 1, five, ErrorCode::EvolutionCountOutOfRange);
    let three = layers_content(&s, 3, 100);
    refused(&mut s, 2, three, ErrorCode::EvolutionCountOutOfRange);
    let mut wrong_base = layers_content(&s, 1, 100);
    if let ProposalContent::ModelEvolution { blocks, .. } = &mut wrong_base {
        blocks[1].base = head_id(&s, "layer1.router");
    }
    refused(&mut s, 3, wrong_base, ErrorCode::EvolutionStaleBase);

    let old = dag::must_model(&s, MODEL).unwrap();
    let eff = 4 + VOTING + 2;
    let c = layers_content(&s, 1, eff);
    let o = propose(&mut s, 4, c.clone());
    assert_eq!(o.code, 0, "{}", o.log);
    let id = gov::proposals(&s).unwrap().last().unwrap().id;
    vote_yes(&mut s, 5, id);
    empty_blocks(&mut s, 6, eff - 2);
    // Passed and waiting: no new PoL round opens for the model (626), fee and nonce only.
    assert_eq!(gov::pending_evolution(&s, MODEL).unwrap(), Some(id));
    let before = (balance(&s, "m1"), nonce_of(&s, "m1"));
    let m = stamped(&s, "m1", submission(&s, 10 * BLY));
    let o = submit(&mut s, eff - 1, "m1", m);
    assert_eq!(o.code, ErrorCode::EvolutionPending.as_u32(), "{}", o.log);
    assert_eq!(balance(&s, "m1"), before.0 - fee_paid(&o));
    assert_eq!(nonce_of(&s, "m1"), before.1 + 1);
    empty_blocks(&mut s, eff, eff);
    assert_eq!(gov::pending_evolution(&s, MODEL).unwrap(), None);
    let p = gov::proposal(&s, id).unwrap();
    assert_eq!(p.status, ProposalStatus::Executed, "{}", p.execution_log);
    let new = dag::must_model(&s, MODEL).unwrap();
    assert_eq!((new.arch.n_layers, new.arch.n_experts), (3, 2));
    assert_eq!(
        new.meta_json,
        META.replace("\"n_layers\":2", "\"n_layers\":3")
    );
    let ProposalContent::ModelEvolution { blocks, .. } = &c else {
        unreachable!()
    };
    assert_eq!(blocks.len(), 4);
    for b in blocks {
        let h = dag::head(&s, MODEL, &b.name).unwrap().unwrap();
        assert_eq!((h.cid.as_str(), h.layer), (b.cid.as_str(), Some(2)));
        assert_eq!(h.depends_on, vec![new.meta_block]);
        assert_eq!(h.version.to_string(), "2.0.0");
    }
    assert_eq!(
        dag::head(&s, MODEL, "layer2.backbone")
            .unwrap()
            .unwrap()
            .block_type,
        BlockType::Backbone
    );
    for n in ["embed", "head", "layer1.router", "layer0.expert1"] {
        assert_eq!(
            dag::history(&s, MODEL, n).unwrap().len(),
            1,
            "{n} unchanged"
        );
    }
    assert_ne!(new.meta_block, old.meta_block);

    let mut m = submission(&s, 10 * BLY);
    m.base_heads = vec![BaseHead {
        block: "layer2.expert0".into(),
        id: head_id(&s, "layer2.expert0"),
    }];
    m.deltas[0].block = "layer2.expert0".into();
    let m = stamped(&s, "m1", m);
    let o = submit(&mut s, eff + 1, "m1", m);
    assert_eq!(o.code, 0, "{}", o.log);
}
