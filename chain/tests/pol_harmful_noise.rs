//! The harmful verdict's noise tolerance (issue 12): validators attest, per submission,
//! the recorded loss minus its marginal improvement of the round's aggregate and the
//! standard error of that measurement (`noise_micro`). A submission is harmful only when
//! its median loss is above the base by more than `harmful_noise_bps` (2 standard errors)
//! of the median noise (or `harmful_tolerance_bps` of the base, if larger): honest work
//! that measures slightly worse within the noise is admitted and pays nothing; one
//! clearly beyond it pays the harmful fee.

mod common;

use blyan_chain::{MemState, TxOutcome, VerifiedTx};
use blyan_proto::event::Event;
use blyan_proto::pol::{
    AttestSubmissions, Judgement, PolEvent, PolMsg, PolParams, RoundInfo, RoundStatus,
    SubmissionInfo, SubmissionStatus,
};
use blyan_proto::query::QueryPath;
use blyan_proto::BLY;
use common::pol::*;
use common::*;

const VALIDATORS: [&str; 4] = ["v1", "v2", "v3", "v4"];
/// The genesis model's recorded loss.
const BASE: u64 = 5_000_000;

fn noise_params(harmful_noise_bps: u32) -> PolParams {
    PolParams {
        round_blocks: 3,
        phase1_blocks: 3,
        phase2_blocks: 3,
        hashcash_bits: 4,
        harmful_noise_bps,
        ..Default::default()
    }
}

fn signed(s: &MemState, who: &str, m: PolMsg) -> VerifiedTx {
    verify(pol_tx(s, who, m), &key(who))
}

/// m1 and m2 submit at height 1; phase 1 from height 4.
fn net(harmful_noise_bps: u32) -> MemState {
    let mut s = genesis_with_validators(noise_params(harmful_noise_bps), true, &VALIDATORS);
    let txs: Vec<VerifiedTx> = ["m1", "m2"]
        .iter()
        .map(|m| {
            let msg = stamped(&s, m, submission_of(&s, m, 10 * BLY));
            signed(&s, m, PolMsg::SubmitDelta(msg))
        })
        .collect();
    for o in run_block(&mut s, 1, &txs) {
        assert_eq!(o.code, 0, "{}", o.log);
    }
    empty_blocks(&mut s, 2, 3);
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::Phase1);
    s
}

fn judgement(submission: u64, loss_micro: u64, noise_micro: u64) -> Judgement {
    Judgement {
        submission,
        flags: 0,
        loss_micro,
        noise_micro,
    }
}

/// Validator `i`'s phase 1: m1 measures 3,000 µnats worse than the base, m2 9,000 worse,
/// both with a standard error around 2,000 µnats (the validators differ a little: the
/// stake-weighted median noise is 2,000).
fn phase1(i: usize) -> PolMsg {
    let noise = [1_900, 2_000, 2_100, 2_000][i];
    PolMsg::AttestSubmissions(AttestSubmissions {
        round: 1,
        judgements: vec![
            judgement(1, BASE + 3_000, noise),
            judgement(2, BASE + 9_000, noise),
        ],
        salt: [i as u8 + 1; 32],
    })
}

/// Commits at 4 and reveals at 5 (phase 1 then closes early); every event of both blocks.
fn judge(s: &mut MemState) -> Vec<Event> {
    let msgs: Vec<(&str, PolMsg)> = (0..4).map(|i| (VALIDATORS[i], phase1(i))).collect();
    let commits: Vec<VerifiedTx> = msgs
        .iter()
        .map(|(v, m)| signed(s, v, commit_to(v, m)))
        .collect();
    let mut events = Vec::new();
    for h in [4, 5] {
        // the reveals are signed after the commitments are in (nonces)
        let txs: Vec<VerifiedTx> = if h == 4 {
            commits.clone()
        } else {
            msgs.iter().map(|(v, m)| signed(s, v, m.clone())).collect()
        };
        let (outs, ev): (Vec<TxOutcome>, Vec<Event>) = run_block_events(s, h, &txs);
        for o in outs {
            assert_eq!(o.code, 0, "{}", o.log);
            events.extend(o.events);
        }
        events.extend(ev);
    }
    events
}

/// (verdict, median loss, tolerance, penalty) of each `SubmissionJudged` event.
fn verdicts(events: &[Event]) -> Vec<(String, u64, u64, u128)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Pol(PolEvent::SubmissionJudged {
                verdict,
                median_loss_micro,
                tolerance_micro,
                penalty,
                ..
            }) => Some((
                verdict.clone(),
                *median_loss_micro,
                *tolerance_micro,
                *penalty,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn slightly_worse_within_the_noise_is_admitted_and_clearly_worse_is_harmful() {
    assert_eq!(PolParams::default().harmful_noise_bps, 20_000);
    let mut s = net(PolParams::default().harmful_noise_bps);
    let m1 = balance(&s, "m1");
    let m2 = balance(&s, "m2");
    let events = judge(&mut s);
    // tolerance 2 × 2,000 = 4,000 µnats: +3,000 is within it, +9,000 is not
    assert_eq!(
        verdicts(&events),
        vec![
            ("admitted".into(), BASE + 3_000, 4_000, 0),
            ("harmful".into(), BASE + 9_000, 4_000, BLY),
        ]
    );
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    assert_eq!(
        subs.iter()
            .map(|x| (x.status, x.penalty))
            .collect::<Vec<_>>(),
        vec![
            (SubmissionStatus::Admitted, 0),
            (SubmissionStatus::Harmful, BLY)
        ]
    );
    assert_eq!(
        balance(&s, "m2"),
        m2 + 9 * BLY,
        "bond back less the 10% fee"
    );

    // the aggregate improves the model: the round is accepted and m1 gets its whole bond
    // back (plus the learning reward, alone among the admitted)
    let agg: Vec<(&str, PolMsg)> = VALIDATORS
        .iter()
        .enumerate()
        .map(|(i, v)| (*v, expert1_aggregate(4_900_000, i as u8 + 10)))
        .collect();
    let commits: Vec<VerifiedTx> = agg
        .iter()
        .map(|(v, m)| signed(&s, v, commit_to(v, m)))
        .collect();
    run_block(&mut s, 6, &commits);
    let reveals: Vec<VerifiedTx> = agg.into_iter().map(|(v, m)| signed(&s, v, m)).collect();
    for o in run_block(&mut s, 7, &reveals) {
        assert_eq!(o.code, 0, "{}", o.log);
    }
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::Accepted, "{r:?}");
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    assert_eq!((subs[0].penalty, subs[0].reward), (0, 600 * BLY));
    assert_eq!(balance(&s, "m1"), m1 + 10 * BLY + 600 * BLY);
}

#[test]
fn without_the_noise_tolerance_the_same_honest_work_would_pay() {
    // harmful_noise_bps 0 (and harmful_tolerance_bps 0): the old rule, any loss above the
    // base is harmful
    let mut s = net(0);
    let events = judge(&mut s);
    assert_eq!(
        verdicts(&events),
        vec![
            ("harmful".into(), BASE + 3_000, 0, BLY),
            ("harmful".into(), BASE + 9_000, 0, BLY),
        ]
    );
    // no submission admitted: the round ends in phase 1
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(r.status, RoundStatus::Rejected);
}
