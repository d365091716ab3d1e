//! Helpers for Proof-of-Learning runtime tests: a genesis with a model that has a
//! validation set, well-formed submissions with stamps, and typed queries.
#![allow(dead_code)]

use blyan_chain::genesis::{init_chain, ChainGenesis, GenesisModelSpec, GenesisValidatorSpec};
use blyan_chain::query::answer;
use blyan_chain::{bank, dag, MemState, TxOutcome};
use blyan_proto::dag::{BlockSpec, ModelArch, SemVer, ValidationSet};
use blyan_proto::event::{Event, FeeEvent};
use blyan_proto::params::{FeeParams, StakingParams, TxParams};
use blyan_proto::pol::{
    solve_stamp, BaseHead, CommitAttestation, DeltaRef, PolMsg, PolParams, StampInput, SubmitDelta,
};
use blyan_proto::query::QueryPath;
use blyan_proto::{Fee, Msg, Tx, BLY};
use parity_scale_codec::Decode;

use super::*;

pub(crate) const MODEL: &str = "tiny";

pub(crate) fn params() -> PolParams {
    PolParams {
        round_blocks: 5,
        phase1_blocks: 3,
        phase2_blocks: 3,
        hashcash_bits: 8,
        quota_newbie_per_day: 3,
        ..Default::default()
    }
}

pub(crate) fn arch() -> ModelArch {
    ModelArch {
        arch: "blyan-moe-v1".into(),
        n_layers: 1,
        n_experts: 2,
    }
}

pub(crate) fn genesis_with(p: PolParams, validation: bool) -> MemState {
    genesis_with_validators(p, validation, &["proposer"])
}

