//! Proof-of-Learning judging (second half of `pol`): phase-1 attestations give per
//! submission a stake-weighted median loss and flags carried by 1/3 of the attesting
//! power; Byzantine bonds are burned, harmful submissions pay a fee; an aggregate that more
//! than 2/3 of the power agrees on and that lowers the loss becomes new block versions and
//! pays learning and validation rewards. Quorum misses return bonds; every bad attestation
//! gets its own code and changes nothing but its fee and nonce. Every attestation is the
//! reveal of a commitment made in the phase's commit window (`pol_commit_reveal.rs` has the
//! attacks on that).

mod common;

use blyan_chain::pol::{self, BOND_POOL};
use blyan_chain::{bank, dag, MemState, TxOutcome, VerifiedTx};
use blyan_proto::dag::BlockType;
use blyan_proto::pol::{
    flags, AttestAggregate, AttestSubmissions, Judgement, NewBlockVersion, PolMsg, PolParams,
    RoundInfo, RoundStatus, RoundVoting, SubmissionInfo, SubmissionStatus, TrustLevel,
};
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, BLY};
use common::pol::*;
use common::*;

const VALIDATORS: [&str; 4] = ["v1", "v2", "v3", "v4"];
const BASE: u64 = 5_000_000;

fn judging_params() -> PolParams {
    PolParams {
        round_blocks: 3,
        phase1_blocks: 3,
        phase2_blocks: 3,
        hashcash_bits: 4,
        ..Default::default()
    }
}

fn net() -> MemState {
    genesis_with_validators(judging_params(), true, &VALIDATORS)
}

fn signed(s: &MemState, who: &str, m: PolMsg) -> VerifiedTx {
    verify(pol_tx(s, who, m), &key(who))
}

/// m1..m4 submit to layer0.expert1 at height 1 (samples 800, 400, 100, 100).
fn submit_all(s: &mut MemState) {
    submit_samples(s, [800, 400, 100, 100]);
}

/// m1..m4 submit distinct deltas to layer0.expert1 at height 1 declaring `samples`.
fn submit_samples(s: &mut MemState, samples: [u64; 4]) {
    let txs: Vec<VerifiedTx> = ["m1", "m2", "m3", "m4"]
        .iter()
        .zip(samples.iter())
        .map(|(m, samples)| {
            let mut msg = submission_of(s, m, 10 * BLY);
            msg.samples = *samples;
            let msg = stamped(s, m, msg);
            signed(s, m, PolMsg::SubmitDelta(msg))
        })
        .collect();
    for o in run_block(s, 1, &txs) {
        assert_eq!(o.code, 0, "{}", o.log);
    }
    run_block(s, 2, &[]);
    run_block(s, 3, &[]);
    let r: RoundInfo = query(s, QueryPath::Round(1));
    assert_eq!((r.status, r.total_power), (RoundStatus::Phase1, 40));
}

fn judgement(sub: u64, flags: u32, loss_micro: u64) -> Judgement {
    Judgement {
        submission: sub,
        flags,
        loss_micro,
        noise_micro: 0,
    }
}

/// What validator `i` says in phase 1: m1 and m2 improve, m3 is flagged by v1 and v2,
/// m4 makes things worse.
fn phase1(i: usize) -> AttestSubmissions {
    let flag = if i < 2 { flags::NORM } else { 0 };
    AttestSubmissions {
        round: 1,
        judgements: vec![
            judgement(1, 0, 4_600_000 + i as u64),
            judgement(2, 0, 4_800_000),
            judgement(3, flag, 9_000_000),
            judgement(4, 0, 5_200_000),
        ],
        salt: [i as u8; 32],
    }
}

