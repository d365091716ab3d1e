//! Typed events. The node turns each into an ABCI event whose attributes CometBFT
//! indexes, so `tx_search "transfer.recipient='0x…'"` finds transfers. Addresses appear
//! in their EIP-55 checksummed form.

mod auth;
mod bank;
mod dag;
mod fees;
mod staking;

pub use auth::AuthEvent;
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
    /// A transaction's signer (`auth`).
    Auth(AuthEvent),
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
    /// The module that emitted the event; also its `module` ABCI attribute.
    pub fn module(&self) -> &'static str {
        match self {
            Event::Auth(_) => "auth",
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
            Event::Auth(e) => e.kind(),
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

    /// The ABCI attributes, in a fixed order, ending with `module`.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut attributes = match self {
            Event::Auth(e) => e.attributes(),
            Event::Bank(e) => e.attributes(),
            Event::Fees(e) => e.attributes(),
            Event::Staking(e) => e.attributes(),
            Event::Dag(e) => e.attributes(),
            Event::Pol(e) => e.attributes(),
            Event::Inference(e) => e.attributes(),
            Event::Gov(e) => e.attributes(),
            Event::Upgrade(e) => e.attributes(),
        };
        attributes.push(("module", self.module().to_string()));
        attributes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    #[test]
    fn events_name_their_module_last() {
        let a = Address([7; 20]);
        let events = [
            Event::Auth(AuthEvent::Signer {
                address: a,
                nonce: 3,
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
        assert_eq!(modules, ["auth", "bank", "fees", "staking", "dag"]);
        for e in &events {
            let attributes = e.attributes();
            assert_eq!(attributes.last(), Some(&("module", e.module().to_string())));
            assert_eq!(
                attributes.iter().filter(|(k, _)| *k == "module").count(),
                1,
                "{} has its own `module` attribute",
                e.kind()
            );
        }
        assert_eq!(events[1].kind(), "transfer");
        assert_eq!(events[1].attributes()[0], ("sender", a.to_string()));
    }
}
