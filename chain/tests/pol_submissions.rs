//! Proof-of-Learning submissions (first half of `pol`): rounds open with the first
//! submission, bonds are locked and returned when no quorum judges the round, trust levels
//! set quota, bond and stamp, and every bad submission gets its own code and leaves only
//! its fee and nonce.

mod common;

use blyan_chain::pol::{self, BOND_POOL};
use blyan_chain::state::{apply_writes, Overlay};
use blyan_chain::{bank, MemState};
use blyan_proto::pol::{
    solve_stamp, PolParams, RoundInfo, RoundStatus, StampInput, SubmissionInfo, SubmissionStatus,
    SubmitDelta, TrustLevel,
};
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, ErrorCode, BLY};
use common::pol::*;
use common::*;

#[test]
fn a_round_opens_locks_bonds_closes_and_returns_bonds_without_quorum() {
    let mut s = genesis_with(params(), true);
    let before = balance(&s, "m1");
    let m = stamped(&s, "m1", submission(&s, 10 * BLY));
    let o = submit(&mut s, 1, "m1", m.clone());
    assert_eq!(o.code, 0, "{}", o.log);
    let submission_fee = params().submission_fee;
    assert!(submission_fee > 0);
    let mut tx_fees = fee_paid(&o);
    assert_eq!(
        balance(&s, "m1"),
        before - tx_fees - submission_fee - 10 * BLY
    );
    assert_eq!(bank::balance(&s, &BOND_POOL).unwrap(), 10 * BLY);

    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(
        (
            r.status,
            r.opened_at,
            r.submit_until,
            r.phase1_until,
            r.phase2_until
        ),
        (RoundStatus::Open, 1, 5, 8, 11)
    );
    assert_eq!(r.base_loss_micro, Some(5_000_000));
    let sub: SubmissionInfo = query(&s, QueryPath::Submission(1));
    assert_eq!(sub.miner, key("m1").address());
    assert_eq!(
        (sub.bond, sub.trust, sub.status),
        (10 * BLY, TrustLevel::Newbie, SubmissionStatus::Pending)
    );
    assert_eq!(sub.manifest_cid, "bafkmanifest");
    assert_eq!(
        (sub.samples, sub.weight, sub.fee),
        (800, 800, submission_fee)
    );
    assert_eq!(sub.deltas, m.deltas);
    let current: Option<RoundInfo> = query(&s, QueryPath::CurrentRound(MODEL.into()));
    assert_eq!(current.map(|r| r.id), Some(1));

    // a second miner joins the same round; the first cannot submit twice
    let m2 = stamped(&s, "m2", submission_of(&s, "m2", 12 * BLY));
    assert_eq!(submit(&mut s, 3, "m2", m2).code, 0);
    let dup = stamped(&s, "m1", submission(&s, 10 * BLY));
    let o = submit(&mut s, 4, "m1", dup);
    assert_eq!(o.code, ErrorCode::DuplicateSubmission.as_u32(), "{}", o.log);
    tx_fees += fee_paid(&o);
    let subs: Vec<SubmissionInfo> = query(&s, QueryPath::Submissions(1));
    assert_eq!(subs.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2]);

    // closes at the end of height 5; submissions after that are refused
    run_block(&mut s, 5, &[]);
    assert_eq!(
        query::<RoundInfo>(&s, QueryPath::Round(1)).status,
        RoundStatus::Phase1
    );
    let late = stamped(&s, "m3", submission_of(&s, "m3", 10 * BLY));
    let o = submit(&mut s, 6, "m3", late);
    assert_eq!(o.code, ErrorCode::RoundNotOpen.as_u32(), "{}", o.log);

    // no commitments: when phase 1's commit window (6..=7) ends nobody can reveal, so the
    // phase closes then, before its deadline (8), and every bond goes back
    let (b1, b2) = (balance(&s, "m1"), balance(&s, "m2"));
    empty_blocks(&mut s, 7, 7);
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!(
        (r.status, r.ended_at, r.bonds),
        (RoundStatus::NoQuorum, 7, 0)
    );
    assert_eq!(balance(&s, "m1"), b1 + 10 * BLY);
    assert_eq!(balance(&s, "m2"), b2 + 12 * BLY);
    assert_eq!(bank::balance(&s, &BOND_POOL).unwrap(), 0);
    // the bond came back, the submission fee did not (stalling a round is not free)
    assert_eq!(
        balance(&s, "m1"),
        before - tx_fees - submission_fee,
        "a no-quorum round keeps the submission fee (once: the refused duplicate paid none)"
    );
    let sub: SubmissionInfo = query(&s, QueryPath::Submission(2));
    assert_eq!(sub.status, SubmissionStatus::Returned);
    assert!(query::<Option<RoundInfo>>(&s, QueryPath::CurrentRound(MODEL.into())).is_none());

    // the next submission opens round 2
    let m3 = stamped(&s, "m3", submission_of(&s, "m3", 10 * BLY));
    assert_eq!(submit(&mut s, 9, "m3", m3).code, 0);
    let rounds: Vec<RoundInfo> = query(&s, QueryPath::Rounds(MODEL.into()));
    assert_eq!(rounds.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2]);
    blyan_chain::invariants::check_full_supply(&s).unwrap();
}