fn aggregate(hash: u8, loss_micro: u64) -> AttestAggregate {
    AttestAggregate {
        round: 1,
        aggregate_hash: [hash; 32],
        blocks: vec![NewBlockVersion {
            block: "layer0.expert1".into(),
            delta_cid: "bafkaggdelta".into(),
            delta_hash: [hash; 32],
            delta_size: 1_000,
            cid: format!("bafknew{hash}"),
            payload_hash: [hash.wrapping_add(1); 32],
            size: 4_096,
            momentum_cid: format!("bafkmomentum{hash}"),
            momentum_hash: [hash.wrapping_add(2); 32],
            momentum_size: 4_096,
        }],
        loss_micro,
        salt: [hash; 32],
    }
}

fn attest_block(s: &mut MemState, height: u64, msgs: Vec<(&str, PolMsg)>) -> Vec<TxOutcome> {
    let txs: Vec<VerifiedTx> = msgs.into_iter().map(|(v, m)| signed(s, v, m)).collect();
    run_block(s, height, &txs)
}

/// Commits to `msgs` in block `height` and reveals them in the next one (the commit window
/// closes early when all four validators committed); the reveals' outcomes.
fn attest(s: &mut MemState, height: u64, msgs: Vec<(&str, PolMsg)>) -> Vec<TxOutcome> {
    let commits = msgs.iter().map(|(v, m)| (*v, commit_to(v, m))).collect();
    let outs = attest_block(s, height, commits);
    assert!(outs.iter().all(|o| o.code == 0), "{outs:?}");
    attest_block(s, height + 1, msgs)
}

