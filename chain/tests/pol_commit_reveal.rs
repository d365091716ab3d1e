//! Attacks on Proof-of-Learning attestations (issue 11), each performed with signed
//! transactions through `run_block`:
//!
//! * a validator that copies another's revealed aggregate (or its commitment bytes)
//!   without having committed to it is refused (`NoCommitment`, `CommitmentMismatch`),
//!   pays only its fee and gets no validation reward;
//! * a reveal that does not match its commitment is refused and changes nothing;
//! * stake redelegated between two validators' attestations does not attest twice: both
//!   phases weigh the power snapshot taken when the round entered phase 1, and an operator
//!   that joined after it is refused (`NotInPowerSnapshot`);
//! * a phase-1 loss far from the median that a supermajority agrees with costs the
//!   validation reward, and cannot be pinned on an honest validator by a minority.

mod common;

use blyan_chain::{bank, MemState, TxOutcome, VerifiedTx};
use blyan_proto::event::Event;
use blyan_proto::pol::{
    flags, AttestSubmissions, Attestation, Judgement, PolEvent, PolMsg, PolParams, RoundInfo,
    RoundStatus, RoundVoting,
};
use blyan_proto::query::QueryPath;
use blyan_proto::{ErrorCode, Msg, StakingMsg, BLY};
use common::pol::*;
use common::*;

const BASE: u64 = 5_000_000;

/// Submissions through 3; each phase 6 blocks, committing in its first 4: phase 1 takes
/// commitments at 4..=7 and reveals at 8..=9 unless every validator committed earlier.
fn params() -> PolParams {
    PolParams {
        round_blocks: 3,
        phase1_blocks: 6,
        phase2_blocks: 6,
        hashcash_bits: 4,
        ..Default::default()
    }
}

fn net(validators: &[&str]) -> MemState {
    let mut s = genesis_with_validators(params(), true, validators);
    let m = stamped(&s, "m1", submission(&s, 10 * BLY));
    let txs = [signed(&s, "m1", PolMsg::SubmitDelta(m))];
    ok(&run_block(&mut s, 1, &txs));
    s
}

fn signed(s: &MemState, who: &str, m: PolMsg) -> VerifiedTx {
    verify(pol_tx(s, who, m), &key(who))
}

fn block(s: &mut MemState, height: u64, msgs: Vec<(&str, PolMsg)>) -> Vec<TxOutcome> {
    block_events(s, height, msgs).0
}

fn block_events(
    s: &mut MemState,
    height: u64,
    msgs: Vec<(&str, PolMsg)>,
) -> (Vec<TxOutcome>, Vec<Event>) {
    let txs: Vec<VerifiedTx> = msgs.into_iter().map(|(v, m)| signed(s, v, m)).collect();
    run_block_events(s, height, &txs)
}

fn ok(outs: &[TxOutcome]) {
    assert!(outs.iter().all(|o| o.code == 0), "{outs:?}");
}

fn judgements(loss_micro: u64, flag: u32, salt: u8) -> PolMsg {
    PolMsg::AttestSubmissions(AttestSubmissions {
        round: 1,
        judgements: vec![Judgement {
            submission: 1,
            flags: flag,
            loss_micro,
            noise_micro: 0,
        }],
        salt: [salt; 32],
    })
}

fn round1(s: &MemState) -> RoundInfo {
    query(s, QueryPath::Round(1))
}

fn voting1(s: &MemState) -> RoundVoting {
    query::<Option<RoundVoting>>(s, QueryPath::Voting(1)).expect("a voting record")
}

fn attestations1(s: &MemState) -> Vec<Attestation> {
    query(s, QueryPath::Attestations(1))
}

/// `who` sends `m` at `height`: refused with `code`, and nothing changes but its fee and
/// nonce.
fn refused(s: &mut MemState, height: u64, who: &str, m: PolMsg, code: ErrorCode) {
    let before = (round1(s), voting1(s), attestations1(s));
    let (bal, nonce) = (balance(s, who), nonce_of(s, who));
    let o = block(s, height, vec![(who, m)]).remove(0);
    assert_eq!(o.code, code.as_u32(), "expected {code:?}: {}", o.log);
    assert_eq!(
        balance(s, who),
        bal - fee_paid(&o),
        "{code:?}: only the fee"
    );
    assert_eq!(nonce_of(s, who), nonce + 1, "{code:?}: the nonce advances");
    // (end-block may move the round on; these checks run inside a window)
    assert_eq!(
        (round1(s), voting1(s), attestations1(s)),
        before,
        "{code:?}"
    );
}