/// Runs `m` from `who` at `height` in Deliver mode; asserts the code and that only the fee
/// and nonce changed.
fn assert_rejected(s: &mut MemState, height: u64, who: &str, m: SubmitDelta, code: ErrorCode) {
    let (bal, nonce, pool) = (
        balance(s, who),
        nonce_of(s, who),
        bank::balance(s, &BOND_POOL).unwrap(),
    );
    let rounds: Vec<RoundInfo> = query(s, QueryPath::Rounds(MODEL.into()));
    let trust_before = pol::trust(s, &key(who).address()).unwrap();
    let o = submit(s, height, who, m);
    assert_eq!(
        o.code,
        code.as_u32(),
        "expected {code:?}, got {}: {}",
        o.code,
        o.log
    );
    assert!(!o.log.is_empty());
    assert_eq!(
        balance(s, who),
        bal - fee_paid(&o),
        "{code:?}: only the fee is charged"
    );
    assert_eq!(nonce_of(s, who), nonce + 1);
    assert_eq!(
        bank::balance(s, &BOND_POOL).unwrap(),
        pool,
        "{code:?}: no bond moved"
    );
    assert_eq!(
        query::<Vec<RoundInfo>>(s, QueryPath::Rounds(MODEL.into())),
        rounds
    );
    assert_eq!(pol::trust(s, &key(who).address()).unwrap(), trust_before);
}

#[test]
fn bad_submissions_get_their_own_codes_and_keep_only_fee_and_nonce() {
    let mut s = genesis_with(params(), true);
    let p = params();
    let mut h = 1;
    let mut next = || {
        h += 1;
        h
    };
    let base = submission(&s, 10 * BLY);

    let mut stale = base.clone();
    stale.base_heads[0].id = head(&s, "layer0.expert0").id;
    let m = stamped(&s, "m1", stale);
    assert_rejected(&mut s, next(), "m1", m, ErrorCode::StaleBaseHeads);

    let mut unknown = base.clone();
    unknown.deltas[0].block = "layer3.expert0".into();
    unknown.base_heads[0].block = "layer3.expert0".into();
    let m = stamped(&s, "m1", unknown);
    assert_rejected(&mut s, next(), "m1", m, ErrorCode::UnknownBlock);

    let mut meta = base.clone();
    meta.deltas[0].block = "meta".into();
    meta.base_heads[0].block = "meta".into();
    let m = stamped(&s, "m1", meta);
    assert_rejected(&mut s, next(), "m1", m, ErrorCode::UnknownBlock);

    let m = stamped(&s, "m1", submission(&s, 0));
    assert_rejected(&mut s, next(), "m1", m, ErrorCode::BondTooLow);
    let m = stamped(&s, "m1", submission(&s, p.min_bond_newbie - 1));
    assert_rejected(&mut s, next(), "m1", m, ErrorCode::BondTooLow);

    assert_rejected(&mut s, next(), "m1", base.clone(), ErrorCode::MissingStamp);
    let mut bad = stamped(&s, "m1", base.clone());
    // a stamp solved for another transaction nonce
    let signer = key("m1").address();
    bad.stamp = Some(solve_stamp(
        &StampInput {
            chain_id: CHAIN,
            signer: &signer,
            tx_nonce: nonce_of(&s, "m1") + 7,
            manifest_hash: &bad.manifest_hash,
        },
        params().hashcash_bits,
    ));
    let own = StampInput {
        chain_id: CHAIN,
        signer: &signer,
        tx_nonce: nonce_of(&s, "m1"),
        manifest_hash: &bad.manifest_hash,
    };
    assert!(
        blyan_proto::pol::leading_zero_bits(&blyan_proto::pol::stamp_digest(
            &own,
            bad.stamp.unwrap()
        )) < params().hashcash_bits
    );
    assert_rejected(&mut s, next(), "m1", bad, ErrorCode::BadStamp);

    let mut big = base.clone();
    big.manifest_size = p.max_manifest_bytes + 1;
    let m = stamped(&s, "m1", big);
    assert_rejected(&mut s, next(), "m1", m, ErrorCode::ManifestTooLarge);

    let mut big = base.clone();
    big.deltas[0].size = p.max_delta_bytes + 1;
    let m = stamped(&s, "m1", big);
    assert_rejected(&mut s, next(), "m1", m, ErrorCode::DeltaTooLarge);

    for broken in [
        SubmitDelta {
            deltas: vec![],
            base_heads: vec![],
            ..base.clone()
        },
        SubmitDelta {
            base_heads: vec![],
            ..base.clone()
        },
        SubmitDelta {
            samples: 0,
            ..base.clone()
        },
        SubmitDelta {
            manifest_cid: String::new(),
            ..base.clone()
        },
        SubmitDelta {
            dataset_refs: vec!["x".into(); 17],
            ..base.clone()
        },
        SubmitDelta {
            deltas: vec![base.deltas[0].clone(), base.deltas[0].clone()],
            base_heads: vec![base.base_heads[0].clone(), base.base_heads[0].clone()],
            ..base.clone()
        },
    ] {
        let m = stamped(&s, "m1", broken);
        assert_rejected(&mut s, next(), "m1", m, ErrorCode::InvalidSubmission);
    }

    let mut other = stamped(&s, "m1", base.clone());
    other.model = "nope".into();
    assert_rejected(&mut s, next(), "m1", other, ErrorCode::UnknownModel);

    // a model without a validation set cannot be mined
    let mut s2 = genesis_with(params(), false);
    let m = stamped(&s2, "m1", submission(&s2, 10 * BLY));
    assert_rejected(&mut s2, 1, "m1", m, ErrorCode::NoValidationSet);

    // CheckTx refuses the same transactions outright (no fee at all)
    let k = key("m1");
    let t = verify(tx(&s, "m1", base.clone()), &k);
    let mut ex = blyan_chain::BlockExecutor::begin(&s, ctx(100)).unwrap();
    let o = ex.execute(Ok(&t), blyan_chain::runtime::Mode::Check);
    assert_eq!(o.code, ErrorCode::MissingStamp.as_u32());
    assert!(o.invalid);
}