#[test]
fn an_honest_round_is_accepted_attackers_pay_and_rewards_follow_improvement() {
    let mut s = net();
    let supply0 = bank::supply(&s).unwrap();
    let old_head = dag::head(&s, MODEL, "layer0.expert1").unwrap().unwrap();
    submit_all(&mut s);
    let before: Vec<u128> = ["m1", "m2", "m3", "m4"]
        .iter()
        .map(|m| balance(&s, m))
        .collect();

    let outs = attest(
        &mut s,
        4,
        (0..4)
            .map(|i| (VALIDATORS[i], PolMsg::AttestSubmissions(phase1(i))))
            .collect(),
    );
    assert!(outs.iter().all(|o| o.code == 0), "{outs:?}");
    // everyone committed at 4 and revealed at 5: phase 1 closed early
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!((r.status, r.phase1_power), (RoundStatus::Phase2, 40));
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    let status: Vec<SubmissionStatus> = subs.iter().map(|x| x.status).collect();
    assert_eq!(
        status,
        vec![
            SubmissionStatus::Admitted,
            SubmissionStatus::Admitted,
            SubmissionStatus::Byzantine,
            SubmissionStatus::Harmful
        ]
    );
    // stake-weighted (lower) median of 4.6M + {0,1,2,3}
    assert_eq!(subs[0].median_loss_micro, Some(4_600_001));
    assert_eq!(subs[2].flags, flags::NORM);
    assert_eq!(subs[2].penalty, 10 * BLY);
    assert_eq!(subs[3].penalty, BLY, "10% fee of the harmful bond");
    assert_eq!(balance(&s, "m3"), before[2], "the Byzantine bond is gone");
    assert_eq!(balance(&s, "m4"), before[3] + 9 * BLY);
    assert_eq!(
        bank::supply(&s).unwrap(),
        supply0 - 11 * BLY - 4 * judging_params().submission_fee - burned_fees(&s, supply0),
        "slash, harmful fee and the four submission fees burned"
    );

    // phase 2: v1..v3 agree on aggregate A, v4 says B; A has 30 of 40 power
    let outs = attest(
        &mut s,
        6,
        vec![
            ("v1", PolMsg::AttestAggregate(aggregate(1, 4_500_000))),
            ("v2", PolMsg::AttestAggregate(aggregate(1, 4_400_000))),
            ("v3", PolMsg::AttestAggregate(aggregate(1, 4_450_000))),
            ("v4", PolMsg::AttestAggregate(aggregate(2, 4_000_000))),
        ],
    );
    assert!(outs.iter().all(|o| o.code == 0), "{outs:?}");
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::Accepted, "{r:?}");
    assert_eq!(
        r.new_loss_micro,
        Some(4_450_000),
        "median of the agreeing three"
    );
    assert_eq!(r.phase2_agreeing_power, 30);
    assert_eq!(r.aggregate_hash, Some([1; 32]));
    assert_eq!(r.slashed, 10 * BLY);
    assert_eq!((r.bonds, bank::balance(&s, &BOND_POOL).unwrap()), (0, 0));

    // the model moved: a delta block, then the new version depending on it
    let rec = dag::must_model(&s, MODEL).unwrap();
    assert_eq!(rec.loss_micro, Some(4_450_000));
    let head = dag::head(&s, MODEL, "layer0.expert1").unwrap().unwrap();
    assert_eq!(r.new_blocks, vec![head.id]);
    assert_eq!(head.version.patch, old_head.version.patch + 1);
    assert_eq!(
        (head.cid.as_str(), head.payload_hash),
        ("bafknew1", [2; 32])
    );
    assert!(head.depends_on.contains(&old_head.id));
    let delta = head
        .depends_on
        .iter()
        .filter_map(|id| dag::block(&s, id).unwrap())
        .find(|b| b.block_type == BlockType::Delta)
        .expect("a delta block");
    assert_eq!(delta.cid, "bafkaggdelta");
    let momentum = head
        .depends_on
        .iter()
        .filter_map(|id| dag::block(&s, id).unwrap())
        .find(|b| b.block_type == BlockType::Momentum)
        .expect("a momentum block");
    assert_eq!(
        (momentum.cid.as_str(), momentum.payload_hash),
        ("bafkmomentum1", [3; 32])
    );
    assert!(momentum.depends_on.contains(&delta.id));
    let history = dag::history(&s, MODEL, "layer0.expert1").unwrap();
    assert_eq!(
        history.len(),
        2,
        "the delta and momentum blocks are not versions"
    );

    // rewards: 600 BLY by each one's own measured improvement (399,999 vs 200,000 µnats);
    // the declared samples (800 vs 400) play no part
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    let w1 = 399_999u128;
    let w2 = 200_000u128;
    let r1 = 600 * BLY * w1 / (w1 + w2);
    assert_eq!(subs[0].reward, r1);
    assert_eq!(subs[1].reward, 600 * BLY * w2 / (w1 + w2));
    assert_eq!(
        balance(&s, "m1"),
        before[0] + 10 * BLY + r1,
        "bond back plus reward"
    );
    assert_eq!(r.learning_rewards, subs[0].reward + subs[1].reward);
    assert_eq!(
        r.validation_rewards,
        60 * BLY,
        "20 BLY to each agreeing validator"
    );
    assert_eq!(
        pol::trust(&s, &key("m1").address())
            .unwrap()
            .consecutive_successes,
        1
    );
    let t3 = pol::trust(&s, &key("m3").address()).unwrap();
    assert_eq!((t3.level, t3.failed), (TrustLevel::Newbie, 1));
    blyan_chain::invariants::check_full_supply(&s).unwrap();
    // every attestation is queryable
    let atts: Vec<blyan_proto::pol::Attestation> = query(&s, QueryPath::Attestations(1));
    assert_eq!(atts.len(), 8);
}

/// Fees burned since genesis (base fee part), so supply checks can ignore them.
fn burned_fees(s: &MemState, _supply0: u128) -> u128 {
    blyan_chain::fees::burned(s).unwrap()
}

