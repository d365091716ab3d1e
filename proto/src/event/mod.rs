//! Typed events, nested by module. The node turns each into an ABCI event; CometBFT indexes
//! the attributes that identify something ([`is_indexed`]: addresses, ids, names,
//! statuses), so `tx_search "transfer.recipient='0x…'"` finds transfers. Addresses appear in
//! their EIP-55 checksummed form.
//!
//! Events are lean because CometBFT pays for every attribute of every transaction (event
//! bus, results store, indexer): the localnet's committed transfers per second went from
//! 0.64× to 0.93× of CometBFT's kvstore when a transfer emitted no events at all. So nothing
//! is published twice: a transaction's gas used is the ABCI result's `gas_used`, its signer
//! and nonce are in its one `fee` event, and each ABCI event type belongs to exactly one
//! module ([`Event::module`]), so no `module` attribute is repeated on every event.

mod bank;
mod dag;
mod fees;
mod staking;

pub use bank::BankEvent;
pub use dag::DagEvent;
pub use fees::FeeEvent;
pub use staking::StakingEvent;

use crate::gov::GovEvent;
use crate::inference::InferenceEvent;
use crate::pol::PolEvent;
use crate::upgrade::UpgradeEvent;

/// Something a transaction or block did, nested by the module that did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A transfer (`bank`).
    Bank(BankEvent),
    /// A fee paid or the base fee changed (`fees`).
    Fees(FeeEvent),
    /// Validators, delegations, slashing and rewards (`staking`).
    Staking(StakingEvent),
    /// Models and block versions (`dag`).
    Dag(DagEvent),
    /// A Proof-of-Learning event (`pol`).
    Pol(PolEvent),
    /// An inference payment event (`inference`).
    Inference(InferenceEvent),
    /// Proposals, deposits, votes and the community pool (`gov`).
    Gov(GovEvent),
    /// Upgrade plans scheduled, cancelled and applied (`upgrade`).
    Upgrade(UpgradeEvent),
}

impl Event {
    /// The module that emitted the event (each ABCI event type belongs to one module).
    pub fn module(&self) -> &'static str {
        match self {
            Event::Bank(_) => "bank",
            Event::Fees(_) => "fees",
            Event::Staking(_) => "staking",
            Event::Dag(_) => "dag",
            Event::Pol(_) => "pol",
            Event::Inference(_) => "inference",
            Event::Gov(_) => "gov",
            Event::Upgrade(_) => "upgrade",
        }
    }

    /// The ABCI event type (unchanged by the nesting, so `tx_search` queries keep working).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Bank(e) => e.kind(),
            Event::Fees(e) => e.kind(),
            Event::Staking(e) => e.kind(),
            Event::Dag(e) => e.kind(),
            Event::Pol(e) => e.kind(),
            Event::Inference(e) => e.kind(),
            Event::Gov(e) => e.kind(),
            Event::Upgrade(e) => e.kind(),
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            Event::Bank(e) => e.attributes(),
            Event::Fees(e) => e.attributes(),
            Event::Staking(e) => e.attributes(),
            Event::Dag(e) => e.attributes(),
            Event::Pol(e) => e.attributes(),
            Event::Inference(e) => e.attributes(),
            Event::Gov(e) => e.attributes(),
            Event::Upgrade(e) => e.attributes(),
        }
    }
}

/// The attribute keys CometBFT indexes, sorted: who (addresses), what (ids, names,
/// statuses, verdicts). Every other attribute is delivered with its event but
/// cannot be searched with `tx_search`/`block_search`.
pub const INDEXED_KEYS: &[&str] = &[
    "account",
    "address",
    "author",
    "channel",
    "consensus_address",
    "delegator",
    "depositor",
    "from",
    "funder",
    "id",
    "kind",
    "manifest_cid",
    "miner",
    "model",
    "name",
    "new_model",
    "operator",
    "option",
    "payer",
    "phase",
    "proposal_id",
    "proposer",
    "provider",
    "recipient",
    "result",
    "round",
    "sender",
    "status",
    "submission",
    "to",
    "user",
    "validator",
    "verdict",
    "version",
    "voter",
];

/// Whether CometBFT indexes attribute `key` (see [`INDEXED_KEYS`]).
pub fn is_indexed(key: &str) -> bool {
    INDEXED_KEYS.binary_search(&key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    #[test]
    fn identifying_keys_are_indexed_and_figures_are_not() {
        assert!(
            INDEXED_KEYS.windows(2).all(|w| w[0] < w[1]),
            "sorted, unique"
        );
        for key in [
            "recipient",
            "sender",
            "payer",
            "model",
            "round",
            "proposal_id",
        ] {
            assert!(is_indexed(key), "{key}");
        }
        for key in [
            "amount",
            "tip",
            "base_fee_per_gas",
            "gas_used",
            "loss_micro",
            "nonce",
        ] {
            assert!(!is_indexed(key), "{key}");
        }
    }

    #[test]
    fn each_event_type_belongs_to_one_module_and_fees_name_the_signer() {
        let a = Address([7; 20]);
        let events = [
            Event::Fees(FeeEvent::FeePaid {
                payer: a,
                nonce: 3,
                burned: 10,
                tip: 2,
                proposer: None,
            }),
            Event::Bank(BankEvent::Transfer {
                sender: a,
                recipient: a,
                amount: 5,
            }),
            Event::Fees(FeeEvent::BaseFee {
                block_gas_used: 1,
                base_fee_per_gas: 2,
            }),
            Event::Staking(StakingEvent::Unjail { validator: a }),
            Event::Dag(DagEvent::BlockVersion {
                model: "m".into(),
                name: "head".into(),
                id: "ab".into(),
                version: "1".into(),
            }),
        ];
        let modules: Vec<_> = events.iter().map(Event::module).collect();
        assert_eq!(modules, ["fees", "bank", "fees", "staking", "dag"]);
        let kinds: Vec<_> = events.iter().map(Event::kind).collect();
        assert_eq!(
            kinds,
            ["fee", "transfer", "base_fee", "unjail", "block_version"]
        );
        for e in &events {
            assert!(e.attributes().iter().all(|(k, _)| *k != "module"));
        }
        assert_eq!(
            events[0].attributes()[..2],
            [("payer", a.to_string()), ("nonce", "3".to_string())]
        );
        assert_eq!(events[1].attributes()[0], ("sender", a.to_string()));
    }
}
