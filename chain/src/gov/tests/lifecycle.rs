//! Deposits: refunded with quorum, burned without it, when vetoed and when the deposit
//! period expires; spam limits; the community pool.

use blyan_proto::gov::{DepositOutcome, GovEvent, ProposalContent, ProposalStatus, VoteOption::*};
use blyan_proto::BLY;

use super::*;
use crate::gov::{proposal, COMMUNITY_POOL, GOV_ESCROW};

fn burned_event(events: &[Event]) -> Option<(u128, &'static str)> {
    events.iter().find_map(|e| match e {
        Event::Gov(GovEvent::DepositsBurned { amount, reason, .. }) => Some((*amount, *reason)),
        _ => None,
    })
}

#[test]
fn gov_deposits_are_refunded_when_quorum_is_reached() {
    let mut s = genesis();
    let before = balance(&s, &proposer());
    let id = submit(&mut s, 1, ProposalContent::Text, 4 * BLY).unwrap();
    let top_up = GovMsg::Deposit {
        proposal_id: id,
        amount: 7 * BLY,
    };
    run(&mut s, d2(), 2, top_up).unwrap();
    assert_eq!(balance(&s, &GOV_ESCROW), 11 * BLY);
    vote(&mut s, op1(), id, 3, No);
    vote(&mut s, op2(), id, 3, Yes);
    blocks(&mut s, 2, 12);
    let info = proposal(&s, id).unwrap();
    // 60 + 20 said no, 40 + 20 yes: quorum, rejected, refunded.
    assert_eq!(info.status, ProposalStatus::Rejected);
    assert_eq!(info.deposit_outcome, DepositOutcome::Refunded);
    assert_eq!(balance(&s, &proposer()), before);
    assert_eq!(balance(&s, &d2()), 980 * BLY);
    assert_eq!(balance(&s, &GOV_ESCROW), 0);
    assert!(crate::gov::active_ids(&s).unwrap().is_empty());
}

#[test]
fn gov_deposits_are_burned_without_quorum() {
    let mut s = genesis();
    let id = submit(&mut s, 1, ProposalContent::Text, 10 * BLY).unwrap();
    vote(&mut s, d2(), id, 2, Yes);
    let supply = supply(&s);
    let events = blocks(&mut s, 2, 11);
    let info = proposal(&s, id).unwrap();
    assert_eq!(info.status, ProposalStatus::Rejected);
    assert_eq!(info.deposit_outcome, DepositOutcome::Burned);
    assert_eq!(burned_event(&events), Some((10 * BLY, "no_quorum")));
    assert_eq!(super::supply(&s), supply - 10 * BLY);
    assert_eq!(balance(&s, &GOV_ESCROW), 0);
}

#[test]
fn gov_a_veto_burns_the_deposit() {
    let mut s = genesis();
    let id = submit(&mut s, 1, ProposalContent::Text, 12 * BLY).unwrap();
    vote(&mut s, op1(), id, 2, Veto);
    vote(&mut s, op2(), id, 2, Yes);
    let supply = supply(&s);
    let events = blocks(&mut s, 2, 11);
    let info = proposal(&s, id).unwrap();
    assert_eq!(info.status, ProposalStatus::Rejected);
    assert_eq!(info.deposit_outcome, DepositOutcome::Burned);
    assert_eq!(info.final_tally.unwrap().veto, 80 * BLY);
    assert_eq!(burned_event(&events), Some((12 * BLY, "vetoed")));
    assert_eq!(super::supply(&s), supply - 12 * BLY);
    assert_eq!(balance(&s, &proposer()), 988 * BLY);
}

#[test]
fn gov_an_expired_deposit_period_burns_the_deposits() {
    let mut s = genesis();
    let id = submit(&mut s, 1, ProposalContent::Text, 3 * BLY).unwrap();
    assert_eq!(proposal(&s, id).unwrap().deposit_end, 11);
    assert!(burned_event(&blocks(&mut s, 2, 10)).is_none());
    let events = blocks(&mut s, 11, 11);
    assert_eq!(burned_event(&events), Some((3 * BLY, "deposit_expired")));
    let info = proposal(&s, id).unwrap();
    assert_eq!(info.status, ProposalStatus::Rejected);
    let late = GovMsg::Deposit {
        proposal_id: id,
        amount: BLY,
    };
    assert_eq!(run(&mut s, d1(), 12, late), Err(ErrorCode::DepositsClosed));
}

#[test]
fn gov_spam_limits_hold() {
    let mut s = genesis();
    // 2.5 BLY is the least a proposal may be submitted with.
    assert_eq!(
        submit(&mut s, 1, ProposalContent::Text, 2 * BLY),
        Err(ErrorCode::ProposalDepositTooLow)
    );
    for _ in 0..3 {
        submit(&mut s, 1, ProposalContent::Text, 3 * BLY).unwrap();
    }
    assert_eq!(
        submit(&mut s, 1, ProposalContent::Text, 3 * BLY),
        Err(ErrorCode::TooManyActiveProposals)
    );
    let long_title = GovMsg::SubmitProposal {
        title: "x".repeat(300),
        description: String::new(),
        content: ProposalContent::Text,
        initial_deposit: 3 * BLY,
    };
    assert_eq!(
        run(&mut s, proposer(), 1, long_title),
        Err(ErrorCode::InvalidProposal)
    );
    // The slots free up when the deposit periods expire.
    blocks(&mut s, 2, 11);
    assert!(submit(&mut s, 12, ProposalContent::Text, 3 * BLY).is_ok());
    let zero = GovMsg::Deposit {
        proposal_id: 4,
        amount: 0,
    };
    assert_eq!(run(&mut s, d1(), 12, zero), Err(ErrorCode::ZeroAmount));
}

#[test]
fn gov_community_pool_spends_pay_what_the_pool_holds() {
    let mut s = genesis();
    let fund = GovMsg::FundCommunityPool { amount: 50 * BLY };
    run(&mut s, d1(), 1, fund).unwrap();
    assert_eq!(balance(&s, &COMMUNITY_POOL), 50 * BLY);
    let recipient = addr("grantee");
    let spend = |amount| ProposalContent::CommunityPoolSpend { recipient, amount };
    let ok = submit(&mut s, 1, spend(30 * BLY), 10 * BLY).unwrap();
    let too_much = submit(&mut s, 1, spend(80 * BLY), 10 * BLY).unwrap();
    for id in [ok, too_much] {
        vote(&mut s, op1(), id, 2, Yes);
    }
    blocks(&mut s, 2, 11);
    assert_eq!(proposal(&s, ok).unwrap().status, ProposalStatus::Executed);
    assert_eq!(balance(&s, &recipient), 30 * BLY);
    let failed = proposal(&s, too_much).unwrap();
    assert_eq!(failed.status, ProposalStatus::Failed);
    assert!(
        failed.execution_log.contains("community pool"),
        "{}",
        failed.execution_log
    );
    assert_eq!(balance(&s, &COMMUNITY_POOL), 20 * BLY);
    assert_eq!(
        submit(&mut s, 12, spend(0), 10 * BLY),
        Err(ErrorCode::InvalidProposal)
    );
    let to_module = ProposalContent::CommunityPoolSpend {
        recipient: GOV_ESCROW,
        amount: 1,
    };
    assert_eq!(
        submit(&mut s, 12, to_module, 10 * BLY),
        Err(ErrorCode::InvalidProposal)
    );
}