#[test]
fn quorum_misses_and_disagreement_return_bonds_and_no_improvement_rejects() {
    // phase 1 with half the power: no quorum, all bonds back
    let mut s = net();
    submit_all(&mut s);
    let m1 = balance(&s, "m1");
    let half: Vec<(&str, PolMsg)> = (0..2)
        .map(|i| (VALIDATORS[i], PolMsg::AttestSubmissions(phase1(i))))
        .collect();
    let commits = half.iter().map(|(v, m)| (*v, commit_to(v, m))).collect();
    attest_block(&mut s, 4, commits);
    run_block(&mut s, 5, &[]);
    // the commit window (4..=5) ran its course; both reveal in the last block of phase 1
    let outs = attest_block(&mut s, 6, half);
    assert!(outs.iter().all(|o| o.code == 0), "{outs:?}");
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::NoQuorum);
    assert_eq!(balance(&s, "m1"), m1 + 10 * BLY);
    assert_eq!(bank::balance(&s, &BOND_POOL).unwrap(), 0);

    // phase 2 split 2 vs 2: no aggregate has more than 2/3
    let mut s = net();
    submit_all(&mut s);
    attest(
        &mut s,
        4,
        (0..4)
            .map(|i| (VALIDATORS[i], PolMsg::AttestSubmissions(phase1(i))))
            .collect(),
    );
    let head0 = dag::head(&s, MODEL, "layer0.expert1").unwrap().unwrap();
    attest(
        &mut s,
        6,
        vec![
            ("v1", PolMsg::AttestAggregate(aggregate(1, 4_500_000))),
            ("v2", PolMsg::AttestAggregate(aggregate(1, 4_500_000))),
            ("v3", PolMsg::AttestAggregate(aggregate(2, 4_500_000))),
            ("v4", PolMsg::AttestAggregate(aggregate(2, 4_500_000))),
        ],
    );
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::NoQuorum);
    assert_eq!(r.slashed, 10 * BLY, "the phase-1 slash stands");
    assert_eq!(
        dag::head(&s, MODEL, "layer0.expert1").unwrap().unwrap(),
        head0
    );
    assert_eq!(bank::balance(&s, &BOND_POOL).unwrap(), 0);

    // an aggregate that improves by less than 1%: rejected, heads stay, bonds back
    let mut s = net();
    submit_all(&mut s);
    attest(
        &mut s,
        4,
        (0..4)
            .map(|i| (VALIDATORS[i], PolMsg::AttestSubmissions(phase1(i))))
            .collect(),
    );
    let m2 = balance(&s, "m2");
    attest(
        &mut s,
        6,
        (0..4)
            .map(|i| {
                (
                    VALIDATORS[i],
                    PolMsg::AttestAggregate(aggregate(1, BASE - 10_000)),
                )
            })
            .collect(),
    );
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!((r.status, r.learning_rewards), (RoundStatus::Rejected, 0));
    assert_eq!(balance(&s, "m2"), m2 + 10 * BLY);
    assert_eq!(dag::must_model(&s, MODEL).unwrap().loss_micro, Some(BASE));
    blyan_chain::invariants::check_full_supply(&s).unwrap();
}

fn expect(s: &mut MemState, height: u64, who: &str, m: PolMsg, code: ErrorCode) {
    let (bal, round) = (balance(s, who), query::<RoundInfo>(s, QueryPath::Round(1)));
    let voting: Option<RoundVoting> = query(s, QueryPath::Voting(1));
    let o = attest_block(s, height, vec![(who, m)]).remove(0);
    assert_eq!(o.code, code.as_u32(), "expected {code:?}: {}", o.log);
    assert_eq!(
        balance(s, who),
        bal - fee_paid(&o),
        "{code:?}: only the fee"
    );
    let after: RoundInfo = query(s, QueryPath::Round(1));
    assert_eq!(after, round, "{code:?}: the round is unchanged");
    let voting_after: Option<RoundVoting> = query(s, QueryPath::Voting(1));
    assert_eq!(voting_after, voting, "{code:?}: no commitment recorded");
}

