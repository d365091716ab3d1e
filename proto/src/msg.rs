//! Messages: one enum over all modules. Variant indices are stable wire values.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// A message carried by a transaction; each variant belongs to one chain module.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "module", content = "msg", rename_all = "snake_case")]
pub enum Msg {
    /// Balances and transfers.
    #[codec(index = 0)]
    Bank(BankMsg),
}

/// Messages of the `bank` module.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BankMsg {
    /// Moves `amount` base units from the signer to `to`.
    #[codec(index = 0)]
    Send {
        /// Recipient.
        to: Address,
        /// Base units (1 BLY = 10^18).
        #[serde(with = "crate::params::u128_string")]
        amount: u128,
    },
}

impl Msg {
    /// The sum of base units this message moves out of the signer's account, if any.
    pub fn outflow(&self) -> u128 {
        match self {
            Msg::Bank(BankMsg::Send { amount, .. }) => *amount,
        }
    }

    /// A short kind name used for gas schedules and metrics (`bank.send`).
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Bank(BankMsg::Send { .. }) => "bank.send",
        }
    }
}