/// Operators of the validators named in `validators` (each with power 10).
pub(crate) fn genesis_with_validators(
    p: PolParams,
    validation: bool,
    validators: &[&str],
) -> MemState {
    let blocks = dag::block_names(&arch())
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
            accounts: ["m1", "m2", "m3", "m4", "outsider"]
                .iter()
                .map(|n| (key(n).address(), 1_000 * BLY))
                .chain(
                    validators
                        .iter()
                        .filter(|v| **v != "proposer")
                        .map(|v| (key(v).address(), 1_000 * BLY)),
                )
                .chain([(proposer(), 10 * BLY)])
                .collect(),
            emission_reserve: 400_000_000 * BLY,
            staking_params: StakingParams::default(),
            pol_params: p,
            dag_params: Default::default(),
            inference_params: Default::default(),
            gov_params: Default::default(),
            validators: validators
                .iter()
                .enumerate()
                .map(|(i, v)| GenesisValidatorSpec {
                    operator: key(v).address(),
                    consensus_key: [u8::try_from(i).unwrap() + 7; 32],
                    moniker: format!("v{i}"),
                    power: 10,
                })
                .collect(),
            models: vec![GenesisModelSpec {
                id: MODEL.into(),
                owner: proposer(),
                arch: arch(),
                meta_json: "{}".into(),
                blocks,
                validation: validation.then(|| ValidationSet {
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

pub(crate) fn head(s: &MemState, name: &str) -> BaseHead {
    BaseHead {
        block: name.into(),
        id: dag::head(s, MODEL, name).unwrap().unwrap().id,
    }
}

/// A well-formed submission of a delta to `layer0.expert1`, without a stamp.
pub(crate) fn submission(s: &MemState, bond: u128) -> SubmitDelta {
    SubmitDelta {
        model: MODEL.into(),
        base_heads: vec![head(s, "layer0.expert1")],
        deltas: vec![DeltaRef {
            block: "layer0.expert1".into(),
            cid: "bafkdelta".into(),
            hash: [3u8; 32],
            size: 20_000,
        }],
        samples: 800,
        dataset_refs: vec!["synthetic:seed=1".into()],
        manifest_cid: "bafkmanifest".into(),
        manifest_hash: [4u8; 32],
        manifest_size: 900,
        bond,
        stamp: None,
    }
}

/// [`submission`] with a delta content hash of `who`'s own, so miners of one round do not
/// submit copies of each other (the chain refuses those: `DuplicateDelta`).
pub(crate) fn submission_of(s: &MemState, who: &str, bond: u128) -> SubmitDelta {
    let mut m = submission(s, bond);
    m.deltas[0].hash = blyan_proto::hash::keccak256(who.as_bytes());
    m
}

pub(crate) fn nonce_of(s: &MemState, who: &str) -> u64 {
    blyan_chain::auth::nonce(s, &key(who).address()).unwrap()
}

pub(crate) fn stamp_for(s: &MemState, who: &str, m: &SubmitDelta, bits: u32) -> u64 {
    let signer = key(who).address();
    solve_stamp(
        &StampInput {
            chain_id: CHAIN,
            signer: &signer,
            tx_nonce: nonce_of(s, who),
            manifest_hash: &m.manifest_hash,
        },
        bits,
    )
}

pub(crate) fn stamped(s: &MemState, who: &str, mut m: SubmitDelta) -> SubmitDelta {
    m.stamp = Some(stamp_for(s, who, &m, params().hashcash_bits));
    m
}

pub(crate) fn tx(s: &MemState, name: &str, m: SubmitDelta) -> Tx {
    pol_tx(s, name, PolMsg::SubmitDelta(m))
}

/// A transaction from `name` carrying one `pol` message, at its next nonce.
pub(crate) fn pol_tx(s: &MemState, name: &str, m: PolMsg) -> Tx {
    msg_tx(s, name, Msg::Pol(m))
}

/// A transaction from `name` carrying `m`, at its next nonce.
pub(crate) fn msg_tx(s: &MemState, name: &str, m: Msg) -> Tx {
    Tx {
        chain_id: CHAIN.into(),
        nonce: nonce_of(s, name),
        fee: Fee {
            gas_limit: 200_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1_000,
        },
        msgs: vec![m],
        memo: String::new(),
    }
}

/// The commitment `who` makes to attestation `m` (`MsgAttestSubmissions` or
/// `MsgAttestAggregate`, with its salt).
pub(crate) fn commit_to(who: &str, m: &PolMsg) -> PolMsg {
    let v = key(who).address();
    let (round, phase, commitment) = match m {
        PolMsg::AttestSubmissions(a) => (a.round, 1, a.commitment(&v)),
        PolMsg::AttestAggregate(a) => (a.round, 2, a.commitment(&v)),
        other => panic!("{other:?} is not an attestation"),
    };
    PolMsg::Commit(CommitAttestation {
        round,
        phase,
        commitment,
    })
}

pub(crate) fn submit(s: &mut MemState, height: u64, who: &str, m: SubmitDelta) -> TxOutcome {
    let k = key(who);
    let t = verify(tx(s, who, m), &k);
    run_block(s, height, &[t]).remove(0)
}

pub(crate) fn fee_paid(o: &TxOutcome) -> u128 {
    o.events
        .iter()
        .find_map(|e| match e {
            Event::Fees(FeeEvent::FeePaid { burned, tip, .. }) => Some(burned + tip),
            _ => None,
        })
        .unwrap()
}

pub(crate) fn query<T: Decode>(s: &MemState, p: QueryPath) -> T {
    T::decode(&mut answer(s, &p).unwrap().value.as_slice()).unwrap()
}

pub(crate) fn balance(s: &MemState, who: &str) -> u128 {
    bank::balance(s, &key(who).address()).unwrap()
}

pub(crate) fn empty_blocks(s: &mut MemState, from: u64, to: u64) {
    for h in from..=to {
        run_block(s, h, &[]);
    }
}

/// Round 1's phase-2 attestation of one fixed aggregate of `layer0.expert1` with
/// `loss_micro`, salted with `salt`.
pub(crate) fn expert1_aggregate(loss_micro: u64, salt: u8) -> PolMsg {
    PolMsg::AttestAggregate(blyan_proto::pol::AttestAggregate {
        round: 1,
        aggregate_hash: [1; 32],
        blocks: vec![blyan_proto::pol::NewBlockVersion {
            block: "layer0.expert1".into(),
            delta_cid: "bafkaggdelta".into(),
            delta_hash: [1; 32],
            delta_size: 1_000,
            cid: "bafknew".into(),
            payload_hash: [2; 32],
            size: 4_096,
            momentum_cid: "bafkmomentum".into(),
            momentum_hash: [3; 32],
            momentum_size: 4_096,
        }],
        loss_micro,
        salt: [salt; 32],
    })
}