#[test]
fn bad_attestations_get_their_own_codes_and_change_nothing() {
    // phases of 6 blocks: phase 1 commits at 4..=7 and reveals at 8..=9
    let mut s = genesis_with_validators(
        PolParams {
            phase1_blocks: 6,
            phase2_blocks: 6,
            ..judging_params()
        },
        true,
        &VALIDATORS,
    );
    let txs = vec![signed(
        &s,
        "m1",
        PolMsg::SubmitDelta(stamped(&s, "m1", submission(&s, 10 * BLY))),
    )];
    run_block(&mut s, 1, &txs);
    let one = |flags: u32, loss: u64| AttestSubmissions {
        round: 1,
        judgements: vec![judgement(1, flags, loss)],
        salt: [1; 32],
    };
    let good = PolMsg::AttestSubmissions(one(0, 4_000_000));
    // too early: the round still takes submissions
    expect(&mut s, 2, "v1", good.clone(), ErrorCode::PhaseClosed);
    expect(
        &mut s,
        2,
        "v1",
        commit_to("v1", &good),
        ErrorCode::PhaseClosed,
    );
    run_block(&mut s, 3, &[]);
    expect(&mut s, 4, "outsider", good.clone(), ErrorCode::NotValidator);
    expect(
        &mut s,
        4,
        "outsider",
        commit_to("outsider", &good),
        ErrorCode::NotValidator,
    );
    let mut unknown = one(0, 4_000_000);
    unknown.round = 9;
    expect(
        &mut s,
        4,
        "v1",
        PolMsg::AttestSubmissions(unknown),
        ErrorCode::UnknownRound,
    );
    let PolMsg::Commit(mut phase3) = commit_to("v1", &good) else {
        unreachable!()
    };
    phase3.phase = 3;
    expect(
        &mut s,
        4,
        "v1",
        PolMsg::Commit(phase3),
        ErrorCode::MalformedAttestation,
    );
    // a reveal during the commit window
    expect(
        &mut s,
        4,
        "v1",
        good.clone(),
        ErrorCode::RevealWindowNotOpen,
    );
    let o = attest_block(
        &mut s,
        4,
        ["v1", "v2", "v3"]
            .iter()
            .map(|v| (*v, commit_to(v, &good)))
            .collect(),
    );
    assert!(o.iter().all(|o| o.code == 0), "{o:?}");
    expect(
        &mut s,
        5,
        "v1",
        commit_to("v1", &good),
        ErrorCode::DuplicateCommitment,
    );
    expect(
        &mut s,
        7,
        "v1",
        good.clone(),
        ErrorCode::RevealWindowNotOpen,
    );
    // v4 never committed: too late now, and a reveal without a commitment counts for nothing
    expect(
        &mut s,
        8,
        "v4",
        commit_to("v4", &good),
        ErrorCode::CommitWindowClosed,
    );
    expect(&mut s, 8, "v4", good.clone(), ErrorCode::NoCommitment);
    let wrong_sub = AttestSubmissions {
        round: 1,
        judgements: vec![judgement(7, 0, 4_000_000)],
        salt: [1; 32],
    };
    expect(
        &mut s,
        8,
        "v1",
        PolMsg::AttestSubmissions(wrong_sub),
        ErrorCode::UnknownSubmission,
    );
    for bad in [
        AttestSubmissions {
            round: 1,
            judgements: vec![],
            salt: [1; 32],
        },
        one(1 << 20, 4_000_000),
        one(0, 0),
        one(0, pol::MAX_LOSS_MICRO + 1),
        AttestSubmissions {
            round: 1,
            judgements: vec![judgement(1, 0, 1), judgement(1, 0, 1)],
            salt: [1; 32],
        },
    ] {
        expect(
            &mut s,
            8,
            "v1",
            PolMsg::AttestSubmissions(bad),
            ErrorCode::MalformedAttestation,
        );
    }
    // well-formed but not what v1 committed to
    expect(
        &mut s,
        8,
        "v1",
        PolMsg::AttestSubmissions(one(0, 4_000_001)),
        ErrorCode::CommitmentMismatch,
    );
    // an aggregate in phase 1
    expect(
        &mut s,
        8,
        "v1",
        PolMsg::AttestAggregate(aggregate(1, 4_000_000)),
        ErrorCode::PhaseClosed,
    );
    let o = attest_block(&mut s, 8, vec![("v1", good.clone())]);
    assert_eq!(o[0].code, 0, "{}", o[0].log);
    expect(
        &mut s,
        8,
        "v1",
        good.clone(),
        ErrorCode::DuplicateAttestation,
    );
    // v2 and v3 reveal: every validator that committed revealed, phase 1 closes at once
    let o = attest_block(
        &mut s,
        8,
        ["v2", "v3"].iter().map(|v| (*v, good.clone())).collect(),
    );
    assert!(o.iter().all(|o| o.code == 0));
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::Phase2, "30 of 40 is a quorum");
    expect(&mut s, 9, "v4", good.clone(), ErrorCode::PhaseClosed);
    // phase 2 started at 9 (phase 1 closed at 8) and commits through 8 + 4 = 12
    let agg = PolMsg::AttestAggregate(aggregate(1, 4_000_000));
    let o = attest_block(&mut s, 10, vec![("v1", commit_to("v1", &agg))]);
    assert_eq!(o[0].code, 0, "{}", o[0].log);
    expect(
        &mut s,
        12,
        "v1",
        agg.clone(),
        ErrorCode::RevealWindowNotOpen,
    );
    // aggregates must name exactly the admitted blocks
    let mut wrong = aggregate(1, 4_000_000);
    wrong.blocks[0].block = "layer0.expert0".into();
    expect(
        &mut s,
        14,
        "v1",
        PolMsg::AttestAggregate(wrong),
        ErrorCode::MalformedAttestation,
    );
    let mut empty = aggregate(1, 4_000_000);
    empty.blocks[0].cid = String::new();
    expect(
        &mut s,
        14,
        "v1",
        PolMsg::AttestAggregate(empty),
        ErrorCode::MalformedAttestation,
    );
}