/// Every validator in `msgs` commits at `height`.
fn commit_all(s: &mut MemState, height: u64, msgs: &[(&str, PolMsg)]) {
    let commits = msgs.iter().map(|(v, m)| (*v, commit_to(v, m))).collect();
    ok(&block(s, height, commits));
}

#[test]
fn copying_a_revealed_attestation_without_committing_to_it_is_refused() {
    let v = ["v1", "v2", "v3", "v4", "v5"];
    let mut s = net(&v);
    run_block(&mut s, 2, &[]);
    run_block(&mut s, 3, &[]);
    assert_eq!(round1(&s).total_power, 50);

    // Phase 1: v1..v4 commit to their judgements; v5 copies v1's commitment bytes from
    // the mempool, hoping to reveal v1's judgements once they are out.
    let honest: Vec<(&str, PolMsg)> = v[..4]
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, judgements(4_600_000, 0, i as u8 + 1)))
        .collect();
    commit_all(&mut s, 4, &honest);
    let copied = voting1(&s)
        .commitment_of(1, &key("v1").address())
        .unwrap()
        .commitment;
    let (outs, events) = block_events(
        &mut s,
        5,
        vec![(
            "v5",
            PolMsg::Commit(blyan_proto::pol::CommitAttestation {
                round: 1,
                phase: 1,
                commitment: copied,
            }),
        )],
    );
    ok(&outs);
    // all five committed: the commit window closed early
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Pol(PolEvent::RevealsOpen {
            round: 1,
            phase: 1,
            from: 6
        })
    )));
    assert_eq!(voting1(&s).phase1_commit_until, 5);

    ok(&block(&mut s, 6, vec![honest[0].clone()]));
    // v1's judgements with v1's salt do not hash to the copied commitment under v5's address
    refused(
        &mut s,
        6,
        "v5",
        honest[0].1.clone(),
        ErrorCode::CommitmentMismatch,
    );
    // a reveal that is not what v2 committed to changes nothing; its true reveal still counts
    refused(
        &mut s,
        6,
        "v2",
        judgements(4_000_000, 0, 2),
        ErrorCode::CommitmentMismatch,
    );
    ok(&block(&mut s, 6, honest[1..].to_vec()));
    let atts = attestations1(&s);
    assert_eq!(atts.len(), 4, "only revealed attestations count");
    assert!(atts.iter().all(|a| a.validator != key("v5").address()));
    // v5 committed but never revealed: phase 1 runs to its deadline (9), 40 of 50 is a quorum
    run_block(&mut s, 7, &[]);
    run_block(&mut s, 8, &[]);
    assert_eq!(round1(&s).status, RoundStatus::Phase1);
    run_block(&mut s, 9, &[]);
    let r = round1(&s);
    assert_eq!((r.status, r.phase1_power), (RoundStatus::Phase2, 40));

    // Phase 2 (10..=15, commitments through 13): v5 commits nothing and copies v1's
    // revealed aggregate verbatim.
    let aggs: Vec<(&str, PolMsg)> = v[..4]
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, expert1_aggregate(4_400_000, i as u8 + 1)))
        .collect();
    commit_all(&mut s, 10, &aggs);
    refused(
        &mut s,
        11,
        "v1",
        aggs[0].1.clone(),
        ErrorCode::RevealWindowNotOpen,
    );
    run_block(&mut s, 12, &[]);
    run_block(&mut s, 13, &[]);
    ok(&block(&mut s, 14, vec![aggs[0].clone()]));
    refused(&mut s, 14, "v5", aggs[0].1.clone(), ErrorCode::NoCommitment);
    refused(
        &mut s,
        14,
        "v5",
        commit_to("v5", &aggs[0].1),
        ErrorCode::CommitWindowClosed,
    );
    refused(
        &mut s,
        14,
        "v1",
        commit_to("v1", &aggs[0].1),
        ErrorCode::CommitWindowClosed,
    );
    let v5 = balance(&s, "v5");
    // the others reveal: every validator that committed revealed, the phase closes now
    ok(&block(&mut s, 14, aggs[1..].to_vec()));
    let r = round1(&s);
    assert_eq!(r.status, RoundStatus::Accepted, "{r:?}");
    assert_eq!(r.phase2_agreeing_power, 40);
    assert_eq!(balance(&s, "v5"), v5, "the copier earns nothing");
    assert_eq!(r.validation_rewards, 60 * BLY, "15 BLY to each of v1..v4");
    blyan_chain::invariants::check_full_supply(&s).unwrap();
}

