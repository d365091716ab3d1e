//! Tally math: inheritance, override, replaced votes, stake-less voters, quorum, veto
//! and threshold.

use blyan_proto::gov::{ProposalContent, TallyResult, VoteOption::*};
use blyan_proto::BLY;

use super::*;
use crate::gov::{decide, tally, Outcome};

fn voting_proposal(s: &mut MemState) -> u64 {
    submit(s, 1, ProposalContent::Text, 10 * BLY).unwrap()
}

#[test]
fn gov_delegators_inherit_their_validators_vote() {
    let mut s = genesis();
    let id = voting_proposal(&mut s);
    vote(&mut s, op1(), id, 2, Yes);
    let t = tally(&s, id).unwrap();
    // op1's 60 BLY and d1's 20 BLY delegated to it; op2 and d2 did not vote.
    assert_eq!(t.yes, 80 * BLY);
    assert_eq!(t.voted(), 80 * BLY);
    assert_eq!(t.total_bonded, 140 * BLY);
    assert_eq!(decide(&t, &test_params()), Outcome::Passed);
}

#[test]
fn gov_a_delegators_own_vote_overrides_the_inherited_one() {
    let mut s = genesis();
    let id = voting_proposal(&mut s);
    vote(&mut s, op1(), id, 2, Yes);
    vote(&mut s, d1(), id, 2, No);
    vote(&mut s, op2(), id, 3, Veto);
    vote(&mut s, d2(), id, 3, Abstain);
    let t = tally(&s, id).unwrap();
    assert_eq!(
        t,
        TallyResult {
            yes: 60 * BLY,
            no: 20 * BLY,
            abstain: 20 * BLY,
            veto: 40 * BLY,
            total_bonded: 140 * BLY,
        }
    );
    // The order of the votes does not matter.
    let mut s2 = genesis();
    let id2 = voting_proposal(&mut s2);
    vote(&mut s2, d2(), id2, 2, Abstain);
    vote(&mut s2, d1(), id2, 2, No);
    vote(&mut s2, op2(), id2, 3, Veto);
    vote(&mut s2, op1(), id2, 3, Yes);
    assert_eq!(tally(&s2, id2).unwrap(), t);
}

#[test]
fn gov_a_second_vote_replaces_the_first() {
    let mut s = genesis();
    let id = voting_proposal(&mut s);
    vote(&mut s, op1(), id, 2, Yes);
    vote(&mut s, op1(), id, 3, No);
    vote(&mut s, op1(), id, 4, No);
    let t = tally(&s, id).unwrap();
    assert_eq!((t.yes, t.no), (0, 80 * BLY));
    assert_eq!(crate::gov::votes(&s, id).unwrap().len(), 1);
}

#[test]
fn gov_a_voter_without_stake_may_vote_but_weighs_nothing() {
    let mut s = genesis();
    let id = voting_proposal(&mut s);
    vote(&mut s, addr("nobody"), id, 2, Yes);
    let t = tally(&s, id).unwrap();
    assert_eq!(t.voted(), 0);
    assert_eq!(crate::gov::votes(&s, id).unwrap().len(), 1);
    assert_eq!(decide(&t, &test_params()), Outcome::NoQuorum);
}

#[test]
fn gov_quorum_veto_and_threshold_decide_in_that_order() {
    let p = test_params();
    let t = |yes: u128, no: u128, abstain: u128, veto: u128| TallyResult {
        yes,
        no,
        abstain,
        veto,
        total_bonded: 10_000,
    };
    // 33.39% voted: no quorum, whatever they said.
    assert_eq!(decide(&t(3_339, 0, 0, 0), &p), Outcome::NoQuorum);
    assert_eq!(decide(&t(3_340, 0, 0, 0), &p), Outcome::Passed);
    // Veto strictly above 33.4% of the votes (a veto also counts against the threshold).
    assert_eq!(decide(&t(6_660, 0, 0, 3_340), &p), Outcome::Passed);
    assert_eq!(decide(&t(4_000, 2_660, 0, 3_340), &p), Outcome::Rejected);
    assert_eq!(decide(&t(6_000, 0, 0, 4_000), &p), Outcome::Vetoed);
    // Yes strictly above half of the non-abstaining votes.
    assert_eq!(decide(&t(2_000, 2_000, 6_000, 0), &p), Outcome::Rejected);
    assert_eq!(decide(&t(2_001, 2_000, 5_999, 0), &p), Outcome::Passed);
    // Only abstentions: quorum, but nothing to pass.
    assert_eq!(decide(&t(0, 0, 9_000, 0), &p), Outcome::Rejected);
    // No bonded stake at all.
    assert_eq!(
        decide(
            &TallyResult {
                yes: 1,
                ..Default::default()
            },
            &p
        ),
        Outcome::NoQuorum
    );
}

#[test]
fn gov_votes_outside_the_voting_period_are_refused() {
    let mut s = genesis();
    // Below min_deposit: still in its deposit period.
    let id = submit(&mut s, 1, ProposalContent::Text, 5 * BLY).unwrap();
    let v = |s: &mut MemState, h| {
        run(
            s,
            op1(),
            h,
            GovMsg::Vote {
                proposal_id: id,
                option: Yes,
            },
        )
    };
    assert_eq!(v(&mut s, 2), Err(ErrorCode::NotInVotingPeriod));
    let more = GovMsg::Deposit {
        proposal_id: id,
        amount: 5 * BLY,
    };
    run(&mut s, d1(), 3, more).unwrap();
    let info = crate::gov::proposal(&s, id).unwrap();
    assert_eq!((info.voting_start, info.voting_end), (3, 13));
    assert!(v(&mut s, 13).is_ok());
    blocks(&mut s, 4, 13);
    assert_eq!(v(&mut s, 14), Err(ErrorCode::NotInVotingPeriod));
    let unknown = GovMsg::Vote {
        proposal_id: 99,
        option: Yes,
    };
    assert_eq!(
        run(&mut s, op1(), 14, unknown),
        Err(ErrorCode::UnknownProposal)
    );
}
