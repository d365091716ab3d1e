//! Events of the `bank` module: transfers.

use crate::address::Address;

/// Events of the `bank` module: transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankEvent {
    /// Base units moved between accounts.
    Transfer {
        /// Who paid.
        sender: Address,
        /// Who received.
        recipient: Address,
        /// Base units.
        amount: u128,
    },
}

impl BankEvent {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            BankEvent::Transfer { .. } => "transfer",
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            BankEvent::Transfer {
                sender,
                recipient,
                amount,
            } => vec![
                ("sender", sender.to_string()),
                ("recipient", recipient.to_string()),
                ("amount", amount.to_string()),
            ],
        }
    }
}