/// Runs phase 1 with every validator giving `judge(validator index, submission index)`
/// (committed at height 4, revealed at 5), then (when anything was admitted) a phase 2
/// where all agree on an aggregate with loss 4,400,000 (committed at 6, revealed at 7:
/// accepted).
fn judge_round(s: &mut MemState, judge: impl Fn(usize, usize) -> (u32, u64)) {
    let msgs = (0..4)
        .map(|v| {
            let judgements = (0..4)
                .map(|i| {
                    let (f, loss) = judge(v, i);
                    judgement(i as u64 + 1, f, loss)
                })
                .collect();
            (
                VALIDATORS[v],
                PolMsg::AttestSubmissions(AttestSubmissions {
                    round: 1,
                    judgements,
                    salt: [v as u8; 32],
                }),
            )
        })
        .collect();
    let outs = attest(s, 4, msgs);
    assert!(outs.iter().all(|o| o.code == 0), "{outs:?}");
    if query::<RoundInfo>(s, QueryPath::Round(1)).status == RoundStatus::Phase2 {
        let outs = attest(
            s,
            6,
            VALIDATORS
                .iter()
                .map(|v| (*v, PolMsg::AttestAggregate(aggregate(1, 4_400_000))))
                .collect(),
        );
        assert!(outs.iter().all(|o| o.code == 0), "{outs:?}");
    }
}

fn balances() -> impl Fn(&MemState) -> Vec<u128> {
    |s| {
        ["m1", "m2", "m3", "m4"]
            .iter()
            .map(|m| balance(s, m))
            .collect()
    }
}

