//! `software_upgrade` and `cancel_software_upgrade` proposals: the checks at submission,
//! the plan stored when one passes, a later plan replacing it, a cancellation clearing it.

use blyan_proto::gov::{GovEvent, ProposalContent, ProposalStatus, VoteOption::*};
use blyan_proto::upgrade::{AppliedUpgrade, UpgradePlan, MAX_UPGRADE_INFO_BYTES};
use blyan_proto::BLY;

use super::*;
use crate::gov::proposal;

fn upgrade(name: &str, height: u64) -> ProposalContent {
    ProposalContent::SoftwareUpgrade {
        name: name.into(),
        height,
        info: "https://example.org/blyand-v2".into(),
    }
}

/// Runs the end of every block in `from..=to` as the runtime orders it: `consensus`
/// records the block, then `gov` runs its queue.
fn blocks_recorded(s: &mut MemState, from: u64, to: u64) -> Vec<Event> {
    let mut out = Vec::new();
    for h in from..=to {
        let block = crate::runtime::BlockContext {
            height: h,
            ..Default::default()
        };
        crate::consensus::set_last_block(s, &block);
        out.extend(crate::gov::end_block(s, h).unwrap());
        check(s);
    }
    out
}

/// Submits `content` at height 1 with the full deposit, votes it through and runs the
/// blocks to the end of its voting period (11).
fn pass(s: &mut MemState, content: ProposalContent) -> ProposalId {
    let id = submit(s, 1, content, 10 * BLY).unwrap();
    vote(s, op1(), id, 2, Yes);
    blocks_recorded(s, 2, 11);
    id
}

#[test]
fn gov_upgrade_plans_are_checked_at_submission() {
    let mut s = genesis();
    // With the full deposit, voting ends at 1 + 10 = 11: the plan must be beyond it.
    assert_eq!(
        submit(&mut s, 1, upgrade("v2", 11), 10 * BLY),
        Err(ErrorCode::InvalidUpgradeHeight)
    );
    // With a partial deposit the voting period could start as late as 11 and end at 21.
    assert_eq!(
        submit(&mut s, 1, upgrade("v2", 21), 3 * BLY),
        Err(ErrorCode::InvalidUpgradeHeight)
    );
    for bad in ["", "two words", "a/b", &"x".repeat(65)] {
        assert_eq!(
            submit(&mut s, 1, upgrade(bad, 50), 10 * BLY),
            Err(ErrorCode::InvalidUpgradePlan),
            "{bad:?}"
        );
    }
    let long_info = ProposalContent::SoftwareUpgrade {
        name: "v2".into(),
        height: 50,
        info: "i".repeat(MAX_UPGRADE_INFO_BYTES + 1),
    };
    assert_eq!(
        submit(&mut s, 1, long_info, 10 * BLY),
        Err(ErrorCode::InvalidUpgradePlan)
    );
    let applied = AppliedUpgrade {
        name: "v1".into(),
        height: 5,
        app_version: 2,
    };
    crate::state::StateWriteExt::put_scale(
        &mut s,
        crate::upgrade::state_key::applied("v1"),
        &applied,
    );
    assert_eq!(
        submit(&mut s, 1, upgrade("v1", 50), 10 * BLY),
        Err(ErrorCode::UpgradeNameUsed)
    );
    assert!(submit(&mut s, 1, upgrade("v2", 12), 10 * BLY).is_ok());
    assert!(submit(&mut s, 1, ProposalContent::CancelSoftwareUpgrade, 10 * BLY).is_ok());
}

#[test]
fn gov_a_passed_upgrade_is_stored_a_later_one_replaces_it_and_a_cancel_clears_it() {
    let mut s = genesis();
    let id = pass(&mut s, upgrade("v2", 100));
    assert_eq!(proposal(&s, id).unwrap().status, ProposalStatus::Executed);
    let stored = crate::upgrade::plan(&s).unwrap().unwrap();
    assert_eq!(
        stored,
        UpgradePlan {
            name: "v2".into(),
            height: 100,
            info: "https://example.org/blyand-v2".into(),
        }
    );

    // Cosmos semantics: the later plan replaces the pending one.
    let id = submit(&mut s, 12, upgrade("v3", 90), 10 * BLY).unwrap();
    vote(&mut s, op1(), id, 13, Yes);
    blocks_recorded(&mut s, 12, 22);
    assert_eq!(proposal(&s, id).unwrap().status, ProposalStatus::Executed);
    assert_eq!(crate::upgrade::plan(&s).unwrap().unwrap().name, "v3");

    let id = submit(&mut s, 23, ProposalContent::CancelSoftwareUpgrade, 10 * BLY).unwrap();
    vote(&mut s, op1(), id, 24, Yes);
    let events = blocks_recorded(&mut s, 23, 33);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Gov(GovEvent::Executed {
            kind: "cancel_software_upgrade",
            success: true,
            ..
        })
    )));
    assert_eq!(crate::upgrade::plan(&s).unwrap(), None);
}

#[test]
fn gov_an_upgrade_whose_name_was_applied_meanwhile_fails_and_writes_nothing() {
    let mut s = genesis();
    let id = submit(&mut s, 1, upgrade("v2", 100), 10 * BLY).unwrap();
    vote(&mut s, op1(), id, 2, Yes);
    crate::state::StateWriteExt::put_scale(
        &mut s,
        crate::upgrade::state_key::applied("v2"),
        &AppliedUpgrade {
            name: "v2".into(),
            height: 5,
            app_version: 2,
        },
    );
    blocks_recorded(&mut s, 2, 11);
    let info = proposal(&s, id).unwrap();
    assert_eq!(info.status, ProposalStatus::Failed);
    assert!(
        info.execution_log.contains("was applied"),
        "{}",
        info.execution_log
    );
    assert_eq!(crate::upgrade::plan(&s).unwrap(), None);
}