#[test]
fn the_daily_quota_is_enforced_and_resets_the_next_day() {
    let mut s = genesis_with(params(), true);
    let day = 86_400_000i64;
    let run_at = |s: &mut MemState, height: u64, time: i64, who: &str| {
        let k = key(who);
        let m = stamped(s, who, submission_of(s, who, 10 * BLY));
        let t = verify(tx(s, who, m), &k);
        let mut c = ctx(height);
        c.time_unix_ms = time;
        let mut ex = blyan_chain::BlockExecutor::begin(&*s, c).unwrap();
        let o = ex.execute(Ok(&t), blyan_chain::runtime::Mode::Deliver);
        apply_writes(s, ex.end().unwrap().writes);
        o
    };
    // one submission per round; rounds last 5 + 3 blocks here
    let mut height = 1;
    for i in 0..3 {
        let o = run_at(&mut s, height, 10 * day + i, "m1");
        assert_eq!(o.code, 0, "{}", o.log);
        for h in height + 1..height + 8 {
            run_block(&mut s, h, &[]);
        }
        height += 8;
    }
    let o = run_at(&mut s, height, 10 * day + 500, "m1");
    assert_eq!(o.code, ErrorCode::QuotaExceeded.as_u32(), "{}", o.log);
    let t = pol::trust(&s, &key("m1").address()).unwrap();
    assert_eq!((t.day, t.submissions_today), (10, 3));
    let o = run_at(&mut s, height + 1, 11 * day, "m1");
    assert_eq!(o.code, 0, "{}", o.log);
}

#[test]
fn trusted_contributors_skip_the_stamp_and_lock_a_smaller_bond() {
    let mut s = genesis_with(params(), true);
    let p = params();
    let miner: Address = key("m2").address();
    let mut o = Overlay::new(&s);
    for _ in 0..p.promote_after {
        pol::record_success(&mut o, &miner, &p).unwrap();
    }
    let w = o.into_writes();
    apply_writes(&mut s, w);
    let t: blyan_proto::pol::TrustInfo = query(&s, QueryPath::Trust(miner));
    assert_eq!(t.level, TrustLevel::Trusted);
    let m = submission(&s, p.min_bond_trusted);
    let o = submit(&mut s, 1, "m2", m);
    assert_eq!(o.code, 0, "{}", o.log);
    let sub: SubmissionInfo = query(&s, QueryPath::Submission(1));
    assert_eq!(sub.trust, TrustLevel::Trusted);
    // a newcomer may not do the same
    let m = stamped(&s, "m1", submission(&s, p.min_bond_trusted));
    let o = submit(&mut s, 2, "m1", m);
    assert_eq!(o.code, ErrorCode::BondTooLow.as_u32());
}