fn staking(s: &MemState, who: &str, m: StakingMsg) -> VerifiedTx {
    verify(msg_tx(s, who, Msg::Staking(m)), &key(who))
}

#[test]
fn redelegated_stake_does_not_attest_twice_and_late_validators_are_refused() {
    let v = ["v1", "v2", "v3", "v4"];
    let mut s = net(&v);
    // m1 backs v1 with 30 BLY before the round closes: v1 holds 40 of 70
    let d = staking(
        &s,
        "m1",
        StakingMsg::Delegate {
            validator: key("v1").address(),
            amount: 30 * BLY,
        },
    );
    ok(&run_block(&mut s, 2, &[d]));
    run_block(&mut s, 3, &[]);
    let snap = voting1(&s);
    assert_eq!(round1(&s).total_power, 70);
    assert_eq!(snap.power_of(&key("v1").address()), Some(40));

    // An operator that joins after the snapshot.
    let create = staking(
        &s,
        "outsider",
        StakingMsg::CreateValidator {
            consensus_key: [99; 32],
            moniker: "late".into(),
            commission_bps: 500,
            self_stake: 100 * BLY,
        },
    );
    ok(&run_block(&mut s, 4, &[create]));
    let active = blyan_chain::staking::active_set(&s).unwrap();
    assert!(active.contains(&(key("outsider").address(), 100)));

    let p1: Vec<(&str, PolMsg)> = v
        .iter()
        .map(|name| (*name, judgements(4_600_000, 0, 1)))
        .collect();
    commit_all(&mut s, 5, &p1);
    refused(
        &mut s,
        5,
        "outsider",
        commit_to("outsider", &p1[0].1),
        ErrorCode::NotInPowerSnapshot,
    );
    run_block(&mut s, 6, &[]); // the window closed early at 5
                               // v1 reveals with its 40; then m1 moves the 30 BLY to v2, which reveals next
    ok(&block(&mut s, 7, vec![p1[0].clone()]));
    let re = staking(
        &s,
        "m1",
        StakingMsg::Redelegate {
            from: key("v1").address(),
            to: key("v2").address(),
            amount: 30 * BLY,
        },
    );
    ok(&run_block(&mut s, 7, &[re]));
    let active = blyan_chain::staking::active_set(&s).unwrap();
    assert!(active.contains(&(key("v2").address(), 40)), "{active:?}");
    refused(
        &mut s,
        8,
        "outsider",
        judgements(4_600_000, 0, 1),
        ErrorCode::NotInPowerSnapshot,
    );
    ok(&block(&mut s, 8, p1[1..].to_vec()));
    let power = |s: &MemState, who: &str, phase2: bool| {
        attestations1(s)
            .iter()
            .find(|a| a.validator == key(who).address() && a.aggregate.is_some() == phase2)
            .map(|a| a.power)
    };
    assert_eq!(power(&s, "v1", false), Some(40));
    assert_eq!(power(&s, "v2", false), Some(10), "the snapshot, not 40");
    let r = round1(&s);
    assert_eq!((r.status, r.phase1_power), (RoundStatus::Phase2, 70));

    // phase 2 is weighed by the same snapshot
    let p2: Vec<(&str, PolMsg)> = v
        .iter()
        .map(|name| (*name, expert1_aggregate(4_400_000, 1)))
        .collect();
    commit_all(&mut s, 9, &p2);
    ok(&block(&mut s, 10, p2.clone()));
    assert_eq!(power(&s, "v2", true), Some(10));
    assert_eq!(power(&s, "v1", true), Some(40));
    let r = round1(&s);
    assert_eq!(r.status, RoundStatus::Accepted, "{r:?}");
    assert_eq!((r.phase2_power, r.phase2_agreeing_power), (70, 70));
    assert!(power(&s, "outsider", false).is_none());
}