#[test]
fn a_samples_claim_buys_nothing_rewards_follow_measured_improvement() {
    let mut s = net();
    // m2 declares u64::MAX samples for a delta that improves half as much as m1's; m3 and
    // m4 declare u64::MAX too and improve nothing measurable
    submit_samples(&mut s, [800, u64::MAX, u64::MAX, u64::MAX]);
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    let cap = judging_params().max_samples_per_submission;
    assert_eq!(
        subs.iter().map(|x| x.weight).collect::<Vec<_>>(),
        vec![800, cap, cap, cap],
        "the aggregation weight any claim buys is capped"
    );
    let before = balances()(&s);
    judge_round(&mut s, |_, i| (0, [4_600_000, 4_800_000, BASE, BASE][i]));
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::Accepted, "{r:?}");
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    // 600 BLY split by improvement: 400,000 : 200,000 : 0 : 0
    assert_eq!(
        subs.iter().map(|x| x.reward).collect::<Vec<_>>(),
        vec![400 * BLY, 200 * BLY, 0, 0]
    );
    let after = balances()(&s);
    assert_eq!(after[0], before[0] + 10 * BLY + 400 * BLY);
    assert_eq!(after[1], before[1] + 10 * BLY + 200 * BLY);
    assert_eq!(after[2], before[2] + 10 * BLY, "bond back, no reward");
    assert_eq!(after[3], before[3] + 10 * BLY, "bond back, no reward");
    blyan_chain::invariants::check_full_supply(&s).unwrap();

    // nobody improved alone (the aggregate did): equal shares, whatever the claims
    let mut s = net();
    submit_samples(&mut s, [1, u64::MAX, 1, 1]);
    judge_round(&mut s, |_, _| (0, BASE));
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    assert_eq!(
        subs.iter().map(|x| x.reward).collect::<Vec<_>>(),
        vec![150 * BLY; 4]
    );
}

#[test]
fn round_relative_flags_exclude_without_slashing_and_absolute_ones_still_slash() {
    let mut s = net();
    submit_all(&mut s);
    let before = balances()(&s);
    let (supply, burned) = (bank::supply(&s).unwrap(), burned_fees(&s, 0));
    // m2: every validator says COSINE and KRUM (a Sybil majority can steer both);
    // m3: v1 and v2 say KRUM only, and its own loss is worse than the base (absolute
    // evidence: harmful, not merely excluded); m4: COSINE with DISTANCE (absolute evidence)
    judge_round(&mut s, |v, i| match i {
        1 => (flags::COSINE | flags::KRUM, 4_700_000),
        2 if v < 2 => (flags::KRUM, 5_100_000),
        2 => (0, 5_100_000),
        3 => (flags::COSINE | flags::DISTANCE, 4_700_000),
        _ => (0, 4_600_000),
    });
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    assert_eq!(
        subs.iter().map(|x| x.status).collect::<Vec<_>>(),
        vec![
            SubmissionStatus::Admitted,
            SubmissionStatus::Excluded,
            SubmissionStatus::Harmful,
            SubmissionStatus::Byzantine
        ]
    );
    assert_eq!(subs[1].flags, flags::COSINE | flags::KRUM);
    assert_eq!((subs[1].penalty, subs[1].reward), (0, 0));
    assert_eq!(
        (subs[2].flags, subs[2].penalty, subs[2].reward),
        (flags::KRUM, BLY, 0)
    );
    assert_eq!(subs[3].penalty, 10 * BLY);
    let after = balances()(&s);
    assert_eq!(after[1], before[1] + 10 * BLY, "excluded: bond returned");
    assert_eq!(after[2], before[2] + 9 * BLY, "harmful: the 10% fee");
    assert_eq!(after[3], before[3], "absolute evidence: bond slashed");
    assert_eq!(
        after[0],
        before[0] + 10 * BLY + 600 * BLY,
        "the only admitted one"
    );
    for (m, failed) in [("m2", 0), ("m3", 1), ("m4", 1)] {
        let t = pol::trust(&s, &key(m).address()).unwrap();
        assert_eq!(
            (t.failed, t.consecutive_failures),
            (failed, failed as u32),
            "{m}: exclusion alone leaves trust alone"
        );
    }
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!((r.status, r.slashed), (RoundStatus::Accepted, 10 * BLY));
    assert_eq!(bank::balance(&s, &BOND_POOL).unwrap(), 0);
    // minted: the rewards; burned: m4's bond, m3's harmful fee and the attestations' fees
    assert_eq!(
        bank::supply(&s).unwrap(),
        supply + 660 * BLY - 11 * BLY - (burned_fees(&s, 0) - burned)
    );
}