#[test]
fn a_copied_delta_is_refused_with_its_own_code_and_costs_only_fee_and_nonce() {
    let mut s = genesis_with(params(), true);
    let original = stamped(&s, "m1", submission(&s, 10 * BLY));
    assert_eq!(submit(&mut s, 1, "m1", original.clone()).code, 0);
    let pool = bank::balance(&s, &BOND_POOL).unwrap();

    // m2 copies m1's delta (same content hash), claims more samples and names it as the
    // delta of another block: refused in CheckTx...
    let mut copy = original.clone();
    copy.samples = u64::MAX;
    copy.deltas[0].block = "layer0.expert0".into();
    copy.base_heads[0] = head(&s, "layer0.expert0");
    let copy = stamped(&s, "m2", copy);
    let t = verify(tx(&s, "m2", copy.clone()), &key("m2"));
    let mut ex = blyan_chain::BlockExecutor::begin(&s, ctx(2)).unwrap();
    let o = ex.execute(Ok(&t), blyan_chain::runtime::Mode::Check);
    assert_eq!(o.code, ErrorCode::DuplicateDelta.as_u32(), "{}", o.log);
    assert!(o.invalid, "CheckTx keeps it out of the mempool");
    // ...and in a block it fails with only its fee and nonce spent
    assert_rejected(&mut s, 2, "m2", copy, ErrorCode::DuplicateDelta);
    let r: RoundInfo = query(&s, QueryPath::Round(1));
    assert_eq!((r.submissions.clone(), r.bonds), (vec![1], pool));

    // the same content in the next round is a new submission (the heads may have moved)
    empty_blocks(&mut s, 3, 8);
    let again = stamped(&s, "m2", submission(&s, 10 * BLY));
    assert_eq!(submit(&mut s, 9, "m2", again).code, 0);
    blyan_chain::invariants::check_full_supply(&s).unwrap();
}

#[test]
fn declared_samples_are_capped_for_the_aggregation_weight() {
    let p = PolParams {
        max_samples_per_submission: 5_000,
        ..params()
    };
    let mut s = genesis_with(p.clone(), true);
    let mut m = submission(&s, 10 * BLY);
    m.samples = u64::MAX;
    let m = stamped(&s, "m1", m);
    let o = submit(&mut s, 1, "m1", m);
    assert_eq!(o.code, 0, "{}", o.log);
    let sub: SubmissionInfo = query(&s, QueryPath::Submission(1));
    assert_eq!((sub.samples, sub.weight), (u64::MAX, 5_000));
}

#[test]
fn the_submission_fee_goes_to_the_reward_pool_when_slashes_do() {
    let p = PolParams {
        slash_to_reward_pool: true,
        submission_fee: 3 * BLY,
        ..params()
    };
    let mut s = genesis_with(p, true);
    let (supply0, m1) = (bank::supply(&s).unwrap(), balance(&s, "m1"));
    let m = stamped(&s, "m1", submission(&s, 10 * BLY));
    let o = submit(&mut s, 1, "m1", m);
    assert_eq!(o.code, 0, "{}", o.log);
    assert_eq!(bank::balance(&s, &pol::REWARD_POOL).unwrap(), 3 * BLY);
    assert_eq!(balance(&s, "m1"), m1 - fee_paid(&o) - 3 * BLY - 10 * BLY);
    // no attestations: the bond comes back, the fee stays in the pool
    empty_blocks(&mut s, 2, 8);
    assert_eq!(
        query::<RoundInfo>(&s, QueryPath::Round(1)).status,
        RoundStatus::NoQuorum
    );
    assert_eq!(balance(&s, "m1"), m1 - fee_paid(&o) - 3 * BLY);
    assert_eq!(bank::balance(&s, &pol::REWARD_POOL).unwrap(), 3 * BLY);
    assert_eq!(
        bank::supply(&s).unwrap(),
        supply0 - blyan_chain::fees::burned(&s).unwrap(),
        "nothing else burned"
    );
}