#[test]
fn a_loss_far_from_the_median_costs_the_validation_reward() {
    let v = ["v1", "v2", "v3", "v4"];
    let mut s = net(&v);
    run_block(&mut s, 2, &[]);
    run_block(&mut s, 3, &[]);
    // v4 reports 3.0 nats where the other three measured 4.6 (more than 5% off)
    let p1: Vec<(&str, PolMsg)> = v
        .iter()
        .map(|name| {
            let loss = if *name == "v4" { 3_000_000 } else { 4_600_000 };
            (*name, judgements(loss, 0, 1))
        })
        .collect();
    commit_all(&mut s, 4, &p1);
    let txs: Vec<VerifiedTx> = p1.iter().map(|(n, m)| signed(&s, n, m.clone())).collect();
    let (outs, events) = run_block_events(&mut s, 5, &txs);
    ok(&outs);
    let deviated: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Pol(PolEvent::AttesterDeviated { .. })))
        .collect();
    assert_eq!(
        deviated,
        vec![&Event::Pol(PolEvent::AttesterDeviated {
            round: 1,
            validator: key("v4").address(),
            submission: 1,
            loss_micro: 3_000_000,
            median_loss_micro: 4_600_000,
        })]
    );
    assert_eq!(voting1(&s).deviating, vec![key("v4").address()]);
    assert_eq!(round1(&s).status, RoundStatus::Phase2);

    // v4 still agrees on the aggregate (and counts for the quorum) but is not paid
    let p2: Vec<(&str, PolMsg)> = v
        .iter()
        .map(|n| (*n, expert1_aggregate(4_400_000, 2)))
        .collect();
    commit_all(&mut s, 6, &p2);
    let before: Vec<u128> = v.iter().map(|n| balance(&s, n)).collect();
    let txs: Vec<VerifiedTx> = p2.iter().map(|(n, m)| signed(&s, n, m.clone())).collect();
    let outs = run_block(&mut s, 7, &txs);
    ok(&outs);
    let r = round1(&s);
    assert_eq!(
        (r.status, r.phase2_agreeing_power),
        (RoundStatus::Accepted, 40)
    );
    assert_eq!(r.validation_rewards, 60 * BLY, "20 BLY to each of v1..v3");
    for (i, n) in v.iter().enumerate() {
        let got = balance(&s, n) + fee_paid(&outs[i]) - before[i];
        assert_eq!(got, if *n == "v4" { 0 } else { 20 * BLY }, "{n}");
    }
    assert!(bank::supply(&s).is_ok());
}

#[test]
fn a_minority_cannot_make_an_honest_validator_deviate() {
    for (losses, label) in [
        // two against two: no supermajority agrees on the median
        ([4_600_000, 4_600_000, 3_000_000, 3_000_000], "split"),
        // three close to each other, but v4 flagged the submission (e.g. it could not
        // fetch it): flagged judgements are never compared
        ([4_600_000, 4_600_000, 4_610_000, 999_000_000], "flagged"),
    ] {
        let v = ["v1", "v2", "v3", "v4"];
        let mut s = net(&v);
        run_block(&mut s, 2, &[]);
        run_block(&mut s, 3, &[]);
        let p1: Vec<(&str, PolMsg)> = v
            .iter()
            .zip(losses)
            .map(|(n, loss)| {
                let flag = if loss > BASE * 10 {
                    flags::UNFETCHABLE
                } else {
                    0
                };
                (*n, judgements(loss, flag, 1))
            })
            .collect();
        commit_all(&mut s, 4, &p1);
        let txs: Vec<VerifiedTx> = p1.iter().map(|(n, m)| signed(&s, n, m.clone())).collect();
        let (outs, events) = run_block_events(&mut s, 5, &txs);
        ok(&outs);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::Pol(PolEvent::AttesterDeviated { .. }))),
            "{label}: {events:?}"
        );
        assert!(voting1(&s).deviating.is_empty(), "{label}");
    }
}