#[test]
fn content_no_validator_could_fetch_keeps_its_bond_and_one_abstainer_changes_nothing() {
    let p = PolParams {
        slash_to_reward_pool: true,
        ..judging_params()
    };
    let mut s = genesis_with_validators(p.clone(), true, &VALIDATORS);
    submit_all(&mut s);
    let before = balances()(&s);
    let pool = bank::balance(&s, &pol::REWARD_POOL).unwrap();
    assert_eq!(pool, 4 * p.submission_fee, "the submission fees");
    // m2: nobody could fetch it; m3: v1 could not (it abstains: the other three decide,
    // even though its judgement also carries NORM and a low loss); m4: half the power
    // could not fetch it (no aggregate could reach 2/3 with it)
    judge_round(&mut s, |v, i| match (v, i) {
        (_, 1) => (flags::UNFETCHABLE, 1),
        (0, 2) => (flags::UNFETCHABLE | flags::NORM, 1),
        (0 | 1, 3) => (flags::UNFETCHABLE, 1),
        (_, 2) => (0, 4_800_000 + v as u64),
        _ => (0, 4_600_000),
    });
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    assert_eq!(
        subs.iter().map(|x| x.status).collect::<Vec<_>>(),
        vec![
            SubmissionStatus::Admitted,
            SubmissionStatus::Unfetchable,
            SubmissionStatus::Admitted,
            SubmissionStatus::Unfetchable
        ]
    );
    assert_eq!(
        (subs[1].flags, subs[1].median_loss_micro),
        (flags::UNFETCHABLE, None)
    );
    assert_eq!(
        (subs[2].flags, subs[2].median_loss_micro),
        (0, Some(4_800_002)),
        "the abstainer is out of the median and the flags"
    );
    assert_eq!((subs[1].penalty, subs[3].penalty), (10 * BLY, 10 * BLY));
    let after = balances()(&s);
    assert_eq!(after[1], before[1], "unfetchable: the bond is kept");
    assert_eq!(after[3], before[3], "unfetchable: the bond is kept");
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!((r.status, r.slashed), (RoundStatus::Accepted, 20 * BLY));
    // the kept bonds went to the reward pool and paid part of the rewards
    assert_eq!(r.learning_rewards, subs[0].reward + subs[2].reward);
    assert!(
        600 * BLY - r.learning_rewards <= 1,
        "paid in full but the dust"
    );
    assert_eq!(r.validation_rewards, 60 * BLY);
    assert_eq!(bank::balance(&s, &pol::REWARD_POOL).unwrap(), 0);
    let t2 = pol::trust(&s, &key("m2").address()).unwrap();
    assert_eq!(
        (t2.failed, t2.level),
        (1, TrustLevel::Newbie),
        "trust lowered like harmful"
    );
    assert_eq!(after[0], before[0] + 10 * BLY + subs[0].reward);
    assert_eq!(subs[0].reward, 600 * BLY * 400_000 / (400_000 + 199_998));
    blyan_chain::invariants::check_full_supply(&s).unwrap();
}

/// Issue 12: the sign-balance check ("a little is enough") is round-relative evidence: a
/// submission its validators flag SIGN_BIAS is excluded with its bond returned, its miner's
/// trust untouched.
#[test]
fn sign_bias_excludes_without_slashing() {
    let mut s = net();
    submit_all(&mut s);
    let before = balances()(&s);
    judge_round(&mut s, |_, i| match i {
        1 => (flags::SIGN_BIAS, 4_600_000),
        _ => (0, 4_600_000),
    });
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    assert_eq!(subs[1].status, SubmissionStatus::Excluded);
    assert_eq!(
        (subs[1].flags, subs[1].penalty, subs[1].reward),
        (flags::SIGN_BIAS, 0, 0)
    );
    assert_eq!(balances()(&s)[1], before[1] + 10 * BLY, "bond returned");
    let t = pol::trust(&s, &key("m2").address()).unwrap();
    assert_eq!((t.failed, t.consecutive_failures), (0, 0));
}