/// Two ways around the deviation check, both closed: v6 flags the submission `KRUM` with a
/// made-up loss (a flag carried by too little power to matter, which used to take its
/// judgement out of the comparison), and v7 skips phase 1 altogether and only agrees on
/// the aggregate. Neither is paid for validation; the five that measured are.
#[test]
fn flagging_to_dodge_the_comparison_or_skipping_phase_one_earns_no_validation_reward() {
    let v = ["v1", "v2", "v3", "v4", "v5", "v6", "v7"];
    let mut s = net(&v);
    run_block(&mut s, 2, &[]);
    run_block(&mut s, 3, &[]);
    let p1: Vec<(&str, PolMsg)> = v[..6]
        .iter()
        .map(|name| {
            let (loss, flag) = if *name == "v6" {
                (1, flags::KRUM)
            } else {
                (4_600_000, 0)
            };
            (*name, judgements(loss, flag, 1))
        })
        .collect();
    commit_all(&mut s, 4, &p1);
    // v7 never commits, so the commit window runs to its end; the reveals follow it
    let reveal_at = voting1(&s).phase1_commit_until + 1;
    for h in 5..reveal_at {
        run_block(&mut s, h, &[]);
    }
    let txs: Vec<VerifiedTx> = p1.iter().map(|(n, m)| signed(&s, n, m.clone())).collect();
    let (outs, events) = run_block_events(&mut s, reveal_at, &txs);
    ok(&outs);
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Pol(PolEvent::AttesterDeviated { validator, loss_micro: 1, .. })
                if *validator == key("v6").address())),
        "{events:?}"
    );
    assert_eq!(voting1(&s).deviating, vec![key("v6").address()]);
    assert_eq!(round1(&s).status, RoundStatus::Phase2);

    // all seven agree on the aggregate (and count for the quorum)
    let p2: Vec<(&str, PolMsg)> = v
        .iter()
        .map(|n| (*n, expert1_aggregate(4_400_000, 2)))
        .collect();
    let commit_at = reveal_at + 1;
    commit_all(&mut s, commit_at, &p2);
    let before: Vec<u128> = v.iter().map(|n| balance(&s, n)).collect();
    let txs: Vec<VerifiedTx> = p2.iter().map(|(n, m)| signed(&s, n, m.clone())).collect();
    let outs = run_block(&mut s, commit_at + 1, &txs);
    ok(&outs);
    let r = round1(&s);
    assert_eq!(r.status, RoundStatus::Accepted, "{r:?}");
    let got: Vec<u128> = v
        .iter()
        .enumerate()
        .map(|(i, _)| balance(&s, v[i]) + fee_paid(&outs[i]) - before[i])
        .collect();
    assert!(got[..5].iter().all(|g| *g > 0 && *g == got[0]), "{got:?}");
    assert_eq!(
        got[5..],
        [0, 0],
        "v6 (dodged) and v7 (skipped phase 1): {got:?}"
    );
    assert_eq!(r.validation_rewards, got[0] * 5);
}

/// A validator tombstoned for double signing in the very block that closes submissions is
/// still in the set last sent to CometBFT, but it gets no voice in the round's snapshot.
#[test]
fn a_validator_tombstoned_as_the_round_closes_is_left_out_of_the_snapshot() {
    use blyan_chain::staking::{consensus_address, Infraction, Misbehavior};
    use blyan_chain::BlockExecutor;
    let v = ["v1", "v2", "v3", "v4"];
    let mut s = net(&v);
    run_block(&mut s, 2, &[]);
    // v4 (genesis consensus key [10; 32]) double-signed at height 2; the evidence arrives
    // with block 3, the last block of submissions
    let mut c = ctx(3);
    c.misbehavior = vec![Misbehavior {
        kind: Infraction::DuplicateVote,
        consensus_address: consensus_address(&[10; 32]),
        height: 2,
    }];
    let writes = BlockExecutor::begin_block(&s, c)
        .unwrap()
        .end()
        .unwrap()
        .writes;
    blyan_chain::state::apply_writes(&mut s, writes);
    let snapshot = voting1(&s);
    assert_eq!(round1(&s).status, RoundStatus::Phase1);
    assert!(
        snapshot.power_of(&key("v4").address()).is_none(),
        "{snapshot:?}"
    );
    assert_eq!(snapshot.total_power(), 30);
    refused(
        &mut s,
        4,
        "v4",
        commit_to("v4", &judgements(4_600_000, 0, 1)),
        // tombstoned: it no longer operates an active validator at all
        ErrorCode::NotValidator,
    );
}
